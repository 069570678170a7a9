"""The one registry of presets: model arguments + a typed training recipe + typed data settings.

A *family* is one model class with what the training workflow needs to know about it (task,
arguments that training from audio files needs, the tiny configuration of tests, notebooks and
``make demo``). A *preset* is one experiment of a paper: the family's constructor arguments, a
:class:`TrainingRecipe`, :class:`DataSettings` and the paper reference. Each paper's folder
registers its own (``keras_audioattn/models/<paper>/<paper>_presets.py``) with
:func:`register_family` and :func:`register_preset`; ``keras_audioattn.presets`` is the public
face (``list_presets``, ``get_preset``, ``build_model``) and every model's ``from_preset`` reads
from here.

This module imports nothing of the package's, so every layer of it can use it.

Example::

    register_family(PresetFamily("lu2020", CABCNN, task="single_label", tiny={...}))
    register_preset(Preset("lu2020-cab-cnn-5s", "lu2020", model={...},
                           recipe=TrainingRecipe(learning_rate=1e-3, batch_size=128, ...),
                           data=DataSettings(sample_rate=16000, max_seconds=5, batching="truncate"),
                           paper="Lu et al. 2020, Sec. 4.2"))
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from typing import Any, Mapping

TASKS = ("single_label", "multi_label", "sed")
BATCHING = ("pad", "truncate")
KEEP = ("best", "last")
MONITOR_MODES = ("min", "max")


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """How a paper trains its model; every field is read by ``keras_audioattn.training``.

    Attributes:
      optimizer: Keras optimizer name (``"adam"``).
      learning_rate: the optimizer's learning rate.
      batch_size: global batch size.
      epochs: maximum epochs; ``None`` = until early stopping (or 100 without it).
      early_stopping_patience: epochs without improvement of ``monitor`` before stopping; ``None`` = off.
      monitor, monitor_mode: the validation quantity of early stopping and best-checkpoint
        selection, and ``"min"`` / ``"max"``.
      loss: the Keras loss of the ``scores`` output (other terms, e.g. 2APAE's reconstruction,
        are added by the model itself).
      distillation: a ``Distiller`` setup (``"bce+kd+sp+iusp"``, Chang et al. Sec. 4.3): the run
        needs a teacher (``--teacher``); ``None`` = plain training.
      mixup_alpha: mix-up Beta(alpha, alpha) on training batches; ``None`` = off.
      keep: ``"best"`` saves the best validation epoch, ``"last"`` the model after the last epoch
        (the papers that report the final model).
      evaluate: names of ``keras_audioattn.training.METRIC_NAMES`` that ``audioattn evaluate``
        reports (the paper's metrics).
      back_end: an extra evaluation back end, e.g. Jung et al.'s SVM on the code
        ``{"svm_kernel": "rbf", "alternatives": ["sigmoid"]}``; ``None`` = none.
      tagger_preset: the tag source a tag-conditioned model needs (``--tagger``), trained first
        with this preset; ``None`` = none.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int | None = 100
    early_stopping_patience: int | None = None
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    loss: str = "categorical_crossentropy"
    distillation: str | None = None
    mixup_alpha: float | None = None
    keep: str = "best"
    evaluate: tuple[str, ...] = ()
    back_end: Mapping[str, Any] | None = None
    tagger_preset: str | None = None

    def __post_init__(self):
        if self.monitor_mode not in MONITOR_MODES:
            raise ValueError(f"TrainingRecipe: `monitor_mode` must be one of {MONITOR_MODES}, got {self.monitor_mode!r}.")
        if self.keep not in KEEP:
            raise ValueError(f"TrainingRecipe: `keep` must be one of {KEEP}, got {self.keep!r}.")
        object.__setattr__(self, "evaluate", tuple(self.evaluate))


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """How the paper's audio reaches the model; every field is read by the data pipeline.

    Attributes:
      sample_rate: Hz; training data must have it (or be resampled with ``--resample``).
      duration: seconds per training clip (cropped / zero-padded); ``None`` = variable length.
      channels: audio channels the model takes.
      multi_label: multi-hot targets (tagging, SED) instead of one class per clip.
      batching: with ``duration=None``: ``"pad"`` (zero-pad to the batch's longest, with lengths)
        or ``"truncate"`` (Lu et al.: every clip of a batch cut to the shortest).
      max_seconds: with ``duration=None``: at most the first ``max_seconds`` of each clip.
      clip_overlap: cut each recording into ``duration`` s clips overlapping by this fraction
        (Zhang et al.: 1 s clips, 50 %); scores of a recording are the mean over its clips.
    """

    sample_rate: int
    duration: float | None = None
    channels: int = 1
    multi_label: bool = False
    batching: str = "pad"
    max_seconds: float | None = None
    clip_overlap: float | None = None

    def __post_init__(self):
        if self.batching not in BATCHING:
            raise ValueError(f"DataSettings: `batching` must be one of {BATCHING}, got {self.batching!r}.")


@dataclasses.dataclass(frozen=True)
class PresetFamily:
    """One model class and what training it from audio files needs.

    Attributes:
      name: family key (``"lu2020"``).
      model_class: the Keras model class (``build(**config)`` builds it) or a builder callable.
      task: ``"single_label"``, ``"multi_label"`` or ``"sed"``.
      train_overrides: constructor arguments that training from audio files needs (e.g. the
        waveform input of a model whose paper default takes a log-mel).
      tiny: constructor arguments of the tiny configuration (tests, notebooks, ``make demo``,
        ``audioattn train --small``); registered as the preset ``<name>-tiny`` too.
      tiny_of: the preset the ``-tiny`` variant starts from.
      fixed_length: the model is trained at a fixed input length: the training driver sets its
        ``num_samples`` to the data's clip length, ``round(duration * sample_rate)`` (the models
        take any length; the paper trained them on clips of one length). ``False``: the model's
        ``num_samples`` stays the preset's.
    """

    name: str
    model_class: Any
    task: str
    train_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tiny_of: str | None = None
    fixed_length: bool = False

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"PresetFamily {self.name!r}: `task` must be one of {TASKS}, got {self.task!r}.")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One paper experiment: ``family``'s model with ``model`` arguments, ``recipe`` and ``data``."""

    name: str
    family: str
    model: Mapping[str, Any]
    recipe: TrainingRecipe
    data: DataSettings
    paper: str = ""

    @property
    def family_spec(self) -> PresetFamily:
        return get_family(self.family)

    @property
    def model_class(self):
        return self.family_spec.model_class

    @property
    def task(self) -> str:
        return self.family_spec.task

    def model_config(self, num_classes=None, tiny=False, for_training=False, **overrides):
        """Constructor arguments: paper config, then (``for_training``) the family's
        ``train_overrides``, then (``tiny``) its tiny configuration, then ``num_classes`` and
        ``overrides`` (a nested dict in ``overrides`` replaces the preset's)."""
        config = copy.deepcopy(dict(self.model))
        if for_training:
            config.update(copy.deepcopy(dict(self.family_spec.train_overrides)))
        if tiny:
            config.update(copy.deepcopy(dict(self.family_spec.tiny)))
        if num_classes is not None:
            config["num_classes"] = int(num_classes)
        config.update(overrides)
        return config

    def build(self, num_classes=None, tiny=False, for_training=False, **overrides):
        return self.model_class(**self.model_config(num_classes, tiny, for_training, **overrides))

    def as_dict(self):
        """The plain-dict view of ``keras_audioattn.presets.get_preset`` (JSON-friendly)."""
        spec = self.family_spec
        recipe = dataclasses.asdict(self.recipe)
        recipe["evaluate"] = list(recipe["evaluate"])
        return {
            "name": self.name, "family": self.family, "task": spec.task, "paper": self.paper,
            "model": copy.deepcopy(dict(self.model)),
            "training": recipe,
            "data": dataclasses.asdict(self.data),
            "evaluate": list(self.recipe.evaluate),
            "monitor": [self.recipe.monitor, self.recipe.monitor_mode],
            "train_overrides": copy.deepcopy(dict(spec.train_overrides)),
            "small": copy.deepcopy(dict(spec.tiny)),
            "distilled": self.recipe.distillation is not None,
            "needs_tagger": self.recipe.tagger_preset is not None,
        }


