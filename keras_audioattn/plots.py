"""Plots of model internals (matplotlib's Agg canvas: no display or pyplot state needed).

:func:`plot_two_step_attention` reproduces the seven panels of Fig. 3 of Deshmukh et al. 2020
from the outputs of :class:`keras_audioattn.models.TwoStepAttentionSED`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_two_step_attention"]


def _numpy(x):
    if x is None:
        return None
    try:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(x))
    except Exception:  # plain arrays / lists
        return np.asarray(x)


def plot_two_step_attention(outputs, log_mel, index=0, class_names=None, top_k=2, frame_hop=None,
                            path=None, title=None, dpi=100):
    """Fig. 3 of Deshmukh et al. 2020 for one clip: what each stage of 2APAE does.

    Panels (top to bottom): (1) the standardised input log-mel, (2) the decoder's reconstruction,
    (3..) first-step (mel) attention weights of the ``top_k`` most probable classes, then the
    first-step output (classes x time), the second-step (time) attention weights (classes x time)
    and the clip probabilities (bars). As in the paper, raw weights are shown, no thresholds.

    Args:
        outputs: the model's output dict (``model(x)`` or ``model.predict(x)``) with ``"scores"``
            (``"clip"`` in older code and in the pooling layer's own dict),
            ``"frequency_pooled"``, ``"frequency_attention"``, ``"time_attention"`` and optionally
            ``"reconstruction"`` (that panel is left out without it).
        log_mel: the log-mel the network saw, ``(batch, time, mel)`` (e.g.
            ``model.reconstruction_target(x)``), or ``None`` to leave that panel out.
        index: which clip of the batch.
        class_names: labels of the classes (default: indices).
        top_k: number of classes whose mel attention is drawn (2 in the paper).
        frame_hop: seconds per frame for a time axis in seconds (default: frame indices).
        path: if given, the figure is saved there (PNG by extension) and closed.
        title: figure title.

    Returns:
        The matplotlib ``Figure`` (or ``path`` when saved).
    """
    # A bare Figure (Agg canvas) touches no global pyplot state and needs no display.
    from matplotlib.figure import Figure

    if not isinstance(outputs, dict):
        raise ValueError("outputs must be the model's output dict (keys 'scores', 'frame_scores', ...)")
    scores_key = "scores" if "scores" in outputs else "clip"
    missing = [k for k in (scores_key, "frequency_pooled", "frequency_attention", "time_attention")
               if k not in outputs]
    if missing:
        raise ValueError(f"outputs lack {missing}: build the model with pooling='two_step' and "
                         f"return_attention=True")
    clip = _numpy(outputs[scores_key])
    if not 0 <= index < clip.shape[0]:
        raise ValueError(f"index {index} out of range for a batch of {clip.shape[0]}")
    clip = clip[index]
    frame = _numpy(outputs["frequency_pooled"])[index]               # step-1 output (time, classes)
    freq_att = _numpy(outputs["frequency_attention"])[index]         # (time, mel, classes)
    time_att = _numpy(outputs["time_attention"])[index]              # (time, classes)
    recon = _numpy(outputs.get("reconstruction"))
    recon = None if recon is None else recon[index]
    mel_in = None if log_mel is None else _numpy(log_mel)[index]
    num_classes = clip.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(num_classes))]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class_names for {num_classes} classes")
    top_k = max(0, min(int(top_k), num_classes))
    top = np.argsort(-clip)[:top_k]

    frames = frame.shape[0]
    extent_t = (0, frames * frame_hop if frame_hop else frames)
    xlabel = "time (s)" if frame_hop else "frame"
    panels = []
    if mel_in is not None:
        panels.append(("input log-mel (standardised)", mel_in.T, "mel bin"))
    if recon is not None:
        panels.append(("decoder reconstruction", recon.T, "mel bin"))
    for c in top:
        panels.append((f"1st-step attention over mel: {names[c]} (p={clip[c]:.2f})", freq_att[:, :, c].T, "mel bin"))
    panels.append(("1st-step output (pooled over mel)", frame.T, "class"))
    panels.append(("2nd-step attention over time", time_att.T, "class"))

    fig = Figure(figsize=(9, 1.9 * (len(panels) + 1)))
    axes = fig.subplots(len(panels) + 1, 1, squeeze=False)
    axes = axes[:, 0]
    for ax, (label, image, ylabel) in zip(axes, panels):
        im = ax.imshow(image, aspect="auto", origin="lower", interpolation="nearest",
                       extent=(extent_t[0], extent_t[1], 0, image.shape[0]))
        ax.set_title(label, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
        if ylabel == "class" and num_classes <= 16:  # readable class names on the class panels
            ax.set_yticks(np.arange(num_classes) + 0.5)
            ax.set_yticklabels(names, fontsize=6)
    ax = axes[-1]
    ax.bar(np.arange(num_classes), clip, color="tab:blue")
    ax.set_ylim(0, 1)
    ax.set_title("2nd-step output (clip probabilities)", fontsize=9)
    ax.set_xticks(np.arange(num_classes))
    ax.set_xticklabels(names, rotation=90 if num_classes > 8 else 0, fontsize=7)
    ax.set_ylabel("probability", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
        return path
    return fig
