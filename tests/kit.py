"""The test kit, in the keras-hub spirit: one call per standard check, the same for every model.

A model test follows one template (basics -> saving -> LiteRT -> presets -> paper fidelity)::

    from tests import kit

    def test_basics(tmp_path):
        kit.run_model_test(MyModel(num_classes=3, **TINY), waveforms, tmp_path)

    def test_litert_int8(tmp_path):
        kit.run_litert_export_test(MyModel(num_classes=3, **TINY), waveforms, "int8", tmp_path)

    @pytest.mark.parametrize("name", kit.presets_of("mypaper"))
    def test_presets(name):
        kit.run_preset_test(name)

``run_layer_test``          config round trip, ``.keras`` round trip with identical outputs,
                            gradient to every trainable weight, a ``model.fit`` step.
``run_model_test``          the same for a whole model (the fit step runs on the reloaded copy,
                            so the model under test keeps its weights).
``run_model_saving_test``   the ``.keras`` round trip alone (registered class, same config,
                            identical outputs).
``run_litert_export_test``  ``export.to_tflite`` (its own check on), then the kit's independent
                            check with :mod:`export.checks`: builtin ops only, runs in
                            ``ai_edge_litert``, scores within :data:`export.tflite.TOLERANCES`.
``run_preset_test``         a registered preset's tiny configuration builds, round-trips its
                            config and runs forward on a short input.
``assert_overfits``         a tiny model drives the loss of a tiny batch down.

LiteRT helpers for tests that inspect a file themselves (``run_tflite``, ``tflite_op_names``,
``assert_tflite_builtin_only``) are thin views of :mod:`export.checks`: one runner and one
"builtin ops" rule for the package and its tests.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from export import checks


# --------------------------------------------------------------------------- assertions


def _as_list(x):
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _to_numpy_tree(x):
    return [keras.ops.convert_to_numpy(t) for t in _as_list(x)]


def assert_outputs_close(a, b, atol=1e-6, rtol=1e-6, what="outputs"):
    """Two (nested) outputs have the same number of tensors, shapes and values within tolerance."""
    a_list, b_list = _to_numpy_tree(a), _to_numpy_tree(b)
    assert len(a_list) == len(b_list), f"{what}: {len(a_list)} vs {len(b_list)} tensors"
    for i, (x, y) in enumerate(zip(a_list, b_list)):
        assert x.shape == y.shape, f"{what}[{i}]: shape {x.shape} vs {y.shape}"
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, err_msg=f"{what}[{i}]")


def _is_plain_keras_model(obj):
    """A ``keras.Model`` built functionally (Functional / Sequential), not a package class: its
    config holds generated layer names, which a rebuild may number differently."""
    return isinstance(obj, keras.Model) and obj.__class__.__module__.split(".")[0] == "keras"


def assert_config_round_trip(obj):
    """``from_config(get_config())`` rebuilds an object with the same config; returns the clone.

    For a plain functional model (a preset builder may return one) the rebuild must have the
    same weight shapes instead: its config embeds generated layer names."""
    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    if _is_plain_keras_model(obj):
        assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in obj.weights], (
            "from_config rebuilt different weights")
    else:
        assert clone.get_config() == config, f"{obj.__class__.__name__}: get_config changed through from_config"
    return clone


def assert_keras_round_trip(model: keras.Model, inputs, tmp_path, atol=1e-6):
    """Save to ``.keras``, load, and compare outputs on ``inputs`` (inference mode); returns the loaded model."""
    path = os.path.join(str(tmp_path), f"{model.name}_round_trip.keras")
    expected = model(inputs, training=False)
    model.save(path)
    loaded = keras.saving.load_model(path)
    actual = loaded(inputs, training=False)
    assert_outputs_close(expected, actual, atol=atol, what="reloaded model outputs")
    return loaded


def assert_gradients_reach_all_weights(model_or_layer, inputs, loss_fn=None, training=True):
    """Every trainable weight receives a finite, not-all-zero gradient.

    loss_fn: ``outputs -> scalar`` (default: the sum of squares of every output).
    """
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


def assert_fit_step(model: keras.Model, inputs, targets=None, loss="mse", optimizer=None):
    """One ``model.fit`` epoch on ``inputs`` (one batch): finite loss, and the weights move.

    targets: defaults to zeros shaped like the model's outputs (same nesting), which every output
      with a nonzero value is pulled towards; loss: any ``compile`` loss (a dict per output too).
    """
    outputs = model(inputs, training=False)
    if targets is None:
        targets = keras.tree.map_structure(lambda o: np.zeros(o.shape, "float32"), outputs)
    batch = len(np.asarray(_as_list(inputs)[0]))
    model.compile(optimizer=optimizer or keras.optimizers.SGD(1e-2), loss=loss)
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(inputs, targets, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    final = history.history["loss"][-1]
    assert np.isfinite(final), f"non-finite training loss {final}"
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "fit step changed no weight"
    return final


def assert_overfits(model: keras.Model, x, y, epochs=60, max_final_ratio=0.2, batch_size=None, **compile_kwargs):
    """After ``epochs`` of ``fit`` on one tiny batch the loss falls below ``max_final_ratio`` of its start."""
    compile_kwargs.setdefault("optimizer", keras.optimizers.Adam(1e-2))
    model.compile(**compile_kwargs)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < max_final_ratio * losses[0], f"did not overfit: loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    return losses


# --------------------------------------------------------------------------- layers and models


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

    Args:
      layer_cls: the layer class; init_kwargs: its constructor arguments (small, explicit).
      input_data: a numpy array (or a list of arrays for multi-input layers), batch first.
      expected_output_shape: a shape tuple, or a list/dict of them for several outputs.
      tmp_path: where to write the ``.keras`` round trip (None: skipped).

    Example::

        run_layer_test(keras.layers.Dense, {"units": 3}, np.ones((2, 4), "float32"), (2, 3), tmp_path=tmp_path)
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


def run_model_saving_test(model: keras.Model, inputs, tmp_path, atol=1e-5):
    """``.keras`` round trip: the class is registered (it reloads as itself, not a generic
    ``Functional``), the config is unchanged and the outputs on ``inputs`` are identical.
    Returns the loaded model."""
    registered = keras.saving.get_registered_name(model.__class__)
    if model.__class__.__module__.split(".")[0] != "keras":
        assert keras.saving.get_registered_object(registered) is model.__class__, (
            f"{model.__class__.__name__} is not registered serializable (registered name {registered!r})")
    loaded = assert_keras_round_trip(model, inputs, tmp_path, atol=atol)
    assert type(loaded) is type(model), f"reloaded as {type(loaded).__name__}, not {type(model).__name__}"
    if not _is_plain_keras_model(model):
        assert loaded.get_config() == model.get_config(), "config changed through .keras"
    return loaded


def run_model_test(model: keras.Model, inputs, tmp_path, loss_fn=None, atol=1e-5, check_config=True,
                   fit=True, targets=None, loss="mse"):
    """The standard checks for a model; returns the model reloaded from ``.keras``.

    1. ``from_config(get_config())`` rebuilds it, and on the same weights gives the same outputs;
    2. ``.keras`` round trip with identical outputs (:func:`run_model_saving_test`);
    3. a finite, nonzero gradient reaches every trainable weight (``loss_fn``: outputs -> scalar);
    4. (``fit``) one ``model.fit`` step on ``inputs`` (``targets`` / ``loss``: see
       :func:`assert_fit_step`), run on the reloaded copy so ``model`` keeps its weights.

    Args:
      model: a small model, called on ``inputs`` before the checks.
      inputs: an array or a list of arrays (multi-input models), batch first.
      tmp_path: folder for the ``.keras`` file.
    """
    model(inputs, training=False)
    if check_config:
        clone = model.__class__.from_config(model.get_config())
        clone(inputs, training=False)
        clone.set_weights(model.get_weights())
        assert_outputs_close(model(inputs, training=False), clone(inputs, training=False), atol=atol,
                             what="from_config clone")
    loaded = run_model_saving_test(model, inputs, tmp_path, atol=atol)
    assert_gradients_reach_all_weights(model, inputs, loss_fn=loss_fn)
    if fit:
        assert_fit_step(loaded, inputs, targets=targets, loss=loss)
    return loaded


# --------------------------------------------------------------------------- LiteRT


def tflite_op_names(tflite_path_or_bytes) -> set[str]:
    """Names of the operators in a .tflite as LiteRT loads it (:func:`export.checks.tflite_ops`)."""
    return set(checks.tflite_ops(tflite_path_or_bytes))


def assert_tflite_builtin_only(tflite_path_or_bytes) -> set[str]:
    """Fails naming every non-builtin op (:func:`export.checks.non_builtin_ops`, the package's one
    rule); returns the set of op names."""
    bad = checks.non_builtin_ops(tflite_path_or_bytes)
    assert not bad, f"non-builtin ops in the .tflite: {bad}"
    return tflite_op_names(tflite_path_or_bytes)


def run_tflite(tflite_path_or_bytes, inputs):
    """Runs a .tflite once in LiteRT on one array (or a list in input order); returns the list of
    outputs in the file's output order (:func:`export.checks.invoke_tflite`)."""
    return list(checks.invoke_tflite(tflite_path_or_bytes, inputs).values())


