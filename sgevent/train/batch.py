"""Mini-batch gradients and evaluation over a dataset, in parallel and deterministic.

Samples of a mini-batch are independent: each runs the event engine on its own thread (the
kernel releases the GIL, so threads use all cores without copying the network). Per-sample
results are reduced in sample order, so the sum is bit-identical for any number of threads.
Across processes and machines the same functions run on each shard of a mini-batch
(:mod:`sgevent.train.distributed`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import DEFAULT_SPIKE_BUDGET, simulate
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.network import Network

__all__ = ["one_blas_thread", "BatchResult", "batch_gradients", "evaluate", "evaluate_samples", "summarize_evaluation",
           "predict_from_readout", "budget_kwargs"]


def budget_kwargs(spike_budget: int | None) -> dict:
    """``{"spike_budget": n}`` for :func:`simulate` (None: the engine's default)."""
    return {"spike_budget": DEFAULT_SPIKE_BUDGET if spike_budget is None else int(spike_budget)}


@dataclass
class BatchResult:
    """Summed loss and gradients of a mini-batch, with activity counts."""

    loss: float
    grads: list[dict[str, np.ndarray]]
    n_samples: int
    hidden_spikes: np.ndarray   # (n_hidden_layers,) summed over samples
    correct: int


def predict_from_readout(o: np.ndarray) -> int:
    """Class with the largest time-averaged softmax of the readout ``o`` (E, n_out)."""
    e = np.exp(o - o.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return int(np.argmax(p.mean(axis=0)))


_BLAS = None


def one_blas_thread():
    """Context in which BLAS (the learning kernels' batched products) runs on one thread.

    sgevent parallelises over samples; OpenBLAS's own threads on top of that oversubscribe the
    cores and spin: measured 4-8x slower training samples on 2 cores. The limit is process-wide
    (threadpoolctl), so enter it from the thread that starts the parallel work, not per sample.
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def _map(fn, items, threads: int):
    with one_blas_thread():
        if threads <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=threads) as ex:
            return list(ex.map(fn, items))


def batch_gradients(
    net: Network,
    data: SpikeDataset,
    indices,
    spec: LearnSpec,
    *,
    dt: float | None,
    window: float,
    threads: int = 1,
    transform=None,
    rng_seeds=None,
    spike_budget: int | None = None,
) -> BatchResult:
    """Sum of the losses and gradients of samples ``indices`` (reduced in index order).

    Parameters
    ----------
    net : Network
    data : SpikeDataset
    indices : sequence of int
    spec : LearnSpec
    dt : float or None
        Time model (None: continuous).
    window : float
        Sample window (s): learning events every ``spec.learn_period`` in ``(0, window]``.
    threads : int
        Threads running samples in parallel.
    transform : callable, optional
        ``transform(times, units, rng) -> (times, units)`` (data augmentation).
    rng_seeds : sequence of int, optional
        One seed per sample for ``transform`` (so augmentation does not depend on threads or shards).
    spike_budget : int, optional
        Most spikes a sample may cause (``simulate(spike_budget=)``; None: the engine's default).
    """
    idx = [int(i) for i in indices]
    seeds = list(rng_seeds) if rng_seeds is not None else [0] * len(idx)
    budget = budget_kwargs(spike_budget)

    def one(k):
        t, u, y = data.sample(idx[k])
        if transform is not None:
            t, u = transform(t, u, np.random.default_rng(seeds[k]))
        r = simulate(net, t, u, dt=dt, t_end=window, learn=spec, label=int(y), **budget)
        return r.loss, r.grads, np.array(r.n_spikes, dtype=np.int64), predict_from_readout(r.readout) == int(y)

    results = _map(one, list(range(len(idx))), threads)
    loss = 0.0
    grads = [{key: np.zeros_like(a) for key, a in g.items()} for g in results[0][1]]
    spikes = np.zeros(len(net.hidden), dtype=np.int64)
    correct = 0
    for r_loss, r_grads, r_spk, ok in results:  # fixed order: deterministic sums
        loss += r_loss
        for acc, g in zip(grads, r_grads):
            for key in acc:
                acc[key] += g[key]
        spikes += r_spk
        correct += int(ok)
    return BatchResult(loss=loss, grads=grads, n_samples=len(idx), hidden_spikes=spikes, correct=correct)


def evaluate_samples(
    net: Network,
    data: SpikeDataset,
    indices,
    *,
    dt: float | None,
    window: float,
    learn_period: float = 1e-3,
    threads: int = 1,
    keep_results: bool = False,
    spike_budget: int | None = None,
) -> list[tuple]:
    """Per-sample records of :func:`evaluate`, in the order of ``indices``.

    Each record is ``(prediction, label, loss, n_spikes, synaptic_ops, result)``: ``n_spikes``
    and ``synaptic_ops`` are per hidden layer, ``result`` the :class:`SimulationResult` with
    ``keep_results`` (else None). :func:`summarize_evaluation` turns a list of them (for
    example the concatenated records of several shards) into :func:`evaluate`'s dict.
    """
    ro = learning_times(window, learn_period)
    budget = budget_kwargs(spike_budget)

    def one(i):
        t, u, y = data.sample(int(i))
        r = simulate(net, t, u, dt=dt, t_end=window, readout_times=ro, **budget)
        o = r.readout
        m = o.max(axis=1, keepdims=True)
        logp = o[:, int(y)] - m[:, 0] - np.log(np.exp(o - m).sum(axis=1))
        return (predict_from_readout(o), int(y), float(-logp.mean()), r.n_spikes, r.stats["synaptic_ops"],
                r if keep_results else None)

    return _map(one, [int(i) for i in indices], threads)


def summarize_evaluation(records: list[tuple], window: float, keep_results: bool = False) -> dict:
    """:func:`evaluate`'s dict from the per-sample records of :func:`evaluate_samples`."""
    res = records
    preds = np.array([p for p, *_ in res], dtype=np.int64)
    labels = np.array([y for _, y, *_ in res], dtype=np.int64)
    out = {
        "accuracy": float(np.mean(preds == labels)) if len(res) else float("nan"),
        "loss": float(np.mean([l for _, _, l, *_ in res])) if len(res) else float("nan"),
        "predictions": preds,
        "labels": labels,
        "hidden_spikes_per_sample": np.mean([s for *_, s, _, _ in res], axis=0).tolist() if len(res) else [],
        "synaptic_ops_per_sample": np.mean([o for *_, o, _ in res], axis=0).tolist() if len(res) else [],
        "n_samples": int(len(res)),
        "window_s": float(window),
    }
    if keep_results:
        out["results"] = [r for *_, r in res]
    return out


def evaluate(
    net: Network,
    data: SpikeDataset,
    indices=None,
    *,
    dt: float | None,
    window: float,
    learn_period: float = 1e-3,
    threads: int = 1,
    keep_results: bool = False,
    spike_budget: int | None = None,
) -> dict:
    """Accuracy, mean cross-entropy and activity of ``net`` on samples ``indices`` (default all).

    Returns a dict with ``accuracy``, ``loss`` (time-averaged cross-entropy), ``predictions``,
    ``labels``, ``hidden_spikes_per_sample`` (per layer), ``synaptic_ops_per_sample`` (per
    layer), and with ``keep_results`` the per-sample :class:`SimulationResult` list.
    ``threads`` samples run in parallel (the result does not depend on it).
    """
    idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    res = evaluate_samples(net, data, idx, dt=dt, window=window, learn_period=learn_period, threads=threads,
                           keep_results=keep_results, spike_budget=spike_budget)
    return summarize_evaluation(res, window, keep_results)
