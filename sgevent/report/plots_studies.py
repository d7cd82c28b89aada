"""Figures of the resolution study and the sparsity sweep (PNG files; imports matplotlib).

The studies are :mod:`sgevent.studies.resolution` and :mod:`sgevent.studies.sparsity`.

Each function takes the study's result dict (as returned and written to ``study.json`` /
``sweep.json``), draws one figure, writes it to ``path`` and closes it. The non-interactive
``Agg`` backend is used, so no display is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_resolution_accuracy", "plot_resolution_cost", "plot_sparsity_frontier"]

from sgevent.report.plots import _save  # noqa: E402  (one figure writer for every plots module)


def _split(study: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Indices of the continuous model and of the grid models (sorted by dt)."""
    dts = study["dts"]
    cont = [i for i, d in enumerate(dts) if d is None]
    grid = sorted((i for i, d in enumerate(dts) if d is not None), key=lambda i: dts[i])
    return cont, grid


def plot_resolution_accuracy(study: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Test accuracy against the grid step, and the cross matrix.

    Left: accuracy of the model trained and evaluated at each ``dt`` (log x axis), the
    continuous model as a horizontal line, and where available the grid-trained models
    evaluated in continuous time and the continuous-trained model evaluated on each grid.
    Right: the full cross matrix (rows trained, columns evaluated).
    """
    cont, grid = _split(study)
    A = np.asarray(study["cross_accuracy"], dtype=float)
    dts = np.array([study["dts"][i] for i in grid], dtype=float)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1.2, 1.0]})
    a = ax[0]
    if grid:
        a.plot(dts, [A[i, i] for i in grid], "o-", color="C0", label="trained and evaluated at dt")
        if cont:
            c = cont[0]
            a.plot(dts, [A[i, c] for i in grid], "s--", color="C1", ms=4, label="trained at dt, evaluated continuous")
            a.plot(dts, [A[c, i] for i in grid], "^:", color="C2", ms=4, label="trained continuous, evaluated at dt")
        a.set_xscale("log")
    if cont:
        c = cont[0]
        a.axhline(A[c, c], color="k", ls="-", lw=1.2, label=f"continuous {A[c, c]:.3f}")
    a.set_xlabel("grid step dt (s)")
    a.set_ylabel(f"test accuracy ({study['eval_samples']} samples)")
    a.set_ylim(0, 1)
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    a.set_title("accuracy against time resolution")
    b = ax[1]
    im = b.imshow(A, cmap="viridis", vmin=0, vmax=1)
    n = A.shape[0]
    for i in range(n):
        for j in range(n):
            b.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=8,
                   color="w" if A[i, j] < 0.6 else "k")
    b.set_xticks(range(n))
    b.set_yticks(range(n))
    b.set_xticklabels(study["labels"], rotation=45, ha="right", fontsize=8)
    b.set_yticklabels(study["labels"], fontsize=8)
    b.set_xlabel("evaluated under")
    b.set_ylabel("trained under")
    b.set_title("test accuracy, cross matrix")
    fig.colorbar(im, ax=b, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def plot_resolution_cost(study: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Wall time per sample against ``dt`` (log-log): event engine beside the clock reference.

    Filled markers are measured; open markers are the reference's projections where it was
    skipped (over budget). The continuous engine is a horizontal line.
    """
    cont, grid = _split(study)
    models = study["models"]
    fig, a = plt.subplots(figsize=(6.8, 4.6))
    if grid:
        dts = np.array([models[i]["dt"] for i in grid], dtype=float)
        a.plot(dts, [models[i]["engine_s_per_sample"] for i in grid], "o-", color="C0", label="event engine (grid dt)")
        ran = [(models[i]["dt"], models[i]["reference"]["s_per_sample"]) for i in grid
               if models[i]["reference"]["status"] == "ran"]
        proj = [(models[i]["dt"], models[i]["reference"]["projected_s_per_sample"]) for i in grid
                if models[i]["reference"]["status"] == "skipped"]
        allref = sorted(ran + proj)
        if allref:
            a.plot(*zip(*allref), "-", color="C3", lw=1, alpha=0.6)
        if ran:
            a.plot(*zip(*ran), "s", color="C3", label="clock reference (measured)")
        if proj:
            a.plot(*zip(*proj), "s", mfc="none", color="C3", label="clock reference (projected, skipped)")
        if dts.size >= 2:  # guide: cost proportional to 1/dt through the finest measured reference point
            pts = ran or proj
            d0, s0 = min(pts)
            g = np.array([dts.min(), dts.max()])
            a.plot(g, s0 * d0 / g, ":", color="0.5", lw=1, label="~ 1/dt")
    if cont:
        m = models[cont[0]]
        a.axhline(m["engine_s_per_sample"], color="k", lw=1.2, label="event engine (continuous)")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("grid step dt (s)")
    a.set_ylabel("wall time per test sample (s, one thread)")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    a.set_title("cost against time resolution")
    fig.tight_layout()
    return _save(fig, path)


def plot_sparsity_frontier(sweep: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Accuracy against hidden spikes per sample and against the energy proxy (log x axes).

    Colour: ``theta_0``; marker: ``m_f``; the line joins the points on the frontier (no other
    point is both more accurate and cheaper).
    """
    pts = sweep["points"]
    thetas = sorted({p["theta_0"] for p in pts})
    mfs = sorted({p["m_f"] for p in pts})
    cmap = plt.get_cmap("viridis")
    markers = "os^Dv<>p*h"
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    for a, key, front, xlabel in ((ax[0], "hidden_spikes_per_sample", "frontier_spikes", "hidden spikes per sample"),
                                  (ax[1], "energy_pj", "frontier_energy", "energy proxy per sample (pJ)")):
        for p in pts:
            c = cmap(thetas.index(p["theta_0"]) / max(len(thetas) - 1, 1))
            m = markers[mfs.index(p["m_f"]) % len(markers)]
            a.plot(max(p[key], 1e-12), p["test_accuracy"], m, color=c, ms=8, mec="k" if p[front] else c)
        f = sorted((max(p[key], 1e-12), p["test_accuracy"]) for p in pts if p[front])
        if f:
            a.plot(*zip(*f), "-", color="C3", lw=1, label="frontier")
        a.set_xscale("log")
        a.set_xlabel(xlabel)
        a.grid(alpha=0.3, which="both")
    handles = [plt.Line2D([], [], ls="", marker="o", color=cmap(i / max(len(thetas) - 1, 1)), label=f"theta_0 = {t:g}")
               for i, t in enumerate(thetas)]
    handles += [plt.Line2D([], [], ls="", marker=markers[i % len(markers)], color="0.4", label=f"m_f = {m:g}")
                for i, m in enumerate(mfs)]
    handles.append(plt.Line2D([], [], color="C3", label="frontier"))
    ax[0].legend(handles=handles, fontsize=8)
    ax[0].set_ylabel(f"test accuracy ({sweep['eval_samples']} samples)")
    ax[0].set_ylim(0, 1)
    ax[0].set_title("accuracy against spikes")
    ax[1].set_title("accuracy against energy proxy (" + sweep["energy_source"].split(":")[0] + ")")
    fig.tight_layout()
    return _save(fig, path)
