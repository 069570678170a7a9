"""``AudioModel``: the base of every keras_audioattn model (keras-hub ``Backbone`` style).

A subclass builds a functional graph in ``__init__`` and calls
``super().__init__(inputs=..., outputs=..., name=name, **kwargs)``. The base then owns:

* ``get_config`` / ``from_config``: the constructor arguments the model was built with (defaults
  filled in), plus ``name``, ``trainable`` and ``dtype``.
  A subclass whose arguments are not JSON-friendly (e.g. a nested model) overrides
  :meth:`serialize_argument` / :meth:`deserialize_arguments`, not ``get_config``.
* attributes: after ``__init__`` every constructor argument is an attribute (``model.num_classes``)
  unless the subclass assigned that attribute itself -- it does so only where the value differs
  from the argument as given (e.g. ``num_classes=None`` without a classifier).
* argument checks: an unknown constructor argument raises ``TypeError`` naming it (with a close
  match); ``deprecated_arguments`` maps an old name to its new one (with a ``DeprecationWarning``)
  so that older code and older ``.keras`` files keep working for one release.
* ``dtype``: ``Model(..., dtype="bfloat16")`` builds every layer under that dtype policy (layers
  that pin float32, such as output layers, keep it).
* presets: ``cls.presets`` (the registered presets that build this class) and
  ``cls.from_preset(preset, **overrides)`` over the one registry
  (:mod:`keras_audioattn.preset_registry`).

Vocabulary shared by every model: ``num_classes``, ``sample_rate``, ``num_samples`` (optional
fixed input length), the waveform input named ``"waveform"``, the main output named
``"scores"`` (extra outputs named, e.g. ``"frame_scores"``; ``deprecated_outputs`` maps old
output names to new ones).

Example::

    @keras.saving.register_keras_serializable(package="keras_audioattn")
    class TinyTagger(AudioModel):
        def __init__(self, num_classes, sample_rate=16000, name="tiny_tagger", **kwargs):
            waveform = keras.Input((None,), name="waveform")
            x = LogMelSpectrogram(sample_rate=sample_rate)(waveform)
            x = keras.layers.GlobalAveragePooling1D()(x)
            scores = keras.layers.Dense(num_classes, activation="sigmoid", name="scores")(x)
            super().__init__(inputs=waveform, outputs=scores, name=name, **kwargs)

    TinyTagger(3).get_config()   # {"num_classes": 3, "sample_rate": 16000, "name": ..., "dtype": ...}
"""

from __future__ import annotations

import functools
import inspect
import warnings

import keras
import numpy as np

from keras_audioattn import preset_registry
from keras_audioattn.validation import unknown_arguments

#: Keyword arguments every model takes besides its own (passed on to ``keras.Model``).
BASE_ARGUMENTS = ("name", "trainable", "dtype")


class classproperty:  # noqa: N801  (used like the builtin ``property``)
    """A read-only property of the class (``CABCNN.presets``), like keras-hub's ``classproperty``."""

    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)


def _plain(value):
    """JSON-friendly copy of a constructor argument (tuples -> lists, NumPy scalars -> Python)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class AudioModel(keras.Model):
    """Base class of the package's models; see the module docstring.

    Class attributes a subclass may set:
      deprecated_arguments: ``{old name: new name}`` or ``{old name: (new name, convert)}``,
        ``convert(old_value, arguments) -> new value`` (``arguments``: the other given ones).
      deprecated_outputs: ``{old output name: new output name}`` (documentation and the loaders
        of older files).
    """

    deprecated_arguments: dict = {}
    deprecated_outputs: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked_init(cls, cls.__dict__["__init__"])

    # -- config -----------------------------------------------------------------------------
    def serialize_argument(self, name, value):
        """The config value of constructor argument ``name`` (override for non-JSON values)."""
        return _plain(value)

    @classmethod
    def deserialize_arguments(cls, config):
        """Inverse of :meth:`serialize_argument` over a whole config dict (override with it)."""
        return config

    def get_config(self):
        arguments = getattr(self, "_constructor_arguments", {})
        config = {name: self.serialize_argument(name, value) for name, value in arguments.items()}
        config.update(name=self.name, trainable=self.trainable,
                      dtype=keras.dtype_policies.serialize(self.dtype_policy))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        dtype = config.pop("dtype", None)
        if isinstance(dtype, dict):
            dtype = keras.dtype_policies.deserialize(dtype)
        if dtype is not None:
            config["dtype"] = dtype
        return cls(**cls.deserialize_arguments(config))

    @property
    def clip_duration(self):
        """Seconds of a fixed waveform input (``num_samples / sample_rate``); ``None`` when the
        length is free or the input is not a waveform (``include_front_end=False``). The old
        name of ``num_samples``, kept for one release."""
        num_samples = getattr(self, "num_samples", None)
        if num_samples is None or not getattr(self, "include_front_end", True):
            return None
        return num_samples / self.sample_rate

    # -- presets ----------------------------------------------------------------------------
    @classproperty
    def presets(cls):  # noqa: N805  (a class property)
        """``{name: Preset}`` of the registered presets that build this class."""
        return preset_registry.presets_of(cls)

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Builds registered preset ``preset`` (a name from ``cls.presets``); keyword arguments
        override the preset's constructor arguments.

        Example: ``CABCNN.from_preset("lu2020-cab-cnn-10s", num_classes=5)``.
        """
        entry = preset_registry.get(preset)
        if not (isinstance(entry.model_class, type) and issubclass(entry.model_class, cls)):
            raise ValueError(f"{cls.__name__}.from_preset: preset {preset!r} builds "
                             f"{getattr(entry.model_class, '__name__', entry.model_class)}; presets of "
                             f"{cls.__name__}: {', '.join(cls.presets) or 'none'}.")
        config = entry.model_config()
        for old, target in _aliases(entry.model_class).items():  # an old name overrides the preset's new one
            new = target if isinstance(target, str) else target[0]
            if old in overrides and new not in overrides:
                config.pop(new, None)
        return entry.model_class(**{**config, **overrides})