def run_litert_export_test(model: keras.Model, data, quantization, tmp_path, *, labels=None, sample_rate=None,
                           scores_key=None, tolerance=None, expected_ops=(), **to_tflite_kwargs):
    """Exports ``model`` with :func:`export.to_tflite` and checks the file independently.

    ``to_tflite`` runs its own check (silence / noise / tone / representative clips); then this
    test checks, with :mod:`export.checks`: builtin ops only (plus ``expected_ops`` present), the
    file runs in ``ai_edge_litert`` (one clip per call), and its ``scores`` on every clip of
    ``data`` match the Keras model within ``export.tflite.TOLERANCES[quantization]`` (relative to
    ``max(1, max |keras scores|)``, as the exporter's check).

    Args:
      model: a small waveform model (fixed or any input length).
      data: waveforms ``(n, samples)`` / ``(n, samples, channels)`` of the length to export;
        also the calibration data for int8.
      quantization: one of :data:`export.tflite.QUANTIZATIONS`.
      tmp_path: folder for the .tflite.
      **to_tflite_kwargs: passed on (``front_end``, ``head``, ``float_layers``, ...).

    Returns:
      ``{"path", "ops", "max_abs_error", "tolerance"}``.
    """
    from export.common import SCORES, name_outputs, output_names
    from export.tflite import TOLERANCES, to_tflite

    data = np.asarray(data, np.float32)
    path = os.path.join(str(tmp_path), f"{model.name}_{quantization}.tflite")
    to_tflite(model, path, quantization=quantization, representative_data=data, labels=labels,
              sample_rate=sample_rate, scores_key=scores_key, metadata=False, tolerance=tolerance,
              **to_tflite_kwargs)
    ops = assert_tflite_builtin_only(path)
    missing = sorted(set(expected_ops) - ops)
    assert not missing, f"expected ops {missing} not in the .tflite ({sorted(ops)})"
    input_shape = tuple(checks.interpreter(path).get_input_details()[0]["shape"])
    assert input_shape[1:] == data.shape[1:], (
        f"pass data of the exported length: the .tflite takes {input_shape}, data is {data.shape}")
    got = checks.run_tflite(path, data)[SCORES]
    want = keras.ops.convert_to_numpy(
        name_outputs(model(data, training=False), output_names(model, scores_key))[SCORES])
    atol = (tolerance if tolerance is not None else TOLERANCES[quantization]) * max(1.0, float(np.max(np.abs(want))))
    assert got.shape == want.shape, f"LiteRT scores {got.shape} vs Keras {want.shape}"
    assert np.all(np.isfinite(got)), "non-finite LiteRT scores"
    err = float(np.max(np.abs(got - want)))
    assert err <= atol, f"{quantization} .tflite: max |LiteRT - Keras| {err:.3g} > {atol:.3g}"
    return {"path": path, "ops": ops, "max_abs_error": err, "tolerance": atol}


