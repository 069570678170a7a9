"""The deprecated ``clip_duration`` argument of the Chang et al. 2020 models (issue 17: ``num_samples``).

``clip_duration`` (seconds, or ``None`` for any length) becomes ``num_samples`` =
``round(clip_duration * sample_rate)`` samples at the model's ``sample_rate`` (the one given in the
same call, else the model's default rate).
"""

from __future__ import annotations


def clip_duration_alias(default_sample_rate):
    """``deprecated_arguments`` entry ``{"clip_duration": ("num_samples", convert)}``.

    Example: ``VGGishTeacher(clip_duration=0.5, sample_rate=8000)`` builds ``num_samples=4000``.
    """

    def convert(seconds, arguments):
        if seconds is None:
            return None
        rate = arguments.get("sample_rate", default_sample_rate)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"`clip_duration` must be a positive number of seconds or None, got {seconds!r}.")
        return int(round(float(seconds) * int(rate)))

    return {"clip_duration": ("num_samples", convert)}


__all__ = ["clip_duration_alias"]
