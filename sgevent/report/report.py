"""The report of a training run: ``runs/<name>/report.md`` and its PNG figures.

:func:`write_report` reads a run directory (``config.json``, ``metrics.jsonl``,
``results.json``, ``checkpoint_best.h5``), runs the best network once more over the test samples
to measure its activity (DESIGN.md 6), draws the figures (:mod:`sgevent.report.plots`) and writes a
Markdown page that links them. It needs nothing else, so a report can be rebuilt from any run
directory and its test split.

Sparsity, per hidden layer, over the evaluated test samples (window ``T`` seconds, ``N``
neurons, ``S`` samples):

* spikes per sample: mean over samples of the layer's spike count (bursts counted spike by
  spike);
* spikes per neuron per second: spikes per sample / (N T);
* silent neurons: the fraction of neurons that never spike on any of the S samples, and the
  mean over samples of the fraction that do not spike on that sample;
* synaptic operations per sample: events delivered by the layer times their fan-out (the
  engine's ``stats["synaptic_ops"]``; the input row counts the input spikes' fan-out).

Temporal kernels: a neuron ``j`` of layer ``l`` sees a presynaptic spike at delay ``d`` through
``kappa_j(d) = sum_k v[j,k] P(d)[k,0]``, where ``P(d)`` is the propagator of the source's gamma
cascade (:func:`sgevent.numerics.propagator.propagator`) and ``P(d)[k,0]`` the impulse response of bucket
``k``; the synapse scales it by ``w[j,i]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import DataError
from sgevent.model.network import Network
from sgevent.numerics.propagator import grid_propagator, propagator
from sgevent.report.metrics import format_table, summarize
from sgevent.train.batch import evaluate
from sgevent.train.checkpoint import load_checkpoint, payload_to_network
from sgevent.train.config import TrainConfig
from sgevent.train.rundir import RunDir

__all__ = ["REFERENCE_FIGURES", "confusion_matrix", "per_class_accuracy", "layer_activity", "kernel_curves",
           "analyse_test", "write_report", "FIGURES"]

#: SHD test accuracies (%) from the literature (DESIGN.md 7): (model, accuracy text, note).
REFERENCE_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("Cramer et al. 2020, recurrent SNN (BPTT)", "83.2", "introduced SHD"),
    ("feed-forward LIF SNN (BPTT)", "~79", ""),
    ("online learning rules (OTTT / OSTL / OTPE), controlled comparison", "70-75", "online rules"),
    ("EventProp (mlGeNN)", "93.5", "exact event-based gradients"),
    ("DCLS learned delays", "95.1", ""),
    ("SE-adLIF", "95.8", ""),
    ("best known", "96.3", ""),
)

#: File names of the figures, relative to the run directory.
FIGURES = {
    "curves": "fig_learning_curves.png",
    "sample": "fig_sample_raster.png",
    "confusion": "fig_confusion.png",
    "kernels": "fig_kernels.png",
}

_CHUNK = 100  # samples evaluated at once while measuring activity (bounds memory)


# ---------------------------------------------------------------------- numbers
def confusion_matrix(predictions, labels, n_classes: int) -> np.ndarray:
    """Counts ``cm[true, predicted]``, shape (n_classes, n_classes), int64."""
    p, y = np.asarray(predictions, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    return cm


def per_class_accuracy(predictions, labels, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of each class (NaN for an absent class) and the number of samples of each."""
    cm = confusion_matrix(predictions, labels, n_classes)
    n = cm.sum(axis=1)
    acc = np.divide(np.diag(cm), n, out=np.full(n_classes, np.nan), where=n > 0)
    return acc, n


