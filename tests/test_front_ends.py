"""Front ends: LogMelSpectrogram, IntervalMaxPooling, PreEmphasis against NumPy/scipy references."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.signal  # noqa: E402

from keras_audioattn.layers import (  # noqa: E402
    FRONT_END_PRESETS,
    IntervalMaxPooling,
    LogMelSpectrogram,
    PreEmphasis,
    mel_filterbank,
)
from tests.helpers import assert_tflite_builtin_only, run_layer_test, run_tflite  # noqa: E402


def _test_signal(batch, samples, sample_rate, seed=0):
    """Noise plus a tone and a chirp, so every band has energy and the spectrum is not flat."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    chirp = 0.2 * scipy.signal.chirp(t, 100.0, t[-1], 0.45 * sample_rate)
    noise = 0.05 * rng.standard_normal((batch, samples))
    return (noise + tone + chirp).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# NumPy reference, written independently of the layer (loops, scipy windows, float64)
# ---------------------------------------------------------------------------------------------
def _ref_hz_to_mel(f, htk):
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if f < 1000.0:
        return 3.0 * f / 200.0
    return 15.0 + 27.0 * np.log(f / 1000.0) / np.log(6.4)


def _ref_mel_to_hz(m, htk):
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if m < 15.0:
        return 200.0 * m / 3.0
    return 1000.0 * np.exp(np.log(6.4) * (m - 15.0) / 27.0)


def _ref_mel_matrix(sample_rate, n_fft, n_mels, fmin, fmax, htk, slaney_norm):
    fmax = sample_rate / 2 if fmax is None else fmax
    lo, hi = _ref_hz_to_mel(fmin, htk), _ref_hz_to_mel(fmax, htk)
    edges = [_ref_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1), htk) for i in range(n_mels + 2)]
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    out = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(bins):
            if left < f <= centre:
                out[k, m] = (f - left) / (centre - left)
            elif centre < f < right:
                out[k, m] = (right - f) / (right - centre)
        if slaney_norm:
            out[:, m] *= 2.0 / (right - left)
    return out


def _ref_log_mel(x, sample_rate, fft_length, frame_length, frame_step, num_mel_bins, fmin=0.0, fmax=None,
                 window="hann", periodic_window=True, power=2.0, log_offset=1e-6, center=False,
                 mel_scale="slaney", mel_norm="slaney", **_):
    x = np.asarray(x, np.float64)
    if center:
        x = np.pad(x, [(0, 0), (frame_length // 2, frame_length // 2)])
    win = scipy.signal.get_window("boxcar" if window == "rectangular" else window, frame_length,
                                  fftbins=periodic_window)
    num_frames = 1 + (x.shape[1] - frame_length) // frame_step
    frames = np.stack([x[:, t * frame_step: t * frame_step + frame_length] for t in range(num_frames)], axis=1)
    spectrum = np.abs(np.fft.rfft(frames * win, n=fft_length, axis=-1)) ** power
    mel = spectrum @ _ref_mel_matrix(sample_rate, fft_length, num_mel_bins, fmin, fmax, mel_scale == "htk",
                                     mel_norm == "slaney")
    return np.log(mel + log_offset)


SMALL_CONFIGS = [
    # Chang-like (frame shorter than the FFT), power spectrum, no padding.
    dict(sample_rate=8000, fft_length=256, frame_length=200, frame_step=80, num_mel_bins=20),
    # Deshmukh-like: symmetric Hamming, magnitude, band limits, tiny log offset, centre padding.
    dict(sample_rate=16000, fft_length=512, frame_length=512, frame_step=256, num_mel_bins=32, fmin=50.0,
         fmax=7000.0, window="hamming", periodic_window=False, power=1.0, log_offset=1e-8, center=True),
    # HTK scale without area normalisation, rectangular window, odd hop.
    dict(sample_rate=8000, fft_length=128, frame_length=128, frame_step=55, num_mel_bins=16,
         window="rectangular", mel_scale="htk", mel_norm=None),
]


@pytest.mark.parametrize("impl,projection", [("fft", "sparse"), ("dft", "sparse"), ("fft", "dense")])
@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=["chang-like", "deshmukh-like", "htk"])
def test_log_mel_matches_numpy_reference(config, impl, projection):
    x = _test_signal(2, 4000, config["sample_rate"])
    layer = LogMelSpectrogram(stft_implementation=impl, mel_projection=projection, **config)
    expected = _ref_log_mel(x, **config)
    actual = keras.ops.convert_to_numpy(layer(x))
    assert actual.shape == expected.shape == (2, layer.num_frames(4000), config["num_mel_bins"])
    # Absolute error on the log = relative error on the mel energies.
    np.testing.assert_allclose(actual, expected, atol=2e-4, rtol=0)


def test_mel_filterbank_matches_reference_and_librosa_defaults():
    for htk in (False, True):
        ours = mel_filterbank(22050, 1024, 40, 20.0, 8000.0, mel_scale="htk" if htk else "slaney",
                              norm=None if htk else "slaney")
        ref = _ref_mel_matrix(22050, 1024, 40, 20.0, 8000.0, htk, not htk)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)
    librosa = pytest.importorskip("librosa")  # bench-only dependency; checks the "librosa default" claim
    np.testing.assert_allclose(mel_filterbank(32000, 2048, 64, 50.0, 16000.0),
                               librosa.filters.mel(sr=32000, n_fft=2048, n_mels=64, fmin=50.0, fmax=16000.0).T,
                               rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,sample_rate,frames", [
    ("zhang2018", 44100, 2000), ("deshmukh2020", 32000, 311), ("chang2020_teacher", 16000, 998),
    ("chang2020_student", 16000, 998)])
