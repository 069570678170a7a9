"""CAB-CNN: classifier-attention-based CNN on raw waveforms (Lu et al. 2020, Fig. 1, Table 2, §4).

Graph (defaults = Table 2 and §4, the authors' Keras configuration)::

    waveform (batch, samples) @ 16 kHz   [+ lengths (batch,) int32]
      -> first max_seconds only (optional; §4 "CAB-CNN-Ts")
      -> IntervalMaxPooling: z-normalise, max of each of 4000 intervals per second (§4)
      -> Conv1D 16 k4 same ReLU -> MaxPool 4 s2 same -> Dropout 0.15
      -> Conv1D 32 k4 same ReLU -> MaxPool 4 s2 same -> Dropout 0.15
      -> Conv1D 32 k10 same ReLU -> MaxPool 10 s5 same -> Dropout 0.1
      -> Conv1D 128 k10 same ReLU -> MaxPool 10 s5 same
      -> BatchNormalization -> ClassifierAttentionBlock (40 classifiers, Fig. 2)
      -> unweighted average of c_t over the valid time steps -> scores (batch, classes)

One output step covers 100 input samples at 4 kHz (25 ms, total stride 2*2*5*5), i.e. 400
waveform samples at 16 kHz.

Default model (``num_classes=3``, the paper's three accents): **134 112 parameters**
(133 856 trainable: convolutions 53 520, BatchNorm 256 + 256 moving statistics, classifier MLPs
43 320, attention MLP 36 760) -- checked in ``tests/test_cab_cnn.py``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_audioattn import validation
from keras_audioattn.layers.front_ends import IntervalMaxPooling
from keras_audioattn.models.base import AudioModel
from keras_audioattn.models.lu2020.classifier_attention_layer import ClassifierAttentionBlock

DEFAULT_PARAMETER_COUNT = 134_112  # CABCNN(num_classes=3).count_params()


@keras.saving.register_keras_serializable(package="keras_audioattn")
class LengthMask(keras.layers.Layer):
    """``[x (batch, time, ...), lengths (batch,)]`` -> ``x`` with steps ``t >= lengths`` set to 0.

    With ``return_mask=True`` returns the boolean mask ``(batch, time)`` instead.
    """

    def __init__(self, return_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.return_mask = bool(return_mask)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        if self.return_mask or mask is None:
            return None
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def call(self, inputs):
        x, lengths = inputs
        steps = ops.arange(ops.shape(x)[1], dtype="int32")
        mask = steps[None, :] < ops.reshape(ops.cast(lengths, "int32"), (-1, 1))
        if self.return_mask:
            return mask
        m = ops.cast(mask, x.dtype)
        while len(m.shape) < len(x.shape):
            m = ops.expand_dims(m, -1)
        return x * m

    def compute_output_shape(self, input_shape):
        x_shape = tuple(input_shape[0])
        return x_shape[:2] if self.return_mask else x_shape

    def compute_output_spec(self, inputs):
        x = inputs[0]
        if self.return_mask:
            return keras.KerasTensor(tuple(x.shape[:2]), dtype="bool")
        return keras.KerasTensor(tuple(x.shape), dtype=x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(return_mask=self.return_mask)
        return config


@keras.saving.register_keras_serializable(package="keras_audioattn")
class ValidStepAverage(keras.layers.Layer):
    """Unweighted average over time of the valid steps (Lu et al. 2020, the equation after Fig. 2).

    ``x (batch, time, features)`` or ``[x, lengths (batch,)]`` -> ``(batch, features)``. With
    lengths, ``sum_{t < length} x_t / length``; steps past a clip's length are ignored.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, lengths = inputs
            steps = ops.arange(ops.shape(x)[1], dtype="int32")
            mask = ops.cast(steps[None, :] < ops.reshape(ops.cast(lengths, "int32"), (-1, 1)), x.dtype)
            count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)
            return ops.sum(x * mask[..., None], axis=1) / count
        return ops.mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return (input_shape[0], input_shape[2])


def _pool_pads(pool_size, stride):
    # Fixed "same" alignment: ceil(L / stride) outputs for every L, left pad (k - s) // 2.
    left = (pool_size - stride) // 2 if pool_size > stride else 0
    return left, pool_size - 1 - left


