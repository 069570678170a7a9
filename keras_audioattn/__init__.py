"""keras_audioattn: attention-based audio models from five papers as Keras 3 layers and models.

Sub-packages:
  - ``keras_audioattn.layers``: front ends (log-mel, interval max, pre-emphasis) and the papers' layers.
  - ``keras_audioattn.models``: one model per paper, paper configuration as defaults.
  - ``keras_audioattn.data``: audio decoding, manifests -> ``tf.data``, remixing, synthetic corpus.
  - ``keras_audioattn.metrics``: the papers' evaluation metrics.
  - ``keras_audioattn.presets``: one registry of the papers' configurations (``build_model``).
  - ``keras_audioattn.training``: train / evaluate / predict from manifests (``audioattn train``).
  - ``export`` (top-level package): SavedModel and TFLite export with self-checks.
"""

from keras_audioattn.version import __version__

__all__ = ["__version__"]
