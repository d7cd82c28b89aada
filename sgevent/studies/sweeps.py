"""Studies over many trained models: time resolution (DESIGN.md 1.3) and accuracy-sparsity.

``resolution_study``
    Trains one network per time model (continuous, and the grid model at each ``dt``), evaluates
    every trained network under every time model (a cross matrix of test accuracy: rows = the
    model trained, columns = the model evaluated) and, per time model, records activity, cost
    and memory of the event engine beside the clock-driven reference
    (:func:`sgevent.simulate_reference`) that steps the same discrete model one ``dt`` at a time.
``sparsity_sweep``
    Trains across threshold settings (``theta_0`` x ``m_f``) and records accuracy against hidden
    spikes and the energy proxy of :func:`sgevent.report.metrics.summarize`: the accuracy-sparsity
    frontier (DESIGN.md 3, 6).

What is measured, and how
-------------------------
- *Accuracy*: of the best checkpoint (best validation accuracy) on the first ``eval_samples`` of
  a seeded permutation of the test split, all models on the same samples and the same window.
- *Engine wall time per sample*: the diagonal evaluation (trained and evaluated under the same
  time model) runs on **one thread**, after a warm-up, so it is comparable with the reference,
  which is single-threaded NumPy. Wall time on a shared machine is noisy; ratios measured in
  one run are what to read.
- *Engine state bytes*: the ``nbytes`` of every array of
  ``sgevent.engine.state.init_state(build(net, dt), no_learning(net), n_readouts)`` except the readout
  buffer ``ro`` (the output, ``n_readouts x n_out`` values, reported apart): the event loop's
  working state (aggregated cascades, own buckets, thresholds, versions, the fixed-capacity heap,
  counters, scratch). It is sized by the network alone: it depends neither on ``dt`` nor on the
  sample's duration (the grid model is run through the closed form of ``n`` steps).
- *Reference state bytes* (analytic, float64): every source's ``K`` buckets
  (``(n_in + sum(hidden)) * K``), each hidden neuron's adaptive threshold, and each layer's drive
  ``x`` (``sum(n_post)`` over hidden layers and readout). It does not depend on ``dt`` either;
  what grows as ``1/dt`` is the reference's *time*.
- *Reference wall time per sample* (grid models only): a probe runs the reference on the first
  sample for at most ``PROBE_STEPS`` steps and extrapolates linearly in steps (its cost is
  proportional to the number of steps) to the whole evaluation of ``ref_samples`` samples. Only if
  that projection is within ``ref_budget_s`` is the reference run on those samples; otherwise the
  entry reads ``skipped (projected X s)``. When it runs, its predictions and spike counts are
  compared with the engine's grid model on the same samples (they should agree exactly).

Run directory (``runs_root/name/``): ``config.json`` (base configuration and study options),
one sub-run per trained model (``train_<label>/``, a normal :class:`sgevent.train.trainer.Trainer` run
directory), ``study.json`` / ``study.md`` and figures (resolution study) or ``sweep.json`` /
``sweep.md`` and a figure (sparsity sweep).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError, SgeventError
from sgevent.learn.spec import learning_times
from sgevent.model.network import Network
from sgevent.reference.clock import simulate_reference
from sgevent.train.batch import evaluate, predict_from_readout
from sgevent.train.checkpoint import load_checkpoint, payload_to_network
from sgevent.train.config import TrainConfig, load_config
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer, default_window

__all__ = [
    "resolution_study", "sparsity_sweep", "engine_state_bytes", "reference_state_bytes",
    "time_model_label", "format_resolution_table", "format_sweep_table", "study_config",
    "add_study_commands", "DEFAULT_DTS", "PROBE_STEPS", "STUDY_CONFIG", "QUICK_OVERRIDES", "STUDY_SIZES",
]

#: Time models of the resolution study: continuous, then grid steps (s).
DEFAULT_DTS: tuple[float | None, ...] = (None, 1e-3, 5e-4, 1e-4, 5e-5, 1e-5)
#: Longest reference probe (steps) used to project the reference's cost.
PROBE_STEPS = 2000

#: Training configuration of the command-line studies: the run-shd model (``configs/run_shd.json``:
#: 700 -> 128 -> 20, K = 8, adaptive threshold m_f = 0.5, a learning event every 10 ms, Adam 1e-2
#: with a cosine schedule, channel shift and event dropout) on a smaller budget: 1,200 training
#: samples x 2 epochs = 150 optimiser steps of 16 per model, 0.07-0.28 s of wall time per sample
#: pass (1 ms grid to 0.01 ms). Measured on 2 cores beside the sparsity sweep: 40 min of training
#: for the six time models, 62 min for the whole resolution study, 41 min for the sweep. The sparsity sweep trains on the 1 ms grid (``dt``; the studies'
#: cheapest time model). The run-shd budget itself (all 2,000 samples, 8 epochs) reaches 86.6%.
STUDY_CONFIG: dict[str, Any] = {
    "epochs": 2, "batch_size": 16, "dt": 1e-3, "val_fraction": 0.1, "seed": 0,
    "checkpoint_every": 1000, "max_train_samples": 1200, "max_eval_samples": 100,
    "net": {"hidden": [128], "n_buckets": 8, "tau_0": 5e-3, "tau_delay": 15e-3, "theta_0": 0.1, "m_f": 0.5,
            "tau_theta": 0.1},
    "learn": {"loss": "mean", "backward": "instant", "learn_period": 1e-2},
    "optim": {"name": "adam", "lr": 1e-2, "schedule": "cosine", "warmup_steps": 10, "total_steps": 150},
    "augment": {"channel_shift": 5, "event_dropout": 0.1},
}
#: ``--quick``: a smoke run of a minute or two (one epoch on 32 samples per model).
QUICK_OVERRIDES: dict[str, Any] = {"epochs": 1, "batch_size": 8, "max_train_samples": 32, "max_eval_samples": 8}
#: Study sizes (test samples evaluated, reference samples and budget, dts, thresholds).
STUDY_SIZES: dict[str, dict[str, Any]] = {
    "full": {"eval_samples": 500, "ref_samples": 10, "ref_budget_s": 240.0, "dts": DEFAULT_DTS,
             "theta_0s": (0.05, 0.1, 0.2, 0.4), "m_fs": (0.0, 0.5)},
    "quick": {"eval_samples": 24, "ref_samples": 6, "ref_budget_s": 20.0, "dts": (None, 1e-3, 1e-4),
              "theta_0s": (0.1, 0.4), "m_fs": (0.0,)},
}


# ---------------------------------------------------------------------------- helpers
def time_model_label(dt: float | None) -> str:
    """``"continuous"`` or ``"dt=<step>"`` (e.g. ``"dt=0.0001"``)."""
    return "continuous" if dt is None else f"dt={dt:g}"


def _check_dts(dts: Sequence[float | None]) -> list[float | None]:
    out: list[float | None] = []
    for d in dts:
        if d is not None and not (isinstance(d, (int, float)) and math.isfinite(d) and d > 0):
            raise ConfigError(f"each time model must be None (continuous) or a grid step > 0 s, got {d!r}")
        d = None if d is None else float(d)
        if d in out:
            raise ConfigError(f"time model {time_model_label(d)} is listed twice in dts={list(dts)}")
        out.append(d)
    if not out:
        raise ConfigError("dts is empty: give at least one time model (None = continuous)")
    return out


def engine_state_bytes(net: Network, dt: float | None, n_readouts: int) -> dict[str, int]:
    """Working state of the event loop for one forward sample (see module docstring).

    Returns
    -------
    dict
        ``state`` (bytes of every array of :func:`sgevent.engine.state.init_state` except ``ro``),
        ``readout_buffer`` (bytes of ``ro``, ``n_readouts x n_out`` float64) and ``per_array``.
    """
    from sgevent.engine.build import build
    from sgevent.engine.state import init_state, state_arrays
    from sgevent.learn.accumulate import no_learning

    S = init_state(build(net, dt), no_learning(net), int(n_readouts))
    per = {name: int(np.asarray(a).nbytes) for name, a in state_arrays(S).items()}
    ro = per["out.ro"]
    return {"state": sum(per.values()) - ro, "readout_buffer": ro, "per_array": per}


def reference_state_bytes(net: Network) -> int:
    """Analytic float64 state of :func:`sgevent.simulate_reference` (see module docstring)."""
    K = net.n_buckets
    buckets = (net.n_in + sum(net.hidden)) * K
    thresholds = sum(net.hidden)
    drives = sum(net.sizes[1:])
    return 8 * (buckets + thresholds + drives)


def _eval_indices(test: SpikeDataset, n: int | None, seed: int) -> np.ndarray:
    idx = np.random.default_rng([seed, 7]).permutation(len(test))
    return np.sort(idx[:n] if n is not None else idx)


def _train_one(cfg: TrainConfig, train: SpikeDataset, study: RunDir, label: str, progress: bool) -> tuple[Network, dict]:
    """Train one model in ``study/train_<label>/``; the best checkpoint's network and facts."""
    run = RunDir.create(study.path, f"train_{label}", config=cfg.to_dict(), seed=cfg.seed)
    trainer = Trainer(cfg, train, run, progress=progress)
    t0 = time.perf_counter()
    res = trainer.fit()
    wall = time.perf_counter() - t0
    net = payload_to_network(load_checkpoint(run.checkpoint_best)["net"])
    passes = cfg.epochs * trainer.train_idx.size
    return net, {"run_dir": str(run.path), "train_wall_s": wall, "train_samples": int(trainer.train_idx.size),
                 "train_s_per_sample_pass": wall / max(passes, 1),
                 "best_val_accuracy": res.get("best_val_accuracy")}


