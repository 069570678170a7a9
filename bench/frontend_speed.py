"""Chang student front end (16 kHz, 25 ms / 10 ms, FFT 512, 20 mel, 10 s) inside LiteRT: time vs accuracy.

Variants, each a standalone .tflite of the log-mel for one 10 s clip:

* ``rfft``: ``LogMelSpectrogram.from_preset("chang2020_student")`` as today (strided-slice framing,
  PACK, RFFT2D, sparse mel with UNSORTED_SEGMENT_SUM), float32;
* ``subframe_dft``: no framing op at all: the clip is reshaped into 1000 sub-frames of 160
  samples (the hop), one FULLY_CONNECTED multiplies them by the windowed DFT matrix cut into
  the three 160-row blocks a 400-sample frame spans, and frame t = block 0 of sub-frame t +
  block 1 of t + 1 + block 2 of t + 2 (shifted slices + adds); only the FFT bins that a mel band
  uses; same sparse mel and log; float32;
* ``subframe_dft_dynamic``: the same converted with dynamic-range quantization (int8 DFT weights,
  float activations quantized on the fly by the hybrid kernel).

Time: CPU ms of the calling thread per ``invoke`` (1 thread; builtin kernels, and LiteRT's
default XNNPACK delegate), median of
``--repeats``, variants interleaved so they share the machine's load. Accuracy vs the Keras layer
(float32 TF): max |Δ log-mel| and correlation on ``--clips`` synthetic 10 s tagging clips, and max
|Δ| on silence.

    python bench/frontend_speed.py --repeats 30 --out bench/results/frontend_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))


def subframe_dft_fn(layer, num_samples):
    """TF function: waveform (1, n) -> log-mel (1, frames, mel) with the sub-frame DFT matmul."""
    import numpy as np
    import tensorflow as tf

    hop, length, fft = layer.frame_step, layer.frame_length, layer.fft_length
    blocks = -(-length // hop)
    frames = layer.num_frames(num_samples)
    used = np.flatnonzero(layer._mel_matrix.sum(axis=1) > 0)  # noqa: SLF001 (bins a band uses)
    angle = 2 * np.pi * np.outer(np.arange(length), used) / fft
    win = layer._window.astype(np.float64)[:, None]  # noqa: SLF001
    dft = np.concatenate([win * np.cos(angle), -win * np.sin(angle)], axis=1)  # (length, 2 * bins)
    dft = np.pad(dft, [[0, blocks * hop - length], [0, 0]])
    kernel = np.concatenate([dft[j * hop:(j + 1) * hop] for j in range(blocks)], axis=1).astype(np.float32)
    width = dft.shape[1]
    mel = layer._mel_matrix[used]  # noqa: SLF001
    nonzero = mel > 0
    per_bin = int(nonzero.sum(axis=1).max())
    bands = np.full((per_bin, len(used)), layer.num_mel_bins, np.int32)
    weights = np.zeros((per_bin, len(used)), np.float32)
    for k in range(len(used)):
        for j, m in enumerate(np.flatnonzero(nonzero[k])):
            bands[j, k], weights[j, k] = m, mel[k, m]
    subframes = frames + blocks - 1

    @tf.function(input_signature=[tf.TensorSpec((1, num_samples), tf.float32, name="waveform")])
    def fn(x):
        sub = tf.reshape(x[:, : subframes * hop], (subframes, hop))
        y = tf.matmul(sub, tf.constant(kernel))  # (subframes, blocks * width)
        spec = tf.add_n([y[j:j + frames, j * width:(j + 1) * width] for j in range(blocks)])
        half = width // 2
        power = spec[:, :half] ** 2 + spec[:, half:] ** 2  # (frames, bins)
        if layer.power != 2.0:  # the layer's own rule (1.0: magnitude, as the Chang student preset)
            power = tf.sqrt(power) if layer.power == 1.0 else tf.pow(power, layer.power / 2.0)
        by_bin = tf.transpose(power)[:, None, :]  # (bins, 1, frames)
        weighted = tf.concat([by_bin * w[:, None, None] for w in weights], axis=0)
        melspec = tf.math.unsorted_segment_sum(weighted, bands.reshape(-1), layer.num_mel_bins + 1)
        melspec = tf.transpose(melspec[: layer.num_mel_bins], (1, 2, 0))
        return {"log_mel": tf.math.log(melspec + layer.log_offset)}

    return fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from export.checks import interpreter, tflite_ops
    from keras_audioattn.data.synthetic import synthesize
    from keras_audioattn.layers import LogMelSpectrogram

    n = 160000
    layer = LogMelSpectrogram.from_preset("chang2020_student")
    clips = np.asarray(synthesize("tagging", args.clips, seed=5, duration=10.0).waveforms, np.float32)
    signals = list(clips) + [np.zeros(n, np.float32)]
    want = [np.asarray(layer(s[None]))[0] for s in signals]

    @tf.function(input_signature=[tf.TensorSpec((1, n), tf.float32, name="waveform")])
    def rfft(x):
        return {"log_mel": layer(x)}

    sub = subframe_dft_fn(layer, n)
    tmp = tempfile.mkdtemp(prefix="frontend_speed_")
    files = {}
    for name, fn, dynamic in (("rfft", rfft, False), ("subframe_dft", sub, False), ("subframe_dft_dynamic", sub, True)):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if dynamic:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        path = os.path.join(tmp, name + ".tflite")
        with open(path, "wb") as f:
            f.write(converter.convert())
        files[name] = path
    results = {"load_average_start": os.getloadavg(), "variants": {}}
    its, xnn = {}, {}
    from ai_edge_litert.interpreter import Interpreter

    for name, path in files.items():
        xnn[name] = Interpreter(model_path=path, num_threads=1)  # default delegates: XNNPACK
        xnn[name].allocate_tensors()
        it = interpreter(path, num_threads=1)
        it.allocate_tensors()
        its[name] = it
        got = []
        for s in signals:
            it.set_tensor(it.get_input_details()[0]["index"], s[None])
            it.invoke()
            got.append(np.array(it.get_tensor(it.get_output_details()[0]["index"]))[0])
        err = [float(np.max(np.abs(g - w))) for g, w in zip(got, want)]
        corr = [float(np.corrcoef(g.ravel(), w.ravel())[0, 1]) for g, w in zip(got[:-1], want[:-1])]
        results["variants"][name] = {"bytes": os.path.getsize(path), "ops": sorted(set(tflite_ops(path))),
                                     "max_abs_err_clips": max(err[:-1]), "max_abs_err_silence": err[-1],
                                     "min_corr_clips": min(corr), "cpu_ms": [], "cpu_ms_xnnpack": []}
    for r in range(args.repeats):
        for name, it in its.items():
            it.set_tensor(it.get_input_details()[0]["index"], signals[r % args.clips][None])
            t0 = time.thread_time()
            it.invoke()
            results["variants"][name]["cpu_ms"].append((time.thread_time() - t0) * 1000)
            x = xnn[name]
            x.set_tensor(x.get_input_details()[0]["index"], signals[r % args.clips][None])
            t0 = time.thread_time()
            x.invoke()
            results["variants"][name]["cpu_ms_xnnpack"].append((time.thread_time() - t0) * 1000)
    for name, v in results["variants"].items():
        v["cpu_ms_median"] = float(np.median(v.pop("cpu_ms")))
        v["cpu_ms_xnnpack_median"] = float(np.median(v.pop("cpu_ms_xnnpack")))
        print(name, json.dumps(v), flush=True)
    results["load_average_end"] = os.getloadavg()
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            json.dump(results, f, indent=2)
        os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
