"""Streaming (stateful) TFLite export of causal front end -> conv -> LSTM -> dense taggers.

``to_streaming_tflite(model, path, chunk_seconds=0.1, quantization="int8", ...)`` writes one
.tflite that takes one chunk of waveform per call, ``(1, chunk_samples)`` float32, and returns the
tag scores of *all the audio heard so far*. Everything that spans chunks is state:

* ``samples``: the last ``B`` waveform samples (the front end's frame overlap and the conv's left
  context, in samples: the windows of the next chunk's LSTM steps start that far back);
* ``valid``: ``D - 1`` flags, 0 while the first LSTM steps still reach back before the start of
  the recording (their windows hold the zero-initialised buffer), 1 afterwards;
* ``h``, ``c``: the LSTM's hidden and cell state;
* with a pooled readout (an LSTM with ``return_sequences=True`` followed by
  :class:`~keras_audioattn.models.chang2020.SequenceReadout`, e.g. ``CNNLSTMStudent(readout=
  "mean")``): ``readout_count`` ``(1, 1)``, the number of valid LSTM steps so far, and
  ``readout_sum`` (mean) or ``readout_max`` (max) ``(1, units)``, the running sum / elementwise
  max of ``h`` over those steps. Warm-up steps (windows that reach back before the recording)
  do not count, so after ``m`` chunks the readout pools exactly the offline model's LSTM steps on
  those ``m chunk`` samples: mean = sum / count; the max keeps the first valid step's ``h`` (it
  does not compare it with the zero initial state). Before the first valid step the readout is 0.

Geometry (all integers; ``L``/``h`` = the log-mel frame length / hop, convs with time kernel
``k_i`` and time stride ``s_i``): one LSTM step consumes a window of ``Wf = 1 + sum_i (k_i - 1)
prod_{j<i} s_j`` frames, i.e. ``W = (Wf - 1) h + L`` samples, and steps advance by ``S = h prod_i
s_i`` samples. For the Chang et al. student (400 / 160, one 5x5 stride-2 conv): ``W = 1040``,
``S = 320`` (20 ms). A chunk must hold a whole number ``n = chunk / S`` of steps; the graph then
computes exactly ``n`` LSTM steps per call on the window ``[B + chunk]`` with
``B = (ceil(W / S) - 1) S`` (960 samples for the student), and after ``m`` chunks it has run
LSTM steps ``0 .. floor((m chunk - W) / S)`` -- the same steps, on the same samples, as the
offline model on those ``m chunk`` samples. So after the last chunk of a recording (of a whole
number of chunks) the scores equal the offline model's on the whole recording, up to float
rounding in float32 files and within the mode's tolerance in int8 ones. Before the first full
window (``W`` samples) the scores are those of the zero LSTM state.

Condition for this to hold ("causal time axis"): the front end frames without centre padding
(``center=False``); every conv pads ``"valid"`` along time (a ``"same"`` conv pads the end of the
recording with zeros, so the offline model's last ``(k - 1) / 2`` steps see zeros that a stream
never sees: streamed and offline scores would agree only up to those right-context frames; such
models are refused); the LSTM runs forwards and returns its last state, or its sequence into a
``SequenceReadout`` (last / mean / max over time); the layers after it (Dense, Activation,
Dropout) act on that ``(1, units)`` vector alone. The CNN-LSTM students
(:class:`keras_audioattn.models.CNNLSTMStudent`, default ``padding="valid"``) meet it as built;
other layer sequences raise a ``ValueError`` naming the layer.

State styles:

* ``state="internal"`` (default): the state lives inside the file in TFLite resource variables
  (``VAR_HANDLE`` / ``READ_VARIABLE`` / ``ASSIGN_VARIABLE``, builtin ops). The file's only input
  is the chunk and its only output ``scores``; LiteRT keeps the variables across ``invoke()``.
  A new recording starts from zeros by calling the file's second signature ``"zero_state"``
  (``interpreter.get_signature_runner("zero_state")(keep=np.zeros(1, np.float32))``: state *= keep; named to sort after
  ``serving_default``, so that the streaming graph stays subgraph 0, the one MediaPipe runs), or with a new interpreter.
  ``interpreter.reset_all_variables()`` is NOT enough: measured with ai_edge_litert here, it
  resets only variable *tensors* (e.g. a fused LSTM's state), not resource variables, which keep
  their values (the same noise chunk scored 0.2752 fresh and 0.2489 after silence + reset).
* ``state="external"``: the state is explicit: inputs ``waveform`` + ``state_samples``,
  ``state_valid``, ``state_h``, ``state_c`` (+ ``state_readout_count`` and ``state_readout_sum``
  / ``state_readout_max`` with a pooled readout; :attr:`StreamingPlan.state_names`), all zeros to
  start, and outputs ``scores`` + ``next_state_*``; feed each ``next_state_*`` back as
  ``state_*``. Portable to any runtime.

int8: the log-mel front end stays float32 (DESIGN.md: int8 log-mel loses 0.03-0.13), the conv and
the LSTM's gate matmuls (input and recurrent) are int8, the cell's elementwise maths is float32
by default (``lstm_cell="float"``; ``"int8"`` quantizes it too), the output layer stays float32
(:data:`export.tflite` ``head="float"``), and so does a pooled readout (the running sum grows with
the recording: one int8 scale cannot cover it); the state tensors are float32 at the file's boundary.
The LSTM here is an explicit cell (matmuls + sigmoid / tanh), not the fused
``UNIDIRECTIONAL_SEQUENCE_LSTM``: the fused op neither takes nor returns ``c``. The chunk's LSTM
steps are unrolled (one copy of the cell per step) or run in a TFLite ``WHILE`` loop, whose file
hardly grows with the chunk (``lstm_loop``; :func:`step_function`).

:class:`StreamingRunner` runs such a file chunk by chunk (both styles) and
:func:`check_streaming_tflite` is the check every written file passes: builtin ops only, the
streamed scores after the last chunk and after a few intermediate chunks match the Keras model
on the same audio (silence, noise, tone, calibration clips), within :data:`export.TOLERANCES`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from export.checks import ExportCheckError, assert_builtin_only, compare_outputs
from export.common import (SCORES, check_output_path, check_signals, find_sample_rate, fit_length,
                           representative_waveforms, waveform_input_spec)

STATE_STYLES = ("internal", "external")
LSTM_LOOPS = ("auto", "while", "unrolled")
# lstm_loop="auto" unrolls chunks of up to this many LSTM steps (100 ms for the Chang student) and
# loops beyond: measured (docs/export.md), WHILE costs ~1.2x per chunk at 1-5 steps, where the
# unrolled file is <= 68 KB, and ~1.1x at 50 steps, where it saves 140 KB.
UNROLL_UP_TO_STEPS = 5
STREAMING_QUANTIZATIONS = ("float32", "int8")
STATE_NAMES = ("samples", "valid", "h", "c")
# Extra state of a pooled readout (SequenceReadout after an LSTM with return_sequences=True): the
# running sum / max of h over the valid steps so far and their number (docs/export.md).
READOUT_STATE_NAMES = {"last": (), "mean": ("readout_sum", "readout_count"),
                       "max": ("readout_max", "readout_count")}
# Masks the warm-up steps out of a chunk's max: below any h = o * tanh(c), which lies in [-1, 1].
_BELOW_ANY_H = -2.0
# Signature of internal-state files that zeroes the state (LiteRT's reset_all_variables() does not
# touch resource variables: measured, see the module doc).
RESET_SIGNATURE = "zero_state"
_WAVEFORM_SCOPE = "waveform_buffer"
_READOUT_SCOPE = "sequence_readout"
_PASSTHROUGH = ("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                "Identity")  # Identity: e.g. the layer that names a model's "scores" output


@dataclass
class StreamingPlan:
    """How a model streams: geometry (samples) and the layers on each side of the LSTM."""

    sample_rate: int
    chunk_samples: int
    step_samples: int          # S: samples between LSTM steps
    window_samples: int        # W: samples one LSTM step reads
    steps_per_chunk: int       # n = chunk / S
    buffer_samples: int        # B = (ceil(W / S) - 1) S
    warmup_steps: int          # D - 1 = ceil(W / S) - 1
    units: int
    num_classes: int
    front_end: object          # the LogMelSpectrogram layer
    before_lstm: list = field(default_factory=list)   # Keras layers between front end and LSTM
    lstm: object = None
    after_lstm: list = field(default_factory=list)   # Keras layers after the readout
    cell_clip: float = 0.0
    readout: str = "last"      # how the LSTM's states reach ``after_lstm``: "last", "mean" or "max"
    readout_layer: object = None   # the SequenceReadout layer (None: LSTM return_sequences=False)

    @property
    def state_names(self):
        """Names of the state tensors, in the order of the external-state file's inputs."""
        return STATE_NAMES + READOUT_STATE_NAMES[self.readout]

    @property
    def state_shapes(self):
        shapes = {"samples": (1, self.buffer_samples), "valid": (1, self.warmup_steps),
                  "h": (1, self.units), "c": (1, self.units)}
        extra = {"readout_sum": (1, self.units), "readout_max": (1, self.units), "readout_count": (1, 1)}
        return {**shapes, **{k: extra[k] for k in READOUT_STATE_NAMES[self.readout]}}

    def zero_state(self):
        return {k: np.zeros(s, np.float32) for k, s in self.state_shapes.items()}


