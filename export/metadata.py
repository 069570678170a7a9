"""TFLite metadata that MediaPipe Tasks' ``AudioClassifier`` reads.

What MediaPipe needs (DESIGN.md, measured): the input tensor carries ``AudioProperties`` with the
sample rate and the channel count set (both 0 by default, and then MediaPipe fails), the output
tensor carries a ``TENSOR_AXIS_LABELS`` label file, the input is float32 of rank <= 2.

The metadata is written with the schema classes and ``MetadataPopulator`` of the ``mediapipe``
package. Its 1.2.2 release fails to import the native helper that computes the minimum parser
version (``mediapipe.tasks.cc...._pywrap_metadata_version``); :func:`_populator_module` supplies
that one function (our metadata uses fields up to schema 1.3.0, AudioProperties) so that the
rest of the module -- pure Python flatbuffers code -- works. ``tflite-support`` writes the same
metadata but pins protobuf 3.20, which conflicts with TensorFlow 2.21.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import types
import zipfile

METADATA_NAME = "TFLITE_METADATA"
LABEL_FILE = "labels.txt"
# AudioProperties arrived in metadata schema 1.3.0, the newest feature we use.
MIN_PARSER_VERSION = "1.3.0"


def metadata_available():
    try:
        import mediapipe.tasks.metadata.metadata_schema_py_generated  # noqa: F401
    except ImportError:
        return False
    return True


def _populator_module():
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    if name not in sys.modules:
        try:
            __import__(name)
        except ImportError:
            # Register stand-in modules for the missing native package chain only.
            parts = name.split(".")
            parent = None
            for i in range(3, len(parts) + 1):
                dotted = ".".join(parts[:i])
                module = sys.modules.get(dotted)
                if module is None:
                    module = types.ModuleType(dotted)
                    module.__path__ = []
                    sys.modules[dotted] = module
                    if parent is not None:
                        setattr(parent, parts[i - 1], module)
                parent = module
            parent.GetMinimumMetadataParserVersion = lambda buffer: MIN_PARSER_VERSION
    from mediapipe.tasks.python.metadata import metadata

    return metadata


def add_metadata(flatbuffer, labels, sample_rate, num_samples, channels=1, name="audio_classifier",
                 quantization=None):
    """Returns ``flatbuffer`` (bytes of a .tflite) with audio-classifier metadata embedded."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    import flatbuffers

    labels = [str(label) for label in labels]
    if not labels or any("\n" in label for label in labels):
        raise ValueError("labels must be a non-empty list of single-line strings")
    if int(sample_rate) <= 0 or int(channels) <= 0:
        raise ValueError("sample_rate and channels must be positive")

    audio = fb.AudioPropertiesT()
    audio.sampleRate = int(sample_rate)
    audio.channels = int(channels)
    input_meta = fb.TensorMetadataT()
    input_meta.name = "waveform"
    layout = "Mono" if int(channels) == 1 else f"{int(channels)}-channel (samples, channels)"
    input_meta.description = (f"{layout} float32 waveform in [-1, 1], {num_samples} samples at "
                              f"{int(sample_rate)} Hz.")
    input_meta.content = fb.ContentT()
    input_meta.content.contentPropertiesType = fb.ContentProperties.AudioProperties
    input_meta.content.contentProperties = audio

    label_file = fb.AssociatedFileT()
    label_file.name = LABEL_FILE
    label_file.description = "Class names, one per line, in score order."
    label_file.type = fb.AssociatedFileType.TENSOR_AXIS_LABELS
    output_meta = fb.TensorMetadataT()
    output_meta.name = "scores"
    output_meta.description = f"Scores of {len(labels)} classes."
    output_meta.content = fb.ContentT()
    output_meta.content.contentPropertiesType = fb.ContentProperties.FeatureProperties
    output_meta.content.contentProperties = fb.FeaturePropertiesT()
    output_meta.associatedFiles = [label_file]

    subgraph = fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_meta]
    subgraph.outputTensorMetadata = [output_meta]
    model_meta = fb.ModelMetadataT()
    model_meta.name = name
    model_meta.description = (f"keras_audioattn audio classifier ({quantization or 'float32'} TFLite), "
                              f"sample rate {int(sample_rate)} Hz, {int(channels)} channel(s).")
    model_meta.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model_meta.Pack(builder), b"M001")
    metadata_buffer = builder.Output()

    metadata = _populator_module()
    with tempfile.TemporaryDirectory() as tmp:
        label_path = os.path.join(tmp, LABEL_FILE)
        with open(label_path, "w", encoding="utf-8") as f:
            f.write("\n".join(labels) + "\n")
        populator = metadata.MetadataPopulator.with_model_buffer(bytearray(flatbuffer))
        populator.load_metadata_buffer(metadata_buffer)
        populator.load_associated_files([label_path])
        populator.populate()
        return bytes(populator.get_model_buffer())


def read_metadata(path_or_bytes):
    """Reads the metadata back: ``{"sample_rate", "channels", "labels", "name", "min_parser_version"}``.

    Parses the model flatbuffer with TensorFlow's schema, the metadata buffer with MediaPipe's
    schema classes, and the label file from the zip archive appended to the model.
    """
    from tensorflow.lite.python import schema_py_generated as model_fb

    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else open(path_or_bytes, "rb").read()
    model = model_fb.Model.GetRootAsModel(data, 0)
    buffer = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == METADATA_NAME:
            buffer = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    if buffer is None:
        raise ValueError("the .tflite has no TFLITE_METADATA")
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    meta = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0))
    subgraph = meta.subgraphMetadata[0]
    audio = subgraph.inputTensorMetadata[0].content.contentProperties
    label_names = [f.name.decode() if isinstance(f.name, bytes) else f.name
                   for f in subgraph.outputTensorMetadata[0].associatedFiles]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        labels = archive.read(label_names[0]).decode("utf-8").splitlines()
    decode = lambda s: s.decode() if isinstance(s, bytes) else s  # noqa: E731
    return {"sample_rate": int(audio.sampleRate), "channels": int(audio.channels), "labels": labels,
            "name": decode(meta.name), "min_parser_version": decode(meta.minParserVersion)}
