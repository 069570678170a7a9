"""The backend matrix's cases: every model and layer of the package in a tiny configuration.

Not a test module: ``tests/test_backends.py`` builds these on the TensorFlow backend, saves each
as ``.keras`` with its inputs and outputs, and ``tests/backend_worker.py`` checks them under
``KERAS_BACKEND=jax`` / ``=torch`` in a subprocess. Each builder returns ``(model, inputs)``:
a Keras model (layers are wrapped in a one-layer functional model) and a NumPy array, or a list
of arrays for multi-input models. Recurrent cases keep their sequences short: Keras's torch
backend runs LSTMs as a Python loop on the CPU.

``CASES`` maps a case name to ``(builder, trains)``; ``trains`` is False for a case without
trainable weights (no fit step to check). The fit check in ``backend_worker`` asks every
trainable weight to move, so a layer case holds only layers that train in a composite that does.
"""

from __future__ import annotations

import numpy as np

SR = 8000
NUM_CLASSES = 3


def _waveform(batch, samples, seed, channels=None):
    rng = np.random.default_rng(seed)
    shape = (batch, samples) if channels is None else (batch, samples, channels)
    t = np.arange(samples) / SR
    tone = np.sin(2 * np.pi * 440.0 * t)
    if channels is not None:
        tone = tone[:, None]
    return (0.1 * rng.standard_normal(shape) + 0.3 * tone).astype("float32")


