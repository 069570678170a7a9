"""Checks run on every artifact the exporters write."""

from __future__ import annotations

import numpy as np


class ExportCheckError(AssertionError):
    """An exported artifact failed its post-export check (wrong ops, wrong or non-finite scores)."""


def compare_outputs(want, got, atol, what):
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if want.shape != got.shape:
        raise ExportCheckError(f"{what}: shape {got.shape} != Keras {want.shape}")
    if not np.all(np.isfinite(got)):
        raise ExportCheckError(f"{what}: non-finite values")
    err = float(np.max(np.abs(want - got))) if want.size else 0.0
    if err > atol:
        raise ExportCheckError(f"{what}: max abs difference to Keras {err:.3g} > tolerance {atol:.3g}")
    return err


def interpreter(tflite, num_threads=None):
    """A LiteRT interpreter on a path or bytes, without default delegates (so op lists are exact)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"model_content": tflite} if isinstance(tflite, (bytes, bytearray)) else {"model_path": str(tflite)}
    return Interpreter(**kwargs, num_threads=num_threads,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


def tflite_ops(tflite):
    """Operator names of a .tflite (custom/Flex ops show as their custom code or 'CUSTOM')."""
    return [op["op_name"] for op in interpreter(tflite)._get_ops_details()]


def assert_builtin_only(tflite):
    ops = tflite_ops(tflite)
    bad = sorted({op for op in ops if op.startswith("Flex") or op == "CUSTOM" or op.startswith("Tf")})
    if bad:
        raise ExportCheckError(f"non-builtin ops in the .tflite: {bad}")
    return ops


def tflite_tensor_types(tflite):
    """``[(op_name, output dtype name), ...]`` in execution order (to show what is int8)."""
    it = interpreter(tflite)
    details = it.get_tensor_details()
    by_index = {d["index"]: d for d in details}
    return [(op["op_name"], np.dtype(by_index[op["outputs"][0]]["dtype"]).name)
            for op in it._get_ops_details() if len(op["outputs"])]


def run_tflite(tflite, waveforms, num_threads=1):
    """Runs a one-input .tflite on each row of ``waveforms`` ``(n, samples)``; returns a dict name -> (n, ...).

    Variable tensors are reset before every clip: TFLite's fused LSTM keeps its hidden and cell
    state in variable tensors that persist across ``invoke`` calls, while the Keras model starts
    every clip from zero state.
    """
    it = interpreter(tflite, num_threads=num_threads)
    it.allocate_tensors()
    runner = it.get_signature_runner() if it.get_signature_list() else None
    results = []
    for row in np.asarray(waveforms, np.float32):
        it.reset_all_variables()
        if runner is not None:
            results.append({k: np.array(v) for k, v in runner(waveform=row[None]).items()})
        else:
            it.set_tensor(it.get_input_details()[0]["index"], row[None])
            it.invoke()
            results.append({"scores": np.array(it.get_tensor(it.get_output_details()[0]["index"]))})
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}