def streaming_plan(model, chunk_seconds=0.1, sample_rate=None):
    """Analyses ``model`` for streaming; returns a :class:`StreamingPlan` or raises ValueError.

    Args:
      model: Keras model, waveform ``(batch, samples)`` -> scores ``(batch, classes)``, made of
        LogMelSpectrogram -> (BatchNormalization | Reshape | Conv1D/Conv2D "valid" in time |
        Activation | Dropout)* -> LSTM (last state, or ``return_sequences=True`` followed by a
        ``SequenceReadout``: last / mean / max over the steps) -> (Dense | Activation | Dropout)*.
      chunk_seconds: chunk length; must be a whole number of LSTM steps (the error names the step).
    """
    import keras

    from keras_audioattn.layers import LogMelSpectrogram
    from keras_audioattn.models.chang2020 import SequenceReadout

    waveform_input_spec(model)
    if len(model.inputs[0].shape) == 3:
        raise ValueError(f"streaming export takes a mono waveform (batch, samples); {model.name!r} takes "
                         f"{tuple(model.inputs[0].shape)} (use export.to_tflite for multi-channel models)")
    sample_rate = find_sample_rate(model, sample_rate)
    layers = [layer for layer in model.layers if type(layer).__name__ not in _PASSTHROUGH]
    if not layers or not isinstance(layers[0], LogMelSpectrogram):
        raise ValueError(f"streaming export needs a model that starts with a LogMelSpectrogram front end; "
                         f"{model.name!r} starts with {type(layers[0]).__name__ if layers else 'nothing'}")
    front = layers[0]
    if front.center:
        raise ValueError("streaming export needs LogMelSpectrogram(center=False): centre padding adds "
                         "zeros before the first sample that a stream cannot know about")
    sample_rate = sample_rate or front.sample_rate
    lstm_index = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.RNN)]
    if len(lstm_index) != 1 or not isinstance(layers[lstm_index[0]], keras.layers.LSTM):
        raise ValueError(f"streaming export needs exactly one keras.layers.LSTM (found recurrent layers "
                         f"{[layers[i].name for i in lstm_index]})")
    lstm = layers[lstm_index[0]]
    config = lstm.get_config()
    if config.get("go_backwards") or config.get("stateful"):
        raise ValueError(f"LSTM {lstm.name!r}: streaming needs a forward, non-stateful LSTM "
                         "(go_backwards=False, stateful=False)")
    after = layers[lstm_index[0] + 1:]
    readout, readout_layer = "last", None
    if config.get("return_sequences"):
        # The sequence must be pooled over time right away (last / mean / max: running state).
        if not after or not isinstance(after[0], SequenceReadout):
            following = f"{after[0].name!r} ({type(after[0]).__name__})" if after else "nothing"
            raise ValueError(f"LSTM {lstm.name!r} returns sequences and is followed by {following}: streaming "
                             "needs return_sequences=False or a SequenceReadout (last / mean / max) right after it")
        readout_layer, after = after[0], after[1:]
        readout = readout_layer.mode
    if config.get("activation") != "tanh" or config.get("recurrent_activation") != "sigmoid":
        raise ValueError(f"LSTM {lstm.name!r}: streaming export supports activation='tanh' and "
                         "recurrent_activation='sigmoid' only")
    before = layers[1:lstm_index[0]]
    frames_window, frames_stride = 1, 1
    for layer in before:
        kind = type(layer).__name__
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            if layer.padding != "valid":
                raise ValueError(
                    f"conv {layer.name!r} pads {layer.padding!r}: along time it then reads "
                    f"{(layer.kernel_size[0] - 1) // 2} frames of right context (zeros past the end of a "
                    "recording), so streamed scores could equal offline ones only up to those frames. "
                    "Build the model with padding='valid' for streaming.")
            if layer.data_format != "channels_last" or any(d != 1 for d in layer.dilation_rate) or layer.groups != 1:
                raise ValueError(f"conv {layer.name!r}: streaming supports channels_last, undilated, ungrouped convs")
            frames_window += (layer.kernel_size[0] - 1) * frames_stride
            frames_stride *= layer.strides[0]
        elif isinstance(layer, keras.layers.Reshape):
            if layer.target_shape[0] != -1:
                raise ValueError(f"Reshape {layer.name!r}: streaming needs the time axis kept first "
                                 f"(target_shape (-1, ...)), got {layer.target_shape}")
        elif isinstance(layer, keras.layers.BatchNormalization):
            if layer.axis not in (-1, len(layer.input.shape) - 1) and layer.axis != [len(layer.input.shape) - 1]:
                raise ValueError(f"BatchNormalization {layer.name!r}: streaming needs axis=-1")
        elif kind not in ("Activation", "ReLU"):
            raise ValueError(f"layer {layer.name!r} ({kind}) between the front end and the LSTM is not "
                             "supported by streaming export (it may mix time steps)")
    for layer in after:
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Activation)):
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) after the LSTM is not supported "
                             "by streaming export (Dense / Activation / Dropout only)")
    step = frames_stride * front.frame_step
    window = (frames_window - 1) * front.frame_step + front.frame_length
    chunk = int(round(float(chunk_seconds) * sample_rate))
    if chunk <= 0 or chunk % step:
        raise ValueError(f"chunk_seconds={chunk_seconds} is {chunk} samples, not a whole number of LSTM steps "
                         f"of {step} samples ({step / sample_rate * 1000:g} ms): use a multiple of "
                         f"{step / sample_rate:g} s")
    warm = -(-window // step) - 1
    out_shape = model.outputs[0].shape
    return StreamingPlan(sample_rate=int(sample_rate), chunk_samples=chunk, step_samples=step,
                         window_samples=window, steps_per_chunk=chunk // step, buffer_samples=warm * step,
                         warmup_steps=warm, units=int(lstm.units), num_classes=int(out_shape[-1]),
                         front_end=front, before_lstm=before, lstm=lstm, after_lstm=after,
                         cell_clip=float(getattr(lstm, "cell_clip", 0.0) or 0.0), readout=readout,
                         readout_layer=readout_layer)


# ------------------------------------------------------------------------------------------------
# The step function (TensorFlow; weights baked in as constants so that only the state is variable)
# ------------------------------------------------------------------------------------------------
def _layer_fn(tf, layer):
    """``x -> layer(x)`` in TF ops with the layer's weights read now (numpy constants)."""
    import keras

    weights = [np.asarray(w) for w in layer.get_weights()]
    if isinstance(layer, keras.layers.BatchNormalization):
        named = dict(zip([v.path.split("/")[-1] for v in layer.weights], weights))
        scale = named.get("gamma", 1.0) / np.sqrt(named["moving_variance"] + layer.epsilon)
        shift = named.get("beta", 0.0) - named["moving_mean"] * scale
        scale, shift = scale.astype(np.float32), shift.astype(np.float32)
        return lambda x: x * tf.constant(scale) + tf.constant(shift)
    if isinstance(layer, keras.layers.Reshape):
        return lambda x: tf.reshape(x, (1,) + tuple(layer.target_shape))
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense)):
        kernel, bias = weights[0], (weights[1] if layer.use_bias else None)
        conv = not isinstance(layer, keras.layers.Dense)

        def apply(x):
            y = (tf.nn.convolution(x, tf.constant(kernel), strides=list(layer.strides), padding="VALID")
                 if conv else tf.matmul(x, tf.constant(kernel)))
            if bias is not None:
                y = y + tf.constant(bias)
            return _activation(tf, layer.activation, y, layer.name)
        return apply
    if isinstance(layer, keras.layers.Activation):
        return lambda x: _activation(tf, layer.activation, x, layer.name)
    if type(layer).__name__ == "ReLU":
        return tf.nn.relu
    raise ValueError(f"unsupported layer {layer.name!r}")


