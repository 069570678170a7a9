"""Audio input: decoding, manifests to tf.data, remixing events over scenes, synthetic corpus.

TensorFlow is imported only when a ``tf.data`` pipeline is built (``dataset_from_manifest`` /
``dataset_from_folder``), so decoding, remixing and synthesis work without paying for it.
"""

from keras_audioattn.data.audio import AudioFileError, audio_info, load_audio, resample
from keras_audioattn.data.manifest import (
    Manifest,
    dataset_from_folder,
    dataset_from_manifest,
    load_class_names,
    load_manifest,
    manifest_from_folder,
    save_class_names,
    write_manifest,
)
from keras_audioattn.data.remix import build_remix, mix_at_snr, rms
from keras_audioattn.data.synthetic import SyntheticSet, synthesize, write_synthetic_corpus

__all__ = [
    "AudioFileError",
    "Manifest",
    "SyntheticSet",
    "audio_info",
    "build_remix",
    "dataset_from_folder",
    "dataset_from_manifest",
    "load_audio",
    "load_class_names",
    "load_manifest",
    "manifest_from_folder",
    "mix_at_snr",
    "resample",
    "rms",
    "save_class_names",
    "synthesize",
    "write_manifest",
    "write_synthetic_corpus",
]
from keras_audioattn.data.batching import (  # noqa: E402,F401
    crop_to_seconds,
    pad_waveforms,
    padded_dataset,
    truncate_to_shortest,
)
__all__ += ["crop_to_seconds", "pad_waveforms", "padded_dataset", "truncate_to_shortest"]
