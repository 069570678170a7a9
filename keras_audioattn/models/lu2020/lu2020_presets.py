"""Presets of Lu et al. (2020), CAB-CNN accent identification: Table 4's CAB-CNN-Ts, T = 5, 10, 30, 60.

``lu2020-cab-cnn-<T>s``: the default CAB-CNN (Table 2) on the first ``T`` seconds of each clip,
trained as in §4 (Adam, batch 128, cross entropy, early stopping with patience 15) with the
paper's batching: every training batch cut to its shortest clip (``DataSettings.batching =
"truncate"``; ``"pad"`` = zero-padding with the lengths input, the alternative). ``lu2020-tiny``
is the tiny configuration of ``lu2020-cab-cnn-5s`` (tests, notebooks, ``make demo``, ``--small``).

Example::

    from keras_audioattn.models import CABCNN
    model = CABCNN.from_preset("lu2020-cab-cnn-10s", num_classes=5)
    recipe = cab_cnn_training_recipe()       # the §4 recipe as compile / fit keyword dicts
"""

from __future__ import annotations

import keras

from keras_audioattn.models.lu2020.cab_cnn_model import CABCNN
from keras_audioattn.preset_registry import (DataSettings, Preset, PresetFamily, TrainingRecipe, get,
                                             register_family, register_preset)

SECONDS = (5, 10, 30, 60)

FAMILY = register_family(PresetFamily(
    "lu2020", CABCNN, task="single_label",
    train_overrides={"length_input": True},  # padded batches carry the clips' lengths
    tiny={"conv_filters": [4, 4, 4, 8], "num_classifiers": 4, "classifier_units": [4], "attention_units": [8]},
    tiny_of="lu2020-cab-cnn-5s"))

#: §4 "Model training": Adam (learning rate not given: Keras' 1e-3), batch 128, "the regular cross
#: entropy", early stopping with patience 15 (the monitored quantity is not stated: the validation
#: loss); epochs not given (early stopping ends training; 1000 is a bound). The best epoch is kept.
RECIPE = TrainingRecipe(optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=1000,
                        early_stopping_patience=15, monitor="val_loss", monitor_mode="min",
                        loss="categorical_crossentropy", keep="best",
                        evaluate=("accuracy", "unweighted_recall", "macro_f1", "confusion_matrix"))

for _t in SECONDS:
    register_preset(Preset(
        f"lu2020-cab-cnn-{_t}s", "lu2020",
        model={"num_classes": 3, "sample_rate": 16000, "max_seconds": _t},
        recipe=RECIPE,
        # §4: "we truncate the sizes of the batch inputs just equal to the shortest one of that
        # batch" -> batching "truncate" (training batches; evaluation scores every clip whole).
        data=DataSettings(sample_rate=16000, duration=None, max_seconds=_t, multi_label=False,
                          batching="truncate"),
        paper=f"Lu et al. 2020, Table 2 (layers), §4 (training), Table 4 (CAB-CNN-{_t}s)"))
del _t

PRESET_NAMES = tuple(f"lu2020-cab-cnn-{t}s" for t in SECONDS)


def legacy_presets():
    """The pre-registry ``PAPER_PRESETS`` view: ``{name: {"model", "training", "data", "paper"}}``."""
    return {name: {k: v for k, v in get(name).as_dict().items() if k in ("model", "training", "data", "paper")}
            for name in PRESET_NAMES}


def cab_cnn_training_recipe(learning_rate=None, patience=None, batch_size=None, epochs=None,
                            restore_best_weights=True):
    """The §4 training recipe (:data:`RECIPE`) as ``{"compile": {...}, "fit": {...}}`` keyword dicts.

    Categorical cross-entropy on the averaged probabilities, Adam (learning rate not given in
    the paper: Keras' default 1e-3), batch 128, early stopping with patience 15 on the
    validation loss (the paper does not say which quantity it watched; ``restore_best_weights``
    is our choice). Use as ``model.compile(**r["compile"]); model.fit(train, validation_data=val,
    **r["fit"])`` (``batch_size`` only applies to array inputs; tf.data batches itself).
    """
    r = RECIPE
    return {
        "compile": {
            "optimizer": keras.optimizers.Adam(r.learning_rate if learning_rate is None else learning_rate),
            "loss": keras.losses.CategoricalCrossentropy(from_logits=False),
            "metrics": ["accuracy"],
        },
        "fit": {
            "batch_size": r.batch_size if batch_size is None else batch_size,
            "epochs": r.epochs if epochs is None else epochs,
            "callbacks": [keras.callbacks.EarlyStopping(
                monitor=r.monitor, mode=r.monitor_mode,
                patience=r.early_stopping_patience if patience is None else patience,
                restore_best_weights=restore_best_weights)],
        },
    }


__all__ = ["FAMILY", "PRESET_NAMES", "RECIPE", "SECONDS", "cab_cnn_training_recipe", "legacy_presets"]
