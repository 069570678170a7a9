"""Log-mel front-end throughput: keras_audioattn's LogMelSpectrogram vs librosa.

Measures clips/s for 10 s clips at batch 1 and batch 32 for paper presets:

* ``layer``        the Keras layer (default: FFT STFT + sparse mel projection) inside a
                   ``keras.Model`` called through one ``tf.function`` (graph mode, CPU);
* ``layer-dense``  the same with ``mel_projection="dense"`` (one matmul);
* ``litert``       the layer converted to a float32 ``.tflite`` and run in ``ai_edge_litert``
                   (batch 1 only: the on-device case);
* ``librosa``      ``librosa.feature.melspectrogram`` + ``np.log`` with the same settings
                   (``center=False``), on the whole ``(batch, samples)`` array at once.

``--conversion`` adds the table behind the layer's defaults: each STFT / mel-projection variant
converted to float32 and dynamic-range ``.tflite`` files (op list, size, max |LiteRT - Keras| on
the log-mel of 1 s of noise with a rising envelope, i.e. with quiet and loud frames).

Each figure is the median over timed calls after one warm-up call (at least ``--repeats`` calls
and ``--min-time`` seconds per cell). librosa is a bench-only dependency (``pip install librosa``).

    .venv/bin/python bench/frontend.py [--presets deshmukh2020 chang2020_teacher] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _time(fn, repeats, min_time):
    fn()  # warm-up (tracing, allocation)
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def _librosa_fn(layer, x):
    import librosa
    import scipy.signal

    name = "boxcar" if layer.window == "rectangular" else layer.window
    window = scipy.signal.get_window(name, layer.frame_length, fftbins=layer.periodic_window)

    def run():
        mel = librosa.feature.melspectrogram(
            y=x, sr=layer.sample_rate, n_fft=layer.fft_length, hop_length=layer.frame_step,
            win_length=layer.frame_length, window=window, center=layer.center, power=layer.power,
            n_mels=layer.num_mel_bins, fmin=layer.fmin, fmax=layer.fmax)
        return np.log(mel + layer.log_offset)

    return run


VARIANTS = {"fft+sparse (default)": dict(stft_implementation="fft", mel_projection="sparse"),
            "fft+dense": dict(stft_implementation="fft", mel_projection="dense"),
            "dft+sparse": dict(stft_implementation="dft", mel_projection="sparse")}


def conversion_table(presets):
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from keras_audioattn.layers import LogMelSpectrogram

    rows = []
    for preset in presets:
        for name, kwargs in VARIANTS.items():
            layer = LogMelSpectrogram.from_preset(preset, **kwargs)
            sr = layer.sample_rate
            x = (np.random.default_rng(2).standard_normal((1, sr)) * np.linspace(0, 1, sr) ** 3).astype(np.float32)
            inputs = keras.Input((sr,), batch_size=1)
            model = keras.Model(inputs, layer(inputs))
            expected = keras.ops.convert_to_numpy(model(x))
            with tempfile.TemporaryDirectory() as export_dir:
                model.export(export_dir, verbose=False)
                for quantization in ("float32", "dynamic"):
                    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
                    if quantization == "dynamic":
                        converter.optimizations = [tf.lite.Optimize.DEFAULT]
                    flatbuffer = converter.convert()
                    interpreter = Interpreter(model_content=flatbuffer)
                    interpreter.allocate_tensors()
                    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
                    interpreter.invoke()
                    actual = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
                    # XNNPACK's DELEGATE nodes (added at run time) are not ops of the file.
                    ops = sorted({op["op_name"] for op in interpreter._get_ops_details()} - {"DELEGATE"})
                    row = dict(preset=preset, variant=name, quantization=quantization, bytes=len(flatbuffer),
                               max_abs_error=float(np.max(np.abs(actual - expected))), ops=ops)
                    rows.append(row)
                    print(f"{preset:18s} {name:20s} {quantization:8s} {len(flatbuffer) / 1024:8.0f} KiB  "
                          f"max |LiteRT - Keras| = {row['max_abs_error']:.2e}  {' '.join(ops)}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["deshmukh2020", "chang2020_teacher"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip duration")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--conversion", action="store_true", help="also the TFLite conversion table")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from keras_audioattn.layers import LogMelSpectrogram

    load_before = os.getloadavg()
    try:
        for preset in args.presets:  # the two implementations compute the same thing
            layer = LogMelSpectrogram.from_preset(preset)
            clip = (0.1 * np.random.default_rng(1).standard_normal((1, layer.sample_rate))).astype(np.float32)
            ours = keras.ops.convert_to_numpy(layer(clip))[0]
            theirs = _librosa_fn(layer, clip)()[0].T
            frames = min(len(ours), len(theirs))
            shift = (layer.fft_length - layer.frame_length) // 2  # librosa centres the window in n_fft
            note = f" (librosa frames n_fft samples: {len(theirs)} vs {len(ours)} frames)" if shift else ""
            if not shift:
                print(f"{preset}: max |layer - librosa| = {np.max(np.abs(ours[:frames] - theirs[:frames])):.2e} "
                      f"on the log-mel of 1 s of noise")
            else:
                print(f"{preset}: frame positions differ from librosa by {shift} samples{note}")
    except ImportError:
        pass
    rows = []
    for preset in args.presets:
        reference = LogMelSpectrogram.from_preset(preset)
        samples = int(args.seconds * reference.sample_rate)
        rng = np.random.default_rng(0)
        for variant in ("layer", "layer-dense", "litert", "librosa"):
            for batch in args.batches:
                if variant == "litert" and batch != 1:
                    continue
                x = (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
                if variant.startswith("layer"):
                    projection = "dense" if variant == "layer-dense" else "sparse"
                    layer = LogMelSpectrogram.from_preset(preset, mel_projection=projection)
                    inputs = keras.Input((samples,))
                    model = keras.Model(inputs, layer(inputs))
                    graph_fn = tf.function(lambda t, m=model: m(t, training=False))
                    x_tensor = tf.constant(x)

                    def fn(g=graph_fn, xt=x_tensor):
                        return g(xt).numpy()
                elif variant == "litert":
                    inputs = keras.Input((samples,), batch_size=1)
                    model = keras.Model(inputs, LogMelSpectrogram.from_preset(preset)(inputs))
                    with tempfile.TemporaryDirectory() as export_dir:
                        model.export(export_dir, verbose=False)
                        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(export_dir).convert()
                    interpreter = Interpreter(model_content=flatbuffer, num_threads=os.cpu_count())
                    interpreter.allocate_tensors()
                    in_index = interpreter.get_input_details()[0]["index"]
                    out_index = interpreter.get_output_details()[0]["index"]

                    def fn(it=interpreter, xi=x):
                        it.set_tensor(in_index, xi)
                        it.invoke()
                        return it.get_tensor(out_index)
                else:
                    try:
                        fn = _librosa_fn(reference, x)
                    except ImportError:
                        print("librosa not installed: skipping it")
                        continue
                seconds, calls = _time(fn, args.repeats, args.min_time)
                row = dict(preset=preset, variant=variant, batch=batch, clip_seconds=args.seconds,
                           ms_per_call=round(1000 * seconds, 2), clips_per_s=round(batch / seconds, 1),
                           calls=calls)
                rows.append(row)
                print(f"{preset:18s} {variant:12s} batch {batch:3d}: {row['clips_per_s']:8.1f} clips/s "
                      f"({row['ms_per_call']:.1f} ms per call, {calls} calls)", flush=True)
    result = dict(rows=rows, load_before=load_before, load_after=os.getloadavg(), cpu_count=os.cpu_count(),
                  machine=platform.processor() or platform.machine(), tensorflow=tf.__version__,
                  keras=keras.__version__)
    if args.conversion:
        result["conversion"] = conversion_table(args.presets)
    try:
        import librosa

        result["librosa"] = librosa.__version__
    except ImportError:
        pass
    print(f"load average before {load_before}, after {result['load_after']}; {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
