"""Shared test helpers in the keras-hub spirit: every layer and model test reuses these.

``run_layer_test``  config round trip, ``.keras`` save/load with identical outputs, gradient to
                    every trainable weight, a ``model.fit`` step.
``run_model_test``  the same for a whole model.
``assert_overfits`` a tiny model must drive the loss of a tiny batch down.
``assert_tflite_builtin_only`` / ``run_tflite`` LiteRT helpers for conversion tests.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf


def _as_list(x):
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _to_numpy_tree(x):
    return [keras.ops.convert_to_numpy(t) for t in _as_list(x)]


def assert_outputs_close(a, b, atol=1e-6, rtol=1e-6, what="outputs"):
    a_list, b_list = _to_numpy_tree(a), _to_numpy_tree(b)
    assert len(a_list) == len(b_list), f"{what}: {len(a_list)} vs {len(b_list)} tensors"
    for i, (x, y) in enumerate(zip(a_list, b_list)):
        assert x.shape == y.shape, f"{what}[{i}]: shape {x.shape} vs {y.shape}"
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, err_msg=f"{what}[{i}]")


def assert_config_round_trip(obj):
    """``from_config(get_config())`` rebuilds an object with the same config."""
    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    assert clone.get_config() == config
    return clone


def assert_keras_round_trip(model: keras.Model, inputs, tmp_path, atol=1e-6):
    """Save to ``.keras``, load, and compare outputs on ``inputs`` (inference mode)."""
    path = os.path.join(str(tmp_path), f"{model.name}_round_trip.keras")
    expected = model(inputs, training=False)
    model.save(path)
    loaded = keras.saving.load_model(path)
    actual = loaded(inputs, training=False)
    assert_outputs_close(expected, actual, atol=atol, what="reloaded model outputs")
    return loaded


def assert_gradients_reach_all_weights(model_or_layer, inputs, loss_fn=None, training=True):
    """Every trainable weight receives a finite, not-all-zero gradient."""
    with tf.GradientTape() as tape:
        outputs = model_or_layer(inputs, training=training)
        if loss_fn is None:
            loss = sum(tf.reduce_sum(tf.square(tf.cast(o, "float32"))) for o in _as_list(outputs))
        else:
            loss = loss_fn(outputs)
    weights = model_or_layer.trainable_weights
    assert weights, "no trainable weights"
    grads = tape.gradient(loss, [w.value for w in weights])
    for w, g in zip(weights, grads):
        assert g is not None, f"no gradient reaches {w.path}"
        g = tf.convert_to_tensor(g).numpy()
        assert np.all(np.isfinite(g)), f"non-finite gradient for {w.path}"
        assert np.any(g != 0), f"zero gradient for {w.path}"


def _wrap_layer(layer, input_data):
    if isinstance(input_data, (list, tuple)):
        inputs = [keras.Input(shape=np.shape(x)[1:], dtype=np.asarray(x).dtype.name) for x in input_data]
        outputs = layer(inputs)
    else:
        x = np.asarray(input_data)
        inputs = keras.Input(shape=x.shape[1:], dtype=x.dtype.name)
        outputs = layer(inputs)
    return keras.Model(inputs, outputs)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_data,
    expected_output_shape=None,
    tmp_path=None,
    run_training_step: bool = True,
    check_gradients: bool = True,
    atol: float = 1e-6,
):
    """The standard checks for a layer; returns the layer built inside a functional model.

    input_data: a numpy array (or a list of arrays for multi-input layers), batch first.
    expected_output_shape: a shape tuple, or a list/dict of them for several outputs.
    """
    layer = layer_cls(**init_kwargs)
    assert_config_round_trip(layer)
    model = _wrap_layer(layer, input_data)
    outputs = model(input_data, training=False)
    if expected_output_shape is not None:
        if isinstance(expected_output_shape, dict):
            for key, shape in expected_output_shape.items():
                assert tuple(outputs[key].shape) == tuple(shape), f"{key}: {outputs[key].shape} != {shape}"
        elif isinstance(expected_output_shape, list):
            for out, shape in zip(_as_list(outputs), expected_output_shape):
                assert tuple(out.shape) == tuple(shape), f"{out.shape} != {shape}"
        else:
            assert tuple(outputs.shape) == tuple(expected_output_shape), (
                f"{tuple(outputs.shape)} != {tuple(expected_output_shape)}"
            )
    for out in _to_numpy_tree(outputs):
        if np.issubdtype(out.dtype, np.floating):
            assert np.all(np.isfinite(out)), "non-finite layer output"
    # A freshly configured layer in a fresh model gives the same result on the same weights.
    clone = layer_cls.from_config(layer.get_config())
    clone_model = _wrap_layer(clone, input_data)
    clone_model.set_weights(model.get_weights())
    assert_outputs_close(outputs, clone_model(input_data, training=False), atol=atol, what="from_config clone")
    if tmp_path is not None:
        assert_keras_round_trip(model, input_data, tmp_path, atol=atol)
    if layer.trainable_weights and check_gradients:
        assert_gradients_reach_all_weights(model, input_data)
    if layer.trainable_weights and run_training_step:
        targets = [np.zeros_like(o) for o in _to_numpy_tree(outputs)]
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(input_data, targets if len(targets) > 1 else targets[0], epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][-1])
    return model


def run_model_test(model: keras.Model, inputs, tmp_path, loss_fn=None, atol=1e-5, check_config=True):
    """Config round trip, ``.keras`` round trip with identical outputs, gradient to every weight."""
    model(inputs, training=False)
    if check_config:
        clone = model.__class__.from_config(model.get_config())
        clone(inputs, training=False)
        clone.set_weights(model.get_weights())
        assert_outputs_close(model(inputs, training=False), clone(inputs, training=False), atol=atol,
                             what="from_config clone")
    loaded = assert_keras_round_trip(model, inputs, tmp_path, atol=atol)
    assert_gradients_reach_all_weights(model, inputs, loss_fn=loss_fn)
    return loaded


def assert_overfits(model: keras.Model, x, y, epochs=60, max_final_ratio=0.2, batch_size=None, **compile_kwargs):
    """After ``epochs`` of ``fit`` on one tiny batch the loss falls below ``max_final_ratio`` of its start."""
    compile_kwargs.setdefault("optimizer", keras.optimizers.Adam(1e-2))
    model.compile(**compile_kwargs)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < max_final_ratio * losses[0], f"did not overfit: loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    return losses


def tflite_op_names(tflite_path_or_bytes) -> set[str]:
    """Names of the operators in a .tflite (builtin names, or the custom code for Flex ops)."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": tflite_path_or_bytes} if isinstance(tflite_path_or_bytes, bytes) else {
        "model_path": str(tflite_path_or_bytes)}
    interpreter = Interpreter(**kwargs)
    return {op["op_name"] for op in interpreter._get_ops_details()}


def assert_tflite_builtin_only(tflite_path_or_bytes):
    ops = tflite_op_names(tflite_path_or_bytes)
    flex = sorted(op for op in ops if op.startswith("Flex") or op == "CUSTOM" or "DELEGATE" in op)
    assert not flex, f"non-builtin ops in the .tflite: {flex}"
    return ops


def run_tflite(tflite_path_or_bytes, inputs):
    """Run a .tflite in LiteRT on one input array (or a list in input order); returns a list of outputs."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": tflite_path_or_bytes} if isinstance(tflite_path_or_bytes, bytes) else {
        "model_path": str(tflite_path_or_bytes)}
    interpreter = Interpreter(**kwargs)
    inputs = _as_list(inputs)
    for detail, value in zip(interpreter.get_input_details(), inputs):
        value = np.asarray(value, dtype=detail["dtype"])
        interpreter.resize_tensor_input(detail["index"], value.shape)
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], np.asarray(value, dtype=detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
