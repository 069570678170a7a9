"""Checked TFLite export: float32, float16, dynamic-range and full-integer int8.

Every file has one input ``waveform`` float32 ``(1, num_samples)`` (``(1, num_samples, channels)``
for a multi-channel model, e.g. Jung et al.'s stereo ``RawWaveformASC``) and one output ``scores``
float32 ``(1, num_classes)`` (for multi-output models only the ``scores`` output goes into the
.tflite: on-device classifiers such as MediaPipe treat every output as a classification head).
The batch is fixed at 1: that is what on-device runtimes feed, and recurrent layers need it to
convert to builtin ops. After writing, the file is checked (:func:`check_tflite`): builtin ops
only, it runs in ``ai_edge_litert``, its scores match the Keras model within the per-mode
tolerance :data:`TOLERANCES` on silence, white noise, a 440 Hz tone and up to four
representative clips, and the scores are finite (and inside [0, 1] where Keras' are).

int8: int8 weights and activations, calibrated on ``representative_data``; float32 input and
output. ``front_end="float"`` (default, chosen by the measurements in docs/export.md) keeps the
signal-processing front end (LogMelSpectrogram & co.) in float32, followed by one QUANTIZE op
and the int8 network; ``front_end="int8"`` quantizes everything, including the waveform itself.
``head="float"`` (default with the float front end, chosen by measurement: :func:`_head_ops`) keeps the output layer
(last FULLY_CONNECTED + sigmoid/softmax, a few hundred weights) in float32 after a DEQUANTIZE.

Keras 3 LSTMs are exported through ``tf_keras`` twins (:mod:`export.twin`) so that they become the
fused UNIDIRECTIONAL_SEQUENCE_LSTM op in every mode (required for int8).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings

import numpy as np

from export.checks import ExportCheckError, assert_builtin_only, compare_outputs, run_tflite
from export.common import (SCORES, check_output_path, check_signals, find_sample_rate, fit_length,
                           front_end_layers, name_outputs, representative_waveforms,
                           waveform_channels, waveform_input_spec, waveform_only)
from export.graph import backend_variables, save_module, trace_serving_function

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
# Max |tflite - keras| on the check signals, relative to max(1, max |keras scores|).
TOLERANCES = {"float32": 1e-3, "float16": 2e-2, "dynamic": 5e-2, "int8": 0.15}
_QUANT_OPS = ("QUANTIZE", "DEQUANTIZE")
# Ops TFLite has no int8 kernels for (complex FFT path): they stay float even in "int8" files.
_FLOAT_ONLY_OPS = ("RFFT2D", "REAL", "IMAG", "COMPLEX_ABS")
# Output activations kept in float in int8 files (see _int8_with_float_layers).
_FINAL_ACTIVATIONS = ("LOGISTIC", "SOFTMAX")


def to_tflite(model, path, quantization="float32", representative_data=None, labels=None,
              sample_rate=None, *, num_samples=None, front_end="float", head=None, float_layers=None,
              scores_key=None, overwrite=False, check=True, metadata=True,
              max_calibration_examples=200, tolerance=None):
    """Converts ``model`` to a .tflite at ``path``, checks the file, returns ``path``.

    Args:
      model: Keras model whose first input is a float32 waveform ``(batch, samples)`` or
        ``(batch, samples, channels)`` (exported as it is; the check clips get that many channels).
      path: output file; an existing file raises FileExistsError unless ``overwrite``.
      quantization: "float32", "float16" (float16 weights), "dynamic" (int8 weights, float
        activations) or "int8" (int8 weights and activations).
      representative_data: calibration waveforms for int8 (required there): an array
        ``(n, samples)``, a list of arrays, a dataset/iterable of waveforms or
        ``(waveform, target)`` pairs, or a manifest path (multi-channel models: ``(n, samples,
        channels)`` clips; a manifest's mono files are repeated on every channel). Also used by
        the check in every mode.
      labels: class names in score order; embedded as a label file in the TFLite metadata.
      sample_rate: Hz; defaults to the model's / front end's ``sample_rate``.
      num_samples: input length for models that accept any length (default: the
        representative clips' length, else one second).
      front_end: int8 only -- "float" keeps the front end float32, "int8" quantizes it.
      head: int8 only -- "float" keeps the output layer (the last FULLY_CONNECTED and the sigmoid
        / softmax after it) float32, "int8" quantizes it (scores in steps of 1/256). Default
        (None): "float" with a float front end, "int8" with ``front_end="int8"`` (a fully
        integer file; a float head needs the float front end's quantization path).
      float_layers: int8 only -- names of the layers to keep float (default: the front-end layers
        LogMelSpectrogram, MelSpectrogram, STFTSpectrogram, IntervalMaxPooling, PreEmphasis).
      scores_key: for dict-output models, the output exported as ``scores``.
      metadata: embed MediaPipe-readable metadata (needs ``labels`` and a sample rate, and the
        ``mediapipe`` package; without it a ``.labels.txt`` file is written beside the model).
      tolerance: override :data:`TOLERANCES` for this mode.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if front_end not in ("float", "int8"):
        raise ValueError(f"front_end must be 'float' or 'int8', got {front_end!r}")
    if head is None:
        head = front_end
    if head not in ("float", "int8"):
        raise ValueError(f"head must be 'float' or 'int8', got {head!r}")
    if head == "float" and front_end == "int8":
        raise ValueError("head='float' needs front_end='float' (front_end='int8' makes the whole file integer)")
    model = waveform_only(model)
    model_samples = waveform_input_spec(model)
    channels = waveform_channels(model)
    sample_rate = find_sample_rate(model, sample_rate)
    rep = representative_waveforms(representative_data, None, max_calibration_examples, sample_rate, channels)
    if model_samples is not None:
        if num_samples is not None and num_samples != model_samples:
            raise ValueError(f"num_samples={num_samples} but the model input is fixed at {model_samples}")
        num_samples = model_samples
    elif num_samples is None:
        if rep is not None:
            num_samples = len(rep[0])
        elif sample_rate is not None:
            num_samples = sample_rate
        else:
            raise ValueError("the model accepts any input length: pass num_samples (or sample_rate "
                             "or representative_data) to fix the .tflite input length")
    num_samples = int(num_samples)
    if rep is not None:
        rep = [fit_length(w, num_samples, channels) for w in rep]
    if quantization == "int8" and rep is None:
        raise ValueError("quantization='int8' needs representative_data (calibration waveforms)")

    from export.twin import cell_clip, lstm_layers, lstm_twins, recurrent_layers

    lstms = lstm_layers(model)
    # Every RNN, also those nested inside custom layers (AttentionLSTM holds a keras.layers.RNN
    # as an attribute, which `model.layers` does not list): int8 calibration of their WHILE loop
    # segfaults in the TFLite calibrator, so it is refused here, before conversion.
    others = [layer.name for layer in _all_recurrent_layers(model) if layer not in lstms]
    if others and quantization == "int8":
        raise ValueError(
            f"recurrent layers {others} are not keras.layers.LSTM (or are nested inside a custom layer): they "
            f"convert to a WHILE loop, and int8 calibration of WHILE loops fails in TFLite. Use "
            f"quantization='dynamic' or 'float16' (CLI: --quantization dynamic).")
    if metadata and labels is not None and sample_rate is None:
        raise ValueError("the TFLite metadata needs sample_rate (the model has no sample_rate attribute)")
    # Only refuse here; an existing file (overwrite=True) is replaced once the new one is ready.
    if os.path.isdir(os.fspath(path)):
        raise ValueError(f"the .tflite path {os.fspath(path)} is a folder; give a file path (e.g. "
                         f"{os.path.join(os.fspath(path), 'model.tflite')})")
    path = check_output_path(path, overwrite, remove=False)

    with tempfile.TemporaryDirectory() as tmp:
        with (lstm_twins(model) if lstms else contextlib.nullcontext([])) as twins:
            concrete, _ = trace_serving_function(model, 1, num_samples, scores_key=scores_key,
                                                 only_scores=True, channels=channels)
        num_classes = concrete.structured_outputs[SCORES].shape[-1]
        if labels is not None and len(labels) != num_classes:
            raise ValueError(f"{len(labels)} labels for a model with {num_classes} output scores")
        clip = cell_clip(lstms)
        if twins and not clip:
            # (A clipped LSTM's twin does not clip; the fused op does, so its file is checked
            # against Keras after conversion only.)
            _check_twin_graph(model, concrete, num_samples, sample_rate, scores_key, rep, channels)
        saved = os.path.join(tmp, "saved_model")
        save_module(saved, concrete, backend_variables([model] + list(twins)))
        calibration = None
        if rep is not None:
            # Silence and a tone join the calibration clips: deployed models hear both, and
            # without silence the log-mel floor (log of the offset) falls outside the int8 range.
            signals = check_signals(num_samples, sample_rate, channels=channels)
            calibration = list(rep) + [signals["silence"], signals["tone"]]
        flatbuffer = _convert(saved, quantization, calibration, front_end, head, model, float_layers,
                              fused_lstm=bool(twins))

    if twins:
        if quantization == "int8" and clip > 16:
            warnings.warn(f"cell_clip={clip:g}: TFLite's int8 LSTM holds the cell state within about ±16, so "
                          f"cells beyond that saturate in the .tflite (train with cell_clip <= 16)")
        flatbuffer = _set_lstm_cell_clip(flatbuffer, clip)
    if metadata and labels is not None:
        from export.metadata import add_metadata, metadata_available

        if metadata_available():
            flatbuffer = add_metadata(flatbuffer, labels, sample_rate, num_samples, channels=channels or 1,
                                      name=model.name, quantization=quantization)
        else:
            warnings.warn("mediapipe is not installed: the .tflite has no metadata; the labels are "
                          "written beside it (pip install mediapipe to embed them)")
            from keras_audioattn.files import write_text

            write_text(os.path.splitext(path)[0] + ".labels.txt", "\n".join(map(str, labels)) + "\n")
    from keras_audioattn.files import write_bytes

    write_bytes(path, flatbuffer)  # temporary file in the same folder + rename
    if check:
        try:
            check_tflite(path, model, quantization, sample_rate=sample_rate, waveforms=rep,
                         scores_key=scores_key, tolerance=tolerance, labels=labels,
                         float_layers=float_layers, front_end=front_end, head=head)
        except Exception:
            os.replace(path, path + ".failed")
            raise
    return path


def _all_recurrent_layers(model):
    """Every ``keras.layers.RNN`` in ``model`` at any depth (sub-layers held as attributes too)."""
    import keras

    from export.twin import recurrent_layers

    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))  # noqa: SLF001
    except (AttributeError, TypeError):
        layers = []
    seen = {id(layer) for layer in layers}
    layers += [layer for layer in recurrent_layers(model) if id(layer) not in seen]
    return [layer for layer in layers if isinstance(layer, keras.layers.RNN)]


def _check_twin_graph(model, concrete, num_samples, sample_rate, scores_key, rep, channels=None):
    """The traced twin graph must give the Keras model's scores (float32, before conversion)."""
    import tensorflow as tf

    from export.common import output_names

    batch = list(check_signals(num_samples, sample_rate, channels=channels).values()) + list((rep or [])[:2])
    mapping = output_names(model, scores_key)
    for i, row in enumerate(batch):
        got = concrete(waveform=tf.constant(row[None]))[SCORES].numpy()
        want = np.asarray(name_outputs(model(row[None], training=False), mapping)[SCORES])
        compare_outputs(want, got, 1e-4, f"tf_keras LSTM twin vs Keras on check input {i}")


def _set_lstm_cell_clip(flatbuffer, value=0.0):
    """Sets the fused LSTM's ``cell_clip`` to the Keras layer's: 0 (off) for ``keras.layers.LSTM``,
    ``cell_clip`` for :class:`keras_audioattn.layers.ClippedLSTM`; in every mode.

    The converter's Keras-LSTM fusion writes ``cell_clip=10``; Keras never clips the cell state.
    A cell that climbs past 10 and comes back then ends with the wrong sign (see
    tests/test_export_tflite.py::test_float_lstm_does_not_clip_cell_state). In int8 files the
    cell state is int16 with a power-of-two scale from calibration, which bounds it by itself
    (saturation at that range); the clip at 10 only cut it earlier. Measured on a 10 s LSTM-16
    student trained until its cells reached |c| = 459 (20 epochs, synthetic tagging): max
    |int8 - Keras| score difference on 32 held-out clips 0.174 with the clip, 0.021 without
    (90th percentile of the per-clip maximum 0.020 -> 0.011).
    """
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(flatbuffer, 0))
    changed = False
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
                if op.builtinOptions.cellClip != value:
                    op.builtinOptions.cellClip = float(value)
                    changed = True
    if not changed:
        return flatbuffer
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _converter(saved):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _convert(saved, quantization, rep, front_end, head, model, float_layers, fused_lstm=False):
    import tensorflow as tf

    converter = _converter(saved)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if fused_lstm:
            # Measured: the MLIR dynamic-range quantizer leaves the fused LSTM's weights float
            # (file size unchanged); the previous quantizer makes them int8 (hybrid LSTM kernel).
            converter.experimental_new_dynamic_range_quantizer = False
    elif quantization == "int8":
        def representative_dataset():
            for w in rep:
                yield [w[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        layers = front_end_layers(model, float_layers) if front_end == "float" else []
        if layers or head == "float":
            return _int8_with_float_layers(converter, [layer.name for layer in layers], head == "float")
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter.convert()


def _int8_with_float_layers(converter, layer_names, float_head=True):
    """Calibrates, then quantizes everything except the ops traced inside ``layer_names`` (and,
    with ``float_head``, the output layer: :func:`_head_ops`).

    Uses the converter's calibrate-only mode and the MLIR quantizer's node deny-list (the same
    mechanism as ``tf.lite.experimental.QuantizationDebugger``'s ``denylisted_nodes``). The ops
    are identified by the TF name scope of their layer, which the converter keeps in tensor names.
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    converter._experimental_calibrate_only = True  # noqa: SLF001 (documented debugger path)
    calibrated = converter.convert()
    ops = _op_outputs(calibrated)
    nodes = [name for _, name, _ in ops if _in_layers(name, layer_names)]
    if layer_names and not nodes:
        raise ExportCheckError(f"could not find the ops of the float layers {layer_names} in the graph")
    if float_head:
        nodes += _head_ops(ops)
    quantized = tflite_convert.mlir_quantize(
        calibrated, disable_per_channel=False, fully_quantize=False,
        input_data_type=tf.float32, output_data_type=tf.float32, denylisted_nodes=nodes)
    _assert_int8_after_front_end(quantized, layer_names, float_head)
    return quantized


def _head_ops(ops):
    """Output tensor names of the output layer: the final LOGISTIC / SOFTMAX and the
    FULLY_CONNECTED right before it (``ops`` from :func:`_op_outputs`, in execution order).

    Why float: an int8 LOGISTIC output moves in steps of 1/256, so every score below 0.0117
    collapses onto three values, and int8 logits coarsen the ranks of the low scores. The DCASE
    2019 Task 5 AUPRC sweeps thresholds >= 0.01 only, over ranks: measured on a trained LSTM-64
    student (2 s synthetic tagging clips), micro-AUPRC 0.684 with an int8 head, 0.752 with only
    the sigmoid float and 0.777 with the head float, vs 0.777 for Keras (sklearn's AP: 0.783,
    0.784, 0.786 vs 0.786); the float head costs 1.3 KB there (units x classes weights).
    """
    tail = []
    for op, name, _ in reversed(ops):
        if op in _FINAL_ACTIVATIONS and not tail:
            tail.append(name)
        elif op == "DEQUANTIZE" and tail:
            continue
        elif op == "FULLY_CONNECTED" and tail:
            tail.append(name)
            break
        else:
            break
    return tail


def _op_outputs(flatbuffer):
    """``[(op name, first output tensor name, its dtype name), ...]`` in execution order."""
    from export.checks import interpreter

    it = interpreter(flatbuffer)
    details = {d["index"]: d for d in it.get_tensor_details()}
    return [(op["op_name"], details[op["outputs"][0]]["name"], np.dtype(details[op["outputs"][0]]["dtype"]).name)
            for op in it._get_ops_details() if len(op["outputs"])]  # noqa: SLF001


def _in_layers(tensor_name, layer_names):
    """Whether an op's output was traced inside one of ``layer_names`` (the converter keeps the TF
    name scope ``.../<layer>[_N]/...`` in tensor names; fused ops join several names with ';')."""
    scopes = [re.compile(rf"(^|/){re.escape(name)}(_\d+)?/") for name in layer_names]
    parts = [p for p in tensor_name.split(";") if p]
    return bool(scopes) and bool(parts) and all(any(s.search(p) for s in scopes) for p in parts)


def _assert_int8_after_front_end(flatbuffer, float_layer_names=(), float_head=False):
    """After the first QUANTIZE, every compute op must produce int8 (the network is integer),
    except the ops of the layers kept in float on purpose: a model with two front ends (Jung et
    al.'s ASC + tagger) can have one of them scheduled after the other branch's QUANTIZE."""
    ops = _op_outputs(flatbuffer)
    names = [op for op, _, _ in ops]
    if "QUANTIZE" not in names:
        raise ExportCheckError("int8 conversion produced no QUANTIZE op: the network stayed float")
    start = names.index("QUANTIZE")
    head = set(_head_ops(ops)) if float_head else set()
    float_ops = [(op, dtype) for op, tensor, dtype in ops[start:-1]
                 if op not in _QUANT_OPS + _FLOAT_ONLY_OPS and dtype.startswith("float")
                 and not _in_layers(tensor, float_layer_names) and tensor not in head]
    if float_ops:
        raise ExportCheckError(f"ops left in float inside the int8 network: {float_ops}")


def check_tflite(path, model, quantization, sample_rate=None, waveforms=None, scores_key=None,
                 tolerance=None, labels=None, float_layers=None, front_end="float", head=None):
    """Re-checks a written .tflite; returns a report dict (ops, max error per check input).

    Raises ExportCheckError when: a non-builtin op is present; an int8 file is not int8 after its
    float front end; scores are non-finite, out of [0, 1] where Keras' are inside, or further from
    Keras than the tolerance.
    """
    from export.common import output_names

    ops = assert_builtin_only(path)
    if quantization == "int8":
        kept = [layer.name for layer in front_end_layers(model, float_layers)] if front_end == "float" else []
        _assert_int8_after_front_end(open(path, "rb").read(), kept, (head or front_end) == "float")
    num_samples, channels = _input_samples(path)
    signals = check_signals(num_samples, sample_rate, channels=channels)
    inputs = dict(signals)
    for i, w in enumerate((waveforms or [])[:4]):
        inputs[f"representative_{i}"] = fit_length(w, num_samples, channels)
    batch = np.stack(list(inputs.values()))
    got = run_tflite(path, batch)
    if set(got) != {SCORES}:
        got = {SCORES: next(iter(got.values()))} if len(got) == 1 else got
    want = np.asarray(name_outputs(model(batch, training=False), output_names(model, scores_key))[SCORES])
    scale = max(1.0, float(np.max(np.abs(want))))
    atol = (tolerance if tolerance is not None else TOLERANCES[quantization]) * scale
    errors, failures = {}, []
    for i, key in enumerate(inputs):
        try:
            errors[key] = compare_outputs(want[i], got[SCORES][i], atol, f"{quantization} .tflite on {key}")
        except ExportCheckError as error:  # every input is checked: the message says which fail
            failures.append(str(error))
    if failures:
        passed = ", ".join(f"{key} {err:.3g}" for key, err in errors.items())
        error = ExportCheckError("; ".join(failures) + (f" (within it: {passed})" if passed else "")
                                 + _ACCURACY_ADVICE.get(quantization, ""))
        error.arguments = ("quantization",)  # the CLI writes --quantization
        raise error
    if np.all((want >= 0) & (want <= 1)):
        if np.any(got[SCORES] < -atol) or np.any(got[SCORES] > 1 + atol):
            raise ExportCheckError(f"{quantization} .tflite scores leave [0, 1]")
    if labels is not None and len(labels) != want.shape[-1]:
        raise ExportCheckError(f"{len(labels)} labels for {want.shape[-1]} scores")
    return {"ops": ops, "max_abs_error": errors, "tolerance": atol, "num_samples": num_samples,
            "size_bytes": os.path.getsize(path)}


# What to do when a quantized file is further from Keras than the tolerance (docs/export.md,
# "When the int8 check fails"; measured on a CAB-CNN trained on real recordings: docs/lu2020.md).
_ACCURACY_ADVICE = {
    "int8": (". int8 rounds the activations of every time step; where the model averages over time, a "
             "constant input (silence, a tone) cannot average that rounding away. Ways out: "
             "quantization=float16 (half the float32 size, float activations), quantization=dynamic "
             "(int8 weights, float activations) or calibration clips from real "
             "recordings; in Python also float_layers=[...] (layers kept float) or check=False (an "
             "unchecked file). See docs/export.md, 'When the int8 check fails'"),
    "float16": ". Try quantization=float32 or quantization=dynamic",
}


def _input_samples(path):
    from export.checks import interpreter

    """``(num_samples, channels)`` of a .tflite's ``(1, samples)`` / ``(1, samples, channels)`` input
    (channels None for the first)."""
    shape = interpreter(path).get_input_details()[0]["shape"]
    return int(shape[1]), (int(shape[2]) if len(shape) == 3 else None)
