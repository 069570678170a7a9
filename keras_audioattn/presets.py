"""One registry of the papers' experiment configurations ("presets").

Every model module keeps its paper configurations in a module-level ``PAPER_PRESETS`` dict::

    {"<name>": {"model": {constructor kwargs}, "training": {recipe}, "data": {...}, "paper": "..."}}

:data:`FAMILIES` lists those modules once, with what the training workflow needs to know about
each family that the preset dicts do not say: the model class, the metrics ``audioattn
evaluate`` prints (the paper's), the task kind (single-label, multi-label tagging, sound event
detection), constructor arguments needed when the model is trained from audio files, and a
"small" override set (tiny filters/units) for tests and the demo. Adding a family is one entry
in :data:`FAMILIES`; its presets are picked up from its module's ``PAPER_PRESETS``.

Python use::

    from keras_audioattn import presets
    presets.list_presets()                                    # all names
    presets.get_preset("lu2020-cab-cnn-30s")["training"]      # the recipe
    model = presets.build_model("zhang2018-ta-sa", num_classes=6, units=32)
    tiny = presets.build_model("zhang2018-ta-sa", num_classes=6, small=True)
"""

from __future__ import annotations

import copy
import difflib
import importlib

from keras_audioattn import preset_registry

_SMALL_STFT = {"fft_length": 256, "frame_length": 256, "frame_step": 128}

#: One entry per model module. Keys:
#:   module, model_class: where the presets and the model live. ``model_class`` is a class or a
#:     module-level builder function called as ``model_class(**config)``, ``config`` being the
#:     preset's "model" dict with overrides (a family whose "model" dict is nested can point it
#:     at a small adapter function). ``sample_rate`` / ``clip_duration`` parameters, when the
#:     callable has them, are set from the data section by the training driver.
#:   task: "single_label" (softmax scores), "multi_label" (sigmoid tags) or "sed" (dict outputs
#:     "clip" / "frame"; trained on clip labels, events from the frame outputs).
#:   evaluate: names of :data:`keras_audioattn.training.METRICS` printed by ``audioattn evaluate``.
#:   monitor: the validation quantity for best-checkpoint selection and early stopping, and its mode.
#:   train_overrides: constructor arguments that training from audio files needs (e.g. the
#:     waveform input of a model whose paper default is a log-mel input).
#:   small: tiny configuration for tests / demo (``build_model(..., small=True)``).
#:   frame_step_key: where the front-end hop lives in the model config (SED event times).
FAMILIES = {
}


def _module(family):
    return importlib.import_module(FAMILIES[family]["module"])


def _typed():
    """``{name: Preset}`` of the families registered in :mod:`keras_audioattn.preset_registry`
    (each paper folder registers its own when ``keras_audioattn.models`` is imported)."""
    importlib.import_module("keras_audioattn.models")
    return preset_registry.presets()


def _registry():
    """``{preset name: family}`` over the typed registry and every legacy family's ``PAPER_PRESETS``."""
    out = {name: preset.family for name, preset in _typed().items()}
    for family in FAMILIES:
        for name in getattr(_module(family), "PAPER_PRESETS"):
            if name in out:
                raise RuntimeError(f"preset {name!r} is defined by both {out[name]} and {family}")
            out[name] = family
    return out


def list_presets():
    """All preset names, in registry order (families as in :data:`FAMILIES`)."""
    return list(_registry())


def _unknown(name, names):
    close = difflib.get_close_matches(str(name), names, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ValueError(f"unknown preset {name!r}; {hint}available presets: {', '.join(names)}")


def preset_family(name):
    """The :data:`FAMILIES` key of preset ``name``."""
    registry = _registry()
    if name not in registry:
        raise _unknown(name, list(registry))
    return registry[name]


def get_preset(name):
    """A deep copy of preset ``name``: the module's entry plus ``"name"``, ``"family"``,
    ``"task"``, ``"evaluate"``, ``"monitor"``, ``"train_overrides"`` and ``"small"``.

    Raises:
      ValueError: unknown name (the message lists close matches and every name).
    """
    family = preset_family(name)
    if name in _typed():
        return _typed()[name].as_dict()
    spec = FAMILIES[family]
    entry = copy.deepcopy(getattr(_module(family), "PAPER_PRESETS")[name])
    entry.update(
        name=name, family=family, task=spec["task"], evaluate=list(spec["evaluate"]),
        monitor=list(spec["monitor"]), train_overrides=copy.deepcopy(spec["train_overrides"]),
        small=copy.deepcopy(spec["small"]), distilled=bool(spec.get("distilled", False)),
        needs_tagger=bool(spec.get("needs_tagger", False)),
    )
    return entry


def model_class(name):
    """The Keras model class that preset ``name`` builds."""
    family = preset_family(name)
    if name in _typed():
        return _typed()[name].model_class
    return getattr(_module(family), FAMILIES[family]["model_class"])


def model_config(name, num_classes=None, small=False, for_training=False, **overrides):
    """The constructor arguments of preset ``name``: paper config, then (``for_training``) the
    family's ``train_overrides``, then (``small``) the tiny configuration, then ``num_classes``
    and ``overrides``. Nested dicts in ``overrides`` (e.g. ``front_end``) replace the preset's."""
    entry = get_preset(name)
    config = dict(entry["model"])
    if for_training:
        config.update(entry["train_overrides"])
    if small:
        config.update(entry["small"])
    if num_classes is not None:
        config["num_classes"] = int(num_classes)
    config.update(overrides)
    return config


def build_model(name, num_classes=None, small=False, for_training=False, **overrides):
    """Builds the model of preset ``name`` (see :func:`model_config` for the argument order).

    Example: ``build_model("lu2020-cab-cnn-10s", num_classes=5)``.
    """
    return model_class(name)(**model_config(name, num_classes=num_classes, small=small,
                                            for_training=for_training, **overrides))


def describe_presets():
    """Rows ``(name, family, model class, task, metrics, paper)`` for ``audioattn presets``."""
    rows = []
    for name, family in _registry().items():
        entry = get_preset(name)
        cls = model_class(name)
        rows.append((name, family, getattr(cls, "__name__", str(cls)), entry["task"],
                     ", ".join(entry["evaluate"]), entry.get("paper", "")))
    return rows


__all__ = ["FAMILIES", "build_model", "describe_presets", "get_preset", "list_presets", "model_class",
           "model_config", "preset_family"]
