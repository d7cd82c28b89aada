"""Figures of a run (PNG files). The only library module that imports matplotlib.

Every function takes plain arrays, draws one figure, writes it to ``path`` and closes it (no
global state is left behind); the non-interactive ``Agg`` backend is used, so no display is
needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_learning_curves", "plot_sample", "plot_confusion", "plot_kernels"]

_DPI = 110


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_learning_curves(metrics: Sequence[dict[str, Any]], path: str | os.PathLike[str], *,
                         baseline_accuracy: float | None = None, test_accuracy: float | None = None) -> Path:
    """Loss, accuracy and hidden spikes per sample against the epoch (from ``metrics.jsonl``).

    Parameters
    ----------
    metrics : sequence of dict
        One record per epoch with ``epoch``, ``train_loss``, ``train_accuracy``,
        ``train_hidden_spikes_per_sample`` and optionally ``val_*``.
    path : path-like
        Output PNG.
    baseline_accuracy, test_accuracy : float, optional
        Drawn as horizontal lines on the accuracy panel.
    """
    ep = np.array([m["epoch"] for m in metrics], dtype=float)
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))

    def series(key):
        return np.array([m.get(key, np.nan) for m in metrics], dtype=float)

    for a, key, title in ((ax[0], "loss", "loss (cross-entropy)"), (ax[1], "accuracy", "accuracy"),
                          (ax[2], "hidden_spikes_per_sample", "hidden spikes per sample")):
        a.plot(ep, series(f"train_{key}"), "o-", label="train")
        val = series(f"val_{key}")
        if np.isfinite(val).any():
            a.plot(ep, val, "s-", label="validation")
        a.set_xlabel("epoch")
        a.set_title(title)
        a.grid(alpha=0.3)
    if test_accuracy is not None:
        ax[1].axhline(test_accuracy, color="C2", ls="--", label=f"test (best ckpt) {test_accuracy:.3f}")
    if baseline_accuracy is not None:
        ax[1].axhline(baseline_accuracy, color="C3", ls=":", label=f"logistic baseline {baseline_accuracy:.3f}")
    ax[1].set_ylim(0, 1)
    for a in ax:
        a.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_sample(in_times: np.ndarray, in_units: np.ndarray, hidden: Sequence[tuple[np.ndarray, np.ndarray, int]],
                readout_times: np.ndarray, readout: np.ndarray, path: str | os.PathLike[str], *,
                class_names: Sequence[str], label: int, prediction: int, window: float, n_in: int) -> Path:
    """Input raster, hidden raster(s) and the readout over time of one sample.

    Parameters
    ----------
    in_times, in_units : ndarray, shape (n_input_spikes,)
        Input spikes (s, channel).
    hidden : sequence of (times, neurons, n_neurons)
        Spike events of each hidden layer.
    readout_times : ndarray, shape (E,)
        Times of the readout (s).
    readout : ndarray, shape (E, n_out)
        Readout ``o(t)``; the softmax over classes is plotted.
    path : path-like
        Output PNG.
    class_names : sequence of str
    label, prediction : int
        True and predicted class (highlighted).
    window : float
        Sample window (s).
    n_in : int
        Input channels.
    """
    n_rows = 2 + len(hidden)
    fig, ax = plt.subplots(n_rows, 1, figsize=(9, 2.4 * n_rows), sharex=True,
                           gridspec_kw={"height_ratios": [1.4] + [1.0] * len(hidden) + [1.0]})
    ax[0].scatter(in_times, in_units, s=0.4, c="k", marker=".", linewidths=0)
    ax[0].set_ylim(-0.5, n_in - 0.5)
    ax[0].set_ylabel("input channel")
    ax[0].set_title(f"input: {in_times.size} spikes")
    for l, (t, n, size) in enumerate(hidden):
        a = ax[1 + l]
        a.scatter(t, n, s=1.5, c="C0", marker=".", linewidths=0)
        a.set_ylim(-0.5, size - 0.5)
        a.set_ylabel("neuron")
        a.set_title(f"hidden layer {l}: {t.size} spike events, {np.unique(n).size} of {size} neurons active")
    a = ax[-1]
    e = np.exp(readout - readout.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    for c in range(p.shape[1]):
        if c == label:
            a.plot(readout_times, p[:, c], color="C2", lw=2.0, label=f"true: {class_names[c]}")
        elif c == prediction:
            a.plot(readout_times, p[:, c], color="C3", lw=1.6, label=f"predicted: {class_names[c]}")
        else:
            a.plot(readout_times, p[:, c], color="0.7", lw=0.7)
    a.set_ylim(0, 1)
    a.set_xlim(0, window)
    a.set_ylabel("softmax(o(t))")
    a.set_xlabel("time (s)")
    a.legend(fontsize=8, loc="upper left")
    a.set_title("readout (grey: other classes)")
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str], *,
                   title: str = "confusion matrix (test)") -> Path:
    """Confusion matrix, rows = true class, columns = predicted class, row-normalised colour."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.5, 0.38 * n + 2)
    fig, a = plt.subplots(figsize=(size + 1, size))
    im = a.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                a.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                       color="w" if frac[i, j] > 0.5 else "k")
    a.set_xticks(range(n))
    a.set_yticks(range(n))
    a.set_xticklabels(class_names, rotation=90, fontsize=8)
    a.set_yticklabels(class_names, fontsize=8)
    a.set_xlabel("predicted")
    a.set_ylabel("true")
    a.set_title(title)
    fig.colorbar(im, ax=a, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    return _save(fig, path)


def plot_kernels(delays: np.ndarray, panels: Sequence[tuple[str, np.ndarray, Sequence[str]]],
                 path: str | os.PathLike[str]) -> Path:
    """Learned temporal kernels: bucket-weight mixtures as functions of the delay.

    Parameters
    ----------
    delays : ndarray, shape (n_d,)
        Delay grid (s).
    panels : sequence of (title, kernels, labels)
        ``kernels`` has shape (n_curves, n_d); one panel per entry.
    path : path-like
        Output PNG.
    """
    fig, ax = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for a, (title, kernels, labels) in zip(ax[0], panels):
        cmap = plt.get_cmap("viridis")
        n = len(kernels)
        for i, (k, lab) in enumerate(zip(kernels, labels)):
            a.plot(delays * 1e3, k, color=cmap(i / max(n - 1, 1)), lw=1.2, label=lab)
        a.axhline(0, color="k", lw=0.5)
        a.set_xlabel("delay after a presynaptic spike (ms)")
        a.set_ylabel("kernel (per unit weight)")
        a.set_title(title, fontsize=10)
        a.grid(alpha=0.3)
        if n <= 20:
            a.legend(fontsize=6 if n > 10 else 7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)
