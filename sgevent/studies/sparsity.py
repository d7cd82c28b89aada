"""The sparsity sweep: accuracy against hidden spikes and energy across thresholds (DESIGN.md 3, 6).

:func:`sparsity_sweep` trains one model per threshold setting (``theta_0`` x ``m_f``) and
records its test accuracy against hidden spikes and the energy proxy of
:func:`sgevent.report.metrics.summarize`: the accuracy-sparsity frontier. Accuracy is that of
the best checkpoint (best validation accuracy) on the first ``eval_samples`` of a seeded
permutation of the test split, every model on the same samples and the same window. What the
studies share (configuration, data, training one model, Dask tasks, the run directory) is
:mod:`sgevent.studies.study_runs`.

Files in the study directory: ``sweep.json``, ``sweep.md`` and the figure ``sparsity_frontier.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError
from sgevent.studies.study_runs import (
    as_backend,
    create_study_dir,
    eval_indices,
    on_cluster,
    prepare,
    threads_of,
    time_model_label,
    train_one,
    write_json,
)
from sgevent.train.batch import evaluate
from sgevent.train.config import TrainConfig
from sgevent.train.rundir import RunDir

__all__ = ["sparsity_sweep", "format_sweep_table"]


def _frontier(acc: np.ndarray, cost: np.ndarray) -> list[bool]:
    """Points no other point beats (accuracy >= and cost <=, one strictly)."""
    on = []
    for a, c in zip(acc, cost):
        dominated = np.any((acc >= a) & (cost <= c) & ((acc > a) | (cost < c)))
        on.append(not bool(dominated))
    return on


def sparsity_sweep(
    config: TrainConfig, train: SpikeDataset, test: SpikeDataset, *,
    theta_0s: Sequence[float] = (0.05, 0.1, 0.2, 0.4), m_fs: Sequence[float] = (0.0, 0.5),
    runs_root: str | os.PathLike = "runs", name: str | None = None, eval_samples: int | None = None,
    dt_ref: float = 1e-3, progress: bool = False, backend=None,
) -> dict[str, Any]:
    """Train at every ``(theta_0, m_f)`` and map accuracy against spikes and energy.

    Parameters
    ----------
    config : TrainConfig
        Base configuration (its time model ``dt`` is kept); ``net.theta_0`` and ``net.m_f`` vary.
    train, test : SpikeDataset
    theta_0s, m_fs : sequence of float
        Base thresholds (> 0) and threshold adaptation factors (>= 0) to cross.
    runs_root, name : as :func:`sgevent.studies.resolution.resolution_study`.
    eval_samples : int, optional
        Test samples evaluated (default all).
    dt_ref : float
        Step (s) of the activation sparsity and the dense equivalent in
        :func:`sgevent.report.metrics.summarize`.
    progress : bool
    backend : sgevent.train.distributed.DaskBackend or distributed.Client, optional
        Train and evaluate each setting as one independent task on the Dask workers. None:
        everything in this process.

    Returns
    -------
    dict
        ``points``: one dict per setting with ``theta_0``, ``m_f``, ``test_accuracy``,
        ``hidden_spikes_per_sample``, ``synaptic_ops_per_sample``, ``energy_pj`` (event-driven
        proxy, "ours"), ``dense_energy_pj``, ``activation_sparsity``, ``silent_fraction``,
        ``frontier_spikes`` / ``frontier_energy`` (on the accuracy-cost frontier) and training
        facts; ``energy_source``, ``run_dir``, ``files``. Also written to ``sweep.json``.
    """
    from sgevent.report import plots_studies
    from sgevent.report.metrics import ENERGY_SOURCE, MEMORY_NOTE

    _check_settings(theta_0s, m_fs)
    config = prepare(config, train, test)
    window = float(config.window)
    idx = eval_indices(test, eval_samples, config.seed)
    options = {"theta_0s": list(theta_0s), "m_fs": list(m_fs), "eval_samples": eval_samples, "dt_ref": dt_ref}
    backend = as_backend(backend)
    study = create_study_dir(runs_root, name, config, "sweep", options, backend)
    t_study = time.perf_counter()
    settings = [(float(th), float(mf)) for mf in m_fs for th in theta_0s]
    if backend is not None:  # one task per setting: train, evaluate, summarise
        items = [(replace(config, threads=1), study, th, mf, idx, dt_ref) for th, mf in settings]
        points = on_cluster(backend, _sweep_task, items, train, test, "sparsity-sweep", progress)
    else:
        points = _sweep_here(config, train, test, study, settings, idx, dt_ref, progress)
    _mark_frontiers(points)
    sweep: dict[str, Any] = {
        "kind": "sparsity_sweep", "theta_0s": [float(x) for x in theta_0s], "m_fs": [float(x) for x in m_fs],
        "dt": config.dt, "window_s": window, "eval_samples": int(idx.size), "dt_ref": float(dt_ref),
        "points": points, "energy_source": ENERGY_SOURCE, "energy_note": MEMORY_NOTE,
        "run_dir": str(study.path), "wall_s": time.perf_counter() - t_study,
    }
    p = study.path
    sweep["files"] = {"json": str(p / "sweep.json"), "table": str(p / "sweep.md"),
                      "figure": str(plots_studies.plot_sparsity_frontier(sweep, p / "sparsity_frontier.png"))}
    (p / "sweep.md").write_text(format_sweep_table(sweep))
    write_json(p / "sweep.json", sweep)
    return sweep


def _check_settings(theta_0s: Sequence[float], m_fs: Sequence[float]) -> None:
    if len(theta_0s) == 0 or len(m_fs) == 0:
        raise ConfigError("theta_0s and m_fs must each hold at least one value")
    for th in theta_0s:
        if not (th > 0):
            raise ConfigError(f"each theta_0 must be > 0, got {th!r}")
    for mf in m_fs:
        if not (mf >= 0):
            raise ConfigError(f"each m_f must be >= 0, got {mf!r}")


def _mark_frontiers(points: list[dict[str, Any]]) -> None:
    """Set ``frontier_spikes`` and ``frontier_energy`` of every point (writes ``points``)."""
    acc = np.array([p["test_accuracy"] for p in points])
    for key, cost in (("frontier_spikes", "hidden_spikes_per_sample"), ("frontier_energy", "energy_pj")):
        for p, on in zip(points, _frontier(acc, np.array([q[cost] for q in points]))):
            p[key] = on


def _sweep_here(config: TrainConfig, train: SpikeDataset, test: SpikeDataset, study: RunDir,
                settings: list[tuple[float, float]], idx: np.ndarray, dt_ref: float, progress: bool) -> list[dict]:
    """Every setting trained and evaluated in this process, one after the other."""
    threads = threads_of(config)
    inputs = [test.sample(int(i))[:2] for i in idx]
    points = []
    for th, mf in settings:
        points.append(_sweep_point(config, train, test, study, th, mf, idx, inputs, dt_ref, threads, progress))
        if progress:
            print(f"[sparsity-sweep] {points[-1]['label']}: accuracy {points[-1]['test_accuracy']:.3f}, "
                  f"{points[-1]['hidden_spikes_per_sample']:.0f} spikes / sample", flush=True)
    return points


def _sweep_point(config: TrainConfig, train: SpikeDataset, test: SpikeDataset, study: RunDir, th: float,
                 mf: float, idx: np.ndarray, inputs: list, dt_ref: float, threads: int,
                 progress: bool) -> dict[str, Any]:
    """Train at ``(theta_0, m_f) = (th, mf)`` and measure accuracy, activity and energy on ``idx``."""
    from sgevent.report.metrics import summarize

    window, lp = float(config.window), config.learn.learn_period
    cfg = replace(config, net=replace(config.net, theta_0=float(th), m_f=float(mf)))
    lab = f"theta{th:g}_mf{mf:g}"
    net, facts = train_one(cfg, train, study, lab, progress)
    ev = evaluate(net, test, idx, dt=config.dt, window=window, learn_period=lp, threads=threads,
                  keep_results=True)
    s = summarize(ev["results"], inputs, net, window=window, dt_ref=dt_ref)
    return {
        "label": lab, "theta_0": float(th), "m_f": float(mf), "test_accuracy": ev["accuracy"],
        "hidden_spikes_per_sample": float(np.sum(ev["hidden_spikes_per_sample"])),
        "synaptic_ops_per_sample": float(np.sum(ev["synaptic_ops_per_sample"])),
        "energy_pj": s["energy"]["ours"], "dense_energy_pj": s["energy"]["dense"],
        "activation_sparsity": s["neurobench"]["activation_sparsity"],
        "silent_fraction": float(np.mean([d["silent_fraction"] for d in s["layers"]])), **facts,
    }


def _sweep_task(train, test, config: TrainConfig, study: RunDir, th: float, mf: float, idx: np.ndarray,
                dt_ref: float) -> dict[str, Any]:
    """Dask task of :func:`sparsity_sweep`: one setting, trained and evaluated on a worker."""
    from sgevent.train.distributed import resolve_data

    train, test = resolve_data(train), resolve_data(test)
    inputs = [test.sample(int(i))[:2] for i in idx]
    return _sweep_point(config, train, test, study, th, mf, idx, inputs, dt_ref, threads_of(config), False)


def format_sweep_table(sweep: dict[str, Any]) -> str:
    """Markdown table of a :func:`sparsity_sweep` result (``*``: on the accuracy-cost frontier)."""
    lines = [
        f"Sparsity sweep: {sweep['eval_samples']} test samples, time model {time_model_label(sweep['dt'])}, "
        f"window {sweep['window_s'] * 1e3:.0f} ms.",
        "",
        "| theta_0 | m_f | test acc | hidden spikes / sample | synaptic ops / sample | energy proxy (nJ / sample) "
        "| dense clock-driven (nJ / sample) | activation sparsity | silent fraction | frontier (spikes, energy) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for q in sweep["points"]:
        lines.append(
            f"| {q['theta_0']:g} | {q['m_f']:g} | {q['test_accuracy']:.3f} | {q['hidden_spikes_per_sample']:.4g} "
            f"| {q['synaptic_ops_per_sample']:.4g} | {q['energy_pj'] / 1e3:.4g} | {q['dense_energy_pj'] / 1e3:.4g} "
            f"| {q['activation_sparsity']:.3f} | {q['silent_fraction']:.3f} "
            f"| {'*' if q['frontier_spikes'] else ''}, {'*' if q['frontier_energy'] else ''} |"
        )
    lines += ["", f"Energy proxy: {sweep['energy_source']}; {sweep['energy_note']}. "
              f"Dense: the clock-driven equivalent at {sweep['dt_ref'] * 1e3:g} ms steps."]
    return "\n".join(lines) + "\n"
