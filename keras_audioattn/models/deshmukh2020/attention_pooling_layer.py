"""Pooling of class-wise time-frequency maps into clip probabilities (Deshmukh et al. 2020).

Every layer here shares one contract, so that they are interchangeable in
:class:`keras_audioattn.models.TwoStepAttentionSED` (the Table IV comparison):

- input: class-wise T-F maps ``(batch, time, mel, classes)`` -- the *linear* output of the
  1x1 class convolution (Table I, last row), channels last;
- output: a dict with ``"clip"`` ``(batch, classes)`` clip probabilities in [0, 1] and
  ``"frame"`` ``(batch, time, classes)`` frame-level probabilities in [0, 1]; with
  ``return_attention=True`` the attention weights are added (see each layer).

Any number of frames is accepted (``time`` may be ``None``); the mel axis must be known when the
layer is built. Computation is in float32 whatever the dtype policy (softmax over thousands of
positions is not safe in float16).

The baselines (GMP, GAP, GWRP, attention) follow Kong et al.'s recipe that the paper's Table IV
reuses: a sigmoid turns the class maps into T-F probabilities, which are then pooled over the
whole T-F plane for ``"clip"`` and over the mel axis for ``"frame"``.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import int_sequence, number, one_of

__all__ = [
    "POOLING_LAYERS",
    "GlobalAttentionPooling",
    "GlobalWeightedRankPooling",
    "TimeFrequencyAveragePooling",
    "TimeFrequencyMaxPooling",
    "TwoStepAttentionPooling",
    "get_pooling",
]


#: Step-2 (time) mixings of :class:`TwoStepAttentionPooling`.
TIME_MIXINGS = ("context", "context_both", "dilated", "conv", "dense")


def _check_class_maps(layer, input_shape):
    if len(input_shape) != 4:
        raise ValueError(
            f"{type(layer).__name__} expects class-wise T-F maps of shape (batch, time, mel, classes); "
            f"got shape {tuple(input_shape)}")
    if input_shape[2] is None or input_shape[3] is None:
        raise ValueError(
            f"{type(layer).__name__}: the mel and class axes must be known; got shape {tuple(input_shape)}")


def _output_spec_shapes(input_shape):
    batch, time, _, classes = input_shape
    return {"clip": (batch, classes), "frame": (batch, time, classes)}


class _ClassMapPooling(keras.layers.Layer):
    """Base class: input checks, float32 compute, ``return_attention`` in the config."""

    def __init__(self, return_attention=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(return_attention, bool):
            raise ValueError(f"{type(self).__name__}: return_attention must be a bool, got {return_attention!r}")
        self.return_attention = return_attention

    def build(self, input_shape):
        _check_class_maps(self, input_shape)
        self.num_mel_bins = int(input_shape[2])
        self.num_classes = int(input_shape[3])
        self._build_weights()
        self.built = True

    def _build_weights(self):
        pass

    def has_output_bias(self):
        """Whether the clip scores have a per-class level that :meth:`set_output_bias` can set
        (here or in the class maps' own bias). False only for the authors' dense step 2."""
        return True

    def set_output_bias(self, logits):
        """Sets the per-class bias of the layer's classification logits to ``logits``
        ``(classes,)``; returns False where the layer has none (the class maps' own bias, the 1x1
        class conv before the layer, then sets the level), True where it was set."""
        return False

    def compute_output_shape(self, input_shape):
        _check_class_maps(self, input_shape)
        shapes = _output_spec_shapes(input_shape)
        if self.return_attention:
            shapes.update(self._attention_shapes(input_shape))
        return shapes

    def _attention_shapes(self, input_shape):
        return {}

    def compute_output_spec(self, inputs):
        shapes = self.compute_output_shape(inputs.shape)
        return {k: keras.KerasTensor(v, dtype=self.compute_dtype) for k, v in shapes.items()}

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        return self._pool(x)

    def get_config(self):
        config = super().get_config()
        config["return_attention"] = self.return_attention
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class TwoStepAttentionPooling(_ClassMapPooling):
    """Two-step attention pooling of Deshmukh et al. 2020 (Sec. III-C, Eq. 8-15, Table II).

    ``(batch, time, mel, classes)`` class maps ``z`` ->
    ``{"clip": (batch, classes), "frame": (batch, time, classes)}``, both in [0, 1].

    Step 1 (over mel bins, per class and frame; Eq. 8-11). Two dense maps ``mel -> mel`` shared
    by all classes and frames (as in the authors' code, ``nn.Linear`` on the mel axis)::

        a1 = z W_a1 + b_a1,  c1 = z W_c1 + b_c1                 # (batch, time, classes, mel)
        w1 = softmax_mel(a1)                                     # "frequency_attention"
        v1 = sum_mel sigmoid(c1) * w1                            # (batch, time, classes) "frequency_pooled"

    Step 2 (over time, per class; Eq. 12-15)::

        u  = BatchNorm(v1)  if time_input_norm else v1           # per class, over batch and time
        a2, c2 = time_mixing(u)                                  # (batch, time, classes) each
        w2 = softmax_time(a2)                                    # "time_attention"
        f  = sigmoid(c2)                                         # (batch, time, classes) "frame"
        p  = clip(sum_time f * w2, 0, 1)                         # (batch, classes) "clip"
        clip_logit = log p - log(1 - p)   (from a2, c2 with logsumexp: exact where p rounds to 0/1)

    Frame-level output. ``"frame"`` is the step-2 classification branch ``f``: the per-frame class
    probabilities whose attention-weighted average is the clip probability (the instance-level
    prediction of attention-based MIL). The step-1 output ``v1`` (Fig. 3, subplot 5) is returned
    as ``"frequency_pooled"`` but is not used as the frame prediction: step 2 maps it through a
    learned affine filter whose sign is free, so ``v1`` can be high where an event is absent
    (seen on toy events: after training, ``v1`` had a frame AUC of 0.05 against the strong labels).

    Where the sigmoid goes (``formulation``). The paper's equations put the sigmoid on the
    attention branch and leave the classification branch linear (``sigma`` inside Eq. 8 and 12,
    then a softmax of those squashed values in Eq. 10 and 14), which neither bounds the output
    nor gives a sharp attention (a softmax of values confined to (0, 1) is nearly uniform). The
    authors' released code -- the one behind the reported numbers -- applies the sigmoid to the
    classification branch and the softmax to the raw attention branch, so each step's output is
    a convex combination of probabilities, in [0, 1] by construction ("the output of attention
    doesn't go above 1", Sec. III-C). ``formulation="code"`` (default) follows the code;
    ``formulation="equations"`` follows Eq. 8-15 literally (values clipped to [0, 1] for the
    ``frame`` and ``clip`` outputs, as the authors clip their final output).

    ``time_mixing`` (issue 19). ``"dense"``: the authors' layer, two ``nn.Linear(T, T)`` over time
    shared by the classes (194 064 parameters for T = 311), needs ``num_frames``.
    ``"context"`` (default, any number of frames): the attention logit of each class is a
    ``time_kernel_size``-tap filter over four channels -- ``u``, its z-score over the clip, the
    clip mean and the clip max -- so it sees the whole clip; the classification branch is a local
    filter of ``u`` (the frame output stays local). ``"context_both"``: both branches see the four
    channels. ``"dilated"``: a residual stack of per-class dilated filters (``dilations``).
    ``"conv"``: one ``time_kernel_size``-tap filter per branch and class (before issue 19).
    ``time_input_norm=False`` and ``"dense"`` together reproduce the authors' step 2 exactly.

    Args:
        return_attention: also return ``"frequency_attention"`` ``(batch, time, mel, classes)``
            (step-1 weights, sum to 1 over mel), ``"frequency_pooled"`` ``(batch, time, classes)``
            (step-1 output) and ``"time_attention"`` ``(batch, time, classes)`` (step-2 weights,
            sum to 1 over time) -- Fig. 3, subplots 3-6.
        time_kernel_size: odd number of taps of the step-2 filters (default 3).
        formulation: ``"code"`` (default) or ``"equations"``, see above.
        time_mixing: ``"context"`` (default), ``"context_both"``, ``"dilated"``, ``"conv"`` or ``"dense"``.
        num_frames: number of frames, required by ``"dense"``.
        dilations: dilation rates of ``"dilated"``.
        time_input_norm: per-class BatchNorm of the step-1 output before step 2 (default True;
            the authors: False).

    Example::

        pool = TwoStepAttentionPooling(time_mixing="dense", num_frames=311, time_input_norm=False)
        out = pool(class_maps)          # class_maps: (batch, 311, 64, classes)
    """

    def __init__(self, return_attention=False, time_kernel_size=3, formulation="code", time_mixing="context",
                 num_frames=None, dilations=(1, 2, 4, 8, 16, 32), time_input_norm=True, **kwargs):
        super().__init__(return_attention=return_attention, **kwargs)
        if not isinstance(time_kernel_size, int) or time_kernel_size < 1 or time_kernel_size % 2 == 0:
            raise ValueError(f"TwoStepAttentionPooling: time_kernel_size must be a positive odd integer, "
                             f"got {time_kernel_size!r}")
        one_of(formulation, "formulation", ("code", "equations"), "TwoStepAttentionPooling")
        one_of(time_mixing, "time_mixing", TIME_MIXINGS, "TwoStepAttentionPooling")
        if time_mixing == "dense" and (isinstance(num_frames, bool) or not isinstance(num_frames, int)
                                       or num_frames < 1):
            raise ValueError("TwoStepAttentionPooling: time_mixing='dense' (the authors' nn.Linear over time) "
                             f"needs a fixed num_frames (a positive integer), got {num_frames!r}")
        dilations = int_sequence(dilations, "dilations", "TwoStepAttentionPooling")
        if not isinstance(time_input_norm, bool):
            raise ValueError(f"TwoStepAttentionPooling: time_input_norm must be a bool, got {time_input_norm!r}")
        self.time_kernel_size = time_kernel_size
        self.formulation = formulation
        self.time_input_norm = time_input_norm
        self.time_mixing = time_mixing
        self.num_frames = None if num_frames is None else int(num_frames)
        self.dilations = dilations

    def build(self, input_shape):
        if self.time_mixing == "dense" and input_shape[1] is not None and int(input_shape[1]) != self.num_frames:
            raise ValueError(f"TwoStepAttentionPooling: time_mixing='dense' was set up for {self.num_frames} "
                             f"frames, the input has {input_shape[1]}")
        super().build(input_shape)

    def _build_weights(self):
        f, k, t = self.num_mel_bins, self.num_classes, self.time_kernel_size
        # Both step-1 maps in one (mel, 2 * mel) matrix: one matmul instead of two.
        self.mel_kernel = self.add_weight(name="mel_kernel", shape=(f, 2 * f), initializer="glorot_uniform")
        self.mel_bias = self.add_weight(name="mel_bias", shape=(2 * f,), initializer="zeros")
        if self.time_input_norm:
            # Per-class standardisation of the step-1 output over (batch, time) before step 2.
            self.time_input_bn = keras.layers.BatchNormalization(
                axis=-1, momentum=0.9, epsilon=1e-6, dtype="float32", name="time_input_bn")
            self.time_input_bn.build((None, None, k))
        if self.time_mixing == "conv":
            self.time_attention_kernel = self.add_weight(
                name="time_attention_kernel", shape=(t, k, 1), initializer="glorot_uniform")
            self.time_attention_bias = self.add_weight(name="time_attention_bias", shape=(k,), initializer="zeros")
            self.time_classification_kernel = self.add_weight(
                name="time_classification_kernel", shape=(t, k, 1), initializer="glorot_uniform")
            self.time_classification_bias = self.add_weight(
                name="time_classification_bias", shape=(k,), initializer="zeros")
        elif self.time_mixing == "dense":
            # nn.Linear(T, T) x 2, shared by all classes; PyTorch's default init U(+-1/sqrt(T)).
            n = self.num_frames
            init = keras.initializers.RandomUniform(-1.0 / n ** 0.5, 1.0 / n ** 0.5)
            self.time_attention_kernel = self.add_weight(name="time_attention_kernel", shape=(n, n), initializer=init)
            self.time_attention_bias = self.add_weight(name="time_attention_bias", shape=(n,), initializer=init)
            self.time_classification_kernel = self.add_weight(
                name="time_classification_kernel", shape=(n, n), initializer=init)
            self.time_classification_bias = self.add_weight(
                name="time_classification_bias", shape=(n,), initializer=init)
        elif self.time_mixing in ("context", "context_both"):
            # Per class: taps over 4 feature channels (v1, clip z-score of v1, clip mean, clip
            # max), channel c of class j at column 4 j + c of a depthwise kernel. "context": only
            # the attention branch sees them, the classification branch (the frame output) stays
            # local; "context_both": both branches.
            cla_channels = 4 if self.time_mixing == "context_both" else 1
            self.time_attention_kernel = self.add_weight(
                name="time_attention_kernel", shape=(t, 4 * k, 1), initializer="glorot_uniform")
            self.time_attention_bias = self.add_weight(name="time_attention_bias", shape=(k,), initializer="zeros")
            self.time_classification_kernel = self.add_weight(
                name="time_classification_kernel", shape=(t, cla_channels * k, 1), initializer="glorot_uniform")
            self.time_classification_bias = self.add_weight(
                name="time_classification_bias", shape=(k,), initializer="zeros")
        else:  # dilated: a residual stack of per-class dilated filters, 2 channels (att, cla) per class
            self.time_input_kernel = self.add_weight(name="time_input_kernel", shape=(t, k, 2),
                                                     initializer="glorot_uniform")
            self.time_input_bias = self.add_weight(name="time_input_bias", shape=(2 * k,), initializer="zeros")
            self.time_stack_kernels = [
                self.add_weight(name=f"time_dilated{d}_kernel", shape=(t, 2 * k, 1),
                                initializer=keras.initializers.RandomNormal(stddev=0.1))
                for d in self.dilations]

    def has_output_bias(self):
        """``time_mixing="dense"`` shares its biases across classes (one per frame, as the authors'
        ``nn.Linear`` over time): no per-class level to set."""
        return self.time_mixing != "dense"

    def set_output_bias(self, logits):
        """Sets the step-2 classification bias (per class) to ``logits``; see the base class.
        ValueError where :meth:`has_output_bias` is False."""
        logits = ops.convert_to_numpy(logits).astype("float32").reshape(-1)
        if not self.has_output_bias():
            raise ValueError("TwoStepAttentionPooling: time_mixing='dense' (the authors' nn.Linear over time) "
                             "shares its biases across classes; it has no per-class output bias to set "
                             "(use output_bias_init='zeros').")
        if self.time_mixing == "dilated":  # channel 2 j + 1 of the first filter is class j's classification branch
            bias = ops.convert_to_numpy(self.time_input_bias).copy()
            bias[1::2] = logits
            self.time_input_bias.assign(bias)
        else:
            self.time_classification_bias.assign(logits)
        return True

    def _attention_shapes(self, input_shape):
        batch, time, mel, classes = input_shape
        return {"frequency_attention": (batch, time, mel, classes), "frequency_pooled": (batch, time, classes),
                "time_attention": (batch, time, classes)}

    def _time_logits(self, v1):
        """Step-2 attention and classification logits ``(b, t, k)`` each from ``v1`` ``(b, t, k)``."""
        k = self.num_classes
        if self.time_mixing == "conv":
            att = ops.depthwise_conv(v1, self.time_attention_kernel, padding="same") + self.time_attention_bias
            cla = ops.depthwise_conv(v1, self.time_classification_kernel, padding="same") + \
                self.time_classification_bias
            return att, cla
        if self.time_mixing == "dense":
            vt = ops.transpose(v1, (0, 2, 1))                            # (b, k, t): Linear on the time axis
            att = ops.matmul(vt, self.time_attention_kernel) + self.time_attention_bias
            cla = ops.matmul(vt, self.time_classification_kernel) + self.time_classification_bias
            return ops.transpose(att, (0, 2, 1)), ops.transpose(cla, (0, 2, 1))
        if self.time_mixing in ("context", "context_both"):
            mean = ops.mean(v1, axis=1, keepdims=True)
            std = ops.sqrt(ops.var(v1, axis=1, keepdims=True) + 1e-6)
            ones = ops.ones_like(v1)
            feats = ops.stack([v1, (v1 - mean) / std, mean * ones, ops.max(v1, axis=1, keepdims=True) * ones],
                              axis=-1)                                 # (b, t, k, 4)
            shape = ops.shape(feats)
            flat = ops.reshape(feats, (shape[0], shape[1], 4 * k))
            y = ops.depthwise_conv(flat, self.time_attention_kernel, padding="same")
            att = ops.sum(ops.reshape(y, (shape[0], shape[1], k, 4)), axis=-1) + self.time_attention_bias
            if self.time_mixing == "context":
                cla = ops.depthwise_conv(v1, self.time_classification_kernel, padding="same")
            else:
                y = ops.depthwise_conv(flat, self.time_classification_kernel, padding="same")
                cla = ops.sum(ops.reshape(y, (shape[0], shape[1], k, 4)), axis=-1)
            return att, cla + self.time_classification_bias
        h = ops.depthwise_conv(v1, self.time_input_kernel, padding="same") + self.time_input_bias  # (b, t, 2k)
        for d, kernel in zip(self.dilations, self.time_stack_kernels):
            h = h + ops.depthwise_conv(h, kernel, padding="same", dilation_rate=d)
        h = ops.reshape(h, (ops.shape(h)[0], ops.shape(h)[1], k, 2))
        return h[..., 0], h[..., 1]

    def call(self, inputs, training=None):
        self._training = training
        return super().call(inputs)

    def _pool(self, z):
        f = self.num_mel_bins
        # Step 1: mel becomes the last axis so the dense maps are one matmul.
        zt = ops.transpose(z, (0, 1, 3, 2))                       # (b, t, k, f)
        y = ops.matmul(zt, self.mel_kernel) + self.mel_bias        # (b, t, k, 2f)
        att1, cla1 = y[..., :f], y[..., f:]
        if self.formulation == "code":
            w1 = ops.softmax(att1, axis=-1)
            v1 = ops.sum(ops.sigmoid(cla1) * w1, axis=-1)        # (b, t, k)
        else:
            w1 = ops.softmax(ops.sigmoid(att1), axis=-1)
            v1 = ops.sum(cla1 * w1, axis=-1)
        # Step 2: over time (see time_mixing).
        u = self.time_input_bn(v1, training=getattr(self, "_training", None)) if self.time_input_norm else v1
        att2, cla2 = self._time_logits(u)
        if self.formulation == "code":
            w2 = ops.softmax(att2, axis=1)
            p2 = ops.sigmoid(cla2)
        else:
            w2 = ops.softmax(ops.sigmoid(att2), axis=1)
            p2 = cla2
        clip = ops.sum(p2 * w2, axis=1)
        # The authors clip the final output: it guards BCE against rounding just above 1.
        outputs = {"clip": ops.clip(clip, 0.0, 1.0)}
        if self.formulation == "code":
            # log p and log(1 - p) from the logits, exact where p rounds to 0 or 1 in float32:
            # TwoStepAttentionSED(loss_on="logit") trains on them instead of the clipped probability.
            log_w = ops.log_softmax(att2, axis=1)
            log_p = ops.logsumexp(log_w - ops.softplus(-cla2), axis=1)
            log_q = ops.logsumexp(log_w - ops.softplus(cla2), axis=1)
            outputs["clip_logit"] = log_p - log_q
        outputs["frame"] = ops.clip(p2, 0.0, 1.0)
        if self.return_attention:
            outputs["frequency_attention"] = ops.transpose(w1, (0, 1, 3, 2))
            outputs["frequency_pooled"] = ops.clip(v1, 0.0, 1.0) if self.formulation == "equations" else v1
            outputs["time_attention"] = w2
        return dict(sorted(outputs.items()))

    def compute_output_shape(self, input_shape):
        shapes = super().compute_output_shape(input_shape)
        if self.formulation == "code":
            shapes["clip_logit"] = (input_shape[0], input_shape[3])
        return dict(sorted(shapes.items()))  # Keras flattens dicts in sorted key order

    def get_config(self):
        config = super().get_config()
        config.update(time_kernel_size=self.time_kernel_size, formulation=self.formulation,
                      time_mixing=self.time_mixing, num_frames=self.num_frames, dilations=list(self.dilations),
                      time_input_norm=self.time_input_norm)
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class TimeFrequencyMaxPooling(_ClassMapPooling):
    """Global max pooling (GMP, Table IV): ``clip = max_{t,f} sigmoid(z)``, ``frame = max_f sigmoid(z)``.

    ``(batch, time, mel, classes)`` -> ``{"clip": (batch, classes), "frame": (batch, time, classes)}``.
    No weights; ``return_attention`` adds nothing (accepted for a uniform interface).
    """

    def _pool(self, z):
        frame = ops.max(ops.sigmoid(z), axis=2)
        return {"clip": ops.max(frame, axis=1), "frame": frame}


@keras.saving.register_keras_serializable(package="keras_audioattn")
class TimeFrequencyAveragePooling(_ClassMapPooling):
    """Global average pooling (GAP, Table IV): ``clip = mean_{t,f} sigmoid(z)``, ``frame = mean_f sigmoid(z)``.

    ``(batch, time, mel, classes)`` -> ``{"clip": (batch, classes), "frame": (batch, time, classes)}``.
    No weights; ``return_attention`` adds nothing.
    """

    def _pool(self, z):
        frame = ops.mean(ops.sigmoid(z), axis=2)
        return {"clip": ops.mean(frame, axis=1), "frame": frame}


def _weighted_rank(x, axis, r):
    """GWRP along ``axis``: sort descending, weights ``r**j`` (j = rank), normalised sum."""
    ranked = ops.flip(ops.sort(ops.moveaxis(x, axis, -1), axis=-1), axis=-1)
    n = ops.shape(ranked)[-1]
    weights = ops.power(ops.cast(r, x.dtype), ops.cast(ops.arange(n), x.dtype))
    return ops.sum(ranked * weights, axis=-1) / ops.sum(weights)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class GlobalWeightedRankPooling(_ClassMapPooling):
    """Global weighted rank pooling (GWRP; Kolesnikov & Lampert 2016, used for SED by Kong et al.
    2019 -- the paper's ref. [13], Table IV).

    The sigmoid T-F probabilities of each class are sorted in descending order ``x_(0) >= x_(1) >=
    ...`` and averaged with weights ``r**j``: ``sum_j r**j x_(j) / sum_j r**j``. ``r = 0`` is global
    max pooling, ``r = 1`` global average pooling. ``clip`` ranks the whole T-F plane, ``frame``
    ranks the mel bins of each frame (same ``r``).

    ``(batch, time, mel, classes)`` -> ``{"clip": (batch, classes), "frame": (batch, time, classes)}``.

    Args:
        r: decay in [0, 1]. The default 0.9998 is the value in the 2APAE authors' code
            (``models_extension.py``, after Kong et al.); on a 311 x 64 plane the weights fall to
            ~0.02 at the last of ~20 000 positions, so the top few thousand dominate. Tune it to
            how much of a clip the events cover.
    """

    def __init__(self, r=0.9998, return_attention=False, **kwargs):
        super().__init__(return_attention=return_attention, **kwargs)
        self.r = number(r, "r", "GlobalWeightedRankPooling", low=0.0, high=1.0)

    def _pool(self, z):
        p = ops.sigmoid(z)
        shape = ops.shape(p)
        plane = ops.reshape(p, (shape[0], -1, self.num_classes))   # (b, t*f, k)
        return {"clip": _weighted_rank(plane, 1, self.r), "frame": _weighted_rank(p, 2, self.r)}

    def get_config(self):
        config = super().get_config()
        config["r"] = self.r
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class GlobalAttentionPooling(_ClassMapPooling):
    """Global (single-step) attention pooling over the whole T-F plane (Kong et al. 2018, Ren et
    al. 2019 -- the paper's refs. [24] and [14], "Atrous AP" in Table IV).

    Two 1x1 maps ``classes -> classes`` (dense on the channel axis) give attention logits ``a`` and
    classification logits ``c`` per T-F position::

        w = softmax_{t,f}(a),  clip = sum_{t,f} sigmoid(c) * w

    ``frame`` normalises the same attention within each frame:
    ``sum_f sigmoid(c) * softmax_f(a)``. Values are probabilities weighted by a softmax, so the
    output stays in [0, 1] (the instability the paper reports for attention with a linear
    classification branch does not arise).

    ``(batch, time, mel, classes)`` -> ``{"clip": (batch, classes), "frame": (batch, time, classes)}``;
    ``return_attention=True`` adds ``"attention"`` ``(batch, time, mel, classes)`` (sums to 1 over
    time and mel).
    """

    def _build_weights(self):
        k = self.num_classes
        self.kernel = self.add_weight(name="kernel", shape=(k, 2 * k), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(2 * k,), initializer="zeros")

    def set_output_bias(self, logits):
        """Sets the bias of the classification map (the second half of ``bias``) to ``logits``."""
        bias = ops.convert_to_numpy(self.bias).copy()
        bias[self.num_classes:] = ops.convert_to_numpy(logits).astype("float32").reshape(-1)
        self.bias.assign(bias)
        return True

    def _attention_shapes(self, input_shape):
        return {"attention": tuple(input_shape)}

    def _pool(self, z):
        k = self.num_classes
        y = ops.matmul(z, self.kernel) + self.bias
        a, p = y[..., :k], ops.sigmoid(y[..., k:])
        # Factorised softmax over (t, f) = softmax_t(logsumexp_f a) * softmax_f(a): each factor is
        # shifted by its own max, so no frame underflows to 0/0 when another frame dominates.
        frame_max = ops.max(a, axis=2, keepdims=True)               # (b, t, 1, k)
        e = ops.exp(a - frame_max)
        frame_mass = ops.sum(e, axis=2)                              # (b, t, k)
        within = e / ops.expand_dims(frame_mass, 2)                  # softmax_f
        frame = ops.clip(ops.sum(within * p, axis=2), 0.0, 1.0)
        across = ops.softmax(ops.squeeze(frame_max, 2) + ops.log(frame_mass), axis=1)  # softmax_t
        outputs = {"clip": ops.clip(ops.sum(frame * across, axis=1), 0.0, 1.0), "frame": frame}
        if self.return_attention:
            outputs["attention"] = within * ops.expand_dims(across, 2)
        return outputs


POOLING_LAYERS = {
    "two_step": TwoStepAttentionPooling,
    "max": TimeFrequencyMaxPooling,
    "average": TimeFrequencyAveragePooling,
    "gwrp": GlobalWeightedRankPooling,
    "attention": GlobalAttentionPooling,
}


def get_pooling(pooling, **kwargs):
    """A pooling layer by its Table IV name: ``"two_step"``, ``"max"``, ``"average"``, ``"gwrp"``,
    ``"attention"``; keyword arguments (``name=`` included) go to its constructor."""
    if pooling not in POOLING_LAYERS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {sorted(POOLING_LAYERS)}")
    return POOLING_LAYERS[pooling](**kwargs)