def _threads(cfg: TrainConfig) -> int:
    return cfg.threads or (os.cpu_count() or 1)


def _engine_timed(net, test, idx, dt, window, lp) -> tuple[dict, float]:
    """Single-thread evaluation (after a one-sample warm-up) and its wall time per sample."""
    t, u, _ = test.sample(int(idx[0]))
    simulate(net, t, u, dt=dt, t_end=window, readout_times=learning_times(window, lp))
    t0 = time.perf_counter()
    ev = evaluate(net, test, idx, dt=dt, window=window, learn_period=lp, threads=1, keep_results=True)
    return ev, (time.perf_counter() - t0) / max(len(idx), 1)


def _reference(net, test, idx, dt, window, lp, budget_s, engine_results) -> dict[str, Any]:
    """Probe, project, and run the clock reference on ``idx`` if within budget."""
    ro = learning_times(window, lp)
    n_steps = int(math.floor(window / dt + 1e-9)) + 1
    t, u, y = test.sample(int(idx[0]))
    probe_end = min(window, (PROBE_STEPS - 1) * dt)
    probe_steps = int(math.floor(probe_end / dt + 1e-9)) + 1
    t0 = time.perf_counter()
    r0 = simulate_reference(net, t, u, dt, t_end=probe_end, readout_times=ro if probe_end == window else [probe_end])
    probe_s = time.perf_counter() - t0
    per_sample = probe_s * n_steps / probe_steps
    projected = per_sample * len(idx)
    out: dict[str, Any] = {"n_steps": n_steps, "probe_steps": probe_steps, "probe_s": probe_s,
                           "projected_s": projected, "budget_s": float(budget_s), "n_samples": int(len(idx))}
    if projected > budget_s:
        out.update(status="skipped", s_per_sample=None, projected_s_per_sample=per_sample)
        return out
    full_probe = probe_steps == n_steps
    walls, agree, same_spikes, correct = [], 0, 0, 0
    for k, i in enumerate(idx):
        t, u, y = test.sample(int(i))
        if k == 0 and full_probe:
            r, w = r0, probe_s
        else:
            t0 = time.perf_counter()
            r = simulate_reference(net, t, u, dt, t_end=window, readout_times=ro)
            w = time.perf_counter() - t0
        walls.append(w)
        p = predict_from_readout(r.readout)
        e = engine_results[k]
        agree += int(p == predict_from_readout(e.readout))
        same_spikes += int(list(r.n_spikes) == list(e.n_spikes))
        correct += int(p == int(y))
    n = len(idx)
    out.update(status="ran", s_per_sample=float(np.mean(walls)), wall_s=float(np.sum(walls)),
               accuracy=correct / n, prediction_agreement=agree / n, spike_count_agreement=same_spikes / n)
    return out


