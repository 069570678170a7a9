"""Training, evaluation and prediction from manifests with the papers' presets (Python API).

``audioattn train / evaluate / predict / distill`` (:mod:`keras_audioattn.cli`) are thin
wrappers around :func:`train`, :func:`evaluate` and :func:`predict`; ``docs/training.md``
describes the workflow. One module per role:

* :mod:`~keras_audioattn.training.run_folder`: file names and layout of a run folder, its
  config, resume checks (:func:`verify_run`), ownership, the chief; :func:`resolve_model`, the
  one resolver of "a ``.keras`` file or a run folder".
* :mod:`~keras_audioattn.training.datasets`: a preset's data settings and the tf.data pipeline
  (one crop/pad: ``data.batching.fit_length``; one mix-up: ``data.mixup``).
* :mod:`~keras_audioattn.training.callbacks`: the one best-checkpoint + early-stopping saver,
  the crash-safe backup, NaN handling.
* :mod:`~keras_audioattn.training.strategy`: strategies, mixed precision, determinism.
* :mod:`~keras_audioattn.training.train`: :func:`train` in named steps (distillation included).
* :mod:`~keras_audioattn.training.evaluation`: :func:`evaluate`, the SVM back end, reports and
  the one recording-level scorer (:func:`recording_scores`, :func:`streamed_recording_scores`).
* :mod:`~keras_audioattn.training.prediction`: :func:`predict`.
* :mod:`~keras_audioattn.training.arguments`: argument checks; errors name the argument
  (``learning_rate``), the CLI maps it to its flag.

TensorFlow (tf.data, tf.distribute) is used here, in the training driver; the models stay
backend-agnostic.
"""

from keras_audioattn.data.mixup import mixup_dataset as _mixup  # noqa: F401  (the old private name: bench)
from keras_audioattn.training.arguments import (
    MAX_DURATION_S,
    MAX_SAMPLE_RATE,
    ArgumentError,
    MissingFileArgument,
    check_numeric_arguments,
)
from keras_audioattn.training.callbacks import _best_saver, check_finite, checkpoint_callbacks  # noqa: F401
from keras_audioattn.training.datasets import (  # noqa: F401  (private names: used by tests)
    _clip_for_model,
    _lengths,
    _read,
    _sync_model_config,
    check_sample_rates,
    data_dict,
    data_settings,
    make_dataset,
    resolve_data,
)
from keras_audioattn.training.evaluation import (  # noqa: F401  (private names: used by tests)
    _read_resampled,
    _resample_plan,
    METRIC_NAMES,
    STREAM_CLIPS,
    evaluate,
    format_report,
    recording_scores,
    score_dataset,
    streamed_recording_scores,
)
from keras_audioattn.training.prediction import predict
from keras_audioattn.training.run_folder import (  # noqa: F401  (_prepare_out: used by tests)
    _prepare_out,
    BACKUP_DIR,
    CLASS_NAMES_FILE,
    CONFIG_FILE,
    EVALUATION_FILE,
    LOG_FILE,
    MODEL_FILE,
    STATE_FILE,
    TENSORBOARD_DIR,
    WORKERS_DIR,
    load_keras_model,
    load_run,
    resolve_model,
    verify_run,
)
from keras_audioattn.training.strategy import MIXED_PRECISION, STRATEGIES, dtype_policy, make_strategy, set_determinism
from keras_audioattn.training.train import (  # noqa: F401  (_compile: tests)
    RunSettings,
    _compile,
    network_config,
    resolve_settings,
    step_arguments,
    train,
)

__all__ = ["ArgumentError", "BACKUP_DIR", "CLASS_NAMES_FILE", "CONFIG_FILE", "EVALUATION_FILE", "LOG_FILE",
           "MAX_DURATION_S", "MAX_SAMPLE_RATE", "METRIC_NAMES", "MIXED_PRECISION", "MODEL_FILE", "MissingFileArgument",
           "RunSettings", "data_dict", "resolve_data", "resolve_settings", "step_arguments",
           "STATE_FILE", "STRATEGIES", "STREAM_CLIPS", "TENSORBOARD_DIR", "WORKERS_DIR", "check_finite",
           "check_numeric_arguments", "check_sample_rates", "checkpoint_callbacks", "data_settings", "dtype_policy",
           "evaluate", "format_report", "load_keras_model", "load_run", "make_dataset", "make_strategy",
           "network_config", "predict", "recording_scores", "resolve_model", "score_dataset", "set_determinism",
           "streamed_recording_scores", "train", "verify_run"]