def test_presets_give_the_papers_frame_counts(name, sample_rate, frames):
    layer = LogMelSpectrogram.from_preset(name)
    assert layer.sample_rate == sample_rate
    assert layer.num_frames(10 * sample_rate) == frames
    out = layer(np.zeros((1, 10 * sample_rate), np.float32))
    assert tuple(out.shape) == (1, frames, FRONT_END_PRESETS[name]["num_mel_bins"])
    # Silence gives log(offset) everywhere.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), np.log(layer.log_offset), rtol=1e-6)


def test_presets_values_and_overrides():
    deshmukh = LogMelSpectrogram.from_preset("deshmukh2020")
    assert (deshmukh.window, deshmukh.fft_length, deshmukh.frame_step, deshmukh.fmin, deshmukh.fmax,
            deshmukh.log_offset) == ("hamming", 2048, 1024, 50.0, 16000.0, 1e-8)
    assert LogMelSpectrogram.from_preset("chang2020_student").num_mel_bins == 20
    assert LogMelSpectrogram.from_preset("chang2020_teacher", num_mel_bins=40).num_mel_bins == 40
    zhang = LogMelSpectrogram.from_preset("zhang2018")
    assert (zhang.frame_length, zhang.frame_step, zhang.num_mel_bins) == (1024, 220, 64)
    with pytest.raises(ValueError, match="unknown front-end preset"):
        LogMelSpectrogram.from_preset("nope")


def test_log_mel_accepts_channel_axis_and_center_frame_count():
    layer = LogMelSpectrogram(sample_rate=8000, fft_length=256, frame_step=80, num_mel_bins=16, center=True)
    x = _test_signal(2, 1000, 8000)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x[..., None])),
                               keras.ops.convert_to_numpy(layer(x)), atol=1e-6)
    assert layer(x).shape[1] == layer.num_frames(1000) == 1 + 1000 // 80
    assert layer.compute_output_shape((None, None)) == (None, None, 16)


def test_front_ends_compute_in_float32_under_mixed_precision():
    x = _test_signal(1, 800, 8000)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layers = [LogMelSpectrogram(**SMALL_CONFIGS[0]), IntervalMaxPooling(8000, 2000), PreEmphasis()]
    finally:
        keras.config.set_dtype_policy(previous)
    for layer in layers:
        assert keras.backend.standardize_dtype(layer(x).dtype) == "float32"


