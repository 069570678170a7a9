"""Teacher -> student knowledge distillation of Chang et al. 2020 (Eq. 7), trained with ``model.fit``.

``Distiller(teacher, student, hints=[("pool2", "conv")], loss_weights=(1.0, 10.0, 10.0, 1.0))``
is a ``keras.Model`` that runs the frozen teacher and the student on the same waveform batch and
overrides ``compute_loss`` (no ``train_step``), so it trains with plain ``fit`` on any Keras 3
backend:

    L_total = a1 * BCE(y, student) + a2 * KD(teacher, student)
              + a3 * sum_pairs SP(A_teacher, A_student) + a4 * sum_pairs IUSP(A_teacher, A_student)

A weight of 0 switches its term off (and its hints are then not computed). After ``fit``,
``distiller.student`` is the trained, ordinary Keras model. The five setups of Sec. 4.3 are in
:data:`SETUPS`; :meth:`Distiller.from_setup` builds one.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_audioattn.losses import (
    IntraUtteranceSimilarityLoss,
    KnowledgeDistillationLoss,
    SimilarityPreservingLoss,
)

PAPER_LOSS_WEIGHTS = (1.0, 10.0, 10.0, 1.0)  # alpha_1..4, Sec. 4.3

# Sec. 4.3-4.4: the five objectives and the hint pairs the paper chose on validation data
# (teacher layer, student layer): 'BCE+KD+SP' pool2/conv, 'BCE+KD+IUSP' pool1/conv,
# 'BCE+KD+SP+IUSP' pool2/conv for both terms. Layer names are those of VGGishTeacher and
# CNNLSTMStudent.
SETUPS = {
    "bce": {"loss_weights": (1.0, 0.0, 0.0, 0.0), "sp_hints": [], "iusp_hints": []},
    "bce+kd": {"loss_weights": (1.0, 10.0, 0.0, 0.0), "sp_hints": [], "iusp_hints": []},
    "bce+kd+sp": {"loss_weights": (1.0, 10.0, 10.0, 0.0), "sp_hints": [("pool2", "conv")], "iusp_hints": []},
    "bce+kd+iusp": {"loss_weights": (1.0, 10.0, 0.0, 1.0), "sp_hints": [], "iusp_hints": [("pool1", "conv")]},
    "bce+kd+sp+iusp": {"loss_weights": (1.0, 10.0, 10.0, 1.0), "sp_hints": [("pool2", "conv")],
                       "iusp_hints": [("pool2", "conv")]},
}


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _check_pairs(pairs, teacher, student, what):
    pairs = [tuple(p) for p in (pairs or [])]
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(n, str) for n in pair):
            raise ValueError(f"{what} must be (teacher_layer, student_layer) name pairs, got {pair!r}")
        for name, model, role in ((pair[0], teacher, "teacher"), (pair[1], student, "student")):
            if name not in _layer_names(model):
                raise ValueError(f"{what}: the {role} {model.name!r} has no layer named {name!r}; "
                                 f"available layers: {_layer_names(model)}")
    return pairs


def _feature_model(model, layer_names, name):
    """A functional model ``inputs -> [outputs, *layer outputs]`` sharing ``model``'s layers."""
    outputs = [model.outputs[0]] + [model.get_layer(n).output for n in layer_names]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="keras_audioattn")