def _prepare(config: TrainConfig, train: SpikeDataset, test: SpikeDataset) -> TrainConfig:
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a sgevent TrainConfig, got {type(config).__name__}")
    if train.n_channels != test.n_channels or train.n_classes != test.n_classes:
        raise ConfigError(
            f"train ({train.source}: {train.n_channels} channels, {train.n_classes} classes) and test "
            f"({test.source}: {test.n_channels} channels, {test.n_classes} classes) do not match"
        )
    window = config.window or default_window(train, config.learn.learn_period)
    return replace(config, window=window)  # one window for every model and evaluation


def _write_json(path: Path, data: Any) -> None:
    from sgevent.train.rundir import to_jsonable

    path.write_text(json.dumps(to_jsonable(data, path.name), indent=2) + "\n")


def _as_backend(backend):
    if backend is None:
        return None
    from sgevent.train.distributed import as_backend

    return as_backend(backend)


def _on_cluster(backend, task, items: list[tuple], train: SpikeDataset, test: SpikeDataset, what: str,
                progress: bool) -> list:
    """``task(train, test, *item)`` for every item as independent Dask tasks; results in item order.

    The datasets travel once (:meth:`sgevent.train.distributed.DaskBackend.data_ref`); each task trains
    one model in its own sub-run directory under the study's, so with workers on other machines
    the study's ``runs_root`` must be on a file system they share.
    """
    t0 = time.perf_counter()
    out = backend.run_tasks(task, items, datasets=[train, test], what="model")
    if progress:
        print(f"[{what}] {len(items)} models trained and evaluated on {backend.n_workers} Dask workers in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return out


def _evaluate_row(net: Network, i: int, m: dict[str, Any], dts: list[float | None], test: SpikeDataset,
                  idx: np.ndarray, window: float, lp: float, n_ref: int, ref_budget_s: float,
                  threads: int) -> np.ndarray:
    """Test accuracy of model ``i`` under every time model (a row of the cross matrix); the
    diagonal's activity, cost and reference facts go into ``m``."""
    row = np.zeros(len(dts))
    for j, d in enumerate(dts):
        if i == j:
            ev, s_per = _engine_timed(net, test, idx, d, window, lp)
            es = engine_state_bytes(net, d, learning_times(window, lp).size)
            m.update(
                test_accuracy=ev["accuracy"], test_loss=ev["loss"],
                hidden_spikes_per_sample=float(np.sum(ev["hidden_spikes_per_sample"])),
                hidden_spikes_per_layer=ev["hidden_spikes_per_sample"],
                synaptic_ops_per_sample=float(np.sum(ev["synaptic_ops_per_sample"])),
                synaptic_ops_per_layer=ev["synaptic_ops_per_sample"],
                engine_s_per_sample=s_per, engine_state_bytes=es["state"],
                engine_readout_buffer_bytes=es["readout_buffer"],
                reference_state_bytes=reference_state_bytes(net),
            )
            m["reference"] = None if d is None else _reference(
                net, test, idx[:n_ref], d, window, lp, ref_budget_s, ev["results"][:n_ref])
        else:
            ev = evaluate(net, test, idx, dt=d, window=window, learn_period=lp, threads=threads)
        row[j] = ev["accuracy"]
    return row


def _resolution_task(train, test, cfg: TrainConfig, study: RunDir, label: str, i: int, dts: list[float | None],
                     idx: np.ndarray, n_ref: int, ref_budget_s: float) -> tuple[dict[str, Any], np.ndarray]:
    """Dask task of :func:`resolution_study`: train time model ``i``, evaluate it under all."""
    from sgevent.train.distributed import resolve_data

    train, test = resolve_data(train), resolve_data(test)
    net, facts = _train_one(cfg, train, study, label, False)
    m = {"label": label, "dt": cfg.dt, **facts}
    row = _evaluate_row(net, i, m, dts, test, idx, float(cfg.window), cfg.learn.learn_period, n_ref, ref_budget_s,
                        _threads(cfg))
    return m, row


# ---------------------------------------------------------------------------- resolution study
def resolution_study(
    config: TrainConfig, train: SpikeDataset, test: SpikeDataset, *,
    dts: Sequence[float | None] = DEFAULT_DTS, runs_root: str | os.PathLike = "runs", name: str | None = None,
    ref_budget_s: float = 600.0, eval_samples: int | None = None, ref_samples: int | None = None,
    progress: bool = False, backend=None,
) -> dict[str, Any]:
    """Train under each time model, evaluate under every time model, compare costs (module docs).

    Parameters
    ----------
    config : TrainConfig
        Base configuration; ``dt`` is replaced per time model. A ``window`` of None is resolved
        once from ``train`` so every model and evaluation uses the same window.
    train, test : SpikeDataset
        Training split (validation carved out by the trainer) and test split.
    dts : sequence of float or None
        Time models: None = continuous, a float = grid step (s). Distinct.
    runs_root : path-like
        Parent of the study's run directory.
    name : str, optional
        Study directory name (default: a timestamp).
    ref_budget_s : float
        Largest projected wall time (s) of one time model's reference evaluation.
    eval_samples : int, optional
        Test samples evaluated (default all).
    ref_samples : int, optional
        Of those, how many the reference runs on (default all evaluated samples).
    progress : bool
        Show the trainers' progress.
    backend : sgevent.train.distributed.DaskBackend or distributed.Client, optional
        Train each time model, and evaluate it under every time model, as one independent task
        on the Dask workers (see :func:`_on_cluster`). None: everything in this process.

    Returns
    -------
    dict
        ``labels``, ``dts``, ``window_s``, ``eval_samples``, ``cross_accuracy`` (square list of
        lists, row = model trained, column = model evaluated), ``models`` (one dict per time
        model: ``test_accuracy``, ``hidden_spikes_per_sample`` (all layers), ``synaptic_ops_per_sample``,
        ``engine_s_per_sample``, ``engine_state_bytes``, ``engine_readout_buffer_bytes``,
        ``reference_state_bytes``, ``reference`` (None for continuous, else a dict with ``status``
        ``"ran"``/``"skipped"``, ``s_per_sample``, ``projected_s``, ...), training facts), the
        ``run_dir`` and ``files`` written. Also written to ``study.json``.
    """
    from sgevent.report import plots_studies

    dts = _check_dts(dts)
    config = _prepare(config, train, test)
    if not (ref_budget_s >= 0):
        raise ConfigError(f"ref_budget_s must be >= 0 s, got {ref_budget_s!r}")
    window, lp = float(config.window), config.learn.learn_period
    idx = _eval_indices(test, eval_samples, config.seed)
    if idx.size == 0:
        raise ConfigError(f"{test.source}: no test samples to evaluate (eval_samples={eval_samples})")
    n_ref = idx.size if ref_samples is None else max(1, min(int(ref_samples), idx.size))
    labels = [time_model_label(d) for d in dts]
    options = {"dts": dts, "ref_budget_s": ref_budget_s, "eval_samples": eval_samples, "ref_samples": ref_samples}
    backend = _as_backend(backend)
    study = RunDir.create(runs_root, name, config={"base": config.to_dict(), "study": options}, seed=config.seed,
                          extra_provenance=None if backend is None else {"backend": backend.describe()})
    threads = _threads(config)
    t_study = time.perf_counter()

    if backend is not None:  # one task per time model: train it, then its row of the cross matrix
        items = [(replace(config, dt=d, threads=1), study, lab, i, dts, idx, n_ref, ref_budget_s)
                 for i, (d, lab) in enumerate(zip(dts, labels))]
        done = _on_cluster(backend, _resolution_task, items, train, test, "resolution-study", progress)
        models, cross = [m for m, _ in done], np.array([row for _, row in done])
    else:
        nets, models = [], []
        for d, lab in zip(dts, labels):
            net, facts = _train_one(replace(config, dt=d), train, study, lab, progress)
            nets.append(net)
            models.append({"label": lab, "dt": d, **facts})
            if progress:
                print(f"[resolution-study] trained {lab} in {facts['train_wall_s']:.0f} s", flush=True)

        cross = np.zeros((len(dts), len(dts)))
        for i, net in enumerate(nets):
            cross[i] = _evaluate_row(net, i, models[i], dts, test, idx, window, lp, n_ref, ref_budget_s, threads)
            if progress:
                print(f"[resolution-study] evaluated the model trained at {labels[i]}", flush=True)

    study_dict: dict[str, Any] = {
        "kind": "resolution_study", "labels": labels, "dts": dts, "window_s": window, "learn_period_s": lp,
        "eval_samples": int(idx.size), "ref_samples": int(n_ref), "ref_budget_s": float(ref_budget_s),
        "cross_accuracy": cross.tolist(), "models": models, "run_dir": str(study.path),
        "wall_s": time.perf_counter() - t_study,
        "notes": {
            "cross_accuracy": "rows: time model trained under; columns: time model evaluated under",
            "engine_s_per_sample": "single-thread wall time of the event engine per test sample (forward)",
            "engine_state_bytes": "nbytes of init_state(build(net, dt), no_learning(net), n_readouts) "
                                  "without the readout buffer: independent of dt and sample duration",
            "reference_state_bytes": "analytic: all per-source buckets + per-layer thresholds and drives (float64)",
            "reference": f"clock-driven reference, single thread; probe of <= {PROBE_STEPS} steps projected "
                         "linearly; skipped when the projection exceeds ref_budget_s",
        },
    }
    p = study.path
    study_dict["files"] = {
        "json": str(p / "study.json"), "table": str(p / "study.md"),
        "accuracy_figure": str(plots_studies.plot_resolution_accuracy(study_dict, p / "resolution_accuracy.png")),
        "cost_figure": str(plots_studies.plot_resolution_cost(study_dict, p / "resolution_cost.png")),
    }
    (p / "study.md").write_text(format_resolution_table(study_dict))
    _write_json(p / "study.json", study_dict)
    return study_dict


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _ref_cell(ref: dict | None) -> str:
    if ref is None:
        return "n/a (continuous)"
    if ref["status"] == "skipped":
        return f"skipped (projected {ref['projected_s']:.0f} s)"
    return f"{ref['s_per_sample'] * 1e3:.4g}"


def format_resolution_table(study: dict[str, Any]) -> str:
    """Markdown tables of a :func:`resolution_study` result (per time model; cross matrix)."""
    lines = [
        f"Resolution study: {study['eval_samples']} test samples, window {study['window_s'] * 1e3:.0f} ms, "
        f"learning/readout every {study['learn_period_s'] * 1e3:g} ms. Reference on {study['ref_samples']} "
        f"samples, budget {study['ref_budget_s']:.0f} s per time model.",
        "",
        "| time model | test acc | hidden spikes / sample | synaptic ops / sample | engine ms / sample "
        "| engine state (bytes) | reference ms / sample | reference state (bytes) | ref = engine (pred, spikes) "
        "| train s / sample-pass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in study["models"]:
        ref = m["reference"]
        agree = "-" if not ref or ref["status"] != "ran" else (
            f"{ref['prediction_agreement']:.2f}, {ref['spike_count_agreement']:.2f}")
        lines.append(
            f"| {m['label']} | {m['test_accuracy']:.3f} | {m['hidden_spikes_per_sample']:.4g} "
            f"| {m['synaptic_ops_per_sample']:.4g} | {m['engine_s_per_sample'] * 1e3:.4g} | {m['engine_state_bytes']} "
            f"| {_ref_cell(ref)} | {m['reference_state_bytes'] if ref is not None else '-'} | {agree} "
            f"| {m['train_s_per_sample_pass']:.3g} |"
        )
    labels = study["labels"]
    lines += ["", "Test accuracy, trained under (rows) x evaluated under (columns):", "",
              "| trained \\ evaluated | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for lab, row in zip(labels, study["cross_accuracy"]):
        lines.append(f"| {lab} | " + " | ".join(f"{a:.3f}" for a in row) + " |")
    lines += [
        "",
        "Engine state: the event loop's working arrays (init_state without the readout buffer); it does not "
        "depend on dt or on the sample's duration. Reference state: per-source buckets plus per-layer "
        "thresholds and drives. Times are single-thread wall times on a possibly shared machine.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- sparsity sweep
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
    runs_root, name : as :func:`resolution_study`.
    eval_samples : int, optional
        Test samples evaluated (default all).
    dt_ref : float
        Step (s) of the activation sparsity and the dense equivalent in :func:`sgevent.report.metrics.summarize`.
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

    if len(theta_0s) == 0 or len(m_fs) == 0:
        raise ConfigError("theta_0s and m_fs must each hold at least one value")
    for th in theta_0s:
        if not (th > 0):
            raise ConfigError(f"each theta_0 must be > 0, got {th!r}")
    for mf in m_fs:
        if not (mf >= 0):
            raise ConfigError(f"each m_f must be >= 0, got {mf!r}")
    config = _prepare(config, train, test)
    window = float(config.window)
    idx = _eval_indices(test, eval_samples, config.seed)
    if idx.size == 0:
        raise ConfigError(f"{test.source}: no test samples to evaluate (eval_samples={eval_samples})")
    options = {"theta_0s": list(theta_0s), "m_fs": list(m_fs), "eval_samples": eval_samples, "dt_ref": dt_ref}
    backend = _as_backend(backend)
    study = RunDir.create(runs_root, name, config={"base": config.to_dict(), "sweep": options}, seed=config.seed,
                          extra_provenance=None if backend is None else {"backend": backend.describe()})
    threads = _threads(config)
    t_study = time.perf_counter()
    settings = [(float(th), float(mf)) for mf in m_fs for th in theta_0s]
    if backend is not None:  # one task per setting: train, evaluate, summarise
        items = [(replace(config, threads=1), study, th, mf, idx, dt_ref) for th, mf in settings]
        points = _on_cluster(backend, _sweep_task, items, train, test, "sparsity-sweep", progress)
    else:
        inputs = [test.sample(int(i))[:2] for i in idx]
        points = []
        for th, mf in settings:
            points.append(_sweep_point(config, train, test, study, th, mf, idx, inputs, dt_ref, threads, progress))
            if progress:
                print(f"[sparsity-sweep] {points[-1]['label']}: accuracy {points[-1]['test_accuracy']:.3f}, "
                      f"{points[-1]['hidden_spikes_per_sample']:.0f} spikes / sample", flush=True)
    acc = np.array([p["test_accuracy"] for p in points])
    for key, cost in (("frontier_spikes", "hidden_spikes_per_sample"), ("frontier_energy", "energy_pj")):
        for p, on in zip(points, _frontier(acc, np.array([q[cost] for q in points]))):
            p[key] = on
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
    _write_json(p / "sweep.json", sweep)
    return sweep


def _sweep_point(config: TrainConfig, train: SpikeDataset, test: SpikeDataset, study: RunDir, th: float, mf: float,
                 idx: np.ndarray, inputs: list, dt_ref: float, threads: int, progress: bool) -> dict[str, Any]:
    """Train at ``(theta_0, m_f) = (th, mf)`` and measure accuracy, activity and energy on ``idx``."""
    from sgevent.report.metrics import summarize

    window, lp = float(config.window), config.learn.learn_period
    cfg = replace(config, net=replace(config.net, theta_0=float(th), m_f=float(mf)))
    lab = f"theta{th:g}_mf{mf:g}"
    net, facts = _train_one(cfg, train, study, lab, progress)
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
    return _sweep_point(config, train, test, study, th, mf, idx, inputs, dt_ref, _threads(config), False)


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


# ---------------------------------------------------------------------------- command line
def study_config(config_path: str | None, quick: bool) -> TrainConfig:
    """The studies' training configuration: ``config_path`` or :data:`STUDY_CONFIG`, then
    :data:`QUICK_OVERRIDES` with ``quick``."""
    cfg = load_config(config_path) if config_path else TrainConfig.from_dict(json.loads(json.dumps(STUDY_CONFIG)))
    return replace(cfg, **QUICK_OVERRIDES) if quick else cfg


def _load_splits(data_dir: str) -> tuple[SpikeDataset, SpikeDataset]:
    from sgevent.data import load_h5

    d = Path(data_dir)
    train, test = sorted(d.glob("*_train.h5")), sorted(d.glob("*_test.h5"))
    if not train or not test:
        raise SgeventError(f"{d}: need one *_train.h5 and one *_test.h5 (SHD layout), found "
                           f"{sorted(p.name for p in d.glob('*.h5')) or 'no .h5 files'}")
    return load_h5(train[0]), load_h5(test[0])


def _parse_dt(text: str) -> float | None:
    if text.lower() in ("none", "continuous", "0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a time model is a grid step in s or 'continuous', got {text!r}") from None


def _cmd_resolution(args: argparse.Namespace) -> int:
    from sgevent.train.distributed import start_backend_from_args

    size = STUDY_SIZES["quick" if args.quick else "full"]
    train, test = _load_splits(args.data_dir)
    backend = start_backend_from_args(args)  # None without --workers / --scheduler
    try:
        res = resolution_study(
            study_config(args.config, args.quick), train, test, dts=args.dts or size["dts"], runs_root=args.runs,
            name=args.name, ref_budget_s=size["ref_budget_s"] if args.ref_budget is None else args.ref_budget,
            eval_samples=args.eval_samples or size["eval_samples"], ref_samples=size["ref_samples"],
            progress=not args.quiet, backend=backend)
    finally:
        if backend is not None:
            backend.close()
    print(format_resolution_table(res))
    print(f"study directory: {res['run_dir']}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sgevent.train.distributed import start_backend_from_args

    size = STUDY_SIZES["quick" if args.quick else "full"]
    train, test = _load_splits(args.data_dir)
    backend = start_backend_from_args(args)  # None without --workers / --scheduler
    try:
        res = sparsity_sweep(
            study_config(args.config, args.quick), train, test, theta_0s=args.theta_0s or size["theta_0s"],
            m_fs=args.m_fs or size["m_fs"], runs_root=args.runs, name=args.name,
            eval_samples=args.eval_samples or size["eval_samples"], progress=not args.quiet, backend=backend)
    finally:
        if backend is not None:
            backend.close()
    print(format_sweep_table(res))
    print(f"sweep directory: {res['run_dir']}")
    return 0


def add_study_commands(subparsers: Any) -> None:
    """Add ``resolution-study`` and ``sparsity-sweep`` to the ``sgevent`` command's subparsers."""
    from sgevent.train.distributed import add_backend_arguments

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", required=True, help="folder with *_train.h5 and *_test.h5 (SHD layout)")
        p.add_argument("--config", help="JSON TrainConfig (default: the studies' small configuration)")
        p.add_argument("--quick", action="store_true", help="smoke run of a minute or two")
        p.add_argument("--runs", default="runs", help="parent of the study directory")
        p.add_argument("--name", help="study directory name (default: timestamp)")
        p.add_argument("--eval-samples", dest="eval_samples", type=int, help="test samples evaluated")
        p.add_argument("--quiet", action="store_true")
        add_backend_arguments(p)  # --workers N | --scheduler ADDRESS: one Dask task per trained model

    rs = subparsers.add_parser("resolution-study", help="train/evaluate under continuous and grid time models")
    common(rs)
    rs.add_argument("--dts", nargs="+", type=_parse_dt,
                    help="time models: grid steps in s, 'continuous' (default: continuous 1e-3 5e-4 1e-4 5e-5 1e-5)")
    rs.add_argument("--ref-budget", dest="ref_budget", type=float,
                    help="largest projected seconds of the clock reference per time model")
    rs.set_defaults(func=_cmd_resolution)
    sw = subparsers.add_parser("sparsity-sweep", help="accuracy against spikes and energy across thresholds")
    common(sw)
    sw.add_argument("--theta-0s", dest="theta_0s", nargs="+", type=float)
    sw.add_argument("--m-fs", dest="m_fs", nargs="+", type=float)
    sw.set_defaults(func=_cmd_sweep)