def layer_activity(neuron_counts: list[np.ndarray], active_per_sample: list[np.ndarray], n_samples: int,
                   window: float, syn_ops: np.ndarray, input_spikes: float) -> list[dict[str, Any]]:
    """Sparsity numbers per source (input channels, then each hidden layer).

    Parameters
    ----------
    neuron_counts : list of ndarray, each (N_l,)
        Spikes of each neuron of hidden layer l summed over the samples.
    active_per_sample : list of ndarray, each (S,)
        Number of neurons of layer l that spike at least once on each sample.
    n_samples : int
        S.
    window : float
        Sample window T (s).
    syn_ops : ndarray, shape (n_layers,)
        Mean synaptic operations per sample delivered *into* each processing layer
        (index 0: from the inputs, l + 1: from hidden layer l).
    input_spikes : float
        Mean input spikes per sample.

    Returns
    -------
    list of dict
        ``layer``, ``n_neurons``, ``spikes_per_sample``, ``spikes_per_neuron_per_s``,
        ``silent_fraction_all`` (never spike on any sample), ``silent_fraction_per_sample``
        (mean over samples), ``synaptic_ops_per_sample`` (outgoing).
    """
    rows = [{"layer": "input", "n_neurons": None, "spikes_per_sample": float(input_spikes),
             "spikes_per_neuron_per_s": None, "silent_fraction_all": None, "silent_fraction_per_sample": None,
             "synaptic_ops_per_sample": float(syn_ops[0])}]
    S = max(int(n_samples), 1)
    for l, (cnt, act) in enumerate(zip(neuron_counts, active_per_sample)):
        n = cnt.size
        sps = float(cnt.sum()) / S
        rows.append({
            "layer": f"hidden {l}", "n_neurons": int(n), "spikes_per_sample": sps,
            "spikes_per_neuron_per_s": sps / (n * window),
            "silent_fraction_all": float(np.mean(cnt == 0)),
            "silent_fraction_per_sample": float(1.0 - np.mean(act) / n) if act.size else float("nan"),
            "synaptic_ops_per_sample": float(syn_ops[l + 1]),
        })
    return rows


def kernel_curves(net: Network, layer: int, rows, delays: np.ndarray, dt: float | None = None) -> np.ndarray:
    """Temporal kernels ``kappa_j(d) = sum_k v[j,k] P(d)[k,0]`` of units ``rows`` of ``layer``.

    Parameters
    ----------
    net : Network
    layer : int
        Processing layer (0 .. n_layers-1; the last is the readout). It reads source ``layer``.
    rows : sequence of int
        Post-synaptic units.
    delays : ndarray, shape (n_d,)
        Delays (s), >= 0.
    dt : float, optional
        Grid step (s) of the grid model: ``P(d)`` is then the discrete recursion applied
        ``round(d / dt)`` times (:func:`sgevent.numerics.propagator.grid_propagator`); None: continuous.

    Returns
    -------
    ndarray, shape (len(rows), n_d)
        With per-synapse bucket weights, the kernel of each unit's strongest synapse (largest
        ``|w|``).
    """
    taus = net.taus[layer]
    if dt is None:
        resp = np.array([propagator(taus, float(d))[:, 0] for d in delays])  # (n_d, K)
    else:
        resp = np.array([grid_propagator(taus, dt, int(round(d / dt)))[:, 0] for d in delays])
    w_l, v_l, _ = net.dense_params(layer)  # a conv layer: its dense equivalent, unit by unit
    out = []
    for j in rows:
        if net.per_synapse:
            i = int(np.argmax(np.abs(w_l[j])))
            v = v_l[j, i]
        else:
            v = v_l[j]
        out.append(resp @ v)
    return np.array(out).reshape(len(rows), delays.size)


def _load_best(run: RunDir) -> tuple[Network, TrainConfig, str]:
    for path in (run.checkpoint_best, run.checkpoint_last):
        if path.exists():
            d = load_checkpoint(path)
            return payload_to_network(d["net"]), TrainConfig.from_dict(d["config"]), path.name
    raise DataError(f"{run.path}: no checkpoint_best.h5 or checkpoint_last.h5; train the run first")


