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
    """Operator names of a .tflite as LiteRT loads it (custom/Flex ops show as their custom code)."""
    return [op["op_name"] for op in interpreter(tflite)._get_ops_details()]


def _flatbuffer(tflite):
    if isinstance(tflite, (bytes, bytearray)):
        return bytes(tflite)
    with open(tflite, "rb") as f:
        return f.read()


def non_builtin_ops(tflite):
    """Sorted names of the operators of a .tflite that are not TFLite builtin kernels.

    The rule (the one rule of the package): an operator is builtin when its operator code in the
    flatbuffer names a ``BuiltinOperator`` other than ``CUSTOM`` and ``DELEGATE``. It is read from
    the file itself, in every subgraph, so it catches Flex ops (``Flex*``), any other custom op
    whatever its name (an op-name prefix list misses e.g. ``TFLite_Detection_PostProcess``), and
    pre-delegated nodes, and it works on files LiteRT cannot even load (a Flex op without the Flex
    delegate). Custom ops are listed by their custom code.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(_flatbuffer(tflite), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    bad = set()
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for i in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(i).OpcodeIndex())
            # Schema >= 2.3 moved builtin codes > 127 to ``BuiltinCode``; old files fill only the
            # deprecated int8 field.
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                custom = code.CustomCode()
                bad.add(custom.decode() if custom else "CUSTOM")
            elif builtin == schema.BuiltinOperator.DELEGATE or builtin not in names:
                bad.add(names.get(builtin, f"unknown builtin code {builtin}"))
    return sorted(bad)


def assert_builtin_only(tflite):
    """Raises ExportCheckError naming the non-builtin ops (:func:`non_builtin_ops`); else loads the
    file in LiteRT and returns its operator names in execution order."""
    bad = non_builtin_ops(tflite)
    if bad:
        raise ExportCheckError(f"non-builtin ops in the .tflite: {bad}")
    return tflite_ops(tflite)


def tflite_tensor_types(tflite):
    """``[(op_name, output dtype name), ...]`` in execution order (to show what is int8)."""
    it = interpreter(tflite)
    details = it.get_tensor_details()
    by_index = {d["index"]: d for d in details}
    return [(op["op_name"], np.dtype(by_index[op["outputs"][0]]["dtype"]).name)
            for op in it._get_ops_details() if len(op["outputs"])]


def _invoke(it, inputs):
    """One ``invoke`` of an allocated interpreter (see :func:`invoke_tflite`)."""
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    details = it.get_input_details()
    if len(inputs) != len(details):
        raise ValueError(f"the .tflite has {len(details)} inputs, got {len(inputs)} arrays")
    values = [np.asarray(v, dtype=d["dtype"]) for v, d in zip(inputs, details)]
    changed = [(d["index"], v.shape) for d, v in zip(details, values) if tuple(d["shape"]) != v.shape]
    for index, shape in changed:
        it.resize_tensor_input(index, shape)
    if changed:
        it.allocate_tensors()
    it.reset_all_variables()
    for d, v in zip(details, values):
        it.set_tensor(d["index"], v)
    it.invoke()
    return {d["index"]: np.array(it.get_tensor(d["index"])) for d in it.get_output_details()}


def invoke_tflite(tflite, inputs, num_threads=1):
    """Runs a .tflite once in LiteRT (no default delegates): the one runner behind every check.

    Args:
      tflite: path or bytes of the file.
      inputs: one array, or a list of arrays in the file's input order, batch first; an input is
        resized to its array's shape where that differs (dynamic-length files), and cast to the
        input's dtype.
      num_threads: LiteRT CPU threads.

    Returns:
      ``{output tensor index: array}`` in the file's output order. Variable tensors are reset
      before the call: TFLite's fused LSTM keeps its hidden and cell state in variable tensors
      that persist across ``invoke`` calls, while the Keras model starts every call from zero.

    Example::

        outputs = list(invoke_tflite("model.tflite", np.zeros((1, 16000), "float32")).values())
    """
    it = interpreter(tflite, num_threads=num_threads)
    it.allocate_tensors()
    return _invoke(it, inputs)


def run_tflite(tflite, waveforms, num_threads=1):
    """Runs a one-input .tflite on each row of ``waveforms`` ``(n, samples)``; returns a dict name -> (n, ...).

    One LiteRT call per clip (:func:`invoke_tflite`, from zero LSTM state); outputs are named by the
    file's signature (``scores`` + extra named outputs), or ``scores`` for a file without one.
    """
    it = interpreter(tflite, num_threads=num_threads)
    it.allocate_tensors()
    signatures = it._get_full_signature_list()  # noqa: SLF001
    if signatures:
        outputs = next(iter(signatures.values()))["outputs"]
        names = {index: name for name, index in outputs.items()}
    else:
        names = {it.get_output_details()[0]["index"]: "scores"}
    results = []
    for row in np.asarray(waveforms, np.float32):
        got = _invoke(it, row[None])
        results.append({name: got[index] for index, name in names.items()})
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}
