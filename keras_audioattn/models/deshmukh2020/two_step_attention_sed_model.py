"""2APAE: two-step attention pooling + auxiliary autoencoder for weakly labelled SED.

Deshmukh, Raj & Singh, "Multi-Task Learning for Interpretable Weakly Labelled Sound Event
Detection" (2020). One model class, :class:`TwoStepAttentionSED`, covers the paper's system and
its Table IV / Table V comparisons through ``pooling`` and ``alpha``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from keras_audioattn import validation
from keras_audioattn.layers.front_ends import FRONT_END_PRESETS, LogMelSpectrogram
from keras_audioattn.models.base import AudioModel
from keras_audioattn.models.deshmukh2020.attention_pooling_layer import POOLING_LAYERS, get_pooling
from keras_audioattn.models.deshmukh2020.feature_standardization_layer import FeatureStandardization

__all__ = ["FRONT_END_PRESETS", "FeatureStandardization", "POOLING_LAYERS", "TwoStepAttentionSED"]

_OWNER = "TwoStepAttentionSED"
_NORMALIZATIONS = ("dataset", "per_clip", None)
_DECODER_ACTIVATIONS = ("linear", "relu")
_INPUTS = ("log_mel", "waveform")
_LOSS_ON = ("auto", "probability", "logit")
_OUTPUT_BIAS_INITS = ("label_prior", "zeros")


def _include_front_end(value, arguments):
    """The deprecated ``input="log_mel" | "waveform"`` as ``include_front_end``."""
    return validation.one_of(value, "input", _INPUTS, _OWNER) == "waveform"
# PyTorch BatchNorm2d defaults (momentum 0.1 = Keras 0.9, eps 1e-5), as in the authors' code.
_BN = dict(momentum=0.9, epsilon=1e-5)


def _conv_block(x, filters, name):
    """Table I block: 2 x (3x3 conv without bias, BN, ReLU), then 3x3 average pooling, stride 1."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(**_BN, name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class TwoStepAttentionSED(AudioModel):
    """2APAE (Deshmukh et al. 2020): VGG-like encoder without downsampling, 1x1 class conv,
    two-step attention pooling, and an auxiliary decoder reconstructing the input log-mel.

    Input: ``include_front_end=False`` (default) -> a log-mel ``"log_mel"`` ``(batch, time,
    num_mel_bins)`` (any number of frames); ``include_front_end=True`` -> a float32 waveform
    ``"waveform"`` ``(batch, samples)`` at ``sample_rate`` with the log-mel front end
    (``LogMelSpectrogram.from_preset("deshmukh2020")`` + ``front_end``) inside the graph, for
    export. (``input="log_mel" | "waveform"`` and ``front_end_config`` are the deprecated names.)

    Outputs (a dict; ``"clip"`` / ``"frame"`` before, see ``deprecated_outputs``):
      - ``"scores"`` ``(batch, num_classes)``: clip probabilities in [0, 1] (Eq. 15, Table II).
      - ``"frame_scores"`` ``(batch, time, num_classes)``: frame-level probabilities (for
        ``pooling="two_step"`` the second step's per-frame class probabilities, whose
        attention-weighted average is ``"scores"``; see :class:`TwoStepAttentionPooling`).
      - ``"reconstruction"`` ``(batch, time, num_mel_bins)`` when ``decoder=True`` (Table III):
        the decoder's estimate of the standardised input log-mel (Fig. 3, subplot 2).
      - with ``return_attention=True``: ``"frequency_attention"`` ``(batch, time, mel, classes)``,
        ``"frequency_pooled"`` (first-step output ``Z_p1``, Fig. 3 subplot 5) and
        ``"time_attention"`` ``(batch, time, classes)`` (two-step), or ``"attention"``
        (``pooling="attention"``).

    Architecture (Table I, DESIGN.md from the authors' code): ``len(encoder_filters)`` blocks of
    2 x [conv 3x3 no bias, BN, ReLU] + avg-pool 3 stride 1; a 1x1 class conv (bias, linear) to
    ``num_classes`` maps; the pooling layer (``keras_audioattn.layers.POOLING_LAYERS``). The
    decoder is fed the encoder output (before the class conv, Sec. IV-D) and mirrors the encoder
    with ``reversed(encoder_filters[:-1])`` blocks (128, 64, 32), then an output head to one map.

    Loss (Eq. 7/17): ``BCE(clip, y) + alpha * MSE(reconstruction, standardised log-mel)``. It is
    computed in :meth:`compute_loss`, so ``model.compile(optimizer)`` and
    ``model.fit(x, y_clip)`` train with clip labels only: the reconstruction target is derived
    from ``x`` inside the model. A ``loss`` given to ``compile`` replaces the BCE term and is
    applied to ``"scores"``; ``metrics`` are computed on ``"scores"``. ``alpha=0`` keeps the decoder
    but switches off its loss (Table V's ablation); ``decoder=False`` removes it.

    Choices (documented in docs/deshmukh2020.md):
      - ``decoder_activation="linear"`` (default) ends the decoder with a biased 3x3 conv and no
        activation. The authors end it with 2 x [conv, BN, ReLU] to one channel
        (``decoder_activation="relu"``), but the target is a z-scored log-mel, about half of which
        is negative and unreachable after a ReLU.
      - The reconstruction target is the input after :class:`FeatureStandardization`
        (``normalization="dataset"``: per-mel-bin statistics set by :meth:`adapt_normalization`,
        the authors' training-set scaler; ``"per_clip"``; or ``None`` for inputs already scaled).
        The network sees the same standardised log-mel.
      - Average pooling ignores the zero padding at the borders (Keras ``"same"``); PyTorch's
        ``AvgPool2d(3, 1, 1)`` counts it. It only differs on the outermost frame and bin.

    Args:
        num_classes: number of event classes K (41 in the paper).
        encoder_filters: channels of the encoder blocks (Table I: 32, 64, 128, 256).
        pooling: ``"two_step"`` (paper) or a Table IV baseline: ``"max"``, ``"average"``,
            ``"gwrp"``, ``"attention"``.
        pooling_config: extra constructor arguments of the pooling layer (``{"r": 0.999}``, ...).
        decoder: build the auxiliary decoder (Table III).
        alpha: weight of the reconstruction MSE (0.001 in the paper; Table V: 0, 0.001, 0.01).
        decoder_activation: ``"linear"`` (fix) or ``"relu"`` (authors' original).
        include_front_end: ``False``: log-mel input; ``True``: waveform input with the front end.
        num_mel_bins: mel bins of the log-mel input (64).
        num_frames: fixed number of input frames, or ``None`` for any (log-mel input). Not a
            waveform length: it is also what the authors' dense step 2 is sized for.
        num_samples: fixed waveform length, or ``None`` for any (waveform input).
        sample_rate: waveform sample rate in Hz (32 kHz in the paper).
        front_end: overrides of the ``"deshmukh2020"`` log-mel preset (waveform input).
        normalization: ``"dataset"``, ``"per_clip"`` or ``None`` (see above).
        return_attention: add the attention maps to the outputs.
        loss_on: BCE on ``"probability"`` (the clipped clip output; the authors'), on ``"logit"``
            (the pooling's exact log-odds ``clip_logit``, two-step only; also returned as an
            output), or ``"auto"`` (default: ``"logit"`` where the pooling provides it).
        output_bias_init: ``"label_prior"`` (default; not in the paper) -- the first
            :meth:`fit` on label arrays sets each class's output bias to the log-odds of its
            frequency in those labels (:meth:`initialize_output_bias`; Lin et al. 2017, Sec. 4.1),
            so that training starts from the constant-prior ranking; ``"zeros"`` -- every class
            starts at probability 0.5 (the authors'; the paper presets). Why: under Adam a bias
            moves about one learning rate per step, and the two-step pooling sets each class's
            level through per-class scalars only (docs/deshmukh2020.md, "below prior").
        name: model name.

    The authors' step 2 (a dense map over a fixed number of frames) is
    ``pooling_config={"time_mixing": "dense", "time_input_norm": False}`` with ``num_frames``
    (the paper presets); the default step 2 runs on any number of frames (see
    :class:`TwoStepAttentionPooling`).

    Example::

        model = TwoStepAttentionSED.from_preset("deshmukh2020-2apae", num_classes=10)
        model.adapt_normalization(train_log_mels)
        model.compile("adam")                    # BCE + alpha * MSE is the model's compute_loss
        model.fit(train_log_mels, clip_labels)   # (n, 311, 64), (n, 10)
        out = model.predict(test_log_mels)       # out["scores"], out["frame_scores"], ...
    """

    deprecated_arguments = {"input": ("include_front_end", _include_front_end), "front_end_config": "front_end"}
    deprecated_outputs = {"clip": "scores", "frame": "frame_scores"}

    def __init__(self, num_classes, encoder_filters=(32, 64, 128, 256), pooling="two_step",
                 pooling_config=None, decoder=True, alpha=0.001, decoder_activation="linear",
                 include_front_end=False, num_mel_bins=64, num_frames=None, num_samples=None, sample_rate=32000,
                 front_end=None, normalization="dataset", return_attention=True, loss_on="auto",
                 output_bias_init="label_prior", name="two_step_attention_sed", **kwargs):
        num_classes = validation.positive_int(num_classes, "num_classes", _OWNER)
        encoder_filters = validation.int_sequence(encoder_filters, "encoder_filters", _OWNER)
        validation.one_of(pooling, "pooling", sorted(POOLING_LAYERS), _OWNER)
        alpha = validation.number(alpha, "alpha", _OWNER, low=0.0)
        validation.one_of(decoder_activation, "decoder_activation", _DECODER_ACTIVATIONS, _OWNER)
        if not isinstance(include_front_end, (bool, np.bool_)):
            raise ValueError(f"{_OWNER}: `include_front_end` must be True or False, got {include_front_end!r}.")
        include_front_end = bool(include_front_end)
        num_mel_bins = validation.positive_int(num_mel_bins, "num_mel_bins", _OWNER)
        num_frames = validation.optional(validation.positive_int, num_frames, "num_frames", _OWNER)
        num_samples = validation.optional(validation.positive_int, num_samples, "num_samples", _OWNER)
        sample_rate = validation.positive_int(sample_rate, "sample_rate", _OWNER)
        validation.one_of(normalization, "normalization", _NORMALIZATIONS, _OWNER)
        validation.one_of(loss_on, "loss_on", _LOSS_ON, _OWNER)
        validation.one_of(output_bias_init, "output_bias_init", _OUTPUT_BIAS_INITS, _OWNER)
        pooling_config = dict(pooling_config or {})
        front_end_config = dict(front_end or {})

        # --- input and front end -----------------------------------------------------------
        front_end = None
        if include_front_end:
            fe_args = dict(FRONT_END_PRESETS["deshmukh2020"], sample_rate=sample_rate)
            fe_args.update(front_end_config)
            front_end = LogMelSpectrogram(**fe_args, name="log_mel")
            num_mel_bins = front_end.num_mel_bins
            inputs = keras.Input((num_samples,), name="waveform")
            log_mel = front_end(inputs)
        else:
            inputs = keras.Input((num_frames, num_mel_bins), name="log_mel")
            log_mel = inputs
        normalizer = None
        if normalization is not None:
            normalizer = FeatureStandardization(normalization, name="standardization")
            log_mel = normalizer(log_mel)
        x = layers.Reshape((-1, num_mel_bins, 1), name="add_channel")(log_mel)

        # --- shared encoder (Table I) ------------------------------------------------------
        for i, filters in enumerate(encoder_filters):
            x = _conv_block(x, filters, f"encoder_block{i + 1}")
        encoded = x
        class_maps = layers.Conv2D(num_classes, 1, name="class_conv")(encoded)

        # --- classification network (Table II) ---------------------------------------------
        pool_args = dict(pooling_config)
        if pooling == "two_step" and pool_args.get("time_mixing") == "dense" and pool_args.get("num_frames") is None:
            pool_args["num_frames"] = num_frames  # the authors' dense time map needs the clip length
        pool_layer = get_pooling(pooling, return_attention=return_attention, name=f"{pooling}_pooling",
                                 **pool_args)
        pooled = pool_layer(class_maps)
        # float32 outputs under a mixed_float16 policy (the pooling layer computes in float32).
        # (Weightless layers: renaming them from "clip" / "frame" keeps older files loading.)
        outputs = {"scores": layers.Identity(name="scores", dtype="float32")(pooled["clip"]),
                   "frame_scores": layers.Identity(name="frame_scores", dtype="float32")(pooled["frame"])}

        # --- decoder (Table III) -----------------------------------------------------------
        if decoder:
            y = encoded
            for i, filters in enumerate(reversed(encoder_filters[:-1])):
                y = _conv_block(y, filters, f"decoder_block{i + 1}")
            if decoder_activation == "relu":
                y = _conv_block(y, 1, "decoder_output")
            else:
                y = layers.Conv2D(1, 3, padding="same", name="decoder_output_conv")(y)
            outputs["reconstruction"] = layers.Reshape((-1, num_mel_bins), name="reconstruction")(y)
        if loss_on == "auto":
            loss_on = "logit" if "clip_logit" in pooled else "probability"
        if loss_on == "logit":
            if "clip_logit" not in pooled:
                raise ValueError("TwoStepAttentionSED: loss_on='logit' needs pooling='two_step' with "
                                 "formulation='code'")
            outputs["clip_logit"] = layers.Identity(name="clip_logit", dtype="float32")(pooled["clip_logit"])
        for key in ("frequency_attention", "frequency_pooled", "time_attention", "attention"):
            if key in pooled:
                outputs[key] = layers.Identity(name=key, dtype="float32")(pooled[key])

        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.num_mel_bins = int(num_mel_bins)  # the front end's when it has one
        self.pooling_config = pooling_config  # the dict form of the argument ({} for None)
        self.input_kind = "waveform" if include_front_end else "log_mel"
        self.front_end_config = front_end_config
        self.loss_on = loss_on  # resolved ("auto" -> what was used)
        self.front_end = front_end  # the LogMelSpectrogram layer (or None); its arguments: front_end_config
        self.normalizer = normalizer
        self.pooling_layer = pool_layer
        self.class_conv = self.get_layer("class_conv")

    # ------------------------------------------------------------------------------------------
    def reconstruction_target(self, x):
        """The decoder's target for input ``x``: the log-mel after front end and standardisation,
        ``(batch, time, num_mel_bins)``."""
        t = x
        if self.front_end is not None:
            t = self.front_end(t)
        if self.normalizer is not None:
            t = self.normalizer(t)
        return ops.cast(t, "float32")

    def adapt_normalization(self, data, batch_size=32):
        """Fits the ``"dataset"`` standardisation to training inputs (log-mels, or waveforms for
        ``include_front_end=True``, as one array or a list of same-length arrays)."""
        if self.normalizer is None or self.normalization != "dataset":
            raise ValueError("adapt_normalization needs normalization='dataset'")
        if self.front_end is not None:
            data = np.asarray(data, dtype="float32")
            data = np.concatenate([keras.ops.convert_to_numpy(self.front_end(data[i:i + batch_size]))
                                   for i in range(0, len(data), batch_size)], axis=0)
        self.normalizer.adapt(data)
        return self

    def initialize_output_bias(self, labels):
        """Sets each class's output bias to the log-odds of its frequency in ``labels``
        ``(examples, num_classes)`` (0/1 or soft), smoothed as ``(positives + 0.5) / (n + 1)`` so
        that a class never or always present gets a finite bias. The bias is the pooling's own
        classification bias where it has one (two-step, attention), else the 1x1 class conv's
        (GAP / GMP / GWRP: then the mean T-F probability starts at the prior). Returns the model.

        With ``output_bias_init="label_prior"`` the first :meth:`fit` on label arrays calls it;
        call it yourself before fitting on a ``tf.data.Dataset`` or a generator. Raises
        ValueError for the authors' dense step 2 (no per-class bias)."""
        y = np.asarray(labels, dtype="float64")
        if y.ndim != 2 or y.shape[1] != self.num_classes or len(y) == 0:
            raise ValueError(f"{_OWNER}.initialize_output_bias: labels must have shape (examples, "
                             f"{self.num_classes}); got {y.shape}")
        p = (y.sum(axis=0) + 0.5) / (len(y) + 1.0)
        logits = np.log(p / (1.0 - p)).astype("float32")
        if not self.pooling_layer.set_output_bias(logits):
            kernel, _ = self.class_conv.get_weights()
            self.class_conv.set_weights([kernel, logits])
        self._output_bias_initialized = True
        return self

    def output_bias_pending(self):
        """True when ``output_bias_init="label_prior"`` applies and has not been done: the output
        biases still hold their initial zeros (a fresh model, not a loaded or trained one) and the
        pooling has a per-class bias (not the authors' dense step 2)."""
        if self.output_bias_init != "label_prior" or getattr(self, "_output_bias_initialized", False):
            return False
        if not self.pooling_layer.has_output_bias():
            return False
        weights = [w for w in self.pooling_layer.weights if "bias" in w.path] or [self.class_conv.bias]
        return all(not np.any(ops.convert_to_numpy(w)) for w in weights)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; with ``output_bias_init="label_prior"`` a fresh model first sets
        its output biases from the label array ``y`` (:meth:`initialize_output_bias`). On a
        dataset or generator (``y=None``) the biases stay as they are: call
        :meth:`initialize_output_bias` first."""
        if y is not None and not isinstance(y, dict) and self.output_bias_pending():
            self.initialize_output_bias(ops.convert_to_numpy(y))
        return super().fit(x, y, *args, **kwargs)

    def get_embedding_model(self):
        """A model from the input to the encoder output ``(batch, time, mel, encoder_filters[-1])``
        (the shared representation both tasks use)."""
        name = f"encoder_block{len(self.encoder_filters)}_pool"
        return keras.Model(self.inputs[0], self.get_layer(name).output, name=f"{self.name}_encoder")

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _clip_parts(y, y_pred):
        if isinstance(y, dict):  # clip labels under the output's name ("clip" in older code)
            y = y["scores"] if "scores" in y else y["clip"]
        return y, y_pred["scores"]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``BCE(y, clip) + alpha * MSE(reconstruction, standardised input)`` (Eq. 7 / 17),
        plus any regularisation losses. ``y`` holds clip labels ``(batch, num_classes)`` (or a dict
        with a ``"scores"`` entry)."""
        if y_pred is None:
            y_pred = self(x, training=training)
        y_clip, clip = self._clip_parts(y, y_pred)
        if self._compile_loss is not None:
            total = super().compute_loss(x, y_clip, clip, sample_weight, training)
        else:
            if self.loss_on == "logit":
                bce = ops.binary_crossentropy(ops.cast(y_clip, "float32"), y_pred["clip_logit"], from_logits=True)
            else:
                bce = ops.binary_crossentropy(ops.cast(y_clip, clip.dtype), clip)
            per_example = ops.mean(bce, axis=-1)
            if sample_weight is not None:
                sw = ops.cast(sample_weight, per_example.dtype)
                total = ops.sum(per_example * sw) / ops.maximum(ops.sum(sw), 1e-12)
            else:
                total = ops.mean(per_example)
            for loss in self.losses:
                total = total + ops.cast(loss, total.dtype)
        if self.decoder and self.alpha > 0:
            target = self.reconstruction_target(x)
            recon = ops.cast(y_pred["reconstruction"], "float32")
            total = total + self.alpha * ops.mean(ops.square(recon - target))
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y_clip, clip = self._clip_parts(y, y_pred)
        return super().compute_metrics(x, y_clip, clip, sample_weight)