def analyse_test(net: Network, data: SpikeDataset, idx: np.ndarray, *, dt: float | None, window: float,
                 learn_period: float, threads: int = 1, example: int = 0) -> dict[str, Any]:
    """Run ``net`` over test samples ``idx`` and measure its activity.

    Returns
    -------
    dict
        ``activity`` (see :func:`layer_activity`), ``neuron_counts`` (per layer), ``accuracy``,
        ``n_samples`` and ``example`` (the :class:`~sgevent.model.result.SimulationResult` of sample
        ``idx[example]`` with its index and prediction).
    """
    L = len(net.hidden)
    counts = [np.zeros(n, dtype=np.int64) for n in net.hidden]
    active: list[list[int]] = [[] for _ in range(L)]
    syn = np.zeros(net.n_layers)
    in_spikes = 0.0
    correct = 0
    ex = None
    all_results, all_inputs = [], []
    for start in range(0, idx.size, _CHUNK):
        part = idx[start:start + _CHUNK]
        ev = evaluate(net, data, part, dt=dt, window=window, learn_period=learn_period, threads=threads,
                      keep_results=True)
        correct += int(np.sum(ev["predictions"] == ev["labels"]))
        all_results.extend(ev["results"])
        all_inputs.extend(data.sample(int(i))[:2] for i in part)
        for k, r in enumerate(ev["results"]):
            for l, layer in enumerate(r.layers):
                counts[l] += np.bincount(layer.neurons, weights=layer.counts, minlength=net.hidden[l]).astype(np.int64)
                active[l].append(int(np.unique(layer.neurons).size))
            syn += np.asarray(r.stats["synaptic_ops"], dtype=float)
            in_spikes += r.stats["input_spikes"]
            if start + k == example:
                ex = {"index": int(part[k]), "result": r, "prediction": int(ev["predictions"][k]),
                      "label": int(ev["labels"][k])}
    S = max(idx.size, 1)
    act = layer_activity(counts, [np.array(a) for a in active], idx.size, window, syn / S, in_spikes / S)
    summary = summarize(all_results, all_inputs, net, window=window, dt_ref=1e-3) if all_results else None
    return {"activity": act, "neuron_counts": counts, "accuracy": correct / S, "n_samples": int(idx.size),
            "example": ex, "metrics": summary}