# --------------------------------------------------------------------------- presets


def presets_of(family):
    """Registered preset names of one family (for ``pytest.mark.parametrize``)."""
    from keras_audioattn import presets

    return [n for n in presets.list_presets() if presets.preset_family(n) == family]


def _short_inputs(model, num_samples, batch, seed):
    """Random inputs for every model input: unknown dims become ``num_samples``; integer inputs
    (e.g. CAB-CNN's lengths) are filled with the length."""
    rng = np.random.default_rng(seed)
    out = []
    for spec in model.inputs:
        shape = (batch,) + tuple(num_samples if d is None else int(d) for d in spec.shape[1:])
        if "int" in str(spec.dtype):
            out.append(np.full(shape, num_samples, np.int32))
        else:
            out.append((0.1 * rng.standard_normal(shape)).astype("float32"))
    return out[0] if len(out) == 1 else out


def run_preset_test(name, num_classes=4, sample_rate=8000, num_samples=4000, tmp_path=None, expected_params=None,
                    forward=True, **overrides):
    """A registered preset's tiny configuration works: returns the built model.

    Builds ``presets.build_model(name, small=True, for_training=True, ...)`` (the tiny
    configuration, waveform input), checks the config round trip, runs a forward pass on a short
    random input (``num_samples`` where the input length is free) and checks that the main output
    is finite with ``num_classes`` scores. Presets whose model needs a tag source (Jung et al.)
    get a tiny untrained tagger saved to ``tmp_path``.

    expected_params: the parameter count at paper size (or the preset's ``"num_params"`` when it
      records one) -- then the full-size model is built (no forward pass) and counted.
    forward: ``False`` skips the forward pass (for a preset whose tiny configuration equals one
      already run: most presets of a family differ only in their recipe).
    """
    from keras_audioattn import presets

    preset = presets.get_preset(name)
    extra = dict(overrides)
    if preset.get("needs_tagger") and "tagger_model" not in extra:
        assert tmp_path is not None, f"{name} needs a tagger: pass tmp_path"
        tagger = presets.build_model("jung2020-tagger", num_classes=3, small=True, sample_rate=sample_rate)
        extra["tagger_model"] = os.path.join(str(tmp_path), "tagger.keras")
        tagger.save(extra["tagger_model"])
    config = presets.model_config(name, num_classes=num_classes, small=True, for_training=True,
                                  sample_rate=sample_rate, **extra)
    if config.get("clip_duration") is not None:
        config["clip_duration"] = num_samples / sample_rate
    model = presets.build_model(name, num_classes=num_classes, small=True, for_training=True,
                                **{k: v for k, v in config.items() if k != "num_classes"})
    assert_config_round_trip(model)
    if forward:
        x = _short_inputs(model, num_samples, batch=2, seed=0)
        out = model(x, training=False)
        scores = out[next(k for k in ("scores", "clip") if k in out)] if isinstance(out, dict) else out
        scores = keras.ops.convert_to_numpy(scores)
        assert scores.shape == (2, num_classes), f"{name}: scores {scores.shape}, want (2, {num_classes})"
        assert np.all(np.isfinite(scores)), f"{name}: non-finite scores"
    expected = expected_params if expected_params is not None else preset.get("num_params")
    if expected is not None:
        full = presets.build_model(name)
        assert full.count_params() == expected, f"{name}: {full.count_params()} parameters, paper {expected}"
    return model