_FAMILIES: dict[str, PresetFamily] = {}
_PRESETS: dict[str, Preset] = {}


def register_family(family: PresetFamily) -> PresetFamily:
    if family.name in _FAMILIES and _FAMILIES[family.name] != family:
        raise ValueError(f"preset family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def register_preset(preset: Preset) -> Preset:
    if preset.family not in _FAMILIES:
        raise ValueError(f"preset {preset.name!r}: register its family {preset.family!r} first")
    if preset.name in _PRESETS and _PRESETS[preset.name] != preset:
        raise ValueError(f"preset {preset.name!r} is registered twice")
    _PRESETS[preset.name] = preset
    family = _FAMILIES[preset.family]
    if family.tiny_of == preset.name:  # the family's one tiny variant
        tiny_name = f"{family.name}-tiny"
        _PRESETS[tiny_name] = dataclasses.replace(
            preset, name=tiny_name, model={**preset.model_config(for_training=True, tiny=True)},
            paper=f"tiny configuration of {preset.name} (tests, notebooks, make demo)")
    return preset


def get_family(name) -> PresetFamily:
    if name not in _FAMILIES:
        raise ValueError(f"unknown preset family {name!r}; families: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


def families() -> dict[str, PresetFamily]:
    return dict(_FAMILIES)


def presets() -> dict[str, Preset]:
    """Every registered preset by name, in registration order."""
    return dict(_PRESETS)


def get(name) -> Preset:
    """Preset ``name``; an unknown name raises a ValueError listing close matches and every name."""
    if name not in _PRESETS:
        names = list(_PRESETS)
        close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown preset {name!r}; {hint}available presets: {', '.join(names)}")
    return _PRESETS[name]


def presets_of(model_class) -> dict[str, Preset]:
    """The presets that build ``model_class`` (its ``presets`` class property)."""
    return {name: p for name, p in _PRESETS.items() if p.model_class is model_class}


__all__ = ["DataSettings", "Preset", "PresetFamily", "TrainingRecipe", "families", "get", "get_family",
           "presets", "presets_of", "register_family", "register_preset"]