def _normal(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _wrap(layer, inputs):
    import keras

    if isinstance(inputs, list):
        symbolic = [keras.Input(shape=x.shape[1:], dtype=x.dtype.name) for x in inputs]
    else:
        symbolic = keras.Input(shape=inputs.shape[1:], dtype=inputs.dtype.name)
    return keras.Model(symbolic, layer(symbolic), name=f"wrapped_{layer.name}")


def _preset(family, seconds=0.5, **extra):
    """The family's ``small`` configuration as ``audioattn train --small`` builds it, at 8 kHz."""
    from keras_audioattn import presets

    name = next(n for n in presets.list_presets() if presets.preset_family(n) == family)
    config = presets.model_config(name, num_classes=NUM_CLASSES, small=True, for_training=True, sample_rate=SR,
                                  **extra)
    if "clip_duration" in config:
        config["clip_duration"] = seconds
    return presets.model_class(name)(**config)


# --- models ----------------------------------------------------------------------------------
def zhang_attention_lstm_classifier(tmp):
    return _preset("zhang2018"), _waveform(2, 4000, 1)


def lu_cab_cnn(tmp):
    model = _preset("lu2020")
    return model, [_waveform(2, 4000, 2), np.array([4000, 2500], "int32")]


def deshmukh_two_step_attention_sed(tmp):
    return _preset("deshmukh2020"), _waveform(2, 4000, 3)


def chang_vggish_teacher(tmp):
    return _preset("chang2020-teacher"), _waveform(2, 4000, 4)


def chang_cnn_lstm_student(tmp):
    return _preset("chang2020-student"), _waveform(2, 4000, 5)


def jung_raw_waveform_asc(tmp):
    from keras_audioattn.models import RawWaveformASC

    model = RawWaveformASC(num_classes=NUM_CLASSES, code_dim=6, num_channels=2, sample_rate=SR, first_filters=8,
                           first_kernel=4, block_filters=(8, 8, 12))
    return model, _waveform(2, 4000, 7, channels=2)


def jung_tag_conditioned_asc(tmp):
    """The scores view that ``audioattn train`` builds, over a tiny (untrained) saved tagger."""
    import os

    tagger = _preset("jung2020-tagger")
    path = os.path.join(tmp, "jung_tagger_source.keras")
    tagger.save(path)
    return _preset("jung2020", tagger_model=path), _waveform(2, 4000, 8)


def jung_tag_conditioned_asc_full(tmp):
    """The full :class:`TagConditionedASC` (dict outputs) with an attention and a concat mode; the
    tagger (an :class:`AudioTagger`) left trainable so that the fit check reaches its weights too."""
    from keras_audioattn.models import AudioTagger, RawWaveformASC, TagConditionedASC

    asc = RawWaveformASC(num_classes=NUM_CLASSES, code_dim=6, num_channels=1, sample_rate=SR, first_filters=8,
                         first_kernel=4, block_filters=(8, 8, 8))
    tagger = AudioTagger(num_classes=4, sample_rate=SR, block_filters=(4, 8), dense_units=(8,), dropout=0.0,
                         num_mel_bins=16, front_end={"fft_length": 256, "frame_length": 256, "frame_step": 128})
    model = TagConditionedASC(asc, tagger, concat="transform_before", attention=2, transform_units=8,
                              freeze_tagger=False)
    return model, _waveform(2, 4000, 9)


# --- layers ----------------------------------------------------------------------------------
# Layers are checked in a few functional models that hold several of them side by side (one
# load, one compiled train step each: the JAX compile is the cost), with one named output per layer.
def _composite(name, inputs, branches):
    """A functional model over ``inputs`` (arrays) with output ``key`` = ``branches[key](symbolic)``."""
    import keras

    symbolic = [keras.Input(shape=x.shape[1:], dtype=x.dtype.name, name=f"{name}_in_{i}")
                for i, x in enumerate(inputs)]
    outputs = {}
    for key, branch in branches.items():
        out = branch(symbolic)
        if isinstance(out, dict):
            outputs.update({f"{key}_{k}": v for k, v in out.items()})
        elif isinstance(out, (list, tuple)):
            outputs.update({f"{key}_{i}": v for i, v in enumerate(out)})
        else:
            outputs[key] = out
    model = keras.Model(symbolic, outputs, name=name)
    return model, inputs if len(inputs) > 1 else inputs[0]


def front_end_layers(tmp):
    """LogMelSpectrogram, IntervalMaxPooling, PreEmphasis (mono and stereo)."""
    from keras_audioattn.layers import IntervalMaxPooling, LogMelSpectrogram, PreEmphasis

    mono, stereo = _waveform(2, 1600, 10), _waveform(2, 400, 12, channels=2)
    return _composite("front_ends", [mono, stereo], {
        "log_mel": lambda s: LogMelSpectrogram(sample_rate=SR, fft_length=256, frame_length=200, frame_step=80,
                                               num_mel_bins=20)(s[0]),
        "interval_max": lambda s: IntervalMaxPooling(sample_rate=SR, target_rate=2000)(s[0]),
        "pre_emphasis_mono": lambda s: PreEmphasis(0.5)(s[0]),
        "pre_emphasis_stereo": lambda s: PreEmphasis(0.97)(s[1]),
    })


def attention_lstm_layers(tmp):
    """AttentionLSTM with the TA cell (attention returned), the SA cell and Keras's LSTMCell (the
    multimodal TA-SA cell is checked by the Zhang classifier)."""
    from keras_audioattn.layers import AttentionLSTM
    from keras_audioattn.layers.attention_lstm import make_cell

    def branch(variant, attention):
        return lambda s: AttentionLSTM(make_cell(variant, 4, attention_size=3, num_clusters=3),
                                       return_attention=attention)(s[0])

    return _composite("attention_lstms", [_normal((2, 5, 6), 13)], {
        "ta": branch("ta", True), "sa": branch("sa", False), "vanilla": branch("vanilla", False)})


def pooling_layers(tmp):
    """Every layer of POOLING_LAYERS on the same class maps (clip and frame outputs)."""
    from keras_audioattn.layers import POOLING_LAYERS

    return _composite("poolings", [_normal((2, 6, 5, 3), 14)],
                      {name: (lambda s, cls=cls: cls()(s[0])) for name, cls in sorted(POOLING_LAYERS.items())})


def tag_layers(tmp):
    """TagMultiHeadAttention, TagConcatenation (every mode), TagTransform."""
    from keras_audioattn.layers import CONCAT_MODES, TagConcatenation, TagMultiHeadAttention, TagTransform

    rng = np.random.default_rng(16)
    maps, code = rng.normal(size=(3, 5, 8)).astype("float32"), rng.normal(size=(3, 10)).astype("float32")
    tags = rng.random((3, 5)).astype("float32")
    branches = {"mha": lambda s: TagMultiHeadAttention(num_heads=2, num_transform_layers=1,
                                                       transform_units=6)([s[0], s[2]]),
                "transform": lambda s: TagTransform(num_layers=2, units=3)(s[2])}
    for mode in CONCAT_MODES:
        branches[f"concat_{mode}"] = (lambda s, mode=mode: TagConcatenation(
            mode=mode, num_transform_layers=2, code_dim=4, transform_units=5)([s[1], s[2]]))
    return _composite("tag_layers", [maps, code, tags], branches)


def other_layers(tmp):
    """ClassifierAttentionBlock, ClippedLSTM and FeatureStandardization (adapted statistics)."""
    from keras_audioattn.layers import ClassifierAttentionBlock, ClippedLSTM
    from keras_audioattn.models import FeatureStandardization

    seq = _normal((2, 5, 6), 15)
    standardize = FeatureStandardization()
    model, inputs = _composite("other_layers", [seq], {
        "classifier_attention": lambda s: ClassifierAttentionBlock(
            num_classes=3, num_classifiers=4, classifier_units=(8, 4), attention_units=(12, 6))(s[0]),
        "clipped_lstm": lambda s: ClippedLSTM(6, cell_clip=0.5)(s[0]),
        "standardized": lambda s: standardize(s[0]),
    })
    standardize.adapt(seq * 3 + 1)
    return model, inputs


def custom_gradient_layers(tmp):
    """keras_audioattn.layers.Conv1D, .Conv2D and .BatchNormalization with their hand-written backward
    forced on (``"auto"`` uses them on TensorFlow only): the fit step runs that backward on JAX / torch."""
    from keras_audioattn import layers as audio_layers

    def branch(s):
        x = audio_layers.Conv1D(5, 3, padding="same", gradient="matmul")(s[0])
        x = audio_layers.Conv1D(4, 5, padding="same", use_bias=False, gradient="matmul")(x)
        return audio_layers.BatchNormalization(gradient="closed_form")(x)

    def patch_branch(s):  # 9 x 2 patch values <= 20 filters: the patch-matrix kernel gradient
        return audio_layers.Conv2D(20, 3, padding="same", activation="relu", gradient="matmul")(s[1])

    return _composite("custom_gradient_layers", [_normal((3, 9, 2), 16), _normal((3, 6, 5, 2), 17)],
                      {"conv_bn": branch, "conv2d": patch_branch})


CASES = {
    # models (the families' `--small` configurations; waveform in)
    "zhang_attention_lstm_classifier": (zhang_attention_lstm_classifier, True),
    "lu_cab_cnn": (lu_cab_cnn, True),
    "deshmukh_two_step_attention_sed": (deshmukh_two_step_attention_sed, True),
    "chang_vggish_teacher": (chang_vggish_teacher, True),
    "chang_cnn_lstm_student": (chang_cnn_lstm_student, True),
    "jung_raw_waveform_asc": (jung_raw_waveform_asc, True),
    "jung_tag_conditioned_asc": (jung_tag_conditioned_asc, True),
    "jung_tag_conditioned_asc_full": (jung_tag_conditioned_asc_full, True),
    # layers, several per model
    "front_end_layers": (front_end_layers, False),
    "attention_lstm_layers": (attention_lstm_layers, True),
    "pooling_layers": (pooling_layers, True),
    "tag_layers": (tag_layers, True),
    "other_layers": (other_layers, True),
    "custom_gradient_layers": (custom_gradient_layers, True),
}


# --- metrics and losses: (module, class, config, kind, y_true, y_pred) ------------------------
def functions():
    rng = np.random.default_rng(21)
    labels = np.eye(3, dtype="float32")[rng.integers(0, 3, 12)]
    scores = rng.random((12, 3)).astype("float32")
    tags = (rng.random((12, 4)) < 0.4).astype("float32")
    tag_scores = rng.random((12, 4)).astype("float32")
    maps_t, maps_s = _normal((4, 6, 5, 3), 22), _normal((4, 6, 5, 2), 23)
    feats_t, feats_s = _normal((4, 10), 24), _normal((4, 7), 25)
    m, l = "keras_audioattn.metrics", "keras_audioattn.losses"
    return {
        "metric_unweighted_recall": (m, "UnweightedRecall", {"num_classes": 3}, "metric", labels, scores),
        "metric_macro_f1": (m, "MacroF1", {"num_classes": 3}, "metric", labels, scores),
        "metric_dcase_auprc_micro": (m, "DCASE2019Task5AUPRC", {"num_classes": 4}, "metric", tags, tag_scores),
        "metric_dcase_auprc_macro": (m, "DCASE2019Task5AUPRC", {"num_classes": 4, "average": "macro"}, "metric",
                                     tags, tag_scores),
        "loss_knowledge_distillation": (l, "KnowledgeDistillationLoss", {"temperature": 2.0}, "loss",
                                        tag_scores, scores[:, :1].repeat(4, axis=1)),
        "loss_similarity_preserving": (l, "SimilarityPreservingLoss", {}, "loss", feats_t, feats_s),
        "loss_intra_utterance_similarity": (l, "IntraUtteranceSimilarityLoss", {}, "loss", maps_t, maps_s),
    }

