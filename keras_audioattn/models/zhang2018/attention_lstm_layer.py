"""Attention LSTM cells of Zhang, Zhang & Wu (Interspeech 2018), "Multi-modal attention
mechanisms in LSTM and its application to acoustic scene classification".

Three recurrent cells in the style of :class:`keras.layers.LSTMCell` (``build`` /
``call(inputs, states)`` / ``get_config``, states ``[h, c]``, usable inside
:class:`keras.layers.RNN`), and :class:`AttentionLSTM`, the sequence layer that runs one of them
(or a plain ``keras.layers.LSTMCell``) over ``(batch, time, features)`` and pools the result.

Notation (paper §2): ``M`` input size (64 log-mel bins), ``N`` hidden size ``units`` (128),
``A`` attention size (64, Eq. 4), ``K`` number of codebook entries (128, Eq. 6). Vectors are rows,
as in the paper (``x_t W``).

* :class:`TemporalAttentionLSTMCell` (TA, Eq. 4): the input and forget gates are *scalars*
  ``i_t = sigm(x_t W_{i,x} W_{i,h}^T h_{t-1}^T + b_i)`` (rank-``A`` bilinear forms); the output
  gate and the memory content are the vanilla ones of Eq. 1. Each step also emits the attention
  score ``g_t = x_t (a_i W_{i,x} W_{i,h}^T + a_f W_{f,x} W_{f,h}^T) h_{t-1}^T`` (Eq. 4), from which
  :class:`AttentionLSTM` forms ``v = sum_t softmax_t(g_t) h_t`` (Eq. 2-3).
* :class:`SemanticAttentionLSTMCell` (SA, Eq. 5-6): gates as in Eq. 1; the tanh memory content is
  replaced by ``x_t W_x - d~_t`` with ``d~_t = sum_k softmax_k(r_t)_k d_k``,
  ``r_t = L_{M+N,K}(x_t, h_{t-1})`` and a trainable codebook ``{d_k}``.
* :class:`MultimodalAttentionLSTMCell` (TA+SA): scalar gates and ``g_t`` of Eq. 4 together with
  the memory content of Eq. 6 -- the paper's best model (Table 1, "LSTM+TA+SA").

Choices where the text is open (also in ``docs/zhang2018.md``):

1. Eq. 4 has no bias; we add one trainable scalar bias per scalar gate (``use_bias``; forget
   bias initialised to 1 with ``unit_forget_bias``, as Keras does). Reason: ``h_0 = 0`` makes the
   bilinear form 0 at the first step and small early in training, so without a bias both gates
   are stuck near 0.5. The bias does not enter ``g_t``: a constant shift of every ``g_t`` would not
   change the softmax of Eq. 3 anyway.
2. ``a_i`` and ``a_f`` are trainable scalars (initialised to 1).
3. The output gate of the TA cell does not see the attention: it is the Eq. 1 gate
   ``sigm(L(x_t, h_{t-1}))`` (a vector); the paper only rewrites the input and forget gates.
4. Dimensions of Eq. 6: ``x_t`` is ``(M,)``, ``W_x`` is ``(M, N)``, so ``x_t W_x`` lies in the
   ``N``-dimensional cell space and each codebook entry ``d_k`` is ``(N,)`` (the codebook is
   ``(K, N)``). ``x_t W_x`` has no bias: ``d~_t`` is a convex combination of the ``d_k``, so a bias
   would only shift every centre by the same vector and is redundant. The memory content has no
   tanh (the paper writes the difference itself, as VLAD does).
5. ``r_t`` is a biased linear map of ``[x_t, h_{t-1}]`` (the paper's ``L``), one row per cluster.
   The paper writes ``L_{M+N,N}``: it uses ``K = N`` clusters; ``num_clusters`` makes ``K`` free
   (default 128, "codebook dimension ... is 128", §3.2).
6. Gates of Eq. 1 are sigmoid of a biased linear map of ``[x_t, h_{t-1}]``; stored Keras-style
   as ``kernel`` ``(M, k N)`` + ``recurrent_kernel`` ``(N, k N)`` + ``bias`` ``(k N,)`` with the
   blocks in the order ``i, f`` (only without TA), ``o``, ``c`` (only without SA).
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.validation import positive_int

_PKG = "keras_audioattn"


class _ZhangLSTMCellBase(keras.layers.Layer):
    """Shared implementation of the three cells; ``temporal``/``semantic`` select Eq. 4 / Eq. 6.

    Call: ``inputs`` ``(batch, M)``, ``states`` ``[h (batch, N), c (batch, N)]`` ->
    ``(output, [h, c])`` where ``output`` is ``(batch, N + 1)`` = ``[h_t, g_t]`` for cells with
    temporal attention, and ``(batch, N)`` = ``h_t`` otherwise.
    """

    temporal = False
    semantic = False

    def __init__(
        self,
        units,
        attention_size=64,
        num_clusters=128,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        codebook_initializer="glorot_uniform",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        codebook_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", type(self).__name__)
        self.attention_size = positive_int(attention_size, "attention_size", type(self).__name__)
        self.num_clusters = positive_int(num_clusters, "num_clusters", type(self).__name__)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.codebook_initializer = keras.initializers.get(codebook_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.codebook_regularizer = keras.regularizers.get(codebook_regularizer)
        self.state_size = [self.units, self.units]
        self.output_size = self.units + 1 if self.temporal else self.units

    @property
    def emits_attention(self):
        """True when the per-step output carries the attention score ``g_t`` in its last column."""
        return self.temporal

    @property
    def _vector_gates(self):
        # Blocks computed by the Eq. 1 linear map (see the module docstring, choice 6).
        return (() if self.temporal else ("i", "f")) + ("o",) + (() if self.semantic else ("c",))

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"{self.__class__.__name__} needs a known feature size, got input shape {input_shape}.")
        n, a, k = self.units, self.attention_size, self.num_clusters
        blocks = len(self._vector_gates)
        self.kernel = self.add_weight(shape=(input_dim, blocks * n), name="kernel",
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight(shape=(n, blocks * n), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        if self.use_bias:
            if self.unit_forget_bias and "f" in self._vector_gates:
                def bias_initializer(shape, dtype=None):
                    parts = [self.bias_initializer((n,), dtype=dtype) if g != "f" else ops.ones((n,), dtype=dtype)
                             for g in self._vector_gates]
                    return ops.concatenate(parts)
            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(shape=(blocks * n,), name="bias", initializer=bias_initializer,
                                        regularizer=self.bias_regularizer)
        if self.temporal:
            # Eq. 4: W_{i,x} | W_{f,x} side by side, and W_{i,h} | W_{f,h}.
            self.gate_kernel_x = self.add_weight(shape=(input_dim, 2 * a), name="gate_kernel_x",
                                                 initializer=self.kernel_initializer,
                                                 regularizer=self.kernel_regularizer)
            self.gate_kernel_h = self.add_weight(shape=(n, 2 * a), name="gate_kernel_h",
                                                 initializer=self.kernel_initializer,
                                                 regularizer=self.recurrent_regularizer)
            if self.use_bias:
                def gate_bias_initializer(shape, dtype=None):
                    b = self.bias_initializer((2,), dtype=dtype)
                    if self.unit_forget_bias:
                        b = ops.stack([b[0], ops.ones((), dtype=dtype)])
                    return b
                self.gate_bias = self.add_weight(shape=(2,), name="gate_bias", initializer=gate_bias_initializer,
                                                 regularizer=self.bias_regularizer)
            # (a_i, a_f) of Eq. 4.
            self.attention_coefficients = self.add_weight(shape=(2,), name="attention_coefficients",
                                                          initializer="ones")
        if self.semantic:
            self.cluster_kernel = self.add_weight(shape=(input_dim, k), name="cluster_kernel",
                                                  initializer=self.kernel_initializer,
                                                  regularizer=self.kernel_regularizer)
            self.cluster_recurrent_kernel = self.add_weight(shape=(n, k), name="cluster_recurrent_kernel",
                                                            initializer=self.kernel_initializer,
                                                            regularizer=self.recurrent_regularizer)
            self.cluster_bias = self.add_weight(shape=(k,), name="cluster_bias", initializer=self.bias_initializer,
                                                regularizer=self.bias_regularizer)
            # W_x of Eq. 6: input -> the N-dimensional space of the codebook.
            self.memory_kernel = self.add_weight(shape=(input_dim, n), name="memory_kernel",
                                                 initializer=self.kernel_initializer,
                                                 regularizer=self.kernel_regularizer)
            self.codebook = self.add_weight(shape=(k, n), name="codebook", initializer=self.codebook_initializer,
                                            regularizer=self.codebook_regularizer)

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        n, a = self.units, self.attention_size
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        blocks = dict(zip(self._vector_gates, ops.split(z, len(self._vector_gates), axis=-1)))
        output_gate = self.recurrent_activation(blocks["o"])

        if self.temporal:
            px = ops.matmul(inputs, self.gate_kernel_x)  # (batch, 2A): x W_{i,x} | x W_{f,x}
            ph = ops.matmul(h_prev, self.gate_kernel_h)  # (batch, 2A): h W_{i,h} | h W_{f,h}
            prod = px * ph
            s_i = ops.sum(prod[:, :a], axis=-1, keepdims=True)  # x W_{i,x} W_{i,h}^T h^T
            s_f = ops.sum(prod[:, a:], axis=-1, keepdims=True)
            score = self.attention_coefficients[0] * s_i + self.attention_coefficients[1] * s_f  # g_t
            if self.use_bias:
                s_i = s_i + self.gate_bias[0]
                s_f = s_f + self.gate_bias[1]
            input_gate = self.recurrent_activation(s_i)  # (batch, 1), broadcast over the N units
            forget_gate = self.recurrent_activation(s_f)
        else:
            input_gate = self.recurrent_activation(blocks["i"])
            forget_gate = self.recurrent_activation(blocks["f"])

        if self.semantic:
            r = ops.matmul(inputs, self.cluster_kernel) + ops.matmul(h_prev, self.cluster_recurrent_kernel)
            assignment = ops.softmax(r + self.cluster_bias, axis=-1)  # alpha_{k,t}, Eq. 6
            centre = ops.matmul(assignment, self.codebook)  # d~_t, Eq. 5
            content = ops.matmul(inputs, self.memory_kernel) - centre  # x_t W_x - d~_t
        else:
            content = self.activation(blocks["c"])

        c = forget_gate * c_prev + input_gate * content
        h = output_gate * self.activation(c)
        output = ops.concatenate([h, score], axis=-1) if self.temporal else h
        return output, [h, c]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        })
        if self.temporal:
            config["attention_size"] = self.attention_size
        if self.semantic:
            config["num_clusters"] = self.num_clusters
            config["codebook_initializer"] = keras.initializers.serialize(self.codebook_initializer)
            config["codebook_regularizer"] = keras.regularizers.serialize(self.codebook_regularizer)
        return config


@keras.saving.register_keras_serializable(package=_PKG)
class TemporalAttentionLSTMCell(_ZhangLSTMCellBase):
    """Temporal-attention LSTM cell (TA), Zhang et al. 2018, Eq. 4 (with Eq. 1 for ``o`` and the content).

    Args:
        units: hidden size ``N`` (paper: 128).
        attention_size: rank ``A`` of the bilinear gate forms (paper: 64).
        activation, recurrent_activation, use_bias, unit_forget_bias, *_initializer,
        *_regularizer: as in :class:`keras.layers.LSTMCell`.

    Call: ``inputs`` ``(batch, M)``, ``states`` ``[h, c]`` each ``(batch, N)`` ->
    ``([h_t, g_t] (batch, N + 1), [h_t, c_t])``. The last column ``g_t`` is the unnormalised
    attention score of Eq. 3-4; :class:`AttentionLSTM` turns it into ``alpha_t``.
    The input and forget gates are scalars per example (broadcast over the ``N`` units).
    """

    temporal = True

    def __init__(self, units, attention_size=64, **kwargs):
        kwargs.pop("num_clusters", None)
        kwargs.pop("codebook_initializer", None)
        kwargs.pop("codebook_regularizer", None)
        super().__init__(units, attention_size=attention_size, **kwargs)


@keras.saving.register_keras_serializable(package=_PKG)
class SemanticAttentionLSTMCell(_ZhangLSTMCellBase):
    """Semantic-attention LSTM cell (SA), Zhang et al. 2018, Eq. 5-6 (gates of Eq. 1).

    Args:
        units: hidden size ``N`` (paper: 128); also the size of each codebook entry.
        num_clusters: codebook size ``K`` (paper: 128, "codebook dimension", §3.2; the paper's
            ``L_{M+N,N}`` implies ``K = N``).
        codebook_initializer, codebook_regularizer: for the ``(K, N)`` codebook.
        Other arguments as in :class:`keras.layers.LSTMCell`.

    Call: ``inputs`` ``(batch, M)``, ``states`` ``[h, c]`` -> ``(h_t (batch, N), [h_t, c_t])``,
    with ``c_t = f_t * c_{t-1} + i_t * (x_t W_x - sum_k softmax_k(r_t) d_k)``.
    """

    semantic = True

    def __init__(self, units, num_clusters=128, **kwargs):
        kwargs.pop("attention_size", None)
        super().__init__(units, num_clusters=num_clusters, **kwargs)


@keras.saving.register_keras_serializable(package=_PKG)
class MultimodalAttentionLSTMCell(_ZhangLSTMCellBase):
    """Multi-modal (TA+SA) attention LSTM cell, Zhang et al. 2018, Eq. 4 and Eq. 6 together.

    Scalar input/forget gates and the attention score ``g_t`` of Eq. 4, output gate of Eq. 1,
    memory content ``x_t W_x - d~_t`` of Eq. 6. The paper's best system (Table 1).

    Call: ``inputs`` ``(batch, M)``, ``states`` ``[h, c]`` -> ``([h_t, g_t] (batch, N + 1), [h_t, c_t])``.
    """

    temporal = True
    semantic = True

    def __init__(self, units, attention_size=64, num_clusters=128, **kwargs):
        super().__init__(units, attention_size=attention_size, num_clusters=num_clusters, **kwargs)


@keras.saving.register_keras_serializable(package=_PKG)
class AttentionLSTM(keras.layers.Layer):
    """Runs an attention LSTM cell over a sequence and pools it (Zhang et al. 2018, Eq. 2-3).

    Args:
        cell: a :class:`TemporalAttentionLSTMCell`, :class:`SemanticAttentionLSTMCell`,
            :class:`MultimodalAttentionLSTMCell` or a plain :class:`keras.layers.LSTMCell`
            (the paper's vanilla LSTM, Eq. 1).
        return_attention: also return the attention weights ``alpha`` ``(batch, time)``. Only for
            cells with temporal attention.
        go_backwards, unroll: passed to the inner :class:`keras.layers.RNN`.

    Call: ``inputs`` ``(batch, time, features)``, optional boolean ``mask`` ``(batch, time)``
    (propagated from a ``Masking``/``Embedding`` layer or passed explicitly) ->

    * cells with temporal attention: ``v = sum_t alpha_t h_t`` ``(batch, units)`` with
      ``alpha = softmax_t(g_t)`` over the unmasked steps only (padded steps get exactly 0;
      a fully masked row gives ``alpha = 0`` and ``v = 0``), and ``alpha`` when asked;
    * other cells (vanilla, SA): the last hidden state ``h_T`` (of the last unmasked step), as
      the paper does ("the final hidden state is utilized to represent the whole sequence").
    """

    def __init__(self, cell, return_attention=False, go_backwards=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, keras.layers.Layer) or not hasattr(cell, "state_size"):
            raise ValueError(f"`cell` must be an RNN cell layer (with `state_size`), got {cell!r}.")
        self.cell = cell
        self.return_attention = bool(return_attention)
        if self.return_attention and not self.emits_attention:
            raise ValueError(
                f"`return_attention=True` needs a cell with temporal attention; {cell.__class__.__name__} has none.")
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.rnn = keras.layers.RNN(self.cell, return_sequences=self.emits_attention,
                                    go_backwards=self.go_backwards, unroll=self.unroll)
        self.supports_masking = True

    @property
    def emits_attention(self):
        return bool(getattr(self.cell, "emits_attention", False))

    @property
    def units(self):
        return self.cell.units if hasattr(self.cell, "units") else self.cell.state_size[0]

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"AttentionLSTM expects (batch, time, features), got input shape {input_shape}.")
        self.rnn.build(input_shape)

    def call(self, inputs, mask=None, training=None, return_attention=None):
        return_attention = self.return_attention if return_attention is None else return_attention
        if return_attention and not self.emits_attention:
            raise ValueError("This AttentionLSTM's cell has no temporal attention to return.")
        if mask is not None:
            mask = ops.cast(mask, "bool")
        if not self.emits_attention:
            return self.rnn(inputs, mask=mask, training=training)
        sequence = self.rnn(inputs, mask=mask, training=training)  # (batch, time, N + 1)
        hidden = sequence[..., : self.units]
        scores = sequence[..., self.units]
        if self.go_backwards:
            # RNN returns outputs in processing order; align them with the input time axis.
            hidden = ops.flip(hidden, axis=1)
            scores = ops.flip(scores, axis=1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        alpha = ops.softmax(scores, axis=1)  # Eq. 3
        if mask is not None:
            # Exact zeros on padding, and alpha = 0 (not uniform) when a row is fully masked.
            alpha = alpha * ops.cast(mask, alpha.dtype)
            alpha = alpha / ops.maximum(ops.sum(alpha, axis=1, keepdims=True), 1e-12)
        v = ops.sum(alpha[..., None] * hidden, axis=1)  # Eq. 2
        return (v, alpha) if return_attention else v

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        v_shape = (input_shape[0], self.units)
        if self.return_attention:
            return v_shape, (input_shape[0], input_shape[1])
        return v_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_attention": self.return_attention,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["cell"], dict):
            config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)


def make_cell(variant, units=128, attention_size=64, num_clusters=128, **kwargs):
    """The cell of a named variant: ``"ta_sa"``, ``"ta"``, ``"sa"`` or ``"vanilla"`` (``keras.layers.LSTMCell``)."""
    if variant == "ta_sa":
        return MultimodalAttentionLSTMCell(units, attention_size=attention_size, num_clusters=num_clusters, **kwargs)
    if variant == "ta":
        return TemporalAttentionLSTMCell(units, attention_size=attention_size, **kwargs)
    if variant == "sa":
        return SemanticAttentionLSTMCell(units, num_clusters=num_clusters, **kwargs)
    if variant == "vanilla":
        kwargs.pop("codebook_initializer", None)
        kwargs.pop("codebook_regularizer", None)
        return keras.layers.LSTMCell(units, **kwargs)
    raise ValueError(f"Unknown attention LSTM variant {variant!r}; expected one of 'ta_sa', 'ta', 'sa', 'vanilla'.")