class Distiller(keras.Model):
    """Knowledge distillation of a frozen teacher into a student (Chang et al. 2020, Eq. 7).

    Args:
      teacher: trained Keras model, waveform ``(batch, samples)`` -> ``(batch, classes)``
        sigmoid scores. It is frozen (``trainable=False``) and always run in inference mode.
      student: Keras model with the same input and number of classes (sigmoid scores).
      hints: ``[(teacher_layer, student_layer), ...]`` layer-name pairs used by both SP and
        IUSP (Eq. 2's set ``I``); ``sp_hints`` / ``iusp_hints`` override it per term.
      loss_weights: ``(alpha_BCE, alpha_KD, alpha_SP, alpha_IUSP)``; paper: (1, 10, 10, 1).
        A weight of 0 switches the term off.
      temperature: KD temperature (:class:`~keras_audioattn.losses.KnowledgeDistillationLoss`).
      gamma, delta, iusp_normalization: IUSP parameters (Eq. 6; 10, 0.5; ``"frame"``: per-frame
        cosine similarity, see :class:`~keras_audioattn.losses.IntraUtteranceSimilarityLoss`).
      sp_hints, iusp_hints: per-term hint pairs (default: ``hints``).
      iusp_frame_reduction: ``"mean"`` (default: IUSP averaged over frame pairs, so that the
        paper's alpha_IUSP = 1 gives a term of the BCE's magnitude, Sec. 4.3) or ``"sum"`` (Eq. 5
        as written); see :class:`~keras_audioattn.losses.IntraUtteranceSimilarityLoss`.

    ``call(x)``: waveform ``(batch, samples)`` -> the student's scores ``(batch, classes)`` (so
    ``predict``, ``evaluate`` and compiled metrics see the student). ``compute_loss`` runs the
    teacher once and the student's feature model (scores + hints) once more; the student's
    forward pass therefore runs twice per training step. ``compile(optimizer, metrics=...)``
    takes no ``loss``. After training, use ``distiller.student`` (an ordinary Keras model).
    The history logs each unweighted term as ``bce_loss``, ``kd_loss``, ``sp_loss``, ``iusp_loss``.
    """

    def __init__(self, teacher, student, hints=(), loss_weights=PAPER_LOSS_WEIGHTS, temperature=1.0,
                 gamma=10.0, delta=0.5, iusp_normalization="frame", sp_hints=None, iusp_hints=None,
                 iusp_frame_reduction="mean", name="distiller", **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(teacher, keras.Model) or not isinstance(student, keras.Model):
            raise ValueError("teacher and student must be keras.Model instances")
        loss_weights = tuple(float(w) for w in loss_weights)
        if len(loss_weights) != 4 or any(w < 0 for w in loss_weights):
            raise ValueError(f"loss_weights must be 4 non-negative numbers (BCE, KD, SP, IUSP), got {loss_weights!r}")
        if not any(loss_weights):
            raise ValueError("loss_weights are all 0: nothing to train")
        t_out, s_out = teacher.outputs[0].shape[-1], student.outputs[0].shape[-1]
        if t_out != s_out:
            raise ValueError(f"teacher has {t_out} outputs and student {s_out}: they must tag the same classes")
        hints = _check_pairs(hints, teacher, student, "hints")
        self.sp_hints = _check_pairs(hints if sp_hints is None else sp_hints, teacher, student, "sp_hints")
        self.iusp_hints = _check_pairs(hints if iusp_hints is None else iusp_hints, teacher, student, "iusp_hints")
        self.hints = hints
        if loss_weights[2] and not self.sp_hints:
            raise ValueError("the SP weight is > 0 but no hint pairs are given (hints or sp_hints)")
        if loss_weights[3] and not self.iusp_hints:
            raise ValueError("the IUSP weight is > 0 but no hint pairs are given (hints or iusp_hints)")

        self.teacher = teacher
        self.student = student
        teacher.trainable = False
        self.loss_weights_ = loss_weights
        self.temperature = float(temperature)
        self.bce = keras.losses.BinaryCrossentropy()
        self.kd = KnowledgeDistillationLoss(temperature=temperature)
        self.sp = SimilarityPreservingLoss()
        self.iusp = IntraUtteranceSimilarityLoss(gamma=gamma, delta=delta, normalization=iusp_normalization,
                                                 frame_reduction=iusp_frame_reduction)

        active = []
        if loss_weights[2]:
            active += self.sp_hints
        if loss_weights[3]:
            active += self.iusp_hints
        self._teacher_layers = sorted({t for t, _ in active})
        self._student_layers = sorted({s for _, s in active})
        self._teacher_features = _feature_model(teacher, self._teacher_layers, f"{teacher.name}_features")
        self._student_features = _feature_model(student, self._student_layers, f"{student.name}_features")
        self._trackers = {k: keras.metrics.Mean(name=f"{k}_loss") for k in ("bce", "kd", "sp", "iusp")}

    @classmethod
    def from_setup(cls, setup, teacher, student, **kwargs):
        """One of the five objectives of Sec. 4.3 by name (:data:`SETUPS`, e.g. ``"bce+kd+iusp"``),
        with the paper's weights and hint layers; keyword arguments override them."""
        key = str(setup).lower().replace(" ", "")
        if key not in SETUPS:
            raise ValueError(f"unknown distillation setup {setup!r}; choose one of {list(SETUPS)}")
        config = {k: (list(v) if isinstance(v, list) else v) for k, v in SETUPS[key].items()}
        config.update(kwargs)
        return cls(teacher, student, **config)

    @property
    def loss_weights(self):
        return self.loss_weights_

    def call(self, inputs, training=False):
        s_out = self._student_features(inputs, training=training)
        return ops.convert_to_tensor(s_out[0]) if not isinstance(s_out, (list, tuple)) else s_out[0]

    def _forward(self, x, training):
        t_out = self._teacher_features(x, training=False)
        t_out = [ops.stop_gradient(t) for t in (t_out if isinstance(t_out, (list, tuple)) else [t_out])]
        s_out = self._student_features(x, training=training)
        s_out = list(s_out) if isinstance(s_out, (list, tuple)) else [s_out]
        t_feats = dict(zip(self._teacher_layers, t_out[1:]))
        s_feats = dict(zip(self._student_layers, s_out[1:]))
        return t_out[0], s_out[0], t_feats, s_feats

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Eq. 7. ``y_pred`` from ``call`` is not used: the student runs again here with its hint
        outputs (one functional graph returns scores and hints together)."""
        a_bce, a_kd, a_sp, a_iusp = self.loss_weights_
        t_scores, s_scores, t_feats, s_feats = self._forward(x, training)
        zero = ops.zeros((), dtype="float32")
        terms = {"bce": zero, "kd": zero, "sp": zero, "iusp": zero}
        if a_bce:
            if y is None:
                raise ValueError("the BCE term needs targets: fit(x, y) or set its weight to 0")
            terms["bce"] = self.bce(y, s_scores, sample_weight=sample_weight)
        if a_kd:
            terms["kd"] = self.kd(t_scores, s_scores, sample_weight=sample_weight)
        if a_sp:
            terms["sp"] = sum(self.sp(t_feats[t], s_feats[s]) for t, s in self.sp_hints)
        if a_iusp:
            terms["iusp"] = sum(self.iusp(t_feats[t], s_feats[s], sample_weight=sample_weight)
                                for t, s in self.iusp_hints)
        for key, value in terms.items():
            self._trackers[key].update_state(value)
        total = a_bce * terms["bce"] + a_kd * terms["kd"] + a_sp * terms["sp"] + a_iusp * terms["iusp"]
        # Keras adds regularisation losses of the student itself when the model has any.
        if self.losses:
            total = total + ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        return total

    @property
    def metrics(self):
        return super().metrics + list(self._trackers.values())

    def get_config(self):
        return {
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.student),
            "hints": [list(p) for p in self.hints],
            "loss_weights": list(self.loss_weights_),
            "temperature": self.temperature,
            "gamma": self.iusp.gamma,
            "delta": self.iusp.delta,
            "iusp_normalization": self.iusp.normalization,
            "iusp_frame_reduction": self.iusp.frame_reduction,
            "sp_hints": [list(p) for p in self.sp_hints],
            "iusp_hints": [list(p) for p in self.iusp_hints],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        return cls(**config)
