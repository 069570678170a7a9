"""``import keras_audioattn`` is all a user needs before ``keras.saving.load_model``."""

import subprocess
import sys


def test_import_registers_models_for_load_model(tmp_path):
    from keras_audioattn.models import CNNLSTMStudent

    path = tmp_path / "student.keras"
    CNNLSTMStudent(num_classes=3, lstm_units=4, num_mel_bins=8, conv_filters=2, clip_duration=0.5,
                   front_end={"fft_length": 256, "frame_length": 256, "frame_step": 128}).save(path)
    code = ("import keras, keras_audioattn; m = keras.saving.load_model(%r); print(type(m).__name__)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "CNNLSTMStudent"