def _activation(tf, fn, x, name):
    import keras

    table = {keras.activations.linear: None, keras.activations.relu: tf.nn.relu,
             keras.activations.sigmoid: tf.sigmoid, keras.activations.tanh: tf.tanh,
             keras.activations.softmax: lambda t: tf.nn.softmax(t, axis=-1)}
    for known, op in table.items():
        if fn is known:
            return x if op is None else op(x)
    raise ValueError(f"layer {name!r}: activation {getattr(fn, '__name__', fn)!r} is not supported by streaming export")


def step_function(plan, lstm_loop="auto", steps_per_iteration=None):
    """``step(chunk (1, C), state dict) -> (scores (1, classes), new state dict)`` in TensorFlow ops.

    The front end is the model's own LogMelSpectrogram layer (no weights); every other layer is
    rebuilt from its weights as constants (BatchNormalization folded into a multiply-add).

    Args:
      plan: a :class:`StreamingPlan`.
      lstm_loop: ``"while"``: the chunk's LSTM steps run in a ``tf.while_loop`` (TFLite ``WHILE``
        with one body subgraph of ``steps_per_iteration`` cells: the file grows with ``sqrt`` of
        the chunk at most); ``"unrolled"``: one copy of the cell's ops per step (the converter
        shares the weight constants between the copies, but each copy adds ~22 operators and ~25
        tensors, ~3 KB per step); ``"auto"``: unrolled up to :data:`UNROLL_UP_TO_STEPS` steps per
        chunk, ``"while"`` beyond.
      steps_per_iteration: LSTM steps per ``WHILE`` iteration (a divisor of the chunk's steps);
        default :func:`_steps_per_iteration`.
    """
    import tensorflow as tf

    if lstm_loop not in LSTM_LOOPS:
        raise ValueError(f"lstm_loop must be one of {LSTM_LOOPS}, got {lstm_loop!r}")
    lstm = plan.lstm
    kernel, recurrent, *bias = [np.asarray(w) for w in lstm.get_weights()]
    bias = bias[0] if bias else np.zeros(kernel.shape[1], np.float32)
    n, u, warm = plan.steps_per_chunk, plan.units, plan.warmup_steps
    if lstm_loop == "auto":
        lstm_loop = "unrolled" if n <= UNROLL_UP_TO_STEPS else "while"
    region = (n - 1) * plan.step_samples + plan.window_samples
    clip = plan.cell_clip
    before = [_layer_fn(tf, layer) for layer in plan.before_lstm]
    after = [_layer_fn(tf, layer) for layer in plan.after_lstm]

    def cell(z_x, ok, h, c):
        """One LSTM step (Keras gate order i, f, g, o); ``ok`` False (warm-up) keeps ``h``, ``c``."""
        z = z_x + tf.matmul(h, tf.constant(recurrent))
        i_gate = tf.sigmoid(z[:, :u])
        f_gate = tf.sigmoid(z[:, u:2 * u])
        g = tf.tanh(z[:, 2 * u:3 * u])
        o_gate = tf.sigmoid(z[:, 3 * u:])
        c_new = f_gate * c + i_gate * g
        if clip:
            c_new = tf.clip_by_value(c_new, -clip, clip)
        h_new = o_gate * tf.tanh(c_new)
        # Warm-up: steps whose window starts before the recording leave the state alone.
        return tf.where(ok, h_new, h), tf.where(ok, c_new, c)

    def step(chunk, state):
        # The waveform path stays float in int8 files (like the front end): its ops are denylisted.
        with tf.name_scope(_WAVEFORM_SCOPE):
            samples = tf.concat([state["samples"], chunk], axis=1) if plan.buffer_samples else chunk
            window = samples[:, :region]
            kept = samples[:, -plan.buffer_samples:] if plan.buffer_samples else state["samples"]
        x = plan.front_end(window)
        for fn in before:
            x = fn(x)
        x = tf.reshape(x, (n, -1))
        with tf.name_scope("lstm_inputs"):
            gates_x = tf.matmul(x, tf.constant(kernel)) + tf.constant(bias)  # (n, 4u), one matmul for all steps
        flags = tf.concat([state["valid"], tf.ones((1, n), tf.float32)], axis=1)
        valid = tf.reshape(flags[:, :n], (n, 1))  # 1 for the steps inside the recording
        with tf.name_scope("lstm_cell"):
            if lstm_loop == "unrolled":
                h, c, outputs = state["h"], state["c"], []
                for j in range(n):
                    h, c = cell(gates_x[j:j + 1], valid[j:j + 1] > 0.5, h, c)
                    outputs.append(h)
                hs = tf.concat(outputs, axis=0) if plan.readout != "last" else None
            else:
                # Each iteration runs k steps (k ~ sqrt(n), below) on rows 0..k-1 and rotates every
                # loop variable by k rows, so that no loop output is its input passed through: the
                # int8 calibrator segfaults on a WHILE whose body returns an input unchanged
                # (tensorflow/tensorflow#75140). After n steps the rows are back in order and hs
                # (pooled readouts only) holds the n hidden states (it starts as n copies of h, not
                # as a zeros constant of n x u floats).
                pooled, k = plan.readout != "last", steps_per_iteration or _steps_per_iteration(n)
                if n % k:
                    raise ValueError(f"steps_per_iteration={k} does not divide the chunk's {n} LSTM steps")

                def body(j, z_x, ok, h, c, *hs):
                    new_hs = []
                    for i in range(k):
                        h, c = cell(z_x[i:i + 1], ok[i:i + 1] > 0.5, h, c)
                        new_hs.append(h)
                    hs = [tf.concat([hs[0][k:]] + new_hs, 0)] if pooled else []
                    return (j + 1, tf.concat([z_x[k:], z_x[:k]], 0), tf.concat([ok[k:], ok[:k]], 0), h, c, *hs)

                loop_vars = [tf.constant(0), gates_x, valid, state["h"], state["c"]]
                loop_vars += [tf.tile(state["h"], [n, 1])] if pooled else []
                _, _, _, h, c, *hs = tf.while_loop(lambda j, *_: j < n // k, body, loop_vars)
                hs = hs[0] if pooled else None
        new = {"samples": kept,
               "valid": flags[:, -warm:] if warm else state["valid"], "h": h, "c": c}
        if plan.readout == "last":
            y = h
        else:
            # Float in int8 files (denylisted like the output layer): the running sum is unbounded.
            with tf.name_scope(_READOUT_SCOPE):
                y = _pooled_readout(tf, plan.readout, hs, valid, state, new)
        with tf.name_scope("output_layer"):
            for fn in after:
                y = fn(y)
        return y, new

    return step


def _steps_per_iteration(n):
    """LSTM steps per ``WHILE`` iteration for ``n`` steps per chunk: the largest divisor of ``n``
    that is at most ``sqrt(n)`` (1 for 1-3 and 5 steps, 5 for 50; below ``n`` unless ``n`` = 1).

    Why not always 1: each iteration copies the loop variables, ``(n, 4 units)`` gate inputs
    included, so one step per iteration costs O(n^2) per chunk (measured, LSTM-16 int8, 1000 ms
    chunk = 50 steps: 1.6x the unrolled graph's time per chunk, 1.2x with 5 steps per iteration).
    k steps per iteration make it
    O(n^2 / k) for a body k cells long: with k ~ sqrt(n) both the extra time and the file's
    growth stay O(sqrt(n)) per chunk (docs/export.md has the measured sizes and times).
    """
    import math

    return max(k for k in range(1, math.isqrt(n) + 1) if n % k == 0)


def _pooled_readout(tf, mode, hs, valid, state, new):
    """Mean / max of h over the valid LSTM steps of the whole recording so far, as running state.

    ``hs``: this chunk's ``(n, units)`` hidden states; ``valid``: ``(n, 1)`` 1 for a step whose
    window lies inside the recording, 0 for a warm-up step (its window reaches back before the
    first sample: the offline model has no such step, so it must not count). Writes the new
    ``readout_*`` state into ``new`` and returns the readout ``(1, units)``: the offline
    ``SequenceReadout`` over every LSTM step of the audio so far (0 before the first valid step,
    like the zero state of ``readout="last"``).
    """
    count = state["readout_count"]
    chunk_count = tf.reshape(tf.reduce_sum(valid), (1, 1))
    new["readout_count"] = count + chunk_count
    if mode == "mean":
        new["readout_sum"] = state["readout_sum"] + tf.reduce_sum(hs * valid, axis=0, keepdims=True)
        return new["readout_sum"] / tf.maximum(new["readout_count"], 1.0)
    chunk_max = tf.reduce_max(tf.where(valid > 0.5, hs, _BELOW_ANY_H), axis=0, keepdims=True)
    # The first valid step wins (the state starts at zeros, which need not be below every h).
    new["readout_max"] = tf.where(count > 0.5, tf.maximum(state["readout_max"], chunk_max),
                                  tf.where(chunk_count > 0.5, chunk_max, state["readout_max"]))
    return new["readout_max"]


def offline_reference(plan, model, waveform):
    """The Keras model's own layers on ``waveform`` of any length -> scores ``(classes,)``.

    Used for prefixes of a recording when the model's input length is fixed (the layers accept any
    length; the model's ``Input`` does not).
    """
    x = np.asarray(waveform, np.float32)[None]
    if waveform_input_spec(model) == x.shape[1]:
        return np.asarray(model(x, training=False))[0]
    readout = [plan.readout_layer] if plan.readout_layer is not None else []
    for layer in [plan.front_end] + plan.before_lstm + [plan.lstm] + readout + plan.after_lstm:
        x = layer(x, training=False) if _takes_training(layer) else layer(x)
    return np.asarray(x)[0]


def _takes_training(layer):
    import keras

    return isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LSTM, keras.layers.Dropout))


# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------
def to_streaming_tflite(model, path, chunk_seconds=0.1, quantization="int8", representative_data=None,
                        labels=None, sample_rate=None, *, state="internal", overwrite=False, check=True,
                        metadata=True, max_calibration_examples=64, tolerance=None, check_seconds=None,
                        lstm_cell="float", lstm_loop="auto"):
    """Writes a stateful streaming .tflite of ``model`` at ``path``, checks it, returns ``path``.

    Args:
      model: a causal waveform -> log-mel -> conv -> LSTM [-> SequenceReadout] -> dense tagger
        (see the module doc), e.g. ``CNNLSTMStudent`` with any ``readout``.
      path: output file; an existing file raises FileExistsError unless ``overwrite``.
      chunk_seconds: seconds of audio per call (a whole number of LSTM steps: 0.02 s for the
        Chang student, so 0.02, 0.1, 1.0 ... work).
      quantization: "float32" or "int8" (int8 network, float32 front end, state and output layer).
      representative_data: calibration recordings (array, list, dataset or manifest path, as for
        :func:`export.to_tflite`); required for int8, used by the check in every mode.
      labels: class names (embedded as MediaPipe metadata for ``state="internal"``).
      sample_rate: Hz, default the front end's.
      state: "internal" (resource variables; input = the chunk only) or "external" (explicit
        state inputs / outputs).
      check_seconds: length of the check signals (default: the model's input length, else the
        calibration clips', else 2 s).
      tolerance: override :data:`export.TOLERANCES` for this mode.
      lstm_cell: int8 only -- "float" (default, chosen by measurement): the gate matmuls are int8
        and the cell's elementwise maths (sigmoid, tanh, ``c``, ``h``) float32, so a cell state
        that grows with training keeps its precision; "int8": the whole cell is integer (``c`` in
        int8 with one calibrated scale). Measured on an LSTM-16 student after 30 epochs, 32
        held-out 10 s recordings, 100 ms chunks: max |streamed - Keras| 0.015 ("float") vs 0.170
        ("int8", over the 0.15 tolerance); 0.18 vs 0.12 ms per chunk (docs/benchmarks.md).
      lstm_loop: "auto" (default): "unrolled" for chunks of up to :data:`UNROLL_UP_TO_STEPS` LSTM
        steps (0.1 s for the student), "while" beyond; "while": the steps run in one TFLite
        ``WHILE`` loop (~sqrt(steps) cells in its body), so the file barely grows with the chunk
        (LSTM-16 int8: 55 / 69 KB at 0.1 / 1 s) at ~1.2x / ~1.1x the time per chunk; "unrolled":
        one copy of the cell's ops per LSTM step (~3 KB per step: 68 / 209 KB; also for runtimes
        without ``WHILE``). Measured in docs/export.md.

    Example::

        student = CNNLSTMStudent(num_classes=8, lstm_units=16, num_samples=160_000)  # 10 s at 16 kHz
        export.to_streaming_tflite(student, "student_stream.tflite", chunk_seconds=0.1,
                                   representative_data=clips, labels=names)
    """
    import tensorflow as tf

    if state not in STATE_STYLES:
        raise ValueError(f"state must be one of {STATE_STYLES}, got {state!r}")
    if lstm_loop not in LSTM_LOOPS:
        raise ValueError(f"lstm_loop must be one of {LSTM_LOOPS}, got {lstm_loop!r}")
    if lstm_cell not in ("int8", "float"):
        raise ValueError(f"lstm_cell must be 'int8' or 'float', got {lstm_cell!r}")
    if quantization not in STREAMING_QUANTIZATIONS:
        raise ValueError(f"streaming quantization must be one of {STREAMING_QUANTIZATIONS}, got {quantization!r}")
    plan = streaming_plan(model, chunk_seconds, sample_rate)
    rep = representative_waveforms(representative_data, None, max_calibration_examples, plan.sample_rate)
    if quantization == "int8" and rep is None:
        raise ValueError("quantization='int8' needs representative_data (calibration recordings)")
    if labels is not None and len(labels) != plan.num_classes:
        raise ValueError(f"{len(labels)} labels for a model with {plan.num_classes} output scores")
    path = check_output_path(path, overwrite, remove=False)
    # An int8 cell runs one step per WHILE iteration: in a longer body the quantizer leaves the
    # gate ADD of every cell after the first float (measured, 2 steps per iteration).
    step = step_function(plan, lstm_loop, 1 if quantization == "int8" and lstm_cell == "int8" else None)
    _check_step_against_keras(plan, model, step, rep)
    module, functions = _step_module(plan, step, state)
    # (from_saved_model drops a signature without inputs, such as zero_state: measured.)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(functions, module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if state == "internal":
        converter.experimental_enable_resource_variables = True
    if quantization == "int8":
        flatbuffer = _int8(converter, plan, step, rep, state, lstm_cell)
    else:
        flatbuffer = converter.convert()
    _assert_main_subgraph(flatbuffer)
    if metadata and labels is not None and state == "internal":
        from export.metadata import add_metadata, metadata_available

        if metadata_available():
            flatbuffer = add_metadata(flatbuffer, labels, plan.sample_rate, plan.chunk_samples,
                                      name=f"{model.name}_streaming", quantization=quantization)
    if labels is not None and (state == "external" or not metadata):
        with open(os.path.splitext(path)[0] + ".labels.txt.tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(map(str, labels)) + "\n")
        os.replace(os.path.splitext(path)[0] + ".labels.txt.tmp", os.path.splitext(path)[0] + ".labels.txt")
    with open(path + ".tmp", "wb") as f:
        f.write(flatbuffer)
    os.replace(path + ".tmp", path)
    if check:
        try:
            check_streaming_tflite(path, model, quantization, waveforms=rep, tolerance=tolerance,
                                   chunk_seconds=chunk_seconds, check_seconds=check_seconds, plan=plan)
        except Exception:
            os.replace(path, path + ".failed")
            raise
    return path


def _check_step_against_keras(plan, model, step, rep):
    """The TF step function, streamed in float32, must give the Keras scores (1e-4) before converting."""
    seconds = _check_length(plan, model, rep) / plan.sample_rate
    signals = check_signals(int(seconds * plan.sample_rate), plan.sample_rate)
    batch = [signals["noise"], signals["tone"]] + list((rep or [])[:1])
    for i, wave in enumerate(batch):
        wave = fit_length(wave, _check_length(plan, model, rep))
        got = stream_with_function(plan, step, wave)[-1]
        want = offline_reference(plan, model, wave)
        compare_outputs(want, got, 1e-4, f"streaming step graph (float, TF) vs Keras on check input {i}")


def _check_length(plan, model, rep, check_seconds=None):
    if check_seconds is not None:
        n = int(round(check_seconds * plan.sample_rate))
    else:
        n = waveform_input_spec(model) or (len(rep[0]) if rep else 2 * plan.sample_rate)
    n = max(n // plan.chunk_samples, 1) * plan.chunk_samples
    return max(n, -(-plan.window_samples // plan.chunk_samples) * plan.chunk_samples)


def stream_with_function(plan, step, waveform, state=None):
    """Streams ``waveform`` (whole chunks only) through the TF step; returns scores ``(chunks, classes)``."""
    import tensorflow as tf

    state = {k: tf.constant(v) for k, v in (state or plan.zero_state()).items()}
    fn = _compiled(step)
    out = []
    for chunk in _chunks(waveform, plan.chunk_samples):
        scores, state = fn(tf.constant(chunk[None]), state)
        out.append(scores.numpy()[0])
    return np.stack(out)


def _compiled(step):
    """One traced ``tf.function`` per step function (tracing costs seconds; reuse it)."""
    import tensorflow as tf

    if not hasattr(step, "_compiled"):
        step._compiled = tf.function(step, autograph=False)
    return step._compiled


def _chunks(waveform, size):
    waveform = np.asarray(waveform, np.float32).reshape(-1)
    return [waveform[i:i + size] for i in range(0, len(waveform) - size + 1, size)]


def _step_module(plan, step, state_style):
    """``(module, [concrete functions])``: ``serving_default`` (+ ``zero_state`` for internal state)."""
    import tensorflow as tf

    chunk_spec = tf.TensorSpec((1, plan.chunk_samples), tf.float32, name="waveform")
    module = tf.Module()
    if state_style == "internal":
        module.state = {k: tf.Variable(np.zeros(s, np.float32), name=f"state_{k}")
                        for k, s in plan.state_shapes.items()}

        # The Python names become the TFLite signature keys.
        def serving_default(waveform):
            current = {k: v.read_value() for k, v in module.state.items()}
            scores, new = step(waveform, current)
            for k, v in module.state.items():
                v.assign(new[k])
            return {SCORES: scores}

        def zero_state(keep):
            # state *= keep: keep = 0 starts a new recording. (An input-less signature converts,
            # but the int8 calibrator refuses it: "NULL SignatureDef inputs".)
            for v in module.state.values():
                v.assign(v.read_value() * keep)
            return {"kept": keep}

        serve = tf.function(serving_default, input_signature=[chunk_spec], autograph=False)
        reset = tf.function(zero_state, input_signature=[tf.TensorSpec((1,), tf.float32, name="keep")],
                            autograph=False)
        return module, [serve.get_concrete_function(), reset.get_concrete_function()]
    names = plan.state_names
    specs = [chunk_spec] + [tf.TensorSpec(plan.state_shapes[k], tf.float32, name=f"state_{k}") for k in names]

    def serving_default(waveform, *states):
        scores, new = step(waveform, dict(zip(names, states)))
        return {SCORES: scores, **{f"next_state_{k}": new[k] for k in names}}

    serve = tf.function(serving_default, input_signature=specs, autograph=False)
    return module, [serve.get_concrete_function()]


def _calibration_chunks(plan, step, rep, state_style, limit=400):
    """Calibration samples: consecutive chunks of the representative recordings (and silence / a
    tone), with the float state each chunk meets for external-state files."""
    import tensorflow as tf

    length = max(min(len(w) for w in rep), plan.window_samples + plan.chunk_samples)
    signals = check_signals(length, plan.sample_rate)
    recordings = list(rep) + [signals["silence"], signals["tone"]]
    per = max(2, limit // len(recordings))
    fn = _compiled(step)
    samples = []
    for wave in recordings:
        state = {k: tf.constant(v) for k, v in plan.zero_state().items()}
        chunks = _chunks(wave, plan.chunk_samples)
        every = max(1, len(chunks) // per)
        for i, chunk in enumerate(chunks):
            if state_style == "internal":
                samples.append(("serving_default", {"waveform": chunk[None]}))
                if i == len(chunks) - 1:
                    samples.append((RESET_SIGNATURE, {"keep": np.zeros(1, np.float32)}))
            elif i % every == 0:
                samples.append(("serving_default", {"waveform": chunk[None],
                                                    **{f"state_{k}": v.numpy() for k, v in state.items()}}))
            if state_style == "external":
                _, state = fn(tf.constant(chunk[None]), state)
        if state_style == "internal" and len(samples) >= limit:
            break
    return samples


def _int8(converter, plan, step, rep, state_style, lstm_cell="int8"):
    """Full-int8 network with the front end, the state I/O and the output layer float32."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tflite_convert

    from export.tflite import _in_layers

    samples = _calibration_chunks(plan, step, rep, state_style)

    def representative_dataset():
        for key, sample in samples:
            yield key, {k: np.asarray(v, np.float32) for k, v in sample.items()}

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter._experimental_calibrate_only = True  # noqa: SLF001 (as export.tflite)
    calibrated = converter.convert()
    ops = _op_outputs_all(calibrated)  # every subgraph: the WHILE loop's cell is in its body
    front = [plan.front_end.name, _WAVEFORM_SCOPE]
    nodes = [name for _, name, _ in ops if _in_layers(name, front)]
    if not nodes:
        raise ExportCheckError(f"could not find the front end's ops ({front}) in the streaming graph")
    # The output layer stays float (export.tflite's head="float": an int8 sigmoid collapses low scores).
    # (The final sigmoid's tensor carries the signature's output name, not the scope: every
    # LOGISTIC / SOFTMAX outside the LSTM cell is the output layer's.)
    nodes += [name for op, name, _ in ops
              if "output_layer/" in name or (op in ("LOGISTIC", "SOFTMAX") and "lstm_cell/" not in name)]
    nodes += [name for _, name, _ in ops if _in_layers(name, [_READOUT_SCOPE])]
    if lstm_cell == "float":
        nodes += [name for op, name, _ in ops if "lstm_cell/" in name and op != "FULLY_CONNECTED"]
    quantized = tflite_convert.mlir_quantize(
        calibrated, disable_per_channel=False, fully_quantize=False,
        input_data_type=tf.float32, output_data_type=tf.float32, denylisted_nodes=nodes)
    _assert_int8_network(quantized, cell=lstm_cell == "int8")
    return quantized


def _assert_main_subgraph(flatbuffer):
    """The streaming signature must be subgraph 0 (MediaPipe and plain ``invoke()`` run that one)."""
    from tensorflow.lite.python import schema_py_generated as fb

    model = fb.Model.GetRootAsModel(flatbuffer, 0)
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SignatureKey() == b"serving_default" and sig.SubgraphIndex() != 0:
            raise ExportCheckError("the streaming signature is not subgraph 0 of the .tflite")


def _assert_int8_network(flatbuffer, cell=True):
    """The conv, the LSTM's input matmul and its cell must be integer in an int8 streaming file.

    Reads every subgraph (a ``WHILE`` loop's cell is in its body). (With internal state and
    ``lstm_loop="unrolled"`` the first step's recurrent matmul reads the float resource variable
    and stays float: the quantizer leaves an op alone whose input has no calibrated range; in the
    ``WHILE`` body ``h`` is quantized on entry, so every recurrent matmul is int8.)"""
    ops = _op_outputs_all(flatbuffer)
    network = [(op, name, dtype) for op, name, dtype in ops
               if op in (("CONV_2D", "FULLY_CONNECTED", "TANH") if cell else ("CONV_2D", "FULLY_CONNECTED"))
               and ("lstm_" in name or op == "CONV_2D")]
    floats = [(op, name) for op, name, dtype in network if not dtype.startswith("int")]
    if not network or len(floats) > 1 or (floats and floats[0][0] != "FULLY_CONNECTED"):
        raise ExportCheckError(f"int8 streaming file: ops left float in the network: {floats[:6]}")


def _op_outputs_all(flatbuffer):
    """``[(op name, first output tensor name, dtype name), ...]`` of every subgraph (the LiteRT
    interpreter lists subgraph 0 only; the LSTM cell of a ``WHILE`` loop is in its body)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytes(flatbuffer), 0)
    ops_by_code = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    out = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            if not op.OutputsLength():
                continue
            code = model.OperatorCodes(op.OpcodeIndex())
            tensor = graph.Tensors(op.Outputs(0))
            out.append((ops_by_code.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM"),
                        (tensor.Name() or b"").decode(), types.get(tensor.Type(), "unknown")))
    return out


# ------------------------------------------------------------------------------------------------
# Running and checking
# ------------------------------------------------------------------------------------------------
class StreamingRunner:
    """Runs a streaming .tflite chunk by chunk, whatever its state style.

    Example::

        runner = StreamingRunner("student_stream.tflite")
        for chunk in chunks:                # each (runner.chunk_samples,) float32
            scores = runner.push(chunk)     # scores of everything heard so far
        runner.reset()                      # a new recording
    """

    def __init__(self, path, num_threads=1):
        from export.checks import interpreter

        self.path = os.fspath(path)
        self.interpreter = interpreter(self.path, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        keys = [k for k in signatures if k != RESET_SIGNATURE]
        if not keys:
            raise ValueError(f"{self.path}: not a streaming .tflite (no signature)")
        self._runner = self.interpreter.get_signature_runner(keys[0])
        self._reset = (self.interpreter.get_signature_runner(RESET_SIGNATURE)
                       if RESET_SIGNATURE in signatures else None)
        inputs = self._runner.get_input_details()
        if "waveform" not in inputs:
            raise ValueError(f"{self.path}: no 'waveform' input (inputs: {sorted(inputs)})")
        self.chunk_samples = int(inputs["waveform"]["shape"][-1])
        self.state_inputs = {k[len("state_"):]: tuple(v["shape"]) for k, v in inputs.items() if k.startswith("state_")}
        self.external = bool(self.state_inputs)
        self.reset()

    def reset(self):
        """Starts a new recording (zero state)."""
        self.interpreter.reset_all_variables()
        if self._reset is not None:
            self._reset(keep=np.zeros(1, np.float32))
        self.state = {k: np.zeros(s, np.float32) for k, s in self.state_inputs.items()}

    def push(self, chunk):
        """Feeds one chunk ``(chunk_samples,)``; returns the scores ``(classes,)`` of all audio so far."""
        chunk = np.asarray(chunk, np.float32).reshape(1, -1)
        if chunk.shape[1] != self.chunk_samples:
            raise ValueError(f"chunk of {chunk.shape[1]} samples; this model takes {self.chunk_samples}")
        feeds = {"waveform": chunk, **{f"state_{k}": v for k, v in self.state.items()}}
        out = self._runner(**feeds)
        if self.external:
            self.state = {k: np.array(out[f"next_state_{k}"]) for k in self.state}
        return np.array(out[SCORES])[0]

    def stream(self, waveform, reset=True):
        """Scores after each whole chunk of ``waveform``: ``(chunks, classes)``."""
        if reset:
            self.reset()
        return np.stack([self.push(c) for c in _chunks(waveform, self.chunk_samples)])


def check_streaming_tflite(path, model, quantization, waveforms=None, tolerance=None, chunk_seconds=0.1,
                           check_seconds=None, plan=None, prefixes=3):
    """Re-checks a streaming .tflite; returns a report dict, raises ExportCheckError on failure.

    Checks: builtin ops only; on silence, noise, a 440 Hz tone and up to four representative
    recordings, the scores after the last chunk and after ``prefixes`` earlier chunks equal the Keras
    model on the same audio (the whole signal / its prefix) within the mode's tolerance; scores
    finite and inside [0, 1] where Keras' are; ``reset`` (reset_all_variables / zero state)
    reproduces the first recording's scores after another recording was streamed.
    """
    from export.tflite import TOLERANCES

    plan = plan or streaming_plan(model, chunk_seconds)
    ops = assert_builtin_only(path)
    length = _check_length(plan, model, waveforms, check_seconds)
    inputs = dict(check_signals(length, plan.sample_rate))
    for i, w in enumerate((waveforms or [])[:4]):
        inputs[f"representative_{i}"] = fit_length(w, length)
    atol = tolerance if tolerance is not None else TOLERANCES[quantization]
    runner = StreamingRunner(path)
    if runner.chunk_samples != plan.chunk_samples:
        raise ExportCheckError(f"{path}: chunk of {runner.chunk_samples} samples, expected {plan.chunk_samples}")
    chunks = length // plan.chunk_samples
    first_valid = -(-plan.window_samples // plan.chunk_samples)  # first chunk after which a step has run
    points = sorted({chunks} | {int(p) for p in np.linspace(first_valid, chunks, prefixes + 1)[:-1]})
    errors, first = {}, None
    for key, wave in inputs.items():
        got = runner.stream(wave)
        if first is None:
            first = got
        for p in points:
            want = offline_reference(plan, model, wave[:p * plan.chunk_samples])
            scale = max(1.0, float(np.max(np.abs(want))))
            err = compare_outputs(want, got[p - 1], atol * scale,
                                  f"streaming {quantization} .tflite on {key} after {p} chunks")
            errors[f"{key}@{p}"] = err
            if np.all((want >= 0) & (want <= 1)) and (np.any(got[p - 1] < -atol) or np.any(got[p - 1] > 1 + atol)):
                raise ExportCheckError(f"streaming {quantization} .tflite scores leave [0, 1] on {key}")
    again = runner.stream(next(iter(inputs.values())))
    if not np.array_equal(again, first):
        raise ExportCheckError(f"{path}: reset did not restore the initial state (scores differ after reset)")
    return {"ops": ops, "max_abs_error": errors, "tolerance": atol, "chunk_samples": plan.chunk_samples,
            "size_bytes": os.path.getsize(path), "state": "external" if runner.external else "internal"}


def time_chunks(path, chunks, num_threads=1, repeats=1):
    """Median and p90 CPU milliseconds per ``push`` of the given chunks (calling thread's CPU time)."""
    runner = StreamingRunner(path, num_threads=num_threads)
    times = []
    for _ in range(repeats):
        runner.reset()
        for chunk in chunks:
            start = time.thread_time()
            runner.push(chunk)
            times.append((time.thread_time() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 90))


__all__ = ["LSTM_LOOPS", "READOUT_STATE_NAMES", "STATE_STYLES", "UNROLL_UP_TO_STEPS",
           "STREAMING_QUANTIZATIONS", "StreamingPlan", "StreamingRunner",
           "check_streaming_tflite", "offline_reference", "step_function", "stream_with_function",
           "streaming_plan", "time_chunks", "to_streaming_tflite"]