# ---------------------------------------------------------------------- report
def _pct(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else fmt.format(x)


def _figures(run: RunDir, net: Network, cfg: TrainConfig, metrics, results, data: SpikeDataset,
             analysis: dict[str, Any], cm: np.ndarray, window: float) -> dict[str, str]:
    from sgevent.report import plots  # matplotlib stays out of everything but plots and cli

    out = {}
    base = results.get("baseline", {}).get("test_accuracy")
    if metrics:
        plots.plot_learning_curves(metrics, run.path / FIGURES["curves"], baseline_accuracy=base,
                                   test_accuracy=results.get("test_accuracy"))
        out["curves"] = FIGURES["curves"]
    ex = analysis["example"]
    if ex is not None:
        t, u, _ = data.sample(ex["index"])
        r = ex["result"]
        hidden = [(layer.times, layer.neurons, n) for layer, n in zip(r.layers, net.hidden)]
        plots.plot_sample(t, u, hidden, r.readout_times, r.readout, run.path / FIGURES["sample"],
                          class_names=data.class_names, label=ex["label"], prediction=ex["prediction"],
                          window=window, n_in=net.n_in)
        out["sample"] = FIGURES["sample"]
    plots.plot_confusion(cm, data.class_names, run.path / FIGURES["confusion"])
    out["confusion"] = FIGURES["confusion"]

    taus = net.taus[0]
    d_max = 2.0 * float(np.sum(taus)) + 3.0 * float(taus[0])
    delays = np.linspace(0.0, d_max, 160)
    top = np.argsort(-analysis["neuron_counts"][0], kind="stable")[:6]
    panels = [(f"hidden layer 0: the 6 most active neurons (input cascade, K={net.n_buckets})",
               kernel_curves(net, 0, top, delays, cfg.dt), [f"neuron {j}" for j in top])]
    ro = net.n_layers - 1
    panels.append((f"readout units (reading hidden layer {ro - 1})",
                   kernel_curves(net, ro, range(net.n_out), delays, cfg.dt), list(data.class_names)))
    plots.plot_kernels(delays, panels, run.path / FIGURES["kernels"])
    out["kernels"] = FIGURES["kernels"]
    return out


def write_report(run: RunDir | str | os.PathLike[str], test_data: SpikeDataset, *, threads: int = 0,
                 max_samples: int | None = None, example: int = 0) -> Path:
    """Write ``report.md`` and its figures into a finished run directory.

    Parameters
    ----------
    run : RunDir or path-like
        A run directory holding ``config.json``, ``results.json`` (with ``test_predictions`` /
        ``test_labels``) and a checkpoint; ``results.json`` may also hold ``dataset``,
        ``dataset_stats``, ``baseline`` and ``wall_seconds`` (written by
        :func:`sgevent.studies.run_shd.run_shd`).
    test_data : SpikeDataset
        The test split the run was evaluated on.
    threads : int
        Threads for the activity measurement (0: all cores).
    max_samples : int, optional
        Cap on the test samples used for the activity (default: the run's ``max_eval_samples``,
        else all).
    example : int
        Position (among the evaluated samples) of the sample drawn in the raster figure.

    Returns
    -------
    pathlib.Path
        ``report.md``. The activity numbers are also added to ``results.json`` as
        ``test_activity``.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    results = run.read_results()
    metrics = run.read_metrics()
    net, cfg, ckpt_name = _load_best(run)
    if "test_predictions" not in results:
        raise DataError(f"{run.results_path}: no test_predictions; the run was not evaluated on a test split")
    pred = np.asarray(results["test_predictions"], dtype=np.int64)
    labels = np.asarray(results["test_labels"], dtype=np.int64)
    window = float(results.get("window_s") or cfg.window)
    cap = max_samples if max_samples is not None else cfg.max_eval_samples
    idx = np.arange(len(test_data) if cap is None else min(cap, len(test_data)))
    threads = threads or (os.cpu_count() or 1)
    analysis = analyse_test(net, test_data, idx, dt=cfg.dt, window=window, learn_period=cfg.learn.learn_period,
                            threads=threads, example=example)
    cm = confusion_matrix(pred, labels, test_data.n_classes)
    figs = _figures(run, net, cfg, metrics, results, test_data, analysis, cm, window)

    results["test_activity"] = {"n_samples": analysis["n_samples"], "layers": analysis["activity"],
                                "accuracy_recomputed": analysis["accuracy"]}
    if analysis["metrics"] is not None:
        results["test_metrics"] = analysis["metrics"]
    run.write_results(results)

    r = _Report(name=run.name, results=results, metrics=metrics, net=net, cfg=cfg, ckpt_name=ckpt_name,
                data=test_data, pred=pred, labels=labels, window=window, analysis=analysis, figs=figs)
    L: list[str] = []
    for section in (_text_result, _text_data, _text_per_class, _text_sparsity, _text_energy, _text_references,
                    _text_curves, _text_sample, _text_kernels, _text_config):
        L += section(r)
    path = run.path / "report.md"
    path.write_text("\n".join(L), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- report text, section by section
@dataclass(frozen=True)
class _Report:
    """What the sections of ``report.md`` read: the run's files, its best network and the analysis."""

    name: str
    results: dict[str, Any]
    metrics: list[dict[str, Any]]
    net: Network
    cfg: TrainConfig
    ckpt_name: str
    data: SpikeDataset
    pred: np.ndarray
    labels: np.ndarray
    window: float
    analysis: dict[str, Any]
    figs: dict[str, str]

    @property
    def info(self) -> dict[str, Any]:
        """The ``dataset`` record of ``results.json`` (empty if absent)."""
        return self.results.get("dataset", {})

    @property
    def gesture(self) -> bool:
        """Whether the run is the gesture job (DVS Gesture or the synthetic gestures)."""
        return self.info.get("task") == "gesture"

    @property
    def synth(self) -> bool:
        """Whether the run used the synthetic stand-in for SHD."""
        return self.info.get("kind") == "synth" and not self.gesture


def _text_result(r: _Report) -> list[str]:
    results, cfg, info = r.results, r.cfg, r.info
    base = results.get("baseline")
    acc = results.get("test_accuracy")
    data_name = info.get("name", "gestures") if r.gesture else ("the synthetic SHD stand-in" if r.synth else "SHD")
    L = [f"# Run `{r.name}`: SpikingGamma on {data_name}\n"]
    if r.gesture and info.get("fallback_reason"):
        L.append(f"> **Data: the synthetic DVS gestures**, not DVS128 Gesture. Reason: {info['fallback_reason']}. "
                 "Accuracies here are not comparable with published DVS Gesture results.\n")
    if r.synth:
        L.append("> **Data: the synthetic spoken digits** (an offline stand-in for SHD with the same file layout "
                 "and 20 spoken-digit classes, DESIGN.md 5), not the real Spiking Heidelberg Digits."
                 + (f" Reason: {info['fallback_reason']}." if info.get("fallback_reason") else "")
                 + " Accuracies here are not comparable with published SHD results.\n")
    L.append("## Result\n")
    L.append("| model | test accuracy (%) | train accuracy (%) |")
    L.append("|---|---|---|")
    last = r.metrics[-1] if r.metrics else {}
    sched = (f"{cfg.schedule} schedule, {cfg.learn.backward} backward, "
             f"{'continuous time' if cfg.dt is None else f'grid dt {cfg.dt * 1e3:g} ms'}")
    L.append(f"| SpikingGamma ({sched}; this run, best checkpoint `{r.ckpt_name}`) | **{_pct(acc)}** | "
             f"{_pct(last.get('train_accuracy'))} (last epoch{', augmented' if cfg.augment.active else ''}) |")
    if base:
        L.append(f"| logistic regression on binned spike counts ({base['feature_shape'][0]} time bins x "
                 f"{base['feature_shape'][1]} channel groups) | {_pct(base['test_accuracy'])} | "
                 f"{_pct(base['train_accuracy'])} |")
    peer = results.get("peer") or {}
    if peer.get("status") == "ran":
        L.append(f"| LIF peer in snnTorch ({(peer.get('config') or {}).get('hidden', 256)} hidden, "
                 f"surrogate-gradient BPTT, {peer['dt'] * 1e3:g} ms frames, {peer['epochs']} epochs) | "
                 f"{_pct(peer['test_accuracy'])} | - |")
    L.append(f"| chance | {_pct(1.0 / r.data.n_classes)} | |\n")
    L.append(f"Test samples: {r.labels.size}. Best validation accuracy: {_pct(results.get('best_val_accuracy'))} % "
             f"(validation speakers held out of the training file). Epochs: {results.get('epochs')}, optimiser "
             f"steps: {results.get('steps')}.\n")
    if base:
        L.append(f"The baseline is fitted on the whole training file ({base['n_train']} samples, L2 chosen on "
                 f"held-out speakers) and scored on the same {base['n_test']} test samples.\n")
    return L + _text_side_by_side(r)


def _spikes_per_sample(x) -> float | None:
    """Hidden spikes per sample: a number, or the sum over hidden layers of a per-layer list."""
    if x is None:
        return None
    return float(np.sum(x)) if isinstance(x, (list, tuple)) else float(x)


def _mean_epoch_seconds(metrics: list[dict[str, Any]]) -> float | None:
    secs = [m["epoch_seconds"] for m in metrics if m.get("epoch_seconds") is not None]
    return float(np.mean(secs)) if secs else None


def _text_side_by_side(r: _Report) -> list[str]:
    """SpikingGamma, the logistic baseline and the snnTorch LIF peer (when it ran): accuracy and cost."""
    results = r.results
    base, peer = results.get("baseline"), results.get("peer") or {}
    L = ["### Side by side\n",
         "| model | test accuracy (%) | best validation (%) | s / epoch | hidden spikes / test sample |",
         "|---|---|---|---|---|",
         f"| SpikingGamma (this run) | {_pct(results.get('test_accuracy'))} | "
         f"{_pct(results.get('best_val_accuracy'))} | {_num(_mean_epoch_seconds(r.metrics))} | "
         f"{_num(_spikes_per_sample(results.get('test_hidden_spikes_per_sample')), '{:.0f}')} |"]
    if base:
        fit = (results.get("wall_seconds") or {}).get("baseline")
        L.append(f"| logistic regression on binned counts | {_pct(base['test_accuracy'])} | "
                 f"{_pct(base.get('val_accuracy'))} | {_num(fit)} (whole fit) | - |")
    if peer.get("status") == "ran":
        L.append(f"| snnTorch LIF, {peer['dt'] * 1e3:g} ms frames, {peer['epochs']} epochs | "
                 f"{_pct(peer['test_accuracy'])} | {_pct(peer.get('best_val_accuracy'))} | "
                 f"{_num(peer.get('s_per_epoch'))} | "
                 f"{_num(_spikes_per_sample(peer.get('test_hidden_spikes_per_sample')), '{:.0f}')} |")
    L.append("")
    if peer.get("status") == "ran":
        v, pc = peer.get("versions") or {}, peer.get("config") or {}
        L.append(f"The peer (`sgevent.studies.lif_peer`: 700-{pc.get('hidden', 256)}-20 LIF, reset by "
                 f"subtraction, {pc.get('surrogate', 'fast_sigmoid')} surrogate, mean-over-time readout, Adam "
                 f"{pc.get('lr', '?')}, batch {pc.get('batch_size', '?')}) trained on the same training speakers and "
                 "was chosen on the same validation speakers, "
                 f"in its own process (torch {v.get('torch', '?')}, snntorch {v.get('snntorch', '?')}, peak "
                 f"memory {_num(peer.get('child_peak_rss_mb'), '{:.0f}')} MB). `bench/peers.py` also runs it "
                 "at 1 ms.\n")
    elif peer.get("status") == "failed":
        L.append(f"The snnTorch LIF peer failed ({peer.get('error')}); its output is in the run's log.\n")
    elif peer:
        L.append(f"The snnTorch LIF peer was not run: {peer.get('reason')}. README \"The main job\" says how "
                 "to install the optional `.[peers]` extra; `make run-shd` then trains it beside SpikingGamma.\n")
    return L


def _text_data(r: _Report) -> list[str]:
    info = r.info
    L = ["## Data\n", f"Dataset: **{info.get('name', r.data.name)}**  "]
    if info:
        L.append(f"Files: `{info.get('train_file')}`, `{info.get('test_file')}`\n")
    stats = r.results.get("dataset_stats") or {"test": r.data.stats()}
    L.append("| split | samples | classes | channels | speakers | spikes/sample mean | median | max | "
             "duration mean (s) | max (s) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for split, s in stats.items():
        L.append(f"| {split} | {s['n_samples']} | {s['n_classes']} | {s['n_channels']} | {s['n_speakers'] or '-'} | "
                 f"{s['spikes_mean']:.0f} | {s['spikes_median']:.0f} | {s['spikes_max']} | "
                 f"{s['duration_mean_s']:.3f} | {s['duration_max_s']:.3f} |")
    L.append("")
    return L


def _text_per_class(r: _Report) -> list[str]:
    acc_c, n_c = per_class_accuracy(r.pred, r.labels, r.data.n_classes)
    L = ["## Per-class test accuracy\n", "| class | samples | accuracy (%) |", "|---|---|---|"]
    for c in range(r.data.n_classes):
        L.append(f"| {r.data.class_names[c]} | {n_c[c]} | {_pct(acc_c[c])} |")
    L.append("")
    L.append(f"![confusion matrix]({r.figs['confusion']})\n")
    return L


def _text_sparsity(r: _Report) -> list[str]:
    dt = r.cfg.dt
    L = ["## Sparsity and operations (best checkpoint, test samples)\n",
         f"Over {r.analysis['n_samples']} test samples, window {r.window:.3f} s, "
         f"{'continuous time' if dt is None else f'grid dt = {dt} s'}.\n",
         "| source | neurons | spikes/sample | spikes/neuron/s | silent on all samples (%) | "
         "silent per sample (%) | synaptic ops/sample (outgoing) |",
         "|---|---|---|---|---|---|---|"]
    for a in r.analysis["activity"]:
        L.append(f"| {a['layer']} | {_num(a['n_neurons'], '{}')} | {a['spikes_per_sample']:.1f} | "
                 f"{_num(a['spikes_per_neuron_per_s'], '{:.2f}')} | {_pct(a['silent_fraction_all'])} | "
                 f"{_pct(a['silent_fraction_per_sample'])} | {a['synaptic_ops_per_sample']:.3g} |")
    L.append("\nSpikes count bursts spike by spike; an operation is one delivered event times its fan-out "
             "(accumulates for input spikes, multiply-accumulates for graded hidden spikes).\n")
    return L


def _text_energy(r: _Report) -> list[str]:
    if r.analysis["metrics"] is None:
        return []
    return ["## Energy proxies and NeuroBench columns (best checkpoint, test samples)\n",
            format_table(r.analysis["metrics"]) + "\n"]


def _text_references(r: _Report) -> list[str]:
    if r.gesture:  # the literature figures below are SHD's
        return []
    L = ["## Reference figures (SHD test accuracy, literature)\n", "| model | SHD test accuracy (%) | note |",
         "|---|---|---|"]
    for name, a, note in REFERENCE_FIGURES:
        L.append(f"| {name} | {a} | {note} |")
    ours = "the synthetic stand-in, not SHD: not comparable" if r.synth else "SHD test set"
    L.append(f"| **this run** | **{_pct(r.results.get('test_accuracy'))}** | {ours} |\n")
    if r.synth:
        L.append("Note: our number is measured on the synthetic stand-in; the literature numbers are on the real "
                 "SHD test set (unseen speakers). They are listed for orientation only.\n")
    return L


def _text_curves(r: _Report) -> list[str]:
    L = ["## Learning curves\n"]
    if "curves" in r.figs:
        L.append(f"![learning curves]({r.figs['curves']})\n")
    if r.metrics:
        L.append("| epoch | train loss | train acc (%) | val loss | val acc (%) | hidden spikes/sample (train) | s |")
        L.append("|---|---|---|---|---|---|---|")
        for m in r.metrics:
            L.append(f"| {m['epoch']} | {m['train_loss']:.3f} | {_pct(m['train_accuracy'])} | "
                     f"{_num(m.get('val_loss'), '{:.3f}')} | {_pct(m.get('val_accuracy'))} | "
                     f"{m['train_hidden_spikes_per_sample']:.0f} | {m['epoch_seconds']:.0f} |")
        L.append("")
    return L


def _text_sample(r: _Report) -> list[str]:
    if "sample" not in r.figs:
        return []
    ex, names = r.analysis["example"], r.data.class_names
    return ["## One test sample\n",
            f"Test sample {ex['index']} (class {names[ex['label']]}, predicted {names[ex['prediction']]}): "
            "input raster, hidden spikes and the readout's softmax over time.\n",
            f"![sample raster]({r.figs['sample']})\n"]


def _text_kernels(r: _Report) -> list[str]:
    dt = r.cfg.dt
    return ["## Learned temporal kernels\n",
            "Each unit mixes the K buckets of its source cascade with its learned bucket weights; the curve is "
            "the response to one presynaptic spike as a function of the delay, "
            "`kappa_j(d) = sum_k v[j,k] P(d)[k,0]` (times the synaptic weight w[j,i]). Taus of the input cascade: "
            f"{', '.join(f'{1e3 * t:.1f}' for t in r.net.taus[0])} ms"
            + ("." if dt is None else f"; grid model, the discrete recursion at dt = {dt * 1e3:g} ms.") + "\n",
            f"![temporal kernels]({r.figs['kernels']})\n"]


def _text_config(r: _Report) -> list[str]:
    c, results = r.cfg, r.results
    L = ["## Configuration\n",
         f"Hidden {list(c.net.hidden)}, K = {c.net.n_buckets} buckets (tau_0 {c.net.tau_0 * 1e3:g} ms, "
         f"tau_delay {c.net.tau_delay * 1e3:g} ms), theta_0 {c.net.theta_0:g}, m_f {c.net.m_f:g}; loss "
         f"`{c.learn.loss}`, backward `{c.learn.backward}`, learn_period {c.learn.learn_period * 1e3:g} ms; "
         f"{c.optim.name} lr {c.optim.lr:g}; batch {c.batch_size}, epochs {c.epochs}, training samples "
         f"{'all' if c.max_train_samples is None else c.max_train_samples}; augmentation "
         f"{c.augment.to_dict() if c.augment.active else 'off'}. Full configuration: `config.json`"
         + (f" (from `{results['config_file']}`)" if results.get("config_file") else "") + ".\n"]
    wall = results.get("wall_seconds")
    if wall:
        L.append("Wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items()) + ".\n")
    return L
