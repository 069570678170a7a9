"""Tracing a Keras model into a TensorFlow serving function (used by both exporters)."""

from __future__ import annotations

import contextlib

from export.common import SCORES, name_outputs, output_names


def backend_variables(layers_or_models):
    """The ``tf.Variable`` objects behind Keras 3 variables (and ``tf_keras`` weights)."""
    import keras

    seen, result = set(), []
    for obj in layers_or_models:
        for v in obj.weights:
            var = v.value if isinstance(v, keras.Variable) else v
            if id(var) not in seen:
                seen.add(id(var))
                result.append(var)
    return result


def trace_serving_function(model, batch_size, num_samples, scores_key=None, only_scores=False,
                           patch_context=None, channels=None):
    """Returns ``(concrete_function, output_name_mapping)``.

    The function takes ``waveform`` float32 ``(batch_size, num_samples)`` (None = any), or
    ``(batch_size, num_samples, channels)`` when ``channels`` is given, and returns
    a dict of named outputs (only ``scores`` when ``only_scores``). ``patch_context`` is a context
    manager active while tracing (e.g. the LSTM twin substitution of :mod:`export.twin`).
    """
    import tensorflow as tf

    mapping = output_names(model, scores_key)

    shape = (batch_size, num_samples) if channels is None else (batch_size, num_samples, int(channels))

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="waveform")],
                 autograph=False)
    def serve(waveform):
        named = name_outputs(model(waveform, training=False), mapping)
        if only_scores:
            named = {SCORES: named[SCORES]}
        return {k: tf.cast(v, tf.float32) if v.dtype != tf.float32 and v.dtype.is_floating else v
                for k, v in named.items()}

    with patch_context or contextlib.nullcontext():
        concrete = serve.get_concrete_function()
    return concrete, mapping


def save_module(path, concrete, variables, assets=(), extra_signatures=None):
    """Writes a SavedModel with ``concrete`` as ``serving_default`` (and ``extra_signatures``,
    ``{name: concrete function}``); returns nothing."""
    import tensorflow as tf

    module = tf.Module()
    # Track the raw variables, not the Keras model: tracking the model object keeps its weights
    # as resource variables that the TFLite converter then fails to freeze (VAR_HANDLE ops).
    module.exported_variables = list(variables)
    module.assets = [tf.saved_model.Asset(a) for a in assets]
    tf.saved_model.save(module, path, signatures={"serving_default": concrete, **(extra_signatures or {})})
