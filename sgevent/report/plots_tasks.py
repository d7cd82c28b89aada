"""Figures of the toy timing tasks (:mod:`sgevent.studies.toy_delay`, :mod:`sgevent.studies.toy_itd`),
PNG files via matplotlib's Agg backend.

Each function takes the results dict of :func:`sgevent.studies.toy_delay.run_delay_task` or
:func:`sgevent.studies.toy_itd.run_itd_task`, draws one figure, writes it to ``path`` and closes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_delay_task", "plot_itd_task"]

from sgevent.report.plots import _save  # noqa: E402  (one figure writer for every plots module)


def plot_delay_task(results: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """One row per trained network: continuous readout vs target with hidden spikes; a summary
    panel of the timing error per delay and time model.

    Parameters
    ----------
    results : dict
        Output of :func:`sgevent.studies.toy_delay.run_delay_task`.
    path : path-like
        PNG file to write.
    """
    runs = results["runs"]
    sigma = float(results["config"]["sigma"])
    fig, axes = plt.subplots(len(runs) + 1, 1, figsize=(8, 2.0 * (len(runs) + 1)), squeeze=False)
    for ax, r in zip(axes[:, 0], runs):
        key = "continuous" if "continuous" in r["eval"] else next(iter(r["eval"]))
        tr = r["eval"][key]["trace"]
        t = np.asarray(tr["times"]) * 1e3
        t_peak = tr["t0"] * 1e3 + r["delay_ms"]
        ax.plot(t, tr["readout"], lw=1.2, label=f"readout ({key})")
        ax.plot(t, np.exp(-0.5 * ((t - t_peak) / (sigma * 1e3)) ** 2), "--", lw=1, label="target")
        ax.axvline(tr["t0"] * 1e3, color="k", lw=0.8, ls=":")
        st = np.asarray(tr["spike_times"]) * 1e3
        if st.size:
            ax.plot(st, np.full(st.size, -0.15), "|", color="C3", ms=8, label="hidden spikes")
        err = r["eval"][key]["mean_abs_error_ms"]
        ax.set_title(f"d = {r['delay_ms']:g} ms, trained {r['train_time_model']}: timing error {err:.3f} ms, "
                     f"{r['eval'][key]['hidden_spikes_per_sample']:.1f} spikes/sample", fontsize=9)
        ax.set_ylabel("o(t)")
        ax.legend(fontsize=7, loc="upper left")
    axes[-2, 0].set_xlabel("time (ms)")
    ax = axes[-1, 0]
    models = sorted({k for r in runs for k in r["eval"]})
    width = 0.8 / max(len(models), 1)
    labels = [f"{r['delay_ms']:g} ms\n({r['train_time_model']})" for r in runs]
    for m_i, m in enumerate(models):
        vals = [r["eval"][m]["mean_abs_error_ms"] if m in r["eval"] else np.nan for r in runs]
        ax.bar(np.arange(len(runs)) + (m_i - (len(models) - 1) / 2) * width, vals, width, label=f"eval {m}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(runs)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("timing error (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_itd_task(results: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Training curves, accuracy per time model, the confusion matrix (continuous) and one
    example (inputs, hidden spikes, readout).

    Parameters
    ----------
    results : dict
        Output of :func:`sgevent.studies.toy_itd.run_itd_task`.
    path : path-like
        PNG file to write.
    """
    runs = results["runs"]
    itds = [x * 1e3 for x in results["config"]["itds"]]
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    a = ax[0, 0]
    for r in runs:
        h = r["history"]
        a.plot(h["epoch"], h["train_accuracy"], marker="o", ms=3, label=f"train acc ({r['train_time_model']})")
    a.axhline(results["chance"], color="k", lw=0.8, ls=":", label="chance")
    a.set_xlabel("epoch")
    a.set_ylabel("train accuracy")
    a.set_ylim(0, 1.02)
    a.legend(fontsize=7)
    a = ax[0, 1]
    names, accs, spk = [], [], []
    for r in runs:
        for k, v in r["eval"].items():
            names.append(f"train {r['train_time_model']}\neval {k}")
            accs.append(v["accuracy"])
            spk.append(v["hidden_spikes_per_sample"])
    bars = a.bar(np.arange(len(names)), accs, color="C0")
    for b, s in zip(bars, spk):
        a.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.01, f"{b.get_height():.2f}\n{s:.0f} spk",
               ha="center", fontsize=7)
    a.axhline(0.95, color="k", lw=0.8, ls="--")
    a.set_xticks(np.arange(len(names)))
    a.set_xticklabels(names, fontsize=6)
    a.set_ylim(0, 1.15)
    a.set_ylabel("test accuracy")
    a = ax[1, 0]
    conf = np.asarray(runs[0]["eval"][next(iter(runs[0]["eval"]))]["confusion"], dtype=float)
    a.imshow(conf, cmap="Blues")
    for i in range(conf.shape[0]):
        for j in range(conf.shape[1]):
            a.text(j, i, f"{int(conf[i, j])}", ha="center", va="center", fontsize=7)
    a.set_xticks(range(len(itds)))
    a.set_yticks(range(len(itds)))
    a.set_xticklabels([f"{x:+g}" for x in itds], fontsize=7)
    a.set_yticklabels([f"{x:+g}" for x in itds], fontsize=7)
    a.set_xlabel("predicted ITD (ms)")
    a.set_ylabel("true ITD (ms)")
    a.set_title(f"confusion, train/eval {runs[0]['train_time_model']}", fontsize=9)
    a = ax[1, 1]
    ex = results["example"]
    t = np.asarray(ex["times"]) * 1e3
    u = np.asarray(ex["units"])
    a.plot(t, u * 0.5 + 3.0, "|", ms=10, color="k")
    st = np.asarray(ex["spike_times"]) * 1e3
    sn = np.asarray(ex["spike_neurons"])
    if st.size:
        a.scatter(st, 4.5 + sn / max(sn.max(), 1) * 2.0, s=4, color="C3")
    o = np.asarray(ex["readout"])
    rt = np.asarray(ex["readout_times"]) * 1e3
    scale = np.abs(o).max() or 1.0
    for c in range(o.shape[1]):
        a.plot(rt, o[:, c] / scale * 1.2, lw=1.5 if c == ex["label"] else 0.7, label=f"{itds[c]:+g} ms")
    a.set_yticks([])
    a.set_xlabel("time (ms)")
    a.set_title(f"example, true ITD {itds[ex['label']]:+g} ms: inputs, hidden spikes, readout", fontsize=9)
    a.legend(fontsize=6, ncol=len(itds), loc="lower right")
    fig.tight_layout()
    return _save(fig, path)
