"""Tag-vector layers of Jung et al. 2020 ("Acoustic scene classification using audio tagging").

A *tag vector* ``T in R^c`` is the sigmoid output of a separate, frozen audio tagger (§2.2). Two
ways of feeding it to the raw-waveform ASC network (``RawWaveformASC``, Table 1) are built here:

* :class:`TagConcatenation` -- the three concatenation variants of §3.1 / Table 2 (Fig. 2-(a)).
* :class:`TagMultiHeadAttention` -- the tag-driven multi-head attention over the filter dimension
  of the ASC feature map, Eq. (1)-(2) (§3.2, Table 3, Fig. 2-(b)).
* :class:`TagTransform` -- the stack of fully-connected "transform layers" both of them apply to
  the tag vector first; :class:`~keras_audioattn.models.TagConditionedASC` shares one stack
  between the two methods (Table 5) or gives each its own (Table 4).

Choices where the paper is silent (also in ``docs/jung2020.md``):

* Transform layers are ``Dense(transform_units)`` followed by LeakyReLU(0.3), the non-linearity
  of the rest of the ASC network (Table 1). Width and activation are not stated; the default
  width 128 equals the number of ASC filters ``f`` that the attention map must have.
* "# transform layers" counts hidden layers. The attention map ``am in R^f`` always comes from one
  more *linear* ``Dense(f)`` projection; that reading is forced by Table 3's "0 transform layers"
  column, where ``c = 80`` tags must still become ``f = 128`` filter weights (and 80 is not
  divisible by 32 heads).
* The concatenation variants sit around the code layer of Table 1 (the "Before code" rows of
  Table 2 concatenate *before* the code layer, which is then the "transform after concat").
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import non_negative_int, positive_int

__all__ = ["CONCAT_MODES", "TagConcatenation", "TagMultiHeadAttention", "TagTransform"]

_PKG = "keras_audioattn"
CONCAT_MODES = ("code", "transform_after", "transform_before")


def _check_count(value, name, cls, low=0):
    return positive_int(value, name, cls) if low == 1 else non_negative_int(value, name, cls)


def _split_pair(inputs, cls):
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(f"{cls} expects a list [x, tags], got {type(inputs).__name__}")
    return inputs


def _check_tags_shape(shape, cls):
    if len(shape) != 2:
        raise ValueError(f"{cls}: the tag vector must have shape (batch, num_tags), got {tuple(shape)}")
    if shape[-1] is None:
        raise ValueError(f"{cls}: the number of tags (last axis) must be known, got {tuple(shape)}")


@keras.saving.register_keras_serializable(package=_PKG)
class TagTransform(keras.layers.Layer):
    """``num_layers`` x (``Dense(units)`` -> LeakyReLU) applied to a tag vector ``(batch, c)``.

    The "feature transformation using fully-connected layers" of §3.1 and §3.2. ``num_layers=0``
    is the identity (output = input). ``activation`` is ``"leaky_relu"`` (slope
    ``negative_slope``, default 0.3 as in Table 1) or any Keras activation name.
    """

    def __init__(self, num_layers=1, units=128, activation="leaky_relu", negative_slope=0.3,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_layers = _check_count(num_layers, "num_layers", "TagTransform")
        self.units = _check_count(units, "units", "TagTransform", low=1)
        self.activation = activation
        self.negative_slope = float(negative_slope)
        if activation != "leaky_relu":
            keras.activations.get(activation)  # raises for an unknown name
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense_layers = [keras.layers.Dense(self.units, kernel_initializer=self.kernel_initializer,
                                                name=f"dense_{i}", dtype=self.dtype_policy)
                             for i in range(self.num_layers)]

    def build(self, input_shape):
        _check_tags_shape(input_shape, "TagTransform")
        shape = tuple(input_shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.units,)

    def _activate(self, x):
        if self.activation == "leaky_relu":
            return ops.leaky_relu(x, negative_slope=self.negative_slope)
        return keras.activations.get(self.activation)(x)

    def call(self, tags):
        x = tags
        for layer in self.dense_layers:
            x = self._activate(layer(x))
        return x

    def compute_output_shape(self, input_shape):
        _check_tags_shape(input_shape, "TagTransform")
        return tuple(input_shape) if not self.num_layers else tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers, units=self.units, activation=self.activation,
                      negative_slope=self.negative_slope,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package=_PKG)
class TagConcatenation(keras.layers.Layer):
    """Concatenates a tag vector with the ASC representation: the three variants of §3.1 (Table 2).

    ``call([x, tags])`` with ``x (batch, d)`` and ``tags (batch, c)``:

    * ``mode="code"`` (Table 2 "Codecat"): ``x`` is the ASC code (64-d); the output
      ``[x ; tags]`` (``d + c``) is the new code. No weights.
    * ``mode="transform_after"`` (Table 2 "Before code", no transform before concat): ``x`` is the
      globally pooled feature vector (GAP || GMP, 256-d); output
      ``code = W [x ; tags] + b`` (``code_dim``, linear), i.e. the code layer of Table 1 now also
      sees the tags -- "feature transformation using a fully-connected layer after concatenating".
    * ``mode="transform_before"`` (Table 2 "Before code" with 1-5 layers; best: 3, 75.66 %):
      ``code = W [x ; g(tags)] + b`` with ``g`` = ``num_transform_layers`` x (Dense(transform_units)
      -> LeakyReLU(0.3)) (:class:`TagTransform`).

    ``num_transform_layers`` only applies to ``"transform_before"`` (``"transform_before"`` with 0
    layers is ``"transform_after"``). Parameters: ``"code"`` 0; ``"transform_after"``
    ``(d + c + 1) * code_dim``; ``"transform_before"`` ``(c + 1) u + (n - 1)(u + 1) u +
    (d + u + 1) * code_dim`` (``u = transform_units``, ``n`` layers).

    Choice: the code layer is linear, as the code layer of Table 1.
    """

    def __init__(self, mode="transform_before", num_transform_layers=3, code_dim=64, transform_units=128,
                 transform_activation="leaky_relu", negative_slope=0.3, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if mode not in CONCAT_MODES:
            raise ValueError(f"TagConcatenation: mode must be one of {CONCAT_MODES}, got {mode!r}")
        self.mode = mode
        self.num_transform_layers = _check_count(num_transform_layers, "num_transform_layers", "TagConcatenation")
        self.code_dim = _check_count(code_dim, "code_dim", "TagConcatenation", low=1)
        self.transform_units = _check_count(transform_units, "transform_units", "TagConcatenation", low=1)
        self.transform_activation = transform_activation
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        layers = self.num_transform_layers if mode == "transform_before" else 0
        self.transform = TagTransform(layers, self.transform_units, transform_activation, negative_slope,
                                      kernel_initializer=self.kernel_initializer, name="tag_transform",
                                      dtype=self.dtype_policy)
        self.code_layer = None
        if mode != "code":
            self.code_layer = keras.layers.Dense(self.code_dim, kernel_initializer=self.kernel_initializer,
                                                 name="code", dtype=self.dtype_policy)

    def _shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
                input_shape[0], (list, tuple)):
            raise ValueError(f"TagConcatenation expects inputs [x (batch, d), tags (batch, c)], got {input_shape}")
        x_shape, tag_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(x_shape) != 2 or x_shape[-1] is None:
            raise ValueError(f"TagConcatenation: x must have shape (batch, d) with known d, got {x_shape}")
        _check_tags_shape(tag_shape, "TagConcatenation")
        return x_shape, tag_shape

    def build(self, input_shape):
        x_shape, tag_shape = self._shapes(input_shape)
        self.transform.build(tag_shape)
        t_dim = self.transform.compute_output_shape(tag_shape)[-1]
        if self.code_layer is not None:
            self.code_layer.build((x_shape[0], x_shape[-1] + t_dim))

    def call(self, inputs):
        x, tags = _split_pair(inputs, "TagConcatenation")
        joined = ops.concatenate([x, ops.cast(self.transform(tags), x.dtype)], axis=-1)
        return joined if self.code_layer is None else self.code_layer(joined)

    def compute_output_shape(self, input_shape):
        x_shape, tag_shape = self._shapes(input_shape)
        if self.code_layer is None:
            return (x_shape[0], x_shape[-1] + tag_shape[-1])
        return (x_shape[0], self.code_dim)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, num_transform_layers=self.num_transform_layers, code_dim=self.code_dim,
                      transform_units=self.transform_units, transform_activation=self.transform_activation,
                      negative_slope=self.negative_slope,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package=_PKG)
class TagMultiHeadAttention(keras.layers.Layer):
    """Tag-driven multi-head attention over the filters of a feature map (§3.2, Eq. 1-2).

    ``call([M, tags])`` with the ASC feature map ``M (batch, time, f)`` and ``tags (batch, c)``:

    1. ``am = W g(tags) + b in R^f`` -- ``g`` is ``num_transform_layers`` x (Dense(transform_units)
       -> LeakyReLU(0.3)) (:class:`TagTransform`), then one linear ``Dense(f)`` projection;
    2. split ``am`` into ``h = num_heads`` consecutive groups of ``f / h`` filters,
       ``am = [am_1, ..., am_h]``, and apply a softmax *within* each group (each ``am_k`` sums to 1);
    3. ``M'_{k,t} = M_{k,t} (.) am_k`` (Eq. 2): the same ``am`` multiplies every time step.

    Returns ``M'`` (same shape as ``M``), or ``[M', am]`` with ``am (batch, f)`` when
    ``return_attention=True``. Paper's best alone (Table 3): 2 heads, 1 transform layer (76.58 %).
    ``f`` must be divisible by ``num_heads``.

    Choices: heads are consecutive filter groups (Eq. 1 stacks ``M_{1t} .. M_{ht}`` in filter
    order); no rescaling of ``M'`` (each head's weights sum to 1, so ``M'`` is ``~h/f`` times
    smaller than ``M``: the linear code layer that follows absorbs the scale).
    """

    def __init__(self, num_heads=2, num_transform_layers=1, transform_units=128, transform_activation="leaky_relu",
                 negative_slope=0.3, return_attention=False, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _check_count(num_heads, "num_heads", "TagMultiHeadAttention", low=1)
        self.num_transform_layers = _check_count(num_transform_layers, "num_transform_layers",
                                                 "TagMultiHeadAttention")
        self.transform_units = _check_count(transform_units, "transform_units", "TagMultiHeadAttention", low=1)
        self.transform_activation = transform_activation
        self.negative_slope = float(negative_slope)
        self.return_attention = bool(return_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.transform = TagTransform(self.num_transform_layers, self.transform_units, transform_activation,
                                      negative_slope, kernel_initializer=self.kernel_initializer,
                                      name="tag_transform", dtype=self.dtype_policy)
        self.projection = None  # Dense(f), created in build once f is known

    def _shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
                input_shape[0], (list, tuple)):
            raise ValueError(f"TagMultiHeadAttention expects inputs [feature_map (batch, time, filters), "
                             f"tags (batch, c)], got {input_shape}")
        m_shape, tag_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(m_shape) != 3:
            raise ValueError(f"TagMultiHeadAttention: the feature map must have shape (batch, time, filters), "
                             f"got {m_shape}")
        filters = m_shape[-1]
        if filters is None or filters % self.num_heads:
            raise ValueError(f"TagMultiHeadAttention: the number of filters ({filters}) must be known and "
                             f"divisible by num_heads ({self.num_heads})")
        _check_tags_shape(tag_shape, "TagMultiHeadAttention")
        return m_shape, tag_shape

    def build(self, input_shape):
        m_shape, tag_shape = self._shapes(input_shape)
        self.filters = m_shape[-1]
        self.transform.build(tag_shape)
        t_dim = self.transform.compute_output_shape(tag_shape)[-1]
        self.projection = keras.layers.Dense(self.filters, kernel_initializer=self.kernel_initializer,
                                             name="attention_map", dtype=self.dtype_policy)
        self.projection.build((tag_shape[0], t_dim))

    def attention_map(self, tags):
        """``am (batch, f)``: per-head softmax of the projected, transformed tag vector (Eq. 1-2)."""
        logits = self.projection(self.transform(tags))
        heads = ops.reshape(logits, (-1, self.num_heads, self.filters // self.num_heads))
        return ops.reshape(ops.softmax(heads, axis=-1), (-1, self.filters))

    def call(self, inputs):
        feature_map, tags = _split_pair(inputs, "TagMultiHeadAttention")
        am = ops.cast(self.attention_map(tags), feature_map.dtype)
        attended = feature_map * ops.expand_dims(am, 1)  # identical am_k at every time step (Eq. 2)
        return [attended, am] if self.return_attention else attended

    def compute_output_shape(self, input_shape):
        m_shape, _ = self._shapes(input_shape)
        if self.return_attention:
            return [m_shape, (m_shape[0], m_shape[-1])]
        return m_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, num_transform_layers=self.num_transform_layers,
                      transform_units=self.transform_units, transform_activation=self.transform_activation,
                      negative_slope=self.negative_slope, return_attention=self.return_attention,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config