def test_log_mel_layer_standard_checks(tmp_path):
    config = SMALL_CONFIGS[0]
    run_layer_test(LogMelSpectrogram, config, _test_signal(2, 1600, 8000),
                   expected_output_shape=(2, 1 + (1600 - 200) // 80, 20), tmp_path=tmp_path, atol=1e-5)


def test_log_mel_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="shorter than one frame"):
        LogMelSpectrogram(sample_rate=8000, fft_length=256, num_mel_bins=16)(np.zeros((1, 100), np.float32))
    with pytest.raises(ValueError, match="shorter than one frame"):
        LogMelSpectrogram(sample_rate=8000, fft_length=256, num_mel_bins=16).num_frames(255)
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        LogMelSpectrogram(sample_rate=8000, fft_length=256, num_mel_bins=16)(np.zeros((1, 400, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        LogMelSpectrogram(sample_rate=8000, fft_length=256, num_mel_bins=16)(np.zeros((400,), np.float32))
    for kwargs, match in [
        (dict(frame_length=512, fft_length=256), "must not exceed"),
        (dict(fmax=9000.0), "fmax"),
        (dict(fmin=500.0, fmax=400.0), "fmin"),
        (dict(window="kaiser"), "window"),
        (dict(power=0.0), "power"),
        (dict(log_offset=0.0), "log_offset"),
        (dict(frame_step=0), "frame_step"),
        (dict(num_mel_bins=200), "no FFT bin"),
        (dict(mel_scale="bark"), "mel_scale"),
        (dict(stft_implementation="fftw"), "stft_implementation"),
    ]:
        base = dict(sample_rate=16000, fft_length=256, num_mel_bins=16)
        base.update(kwargs)
        with pytest.raises(ValueError, match=match):
            LogMelSpectrogram(**base)


# ---------------------------------------------------------------------------------------------
# IntervalMaxPooling
# ---------------------------------------------------------------------------------------------
def _ref_interval_max(x, sample_rate, target_rate, normalize=True):
    x = np.asarray(x, np.float64)
    if normalize:
        x = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    n_out = x.shape[1] * target_rate // sample_rate
    out = np.empty((x.shape[0], n_out))
    for i in range(n_out):
        # Boundaries in exact integer arithmetic: floor(i * sr / target).
        lo, hi = i * sample_rate // target_rate, (i + 1) * sample_rate // target_rate
        out[:, i] = x[:, lo:hi].max(axis=1)
    return out


@pytest.mark.parametrize("sample_rate,target_rate,normalize", [
    (16000, 4000, True), (44100, 4000, True), (22050, 4000, False), (8000, 3000, True)])
def test_interval_max_matches_numpy_reference(sample_rate, target_rate, normalize):
    x = 2.0 + 3.0 * _test_signal(3, 2001, sample_rate, seed=1)  # offset and scale: normalisation matters
    layer = IntervalMaxPooling(sample_rate=sample_rate, target_rate=target_rate, normalize=normalize)
    actual = keras.ops.convert_to_numpy(layer(x))
    expected = _ref_interval_max(x, sample_rate, target_rate, normalize)
    assert actual.shape == expected.shape == (3, 2001 * target_rate // sample_rate)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    # A trailing channel axis is kept.
    assert tuple(layer(x[..., None]).shape) == expected.shape + (1,)


def test_interval_max_lengths_ignore_zero_padding():
    clips = [_test_signal(1, 1600, 16000, seed=s)[0] + 0.5 for s in (2, 3)]
    clips[1] = clips[1][:1000]
    padded = np.zeros((2, 1600), np.float32)
    for i, clip in enumerate(clips):
        padded[i, : len(clip)] = clip
    layer = IntervalMaxPooling()
    lengths = np.array([1600, 1000])
    out = keras.ops.convert_to_numpy(layer(padded, lengths=lengths))
    out_list = keras.ops.convert_to_numpy(layer([padded, lengths]))
    np.testing.assert_array_equal(out, out_list)
    for i, clip in enumerate(clips):
        alone = keras.ops.convert_to_numpy(layer(clip[None]))[0]
        np.testing.assert_allclose(out[i, : len(alone)], alone, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(out[i, len(alone):], 0.0)
    # Without lengths the padding changes the statistics (the documented limitation).
    unmasked = keras.ops.convert_to_numpy(layer(padded))
    assert np.max(np.abs(unmasked[1, :250] - out[1, :250])) > 0.1
    # A lengths input works inside a functional model.
    wave, length = keras.Input((None,)), keras.Input((), dtype="int32")
    model = keras.Model([wave, length], IntervalMaxPooling()(wave, lengths=length))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model([padded, lengths])), out, atol=1e-6)


def test_interval_max_layer_standard_checks_and_errors(tmp_path):
    run_layer_test(IntervalMaxPooling, dict(sample_rate=8000, target_rate=2000), _test_signal(2, 800, 8000),
                   expected_output_shape=(2, 200), tmp_path=tmp_path)
    with pytest.raises(ValueError, match="must not exceed"):
        IntervalMaxPooling(sample_rate=8000, target_rate=16000)
    with pytest.raises(ValueError, match="positive integer"):
        IntervalMaxPooling(sample_rate=16000.5)
    with pytest.raises(ValueError, match="shorter than one interval"):
        IntervalMaxPooling()(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        IntervalMaxPooling()(np.zeros((1, 400, 2), np.float32))


# ---------------------------------------------------------------------------------------------
# PreEmphasis
# ---------------------------------------------------------------------------------------------
def test_pre_emphasis_matches_reference(tmp_path):
    x = _test_signal(2, 500, 8000, seed=4)
    expected = np.concatenate([x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], axis=1)
    # scipy's lfilter is the textbook FIR form of the same filter.
    np.testing.assert_allclose(scipy.signal.lfilter([1.0, -0.97], [1.0], x, axis=1), expected, atol=1e-6)
    layer = PreEmphasis()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x[..., None]))[..., 0], expected, atol=1e-6)
    run_layer_test(PreEmphasis, dict(coefficient=0.5), x, expected_output_shape=x.shape, tmp_path=tmp_path)
    with pytest.raises(ValueError, match="coefficient"):
        PreEmphasis(coefficient=1.5)
    stereo = np.stack([x, 0.5 * x[::-1]], axis=-1)  # each channel filtered on its own
    stereo_expected = np.stack([expected, 0.5 * scipy.signal.lfilter([1.0, -0.97], [1.0], x[::-1], axis=1)], -1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(stereo)), stereo_expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        PreEmphasis()(np.zeros((10,), np.float32))


# ---------------------------------------------------------------------------------------------
# TFLite: builtin ops only, LiteRT agrees with Keras (float32, dynamic range, int8 head)
# ---------------------------------------------------------------------------------------------
def _convert(model, tmp_path, quantization, representative=None):
    import tensorflow as tf

    export_dir = str(tmp_path / f"saved_{quantization}")
    model.export(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        converter.representative_dataset = lambda: ([r[None]] for r in representative)
    return converter.convert()


@pytest.fixture(scope="module")
def chained_front_ends():
    """All three layers in one model; outputs have distinct shapes so LiteRT's output order is irrelevant."""
    wave = keras.Input((None,), name="waveform")
    emphasised = PreEmphasis()(wave)
    fft = LogMelSpectrogram(**SMALL_CONFIGS[0], name="log_mel_fft")(emphasised)
    dft_config = dict(SMALL_CONFIGS[0], num_mel_bins=12, fft_length=200)  # not a power of two: "auto" -> dft
    dft = LogMelSpectrogram(**dft_config, name="log_mel_dft")(emphasised)
    pooled = IntervalMaxPooling(sample_rate=8000, target_rate=2000)(wave)
    model = keras.Model(wave, {"fft": fft, "dft": dft, "pooled": pooled})
    return model, _test_signal(1, 1600, 8000, seed=5)


def _by_shape(outputs):
    shapes = {o.shape: o for o in outputs}
    assert len(shapes) == len(outputs)
    return shapes


@pytest.mark.parametrize("quantization", ["float32", "dynamic"])
def test_front_ends_convert_to_builtin_tflite_and_match(chained_front_ends, tmp_path, quantization):
    model, x = chained_front_ends
    tflite = _convert(model, tmp_path, quantization)
    ops_used = assert_tflite_builtin_only(tflite)
    assert {"RFFT2D", "UNSORTED_SEGMENT_SUM"} <= ops_used  # FFT STFT + sparse mel projection
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}
    actual = _by_shape(run_tflite(tflite, x))
    # Dynamic-range conversion quantises constant weights of matmul/conv ops only: the default
    # path (RFFT2D + segment_sum) has none and stays exact; the "dft" path's DFT matrix would be
    # quantised (documented), so it is compared in float32 only.
    checked = ["fft", "pooled"] + (["dft"] if quantization == "float32" else [])
    for key in checked:
        np.testing.assert_allclose(actual[expected[key].shape], expected[key], atol=1e-4, err_msg=key)
    # A longer input through the same (dynamic-length) TFLite model.
    longer = _test_signal(1, 2400, 8000, seed=7)
    np.testing.assert_allclose(_by_shape(run_tflite(tflite, longer))[(1, 28, 20)],
                               keras.ops.convert_to_numpy(model(longer)["fft"]), atol=1e-4)


@pytest.mark.parametrize("preset, center", [("chang2020_student", False), ("chang2020_student", True),
                                            ("deshmukh2020", False)])
def test_fixed_length_framing_uses_slices_not_a_gather_index(preset, center, tmp_path):
    """A known input length frames with strided slices (no (frames, m) int32 gather index stored
    in the .tflite); it equals the ops.stft path that unknown lengths take."""
    import tensorflow as tf

    layer = LogMelSpectrogram.from_preset(preset, center=center)
    samples = int(layer.sample_rate * 2.0) + 37  # not a whole number of hops
    x = _test_signal(2, samples, layer.sample_rate, seed=3)
    assert layer._subframes(samples + (layer.frame_length if center else 0)) is not None
    fixed = keras.ops.convert_to_numpy(layer(x))
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec((None, None), tf.float32)])(x).numpy()
    assert fixed.shape == dynamic.shape == (2, layer.num_frames(samples), layer.num_mel_bins)
    np.testing.assert_allclose(fixed, dynamic, atol=1e-4)

    wave = keras.Input((samples,), batch_size=1, name="waveform")
    tflite = _convert(keras.Model(wave, layer(wave)), tmp_path, "float32")
    ops_used = assert_tflite_builtin_only(tflite)
    assert "GATHER" not in ops_used and "STRIDED_SLICE" in ops_used
    np.testing.assert_allclose(run_tflite(tflite, x[:1])[0], fixed[:1], atol=1e-4)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_log_mel_stays_float_inside_int8_model(tmp_path):
    """Full-int8 network with the log-mel front end kept in float (DESIGN.md: int8 log-mel values
    lose accuracy). The front end's tensors are named after the layer, so TFLite's selective
    quantisation (QuantizationDebugger ``denylisted_nodes``) can leave exactly them in float."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    x = _test_signal(8, 1600, 8000, seed=6)
    wave = keras.Input((1600,))
    features = LogMelSpectrogram(**SMALL_CONFIGS[0], name="log_mel")(wave)
    scores = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(features))
    model = keras.Model(wave, scores)
    export_dir = str(tmp_path / "saved_int8")
    model.export(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([r[None]] for r in x)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([r[None]] for r in x))
    interpreter = Interpreter(model_content=debugger.get_nondebug_quantized_model())
    front_end = [t["name"] for t in interpreter.get_tensor_details() if "log_mel" in t["name"]]
    assert front_end, "front-end tensors are not named after the layer"
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([r[None]] for r in x),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=front_end))
    tflite = debugger.get_nondebug_quantized_model()
    ops_used = assert_tflite_builtin_only(tflite)
    assert {"RFFT2D", "UNSORTED_SEGMENT_SUM", "QUANTIZE"} <= ops_used
    interpreter = Interpreter(model_content=tflite)
    types = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    by_op = {}
    for op in interpreter._get_ops_details():
        by_op.setdefault(op["op_name"], []).append(types[op["outputs"][0]])
    assert all(t == np.float32 for t in by_op["LOG"])  # the log-mel itself stays float
    assert np.int8 in by_op["FULLY_CONNECTED"]  # while the classifier is int8
    # int8 softmax output: steps of 1/256 plus the quantised dense layer.
    np.testing.assert_allclose(run_tflite(tflite, x[:2])[0], keras.ops.convert_to_numpy(model(x[:2])), atol=0.03)


def test_tiny_log_offset_survives_a_float16_tflite(tmp_path):
    """The 2APAE front end's log(mel + 1e-8): 1e-8 is below float16's range, so a float16 file made
    silence log(0) = -inf until the layer scaled the offset by a power of two (same float32 value)."""
    from tests import kit

    config = SMALL_CONFIGS[1]  # Deshmukh-like, log_offset 1e-8
    layer = LogMelSpectrogram(**config)
    x = _test_signal(3, 4000, config["sample_rate"])
    x[2] = 0.0  # silence: every mel energy 0, the log is log(1e-8)
    actual = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(actual, _ref_log_mel(x, **config), atol=2e-4, rtol=0)
    np.testing.assert_allclose(actual[2], np.log(1e-8), rtol=1e-6)
    inputs = keras.Input((4000,), name="waveform")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled / 20.0))
    report = kit.run_litert_export_test(model, x[:2], "float16", tmp_path, sample_rate=config["sample_rate"])
    assert report["max_abs_error"] <= 2e-2
