"""keras_audioattn: attention-based audio models from five papers as Keras 3 layers and models.

Sub-packages:
  - ``keras_audioattn.layers``: front ends (log-mel, interval max, pre-emphasis) and the papers' layers.
  - ``keras_audioattn.models``: one model per paper, paper configuration as defaults.
  - ``keras_audioattn.data``: audio decoding, manifests -> ``tf.data``, remixing, synthetic corpus.
  - ``keras_audioattn.metrics``: the papers' evaluation metrics.
  - ``keras_audioattn.presets``: one registry of the papers' configurations (``build_model``).
  - ``keras_audioattn.training``: train / evaluate / predict from manifests (``audioattn train``).
  - ``export`` (top-level package): SavedModel and TFLite export with self-checks.

Importing the package registers every layer, model, loss and metric with Keras, so that
``keras.saving.load_model("model.keras")`` works after ``import keras_audioattn`` (this imports
Keras and TensorFlow).
"""

from keras_audioattn.version import __version__

# Registration (the decorators run on import); data, presets and training stay importable on their own.
from keras_audioattn import distillation, layers, losses, metrics, models  # noqa: E402,F401

__all__ = ["__version__", "distillation", "layers", "losses", "metrics", "models"]
