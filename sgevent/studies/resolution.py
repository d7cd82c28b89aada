"""The resolution study: one model per time model, evaluated under every time model (DESIGN.md 1.3).

:func:`resolution_study` trains one network per time model (continuous, and the grid model at
each ``dt``), evaluates every trained network under every time model (a cross matrix of test
accuracy: rows = the model trained, columns = the model evaluated) and, per time model, records
activity, cost and memory of the event engine beside the clock-driven reference
(:func:`sgevent.simulate_reference`) that steps the same discrete model one ``dt`` at a time.
What the studies share (configuration, data, training one model, Dask tasks, the run directory)
is :mod:`sgevent.studies.study_runs`.

What is measured, and how
-------------------------
- *Accuracy*: of the best checkpoint (best validation accuracy) on the first ``eval_samples`` of
  a seeded permutation of the test split, all models on the same samples and the same window.
- *Engine wall time per sample*: the diagonal evaluation (trained and evaluated under the same
  time model) runs on **one thread**, after a warm-up, so it is comparable with the reference,
  which is single-threaded NumPy. Wall time on a shared machine is noisy; ratios measured in
  one run are what to read.
- *Engine state bytes*: the ``nbytes`` of every array of
  ``sgevent.engine.state.init_state(build(net, dt), no_learning(net), n_readouts)`` except the
  readout buffer ``ro`` (the output, ``n_readouts x n_out`` values, reported apart): the event
  loop's working state (aggregated cascades, own buckets, thresholds, versions, the
  fixed-capacity heap, counters, scratch). It is sized by the network alone: it depends neither
  on ``dt`` nor on the sample's duration (the grid model is run through the closed form of ``n``
  steps).
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

Files in the study directory: ``study.json``, ``study.md`` and the figures
``resolution_accuracy.png``, ``resolution_cost.png``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import learning_times
from sgevent.model.network import Network
from sgevent.reference.clock import simulate_reference
from sgevent.studies.study_runs import (
    DEFAULT_DTS,
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
from sgevent.train.batch import evaluate, predict_from_readout
from sgevent.train.config import TrainConfig
from sgevent.train.rundir import RunDir

__all__ = ["resolution_study", "engine_state_bytes", "reference_state_bytes", "format_resolution_table",
           "DEFAULT_DTS", "PROBE_STEPS"]

#: Longest reference probe (steps) used to project the reference's cost.
PROBE_STEPS = 2000


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
    net, facts = train_one(cfg, train, study, label, False)
    m = {"label": label, "dt": cfg.dt, **facts}
    row = _evaluate_row(net, i, m, dts, test, idx, float(cfg.window), cfg.learn.learn_period, n_ref, ref_budget_s,
                        threads_of(cfg))
    return m, row


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
        on the Dask workers (see :func:`sgevent.studies.study_runs.on_cluster`). None:
        everything in this process.

    Returns
    -------
    dict
        ``labels``, ``dts``, ``window_s``, ``eval_samples``, ``cross_accuracy`` (square list of
        lists, row = model trained, column = model evaluated), ``models`` (one dict per time
        model: ``test_accuracy``, ``hidden_spikes_per_sample`` (all layers),
        ``synaptic_ops_per_sample``, ``engine_s_per_sample``, ``engine_state_bytes``, ``engine_readout_buffer_bytes``,
        ``reference_state_bytes``, ``reference`` (None for continuous, else a dict with ``status``
        ``"ran"``/``"skipped"``, ``s_per_sample``, ``projected_s``, ...), training facts), the
        ``run_dir`` and ``files`` written. Also written to ``study.json``.
    """
    from sgevent.report import plots_studies

    dts = _check_dts(dts)
    config = prepare(config, train, test)
    if not (ref_budget_s >= 0):
        raise ConfigError(f"ref_budget_s must be >= 0 s, got {ref_budget_s!r}")
    window, lp = float(config.window), config.learn.learn_period
    idx = eval_indices(test, eval_samples, config.seed)
    n_ref = idx.size if ref_samples is None else max(1, min(int(ref_samples), idx.size))
    labels = [time_model_label(d) for d in dts]
    options = {"dts": dts, "ref_budget_s": ref_budget_s, "eval_samples": eval_samples, "ref_samples": ref_samples}
    backend = as_backend(backend)
    study = create_study_dir(runs_root, name, config, "study", options, backend)
    threads = threads_of(config)
    t_study = time.perf_counter()

    if backend is not None:  # one task per time model: train it, then its row of the cross matrix
        items = [(replace(config, dt=d, threads=1), study, lab, i, dts, idx, n_ref, ref_budget_s)
                 for i, (d, lab) in enumerate(zip(dts, labels))]
        done = on_cluster(backend, _resolution_task, items, train, test, "resolution-study", progress)
        models, cross = [m for m, _ in done], np.array([row for _, row in done])
    else:
        nets, models = [], []
        for d, lab in zip(dts, labels):
            net, facts = train_one(replace(config, dt=d), train, study, lab, progress)
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
    write_json(p / "study.json", study_dict)
    return study_dict


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