def _rates(value, name, n):
    """``n`` dropout rates in ``[0, 1)``."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"CABCNN: `{name}` must be a list of {n} rates in [0, 1), got {value!r}.")
    return tuple(validation.probability(v, name, "CABCNN") for v in value)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class CABCNN(AudioModel):
    """CAB-CNN (Lu et al. 2020): raw waveform -> interval max -> Conv1D stack -> BN -> ACB -> average.

    Inputs: ``waveform`` float32 ``(batch, samples)`` at ``sample_rate``; with
    ``length_input=True`` (default) also ``lengths`` int32 ``(batch,)``, the number of valid
    samples of each zero-padded clip (``model([waveform, lengths])``, or the
    ``((waveform, lengths), target)`` elements of ``dataset_from_manifest(pad_to_batch=True,
    return_lengths=True)``). Every stage then uses only the valid part of each clip: the
    z-normalisation statistics, the convolutions and poolings (padded steps are zeroed), the
    BatchNorm training moments and the final average -- a padded clip scores exactly as the
    clip alone. ``lengths`` is optional: a waveform alone (``model(x)``, ``model.fit(x, y)``,
    ``model.predict(x)`` with a plain ``(batch, samples)`` array, or ``[x, None]``) means every
    clip is valid over its full length, so ``CABCNN(num_classes=5).fit(waveforms, labels)``
    works on fixed-length clips. With ``length_input=False`` the graph has the waveform input
    only (:meth:`without_length_input` copies a trained model into that form; ``export``
    does so itself, so a model with the lengths input exports as waveform-in, scores-out).

    Example::

        model = CABCNN(num_classes=5, max_seconds=5)
        model = CABCNN.from_preset("lu2020-cab-cnn-5s", num_classes=5)   # the same, Table 4's CAB-CNN-5s
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        model.fit(waveforms, one_hot, batch_size=128, epochs=40)    # (n, samples) float32
        model.fit(padded_dataset(clips, one_hot))                   # ((waveform, lengths), y)
        scores = model.predict(waveforms)

    Output: ``scores`` ``(batch, num_classes)`` (the output layer was ``"average"`` before), the unweighted mean over valid steps of the ACB
    outputs ``c_t``; these are probabilities already (an average of softmax mixtures), so
    train with ``categorical_crossentropy(from_logits=False)``. ``include_top=False`` outputs
    the batch-normalised representation ``a`` ``(batch, steps, 128)`` instead (padded steps 0).
    :meth:`attention_model` gives ``[scores, alpha]`` with ``alpha (batch, steps, 40)``.

    Args:
      num_classes: number of classes (paper: 3 accents).
      sample_rate: input sample rate in Hz (paper: 16 kHz UT-Podcast).
      target_rate: interval-max rate (paper: 4000 sub-intervals per second).
      max_seconds: use at most the first ``max_seconds`` of each clip (paper: 5, 10, 30, 60;
        None = all). Not an input length: the input stays ``num_samples`` long (any length by
        default) and the graph keeps its first ``max_seconds`` (§4 "CAB-CNN-Ts").
      num_samples: fixed input length in samples, or None (default) for any length.
      conv_filters / conv_kernel_sizes / pool_sizes / pool_strides / dropout_rates: Table 2
        (dropout after each of the first three poolings; the fourth rate defaults to 0).
      num_classifiers, classifier_units, attention_units: the ACB of §4 (40, (8, 4), (160, 80)).
      length_input: add the ``lengths`` input (see above; optional at call time).
      include_top: False -> output the representation ``a`` instead of the scores.
      name: model name.

    Choices where the paper is silent (see docs/lu2020.md): pooling "same" uses a fixed
    alignment (left pad ``(k - s) // 2``, ``ceil(L / s)`` outputs), not TF's length-dependent
    one, so that a clip gives the same steps alone or padded; the padding is zeros, which equals
    Keras' -inf padding here because every pooling follows a ReLU. The z-normalisation uses the
    clip's own (valid) samples with epsilon 1e-10.

    Parameters of the default model (3 classes): 134 112 (see module docstring).
    """

    deprecated_outputs = {"average": "scores"}

    def __init__(self, num_classes, sample_rate=16000, target_rate=4000, max_seconds=None, num_samples=None,
                 conv_filters=(16, 32, 32, 128), conv_kernel_sizes=(4, 4, 10, 10), pool_sizes=(4, 4, 10, 10),
                 pool_strides=(2, 2, 5, 5), dropout_rates=(0.15, 0.15, 0.1, 0.0), num_classifiers=40,
                 classifier_units=(8, 4), attention_units=(160, 80), length_input=True, include_top=True,
                 name="cab_cnn", **kwargs):
        owner = "CABCNN"
        num_classes = validation.positive_int(num_classes, "num_classes", owner)
        sample_rate = validation.positive_int(sample_rate, "sample_rate", owner)
        target_rate = validation.positive_int(target_rate, "target_rate", owner)
        max_seconds = validation.optional(validation.positive_number, max_seconds, "max_seconds", owner)
        num_samples = validation.optional(validation.positive_int, num_samples, "num_samples", owner)
        conv_filters = validation.int_sequence(conv_filters, "conv_filters", owner)
        n = len(conv_filters)
        conv_kernel_sizes = validation.int_sequence(conv_kernel_sizes, "conv_kernel_sizes", owner, length=n)
        pool_sizes = validation.int_sequence(pool_sizes, "pool_sizes", owner, length=n)
        pool_strides = validation.int_sequence(pool_strides, "pool_strides", owner, length=n)
        dropout_rates = _rates(dropout_rates, "dropout_rates", n)
        num_classifiers = validation.positive_int(num_classifiers, "num_classifiers", owner)
        max_samples = None if max_seconds is None else max(1, int(round(max_seconds * sample_rate)))

        waveform = keras.Input(shape=(num_samples,), dtype="float32", name="waveform")
        inputs = [waveform]
        lengths = None
        if length_input:
            lengths = keras.Input(shape=(), dtype="int32", name="lengths")
            inputs.append(lengths)
        x = waveform
        if max_samples is not None and (num_samples is None or num_samples > max_samples):
            x = x[:, :max_samples]
            if lengths is not None:
                lengths = ops.minimum(lengths, max_samples)
        front_end = IntervalMaxPooling(sample_rate=sample_rate, target_rate=target_rate, name="interval_max")
        if lengths is not None:
            x = front_end(x, lengths=lengths)
            # Only whole intervals count, as for the clip alone (its trailing partial one is dropped).
            g = math.gcd(sample_rate, target_rate)  # keeps lengths * rate inside int32
            lengths = (lengths * (target_rate // g)) // (sample_rate // g)
        else:
            x = front_end(x)
        x = keras.layers.Reshape((-1, 1), name="add_channel")(x)
        for i in range(n):
            if lengths is not None:
                x = LengthMask(name=f"mask_in_{i}")([x, lengths])
            x = keras.layers.Conv1D(conv_filters[i], conv_kernel_sizes[i], padding="same", activation="relu",
                                    name=f"conv_{i}")(x)
            if lengths is not None:
                x = LengthMask(name=f"mask_conv_{i}")([x, lengths])
            x = keras.layers.ZeroPadding1D(_pool_pads(pool_sizes[i], pool_strides[i]), name=f"pool_pad_{i}")(x)
            x = keras.layers.MaxPooling1D(pool_sizes[i], pool_strides[i], padding="valid", name=f"pool_{i}")(x)
            if lengths is not None:
                lengths = (lengths + pool_strides[i] - 1) // pool_strides[i]
            if dropout_rates[i] > 0:
                x = keras.layers.Dropout(dropout_rates[i], name=f"dropout_{i}")(x)
        mask = None
        if lengths is not None:
            x = LengthMask(name="mask_features")([x, lengths])
            mask = LengthMask(return_mask=True, name="step_mask")([x, lengths])
        x = keras.layers.BatchNormalization(name="batch_norm")(x, mask=mask)
        if lengths is not None:
            x = LengthMask(name="mask_bn")([x, lengths])
        acb = ClassifierAttentionBlock(num_classes, num_classifiers=num_classifiers,
                                       classifier_units=classifier_units, attention_units=attention_units,
                                       return_attention=True, dtype="float32",  # softmaxes in float32
                                       name="classifier_attention")
        c, alpha = acb(x, mask=mask)
        average = ValidStepAverage(dtype="float32", name="scores")  # weightless: the output's name
        scores = average([c, lengths] if lengths is not None else c)
        outputs = scores if include_top else x
        super().__init__(inputs=inputs if len(inputs) > 1 else waveform, outputs=outputs, name=name, **kwargs)
        self._scores, self._alpha, self._features = scores, alpha, x

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self._with_full_lengths(inputs), *args, **kwargs)

    def _with_full_lengths(self, inputs):
        """``waveform`` alone (or ``[waveform]``, ``[waveform, None]``, ``{"waveform": w}``) ->
        ``[waveform, lengths]`` with every clip at full length, when the model has a lengths input."""
        if not getattr(self, "length_input", False):
            return inputs
        if isinstance(inputs, dict):
            if "lengths" in inputs and inputs["lengths"] is not None:
                return inputs
            inputs = inputs.get("waveform", inputs)
        if isinstance(inputs, (list, tuple)):
            if len(inputs) == 2 and inputs[1] is not None:
                return inputs
            if len(inputs) not in (1, 2):
                raise ValueError(f"CABCNN: expected a waveform or [waveform, lengths], got {len(inputs)} inputs")
            inputs = inputs[0]
        waveform = inputs if isinstance(inputs, keras.KerasTensor) else ops.convert_to_tensor(inputs, "float32")
        if len(waveform.shape) != 2:
            raise ValueError(f"CABCNN: the waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
        # Counting samples (not ops.full) keeps a symbolic input connected to its lengths.
        return [waveform, ops.sum(ops.ones_like(waveform, dtype="int32"), axis=1)]

    def attention_model(self):
        """A model sharing these weights with outputs ``[scores, alpha]``, ``alpha (batch, steps, n)``."""
        return keras.Model(self.inputs if self.length_input else self.inputs[0], [self._scores, self._alpha],
                           name=f"{self.name}_attention")

    def feature_model(self):
        """A model sharing these weights whose output is the batch-normalised ``a`` ``(batch, steps, channels)``."""
        return keras.Model(self.inputs if self.length_input else self.inputs[0], self._features,
                           name=f"{self.name}_features")

    def without_length_input(self, num_samples=None):
        """A copy with only the waveform input (``length_input=False``) and the same weights."""
        config = self.get_config()
        config.update(length_input=False, num_samples=num_samples, name=f"{self.name}_waveform")
        clone = self.__class__.from_config(config)
        clone.set_weights(self.get_weights())
        return clone


__all__ = ["CABCNN", "DEFAULT_PARAMETER_COUNT", "LengthMask", "ValidStepAverage"]
