"""The attention-based classifier block (ACB) of CAB-CNN (Lu et al. 2020, §3, Fig. 2).

At every time step ``t`` the block sees one feature vector ``a_t`` (Eq. 1) and

* ``n`` small MLP classifiers each give a class-probability vector ``c_{t,i}`` (softmax over
  the ``m`` classes);
* an attention MLP gives importance weights ``alpha_t = softmax_i(attn(a_t))`` over the ``n``
  classifiers;
* the block outputs ``c_t = sum_i alpha_{t,i} c_{t,i}`` (the unnumbered equation after Fig. 2).

§4 fixes the sizes: 40 classifiers of Dense 8 -> Dense 4 (ReLU) -> softmax, and an attention
MLP of Dense 160 -> Dense 80 (ReLU) -> softmax over the 40 classifiers.

All ``n`` classifiers are computed at once: their weights are stacked along a leading
classifier axis (kernels ``(n, in, out)``) and applied with one ``einsum`` per layer, which is
the same maths as ``n`` separate Dense stacks (tested against that formulation).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import positive_int


def _units(value, name, owner):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{owner}: {name} must be a tuple of positive integers, got {value!r}")
    return tuple(positive_int(v, name, owner) for v in value)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class ClassifierAttentionBlock(keras.layers.Layer):
    """Attention-based classifier block (ACB), Lu et al. 2020 Fig. 2 and §4.

    Input ``(batch, time, features)`` (the "distilled" representation ``a`` of Eq. 1).
    Output ``c``: ``(batch, time, num_classes)`` class probabilities per step; with
    ``return_attention=True`` the layer returns ``(c, alpha)`` with ``alpha`` of shape
    ``(batch, time, num_classifiers)`` (the importance weights, rows sum to 1).

    A 2-D input ``(batch, features)`` (one step) is also accepted and gives ``(batch, classes)``.

    Masking: a boolean ``mask`` ``(batch, time)`` (Keras mask propagation, or ``mask=`` in the
    call) marks valid steps; ``c`` and ``alpha`` are set to 0 at the masked (padded) steps, so a
    sum over time counts only real audio. The mask is passed on unchanged.

    Args:
      num_classes: ``m``, classes each classifier scores.
      num_classifiers: ``n`` (paper: 40).
      classifier_units: hidden sizes of every classifier MLP (paper: ``(8, 4)``, ReLU).
      attention_units: hidden sizes of the attention MLP (paper: ``(160, 80)``, ReLU).
      return_attention: also return ``alpha``.
      kernel_initializer / bias_initializer: as in ``keras.layers.Dense``; each classifier's
        kernel is initialised separately with its own ``(in, out)`` fan-in/fan-out, exactly as
        ``n`` separate Dense layers would be.

    Parameters: ``n * sum(in*out + out over the classifier MLP)`` plus the attention MLP; for
    128 input features, 3 classes and the paper sizes: 43 320 + 36 760 = 80 080.
    """

    def __init__(self, num_classes, num_classifiers=40, classifier_units=(8, 4), attention_units=(160, 80),
                 return_attention=False, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        owner = "ClassifierAttentionBlock"
        self.num_classes = positive_int(num_classes, "num_classes", owner)
        self.num_classifiers = positive_int(num_classifiers, "num_classifiers", owner)
        self.classifier_units = _units(classifier_units, "classifier_units", owner)
        self.attention_units = _units(attention_units, "attention_units", owner)
        self.return_attention = bool(return_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _stacked_initializer(self, initializer, n):
        # Fan-based initialisers (Glorot, He, LeCun = VarianceScaling) would see fans n times too
        # large on the stacked (n, in, out) kernel (Keras treats the leading axis as a receptive
        # field); scaling by n gives each classifier the fans of one Dense(in -> out) layer.
        if isinstance(initializer, keras.initializers.VarianceScaling):
            return keras.initializers.VarianceScaling(
                scale=initializer.scale * n, mode=initializer.mode, distribution=initializer.distribution,
                seed=initializer.seed)
        return initializer

    def build(self, input_shape):
        if len(input_shape) not in (2, 3):
            raise ValueError(f"ClassifierAttentionBlock expects (batch, time, features) or (batch, features), "
                             f"got shape {tuple(input_shape)}")
        features = input_shape[-1]
        if features is None:
            raise ValueError("ClassifierAttentionBlock: the feature (last) axis must be known")
        n = self.num_classifiers
        self.classifier_kernels, self.classifier_biases = [], []
        sizes = (features,) + self.classifier_units + (self.num_classes,)
        for j, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.classifier_kernels.append(self.add_weight(
                name=f"classifier_kernel_{j}", shape=(n, fan_in, fan_out),
                initializer=self._stacked_initializer(self.kernel_initializer, n)))
            self.classifier_biases.append(self.add_weight(
                name=f"classifier_bias_{j}", shape=(n, fan_out), initializer=self.bias_initializer))
        self.attention_kernels, self.attention_biases = [], []
        sizes = (features,) + self.attention_units + (n,)
        for j, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.attention_kernels.append(self.add_weight(
                name=f"attention_kernel_{j}", shape=(fan_in, fan_out), initializer=self.kernel_initializer))
            self.attention_biases.append(self.add_weight(
                name=f"attention_bias_{j}", shape=(fan_out,), initializer=self.bias_initializer))

    def classifier_probabilities(self, inputs):
        """All ``c_{t,i}``: ``(batch, time, features)`` -> ``(batch, time, n, num_classes)``."""
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        squeeze = len(x.shape) == 2
        if squeeze:
            x = ops.expand_dims(x, 1)
        n = self.num_classifiers
        # First layer: the shared input meets all n kernels in one matmul (in, n*out).
        k0 = self.classifier_kernels[0]
        w0 = ops.reshape(ops.transpose(k0, (1, 0, 2)), (k0.shape[1], n * k0.shape[2]))
        h = ops.matmul(x, w0)
        h = ops.reshape(h, (ops.shape(x)[0], ops.shape(x)[1], n, k0.shape[2])) + self.classifier_biases[0]
        for kernel, bias in zip(self.classifier_kernels[1:], self.classifier_biases[1:]):
            h = ops.relu(h)
            # Classifier i's hidden vector meets only classifier i's kernel (batched over n).
            h = ops.einsum("btnh,nhk->btnk", h, kernel) + bias
        probs = ops.softmax(h, axis=-1)
        return probs[:, 0] if squeeze else probs

    def attention_weights(self, inputs):
        """``alpha``: ``(batch, time, features)`` -> ``(batch, time, n)``, softmax over classifiers."""
        h = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        last = len(self.attention_kernels) - 1
        for j, (kernel, bias) in enumerate(zip(self.attention_kernels, self.attention_biases)):
            h = ops.matmul(h, kernel) + bias
            if j < last:
                h = ops.relu(h)
        return ops.softmax(h, axis=-1)

    def call(self, inputs, mask=None):
        probs = self.classifier_probabilities(inputs)
        alpha = self.attention_weights(inputs)
        c = ops.sum(ops.expand_dims(alpha, -1) * probs, axis=-2)
        if mask is not None:
            if len(inputs.shape) != 3:
                raise ValueError("ClassifierAttentionBlock: a mask needs a (batch, time, features) input")
            valid = ops.expand_dims(ops.cast(mask, c.dtype), -1)
            c = c * valid
            alpha = alpha * valid
        if self.return_attention:
            return c, alpha
        return c

    def compute_mask(self, inputs, mask=None):
        if self.return_attention:
            return [mask, mask]
        return mask

    def compute_output_shape(self, input_shape):
        lead = tuple(input_shape[:-1])
        if self.return_attention:
            return lead + (self.num_classes,), lead + (self.num_classifiers,)
        return lead + (self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            num_classifiers=self.num_classifiers,
            classifier_units=list(self.classifier_units),
            attention_units=list(self.attention_units),
            return_attention=self.return_attention,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
