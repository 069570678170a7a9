"""Writes the `.keras` files of tests/test_saved_before_redesign.py (run once, on the tree before issue 17).

Each fixture is a tiny model of one class, saved by the package as it stood at commit 229e503, with
its input and the outputs it gave then. The redesign renames arguments and moves modules; a file a
user saved before it must still load and give the same outputs.
"""

import os
import sys

import numpy as np

import keras
import keras_audioattn  # noqa: F401  (registration)
from keras_audioattn import presets
from keras_audioattn.models import AudioTagger, RawWaveformASC, TagConditionedASC

HERE = os.path.dirname(os.path.abspath(__file__))


def _fixtures():
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    wave = lambda n, *c: rng.standard_normal((1, n, *c)).astype("float32") * 0.1  # noqa: E731
    yield "attention_lstm_classifier", presets.build_model("zhang2018-ta-sa", num_classes=3, small=True,
                                                           for_training=True, sample_rate=8000), wave(8000)
    lu = presets.build_model("lu2020-cab-cnn-5s", num_classes=3, small=True, length_input=False)
    yield "cab_cnn", lu, wave(16000)
    yield "two_step_attention_sed", presets.build_model("deshmukh2020-2apae", num_classes=3, small=True,
                                                        for_training=True, sample_rate=8000), wave(16000)
    yield "vggish_teacher", presets.build_model("chang2020-teacher", num_classes=3, small=True,
                                                sample_rate=8000, clip_duration=None), wave(8000)
    yield "cnn_lstm_student", presets.build_model("chang2020-student-lstm16", num_classes=3, small=True,
                                                  sample_rate=8000, clip_duration=None), wave(8000)
    small = presets.get_preset("jung2020-tagger")["small"]
    tagger = AudioTagger(num_tags=4, sample_rate=8000, **small)
    yield "audio_tagger", tagger, wave(8000)
    asc_cfg = dict(presets.get_preset("jung2020-tag-asc")["small"]["asc"], num_classes=3, num_channels=1,
                   sample_rate=8000)
    yield "raw_waveform_asc", RawWaveformASC(**asc_cfg), wave(8000, 1)
    yield "tag_conditioned_asc", TagConditionedASC(asc=asc_cfg, tagger=dict(small, num_tags=4, sample_rate=8000),
                                                   transform_units=8), wave(8000, 1)


def main():
    for name, model, x in _fixtures():
        out = model(x, training=False)
        out = out if isinstance(out, dict) else {"output": out}
        path = os.path.join(HERE, f"{name}.keras")
        model.save(path)
        np.savez_compressed(os.path.join(HERE, f"{name}.npz"), inputs=x, **{f"out_{k}": np.asarray(v) for k, v in out.items()})
        print(name, type(model).__name__, model.count_params(), os.path.getsize(path))


if __name__ == "__main__":
    sys.exit(main())
