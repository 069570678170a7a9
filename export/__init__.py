"""Export of keras_audioattn models: SavedModel for TF Serving and checked TFLite files.

``to_saved_model(model, directory, labels, sample_rate, version=1)`` writes
``directory/<version>/`` with a ``serving_default`` signature (input ``waveform`` float32
``(batch, samples)``, or ``(batch, samples, channels)`` for a multi-channel model, outputs ``scores`` + extra named outputs) and the class list as an asset.
``to_tflite(model, path, quantization="float32"|"float16"|"dynamic"|"int8", representative_data,
labels, sample_rate)`` writes a builtin-ops .tflite with MediaPipe-readable metadata.
``to_streaming_tflite(model, path, chunk_seconds=0.1, quantization="int8", representative_data,
state="internal"|"external")`` writes a stateful one-chunk-per-call .tflite of a causal CNN-LSTM
tagger (:mod:`export.streaming`). Both check
the artifact they wrote against the Keras model before returning its path. See docs/export.md.
"""

from export.checks import ExportCheckError, assert_builtin_only, run_tflite, tflite_ops
from export.common import frame_scores_model, output_names
from export.metadata import add_metadata, read_metadata
from export.saved_model import frame_hop_seconds, to_saved_model
from export.streaming import StreamingRunner, check_streaming_tflite, to_streaming_tflite
from export.tflite import QUANTIZATIONS, TOLERANCES, check_tflite, to_tflite

__all__ = [
    "ExportCheckError", "QUANTIZATIONS", "frame_hop_seconds", "frame_scores_model", "StreamingRunner", "check_streaming_tflite", "to_streaming_tflite", "TOLERANCES", "add_metadata", "assert_builtin_only",
    "check_tflite", "output_names", "read_metadata", "run_tflite", "tflite_ops", "to_saved_model",
    "to_tflite",
]
