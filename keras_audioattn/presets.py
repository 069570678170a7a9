"""The public face of the one preset registry (:mod:`keras_audioattn.preset_registry`).

A preset is one experiment of a paper: a model family's constructor arguments, a typed
:class:`~keras_audioattn.preset_registry.TrainingRecipe`, typed
:class:`~keras_audioattn.preset_registry.DataSettings` and the paper reference. Each paper's
folder registers its families and presets (``keras_audioattn/models/<paper>/<paper>_presets.py``);
this module lists them, gives their plain-dict view and builds their models.

Python use::

    from keras_audioattn import presets
    presets.list_presets()                                    # all names
    presets.get_preset("lu2020-cab-cnn-30s")["training"]      # the recipe (plain dict)
    model = presets.build_model("zhang2018-ta-sa", num_classes=6, units=32)
    tiny = presets.build_model("zhang2018-ta-sa", num_classes=6, small=True)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from keras_audioattn import preset_registry


def _registry():
    """``{name: Preset}`` of the registry, once every paper folder has registered its presets
    (``keras_audioattn.models`` imports them; deferred: models import this package's modules)."""
    importlib.import_module("keras_audioattn.models")
    return preset_registry.presets()


class _Families(Mapping):
    """A read-only view ``{family name: PresetFamily}`` of the registry's families."""

    def _families(self):
        _registry()
        return preset_registry.families()

    def __getitem__(self, name):
        return self._families()[name]

    def __iter__(self):
        return iter(self._families())

    def __len__(self):
        return len(self._families())

    def __repr__(self):
        return f"FAMILIES({list(self)})"


#: ``{family name: PresetFamily}``: a read-only view of the registry's families (each paper
#: folder registers its own; this name is kept for older code).
FAMILIES = _Families()


def list_presets():
    """All preset names, in registration order."""
    return list(_registry())


def _preset(name):
    _registry()
    return preset_registry.get(name)  # an unknown name: close matches and every name


def preset_family(name):
    """The family name of preset ``name``."""
    return _preset(name).family


def get_preset(name):
    """The plain-dict view of preset ``name`` (a fresh copy): ``"model"``, ``"training"`` (the
    recipe), ``"data"``, ``"paper"`` plus ``"name"``, ``"family"``, ``"task"``, ``"evaluate"``,
    ``"monitor"``, ``"train_overrides"``, ``"small"``, ``"distilled"``, ``"needs_tagger"``.

    Raises:
      ValueError: unknown name (the message lists close matches and every name).
    """
    return _preset(name).as_dict()


def model_class(name):
    """The Keras model class (or builder) that preset ``name`` builds."""
    return _preset(name).model_class


def model_config(name, num_classes=None, small=False, for_training=False, **overrides):
    """The constructor arguments of preset ``name``: paper config, then (``for_training``) the
    family's ``train_overrides``, then (``small``) the tiny configuration, then ``num_classes``
    and ``overrides``. Nested dicts in ``overrides`` (e.g. ``front_end``) replace the preset's."""
    return _preset(name).model_config(num_classes, tiny=small, for_training=for_training, **overrides)


def build_model(name, num_classes=None, small=False, for_training=False, **overrides):
    """Builds the model of preset ``name`` (see :func:`model_config` for the argument order).

    Example: ``build_model("lu2020-cab-cnn-10s", num_classes=5)``.
    """
    return _preset(name).build(num_classes, tiny=small, for_training=for_training, **overrides)


def describe_presets():
    """Rows ``(name, family, model class, task, metrics, paper)`` for ``audioattn presets``."""
    rows = []
    for name, preset in _registry().items():
        cls = preset.model_class
        rows.append((name, preset.family, getattr(cls, "__name__", str(cls)), preset.task,
                     ", ".join(preset.recipe.evaluate), preset.paper))
    return rows


__all__ = ["FAMILIES", "build_model", "describe_presets", "get_preset", "list_presets", "model_class",
           "model_config", "preset_family"]