def scores_head(x, num_classes, activation, dense_name="predictions", **dense_kwargs):
    """The classifier every model ends with: ``Dense(num_classes, activation)`` in float32 (also under
    a mixed-precision policy), then a weightless ``Identity`` named ``"scores"``, the output's name.

    The Dense keeps ``dense_name``: files saved before the ``scores`` vocabulary hold its weights
    under that name (``deprecated_outputs = {dense_name: "scores"}``).
    """
    x = keras.layers.Dense(num_classes, activation=activation, dtype="float32", name=dense_name, **dense_kwargs)(x)
    return keras.layers.Identity(name="scores", dtype="float32")(x)


def seconds_as_samples(default_sample_rate):
    """A ``deprecated_arguments`` converter: seconds (or ``None``) -> samples at the call's ``sample_rate``.

    For the old ``clip_duration`` arguments that became ``num_samples``:
    ``deprecated_arguments = {"clip_duration": ("num_samples", seconds_as_samples(16000))}``;
    ``Model(clip_duration=0.5, sample_rate=8000)`` then builds ``num_samples=4000`` (the class's
    default rate when the call gives none).
    """
    def convert(seconds, arguments):
        if seconds is None:
            return None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) or not seconds > 0:
            raise ValueError(f"`clip_duration` must be a positive number of seconds or None, got {seconds!r}.")
        return int(round(float(seconds) * int(arguments.get("sample_rate", default_sample_rate))))

    return convert


def _aliases(cls):
    aliases = {}
    for klass in reversed(cls.__mro__):
        aliases.update(getattr(klass, "deprecated_arguments", {}) or {})
    return aliases


def _checked_init(cls, init):
    signature = inspect.signature(init)
    parameters = [p for p in list(signature.parameters.values())[1:]
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    own = {p.name for p in parameters}
    allowed = own | set(BASE_ARGUMENTS)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        kwargs = _apply_deprecated(cls, kwargs)
        unknown_arguments(cls.__name__, kwargs, allowed)
        bound = signature.bind_partial(self, *args, **kwargs)
        bound.apply_defaults()
        dtype = kwargs.get("dtype")
        previous = keras.config.dtype_policy()
        if dtype is not None:
            keras.config.set_dtype_policy(dtype)
        try:
            init(self, *args, **kwargs)
        finally:
            if dtype is not None:
                keras.config.set_dtype_policy(previous)
        if type(self).__init__ is __init__:  # the outermost class records its own arguments
            arguments = {p.name: bound.arguments[p.name] for p in parameters
                         if p.name in bound.arguments and p.name != "name"}
            # object.__setattr__: Keras would track a dict attribute (and any model inside it) as layers.
            object.__setattr__(self, "_constructor_arguments", arguments)
            _set_argument_attributes(self, arguments)

    __init__.__signature__ = signature
    return __init__


def _set_argument_attributes(model, arguments):
    """``model.<argument>`` for every constructor argument the subclass did not set itself.

    A subclass assigns only the attributes whose value is not the argument as given (a resolved
    option, a layer built from a config); the rest are the arguments, as ``get_config`` records them.
    A Keras layer or model given as an argument is left to the subclass: as an attribute, Keras
    would track its weights as the model's own.
    """
    for name, value in arguments.items():
        if isinstance(value, keras.layers.Layer):
            continue
        if not hasattr(model, name):  # not model.__dict__: torch keeps sub-layers in its module registry
            setattr(model, name, value)


def _apply_deprecated(cls, kwargs):
    aliases = _aliases(cls)
    if not aliases or not (set(kwargs) & set(aliases)):
        return kwargs
    kwargs = dict(kwargs)
    for old, target in aliases.items():
        if old not in kwargs:
            continue
        new, convert = (target, None) if isinstance(target, str) else target
        value = kwargs.pop(old)
        if new in kwargs:
            raise TypeError(f"{cls.__name__}: `{old}` is the deprecated name of `{new}`; pass only `{new}`.")
        warnings.warn(f"{cls.__name__}: `{old}` is deprecated, use `{new}`"
                      + (" (converted)" if convert else "") + ".", DeprecationWarning, stacklevel=3)
        kwargs[new] = convert(value, kwargs) if convert else value
    return kwargs


__all__ = ["AudioModel", "BASE_ARGUMENTS", "classproperty", "scores_head", "seconds_as_samples"]
