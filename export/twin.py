"""LSTM deployment twins: how a Keras 3 LSTM becomes TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM.

Measured here (TF 2.21): a Keras 3 ``LSTM`` traced at batch 1 converts to a builtin WHILE loop;
full-int8 calibration of any WHILE model crashes, and the converter never fuses Keras 3's LSTM.
A ``tf_keras`` (Keras 2) LSTM marks its step function as an implementation of the Keras LSTM API,
which the converter replaces by the fused op; that op converts to int8 and runs in LiteRT.

So while the serving function is traced, every Keras 3 ``LSTM`` in the model gets a ``tf_keras``
twin with the same configuration and the same weights (same kernel layouts and gate order i, f,
c, o in both), and its ``call`` is redirected to the twin. Everything else -- the front end, the
convolutions, custom layers -- is traced from the user's model as it is. Afterwards the original
``call`` is restored. The exporter compares the twin graph's output with the untouched Keras
model before converting (:func:`export.tflite.to_tflite`).
"""

from __future__ import annotations

import contextlib

_TWIN_KEYS = ("units", "activation", "recurrent_activation", "use_bias", "return_sequences",
              "return_state", "go_backwards", "time_major", "unroll")


def recurrent_layers(model):
    """All recurrent layers (Keras 3 ``RNN`` subclasses, incl. LSTM/GRU/SimpleRNN) in ``model``."""
    import keras

    from export.common import _iter_layers

    return [layer for layer in _iter_layers(model) if isinstance(layer, keras.layers.RNN)]


# keras.layers.LSTM and keras_audioattn's ClippedLSTM (the same maths with the cell state clipped,
# which the fused op's cell_clip reproduces); other subclasses may change the maths: not twinned.
_TWINNED_CLASSES = ("LSTM", "ClippedLSTM")


def lstm_layers(model):
    import keras

    return [layer for layer in recurrent_layers(model)
            if isinstance(layer, keras.layers.LSTM) and type(layer).__name__ in _TWINNED_CLASSES]


def cell_clip(lstms):
    """The fused op's ``cell_clip`` for these LSTMs: their ``cell_clip`` (0 = none, as Keras'
    LSTM). One value for all: the converter's ops cannot be matched to layers reliably."""
    clips = {float(getattr(layer, "cell_clip", 0.0) or 0.0) for layer in lstms}
    if len(clips) > 1:
        raise ValueError(f"LSTMs with different cell_clip values {sorted(clips)} cannot be exported together")
    return clips.pop() if clips else 0.0


def _make_twin(layer):
    import tf_keras

    config = layer.get_config()
    if config.get("stateful"):
        raise ValueError(f"LSTM {layer.name!r} is stateful; export supports stateless LSTMs only")
    if config.get("unroll"):
        raise ValueError(f"LSTM {layer.name!r} has unroll=True; the fused TFLite op needs unroll=False")
    kwargs = {k: config[k] for k in _TWIN_KEYS if k in config}
    kwargs["unroll"] = False
    twin = tf_keras.layers.LSTM(**kwargs, name=f"{layer.name}_twin")
    kernel = layer.get_weights()[0]
    twin.build((1, None, kernel.shape[0]))
    twin.set_weights(layer.get_weights())
    return twin


@contextlib.contextmanager
def lstm_twins(model):
    """Within the block, every Keras 3 LSTM of ``model`` runs its ``tf_keras`` twin.

    Yields the list of twins (their variables must be tracked by the saved module).
    """
    layers = lstm_layers(model)
    twins = [_make_twin(layer) for layer in layers]
    try:
        for layer, twin in zip(layers, twins):
            def call(sequences, initial_state=None, mask=None, training=False, _twin=twin, _name=layer.name):
                if mask is not None:
                    raise ValueError(f"LSTM {_name!r} receives a mask; masked LSTMs are not exported")
                return _twin(sequences, initial_state=initial_state, training=False)

            # An instance attribute shadows the class method; Layer.__call__ looks up self.call.
            object.__setattr__(layer, "call", call)
        yield twins
    finally:
        for layer in layers:
            if "call" in layer.__dict__:
                object.__delattr__(layer, "call")
