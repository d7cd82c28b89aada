"""Mini-batch gradients and evaluation over a dataset, in parallel and deterministic.

Samples of a mini-batch are independent: each runs the event engine on its own thread (the
kernel releases the GIL, so threads use all cores without copying the network). Per-sample
results are reduced in sample order, so the sum is bit-identical for any number of threads.
Across processes and machines the same functions run on each shard of a mini-batch
(:mod:`sgevent.train.distributed`).

Dropout on hidden signals (``reg.hidden_dropout = p``, :class:`sgevent.train.config.RegConfig`)
needs no engine change. Each training sample draws a mask ``m_j`` per hidden neuron, 0 with
probability ``p`` and ``1 / (1 - p)`` otherwise (:func:`dropout_masks`, from a generator seeded by
the sample's seed and a stream of its own, so the augmentation's draws do not change). Since
``m_j >= 0``, ``m_j relu(x_j) = relu(m_j x_j)`` and ``x_j`` is linear in neuron j's incoming
weight row and bias, the masked network is the network with ``w[j, :]`` and ``b[j]`` scaled by
``m_j`` (:func:`masked_network`; bucket weights ``v`` untouched, per neuron or per synapse), run
as it is: a neuron with ``m_j = 0`` has no signal, so it emits no spike at all and its buckets stay
empty for the sample. Its gradients map back by the chain rule (:func:`unmask_gradients`):
``dL/dw[j, :] = m_j dL/dw'[j, :]``, ``dL/db[j] = m_j dL/db'[j]``, and ``dL/dv`` unchanged (``v``
enters the masked network as it is, next to the scaled ``w``). The online schedule steps the
optimiser of the unmasked weights through :class:`MaskedOptimizer`. Evaluation never drops.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import DEFAULT_SPIKE_BUDGET, simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.network import Network

__all__ = ["one_blas_thread", "BatchResult", "batch_gradients", "evaluate", "evaluate_samples", "summarize_evaluation",
           "predict_from_readout", "budget_kwargs", "dropout_masks", "sample_masks", "masked_network",
           "unmask_gradients", "MaskedOptimizer"]

#: Second word of the seed of a sample's dropout generator, ``[sample seed, DROPOUT_STREAM]``
#: (the augmentation draws from ``sample seed`` alone).
DROPOUT_STREAM = 1


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


def dropout_masks(net: Network, p: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Inverted-dropout masks, one ``(n_l,)`` array per hidden layer: 0 with probability ``p``,
    ``1 / (1 - p)`` otherwise (module notes)."""
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"config field 'reg.hidden_dropout': got {p!r}; expected a finite number >= 0 and < 1")
    scale = 1.0 / (1.0 - p)
    return [np.where(rng.random(n) >= p, scale, 0.0) for n in net.hidden]


def sample_masks(net: Network, p: float, seed: int) -> list[np.ndarray] | None:
    """The dropout masks of the training sample with augmentation seed ``seed`` (None if ``p == 0``)."""
    if p == 0.0:
        return None
    if net.has_conv:
        raise ConfigError("config field 'reg.hidden_dropout': dropout of hidden neurons is not available with "
                          "convolutional layers (their weights are shared); expected 0")
    return dropout_masks(net, p, np.random.default_rng([int(seed), DROPOUT_STREAM]))


def _scale_rows(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a`` (rows = post-neurons, any trailing shape) with row j times ``m[j]``."""
    return a * m.reshape((-1,) + (1,) * (a.ndim - 1))


def _fill_masked(net: Network, masks: list[np.ndarray], out: Network) -> None:
    """``out``'s weights := ``net``'s with hidden rows and biases scaled by ``masks`` (in place)."""
    for l in range(net.n_layers):
        m = masks[l] if l < len(masks) else None
        out.w[l][:] = net.w[l] if m is None else _scale_rows(net.w[l], m)
        out.v[l][:] = net.v[l]
        out.b[l][:] = net.b[l] if m is None else net.b[l] * m


def masked_network(net: Network, masks: list[np.ndarray]) -> Network:
    """A copy of ``net`` whose hidden neuron j of layer l has its incoming row ``w[l][j]`` and bias
    ``b[l][j]`` scaled by ``masks[l][j]`` (module notes); the readout is unchanged."""
    out = net.copy()
    _fill_masked(net, masks, out)
    return out


def unmask_gradients(grads: list[dict[str, np.ndarray]], masks: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Gradients of the unmasked weights from those of the masked network (module notes):
    ``w`` rows and ``b`` of hidden layers times ``m_j``; ``v`` and the readout unchanged."""
    out = []
    for l, g in enumerate(grads):
        if l < len(masks):
            m = masks[l]
            g = {"w": _scale_rows(g["w"], m), "v": g["v"], "b": g["b"] * m}
        out.append(g)
    return out


class MaskedOptimizer:
    """The online schedule with dropout: :func:`sgevent.simulate` runs the masked copy ``masked``
    of ``net`` with this optimiser, which maps each update's gradients back
    (:func:`unmask_gradients`), steps ``optimizer`` (built over ``net``'s own arrays, in the order
    ``w[0], v[0], b[0], w[1], ...``) and re-masks ``masked`` in place from the updated ``net``."""

    def __init__(self, optimizer, net: Network, masked: Network, masks: list[np.ndarray]) -> None:
        self.optimizer, self.net, self.masked, self.masks = optimizer, net, masked, masks

    def step(self, grads, mask=None) -> dict[str, float]:
        keys = ("w", "v", "b")
        per_layer = [dict(zip(keys, grads[3 * l:3 * l + 3])) for l in range(self.net.n_layers)]
        mapped = unmask_gradients(per_layer, self.masks)
        info = self.optimizer.step([g[k] for g in mapped for k in keys], mask=mask)
        _fill_masked(self.net, self.masks, self.masked)
        return info


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
    hidden_dropout: float = 0.0,
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
    hidden_dropout : float
        Dropout probability of hidden neurons (module notes; needs ``rng_seeds``). Default 0.
    """
    idx = [int(i) for i in indices]
    if hidden_dropout > 0 and rng_seeds is None:
        raise ConfigError("hidden_dropout > 0 needs rng_seeds (one seed per sample draws its dropout mask)")
    seeds = list(rng_seeds) if rng_seeds is not None else [0] * len(idx)
    budget = budget_kwargs(spike_budget)

    def one(k):
        t, u, y = data.sample(idx[k])
        if transform is not None:
            t, u = transform(t, u, np.random.default_rng(seeds[k]))
        masks = sample_masks(net, hidden_dropout, seeds[k])
        run_net = net if masks is None else masked_network(net, masks)
        r = simulate(run_net, t, u, dt=dt, t_end=window, learn=spec, label=int(y), **budget)
        grads = r.grads if masks is None else unmask_gradients(r.grads, masks)
        return r.loss, grads, np.array(r.n_spikes, dtype=np.int64), predict_from_readout(r.readout) == int(y)

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
