"""Activity, operation counts and energy proxies of simulated samples (DESIGN.md section 6).

Everything here is a pure function of a :class:`~sgevent.model.result.SimulationResult`, the sample's
input events and the :class:`~sgevent.model.network.Network`; nothing is simulated again.

What is counted
---------------
*Activity*, per hidden layer and sample: spikes (a burst of ``counts`` spikes counts
``counts`` times), spikes per neuron per second over the window, the fraction of neurons that
never spiked, and the activation sparsity at a reference step ``dt_ref`` (see
:func:`activation_sparsity`).

*Event-driven operations* (what :func:`sgevent.engine.simulate` performs). Each delivered event costs
fan-out operations: an input spike adds its (constant, foldable into the weights) height
``h_in`` to every post-neuron of layer 0, an **accumulate** (AC); a hidden event carries a graded
height (``spike_gain * theta``, summed over a burst) and costs a **multiply-accumulate** (MAC) per
post-neuron of the next layer (the readout included). ``synaptic_ops[l] = deliveries[l] * n_post[l]``
equals the engine's ``stats["synaptic_ops"]``. With per-synapse bucket weights a delivery adds to
``R = K`` cross-aggregate rows per post-neuron, so the energy counts ``R`` operations per
synaptic op. A neuron-state update (``stats["state_updates"]``) applies the lower-triangular
cascade propagator to ``R`` rows of ``K`` states: ``R * K (K + 1) / 2`` MACs (about ``K^2 / 2`` for
the per-neuron aggregate ``z_j``), plus 2 multiplies for a hidden neuron (decay of its own
``yhat_j[0]`` and of ``theta_dyn``).

*Dense clock-driven equivalent* at a step ``dt`` (what :func:`sgevent.simulate_reference`, or any
time-stepped implementation, computes): every step every layer mixes all presynaptic buckets,
``n_pre * n_post * K + n_post * K`` MACs with per-neuron bucket weights or ``n_pre * n_post * K``
per synapse (the reference's ``macs_per_step``), and every source (input channel or hidden
neuron) updates its ``K`` buckets, ``2 K`` MACs; over ``floor(window / dt + 1e-9) + 1`` steps
(steps ``0 .. N`` as the reference runs them).

*Energy proxy* = operations x energy per operation, 45 nm CMOS, fp32: add (AC) 0.9 pJ,
MAC (multiply 3.7 pJ + add 0.9 pJ) 4.6 pJ (Horowitz, "Computing's energy problem (and what we
can do about it)", ISSCC 2014). **Memory traffic is not counted** (weight and state reads and
writes dominate real hardware; see ``MEMORY_NOTE``), nor are the spike-time searches, heap
operations, threshold checks and readout evaluations of the event engine. It is a proxy for
comparing operation counts, not an energy estimate of any chip.

*NeuroBench columns*, with NeuroBench's definitions (Yik et al., "NeuroBench: a framework for
benchmarking neuromorphic computing algorithms and systems", Nature Communications 2025;
harness ``NeuroBench/neurobench``: ``neurobench/metrics/static/footprint.py``,
``connection_sparsity.py``, ``parameter_count.py``, ``neurobench/metrics/workload/
activation_sparsity.py``, ``synaptic_operations.py`` and ``docs/metrics``):

- footprint: bytes of parameters plus buffers (zero weights included);
- parameter count: number of parameters;
- connection sparsity: zero connection weights / all connection weights (biases excluded);
- activation sparsity: zero neuron outputs / all neuron outputs, over all spiking layers, time
  steps and samples (pooled, not averaged per layer);
- dense: synaptic operations counting zero and non-zero activations and weights;
- effective MACs / ACs: synaptic operations with a non-zero input and a non-zero weight, MACs
  when the input is graded, ACs when it is binary. Biases are not synaptic operations.

How each maps onto this model is stated in the function that computes it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sgevent.errors import InputError
from sgevent.model.events import STEP_TOL, check_positive_time
from sgevent.model.network import Network
from sgevent.model.result import LayerSpikes, SimulationResult

__all__ = [
    "E_AC_PJ", "E_MAC_PJ", "ENERGY_SOURCE", "NEUROBENCH_SOURCE", "MEMORY_NOTE",
    "n_clock_steps", "activation_sparsity", "layer_activity", "inputs_in_window",
    "synaptic_ops", "state_update_macs", "dense_equivalent", "energy_pj",
    "parameter_count", "footprint_bytes", "connection_sparsity", "effective_ops",
    "sample_metrics", "summarize", "format_table",
]

#: Energy of one fp32 add (an accumulate), 45 nm, pJ (Horowitz, ISSCC 2014).
E_AC_PJ = 0.9
#: Energy of one fp32 multiply-accumulate (3.7 pJ multiply + 0.9 pJ add), 45 nm, pJ.
E_MAC_PJ = 4.6
ENERGY_SOURCE = "Horowitz, ISSCC 2014: 45 nm, fp32 add 0.9 pJ, fp32 MAC 4.6 pJ"
NEUROBENCH_SOURCE = "Yik et al. 2025, NeuroBench (github.com/NeuroBench/neurobench, neurobench/metrics)"
MEMORY_NOTE = "memory traffic (weight/state reads and writes) is not counted"


# ---------------------------------------------------------------------------- time bins
def n_clock_steps(window: float, dt: float) -> int:
    """Steps a clock-driven run of ``window`` seconds at step ``dt`` takes: ``floor(window/dt + 1e-9) + 1``.

    Steps ``n = 0 .. N``; step 0 holds only the instant t = 0 (as :func:`sgevent.simulate_reference`).
    """
    return int(np.floor(window / dt + STEP_TOL)) + 1


def activation_sparsity(times: np.ndarray, neurons: np.ndarray, n_neurons: int, window: float, dt_ref: float = 1e-3) -> float:
    """Fraction of (neuron, step) pairs with no spike, at reference step ``dt_ref``.

    Parameters
    ----------
    times : ndarray of float64, shape (n_events,)
        Spike (event) times in seconds.
    neurons : ndarray of int, shape (n_events,)
        Neuron of each event, ``0 <= neuron < n_neurons``.
    n_neurons : int
        Neurons in the layer.
    window : float
        Sample window (s), >= 0.
    dt_ref : float
        Reference step (s), default 1 ms.

    Returns
    -------
    float
        In [0, 1]; 1 when nothing spiked.

    Notes
    -----
    The window is cut into the steps of a clock-driven run at ``dt_ref``: step ``n`` covers
    ``((n-1) dt_ref, n dt_ref]`` for ``n = 0 .. N``, ``N = floor(window / dt_ref + 1e-9)``, and a
    spike at ``t`` falls in step ``ceil(t / dt_ref - 1e-9)`` (clipped to ``N``), the convention of
    DESIGN.md 1.4. A neuron's output in a step is non-zero when it spiked at least once in it
    (a burst or several spikes count once):

        sparsity = 1 - #{(j, n) : j spiked in step n} / (n_neurons * (N + 1))

    This is NeuroBench's activation sparsity (zero outputs / all outputs) of the clock-driven
    equivalent; in grid mode with ``dt == dt_ref`` it equals it exactly.
    """
    n_steps = n_clock_steps(window, dt_ref)
    return 1.0 - _active_pairs(times, neurons, n_steps, dt_ref) / (n_neurons * n_steps)


def _active_pairs(times, neurons, n_steps: int, dt_ref: float) -> int:
    """Distinct (neuron, step) pairs holding a spike (see :func:`activation_sparsity`)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return 0
    step = np.clip(np.ceil(times / dt_ref - STEP_TOL), 0, n_steps - 1).astype(np.int64)
    return int(np.unique(np.asarray(neurons, dtype=np.int64) * n_steps + step).size)


def layer_activity(layer: LayerSpikes, n_neurons: int, window: float, dt_ref: float = 1e-3) -> dict[str, float]:
    """Activity of one hidden layer in one sample.

    Parameters
    ----------
    layer : LayerSpikes
        The layer's events (a burst is one event with ``counts`` spikes).
    n_neurons : int
        Neurons in the layer.
    window : float
        Sample window (s) the rate is taken over.
    dt_ref : float
        Reference step (s) of the activation sparsity.

    Returns
    -------
    dict
        ``spikes`` (bursts counted spike by spike), ``events`` (deliveries), ``rate_hz``
        (``spikes / (n_neurons * window)``, spikes per neuron per second; NaN for a zero
        window), ``silent_fraction`` (neurons without any spike / n_neurons) and
        ``activation_sparsity`` (:func:`activation_sparsity`), with its ``active_pairs`` and
        ``total_pairs`` (``n_neurons * n_steps``).
    """
    counts = np.asarray(layer.counts, dtype=np.int64)
    neurons = np.asarray(layer.neurons, dtype=np.int64)
    spikes = int(counts.sum())
    per_neuron = np.bincount(neurons[counts > 0], minlength=n_neurons)
    n_steps = n_clock_steps(window, dt_ref)
    active = _active_pairs(layer.times, neurons, n_steps, dt_ref)
    return {
        "spikes": spikes,
        "events": int(neurons.size),
        "rate_hz": spikes / (n_neurons * window) if window > 0 else float("nan"),
        "silent_fraction": float(np.mean(per_neuron == 0)),
        "activation_sparsity": 1.0 - active / (n_neurons * n_steps),
        "active_pairs": active,
        "total_pairs": n_neurons * n_steps,
    }


# ---------------------------------------------------------------------------- operation counts
def inputs_in_window(times, units, t_end: float, dt: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Input events the engine delivers: ``t <= t_end`` (continuous) or step ``<= N`` (grid ``dt``).

    Returns
    -------
    times, units : ndarray of float64 and int64, shape (n_delivered,)
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    u = np.asarray(units, dtype=np.int64).reshape(-1)
    if dt is None:
        keep = t <= t_end
    else:
        keep = np.maximum(np.ceil(t / dt - STEP_TOL), 0.0) <= np.floor(t_end / dt + STEP_TOL)
    return t[keep], u[keep]


def synaptic_ops(result: SimulationResult, n_input_spikes: int, net: Network) -> dict[str, Any]:
    """Synaptic operations of one sample per layer (hidden layers, then readout).

    Parameters
    ----------
    result : SimulationResult
        The sample's hidden events.
    n_input_spikes : int
        Input spikes delivered (see :func:`inputs_in_window`).
    net : Network

    Returns
    -------
    dict
        ``deliveries`` (list of int, events delivered to each layer: input spikes to layer 0,
        events of hidden layer ``l-1`` to layer ``l``), ``synaptic_ops`` (``deliveries * n_post``,
        equal to the engine's ``stats["synaptic_ops"]``), ``kind`` (``"AC"`` for layer 0,
        ``"MAC"`` otherwise), ``acs`` and ``macs`` (totals, times ``R`` rows per post-neuron:
        ``R = K`` with per-synapse bucket weights, else 1).
    """
    sizes = net.sizes
    R = net.n_buckets if net.per_synapse else 1
    deliveries = [int(n_input_spikes)] + [layer.n_events for layer in result.layers]
    ops = [d * sizes[l + 1] for l, d in enumerate(deliveries)]
    return {
        "deliveries": deliveries,
        "synaptic_ops": ops,
        "kind": ["AC"] + ["MAC"] * (len(ops) - 1),
        "acs": ops[0] * R,
        "macs": sum(ops[1:]) * R,
    }


def state_update_macs(net: Network) -> list[int]:
    """MACs of one neuron-state update in each layer (hidden layers, then readout).

    Notes
    -----
    The event engine advances a neuron by the lower-triangular cascade propagator ``P`` applied
    to each of its ``R`` rows of ``K`` aggregated states (``R = 1``: ``z_j[k] = sum_i w[j,i]
    yhat_i[k]``; per synapse ``R = K`` cross-aggregates): ``R * K (K + 1) / 2`` MACs, about
    ``K^2 / 2`` per-neuron. A hidden neuron also decays its own ``yhat_j[0]`` and ``theta_dyn``:
    2 more. Computing ``P`` itself (once per layer propagation, shared by the layer) is not counted.
    """
    K = net.n_buckets
    R = K if net.per_synapse else 1
    base = R * K * (K + 1) // 2
    return [base + 2] * len(net.hidden) + [base]


def dense_equivalent(net: Network, window: float, dt: float = 1e-3) -> dict[str, Any]:
    """Operations of a dense clock-driven run of the same network over ``window`` at step ``dt``.

    Parameters
    ----------
    net : Network
    window : float
        Sample window (s), >= 0.
    dt : float
        Step (s), default 1 ms.

    Returns
    -------
    dict
        ``dt``, ``n_steps`` (``floor(window/dt + 1e-9) + 1``), ``macs_per_step`` (list per layer:
        ``n_pre n_post K + n_post K`` per-neuron, ``n_pre n_post K`` per-synapse, as
        :func:`sgevent.simulate_reference` reports), ``synaptic_macs`` (``n_steps *
        sum(macs_per_step)``, the reference's ``dense_ops``), ``bucket_macs`` (``n_steps * 2 K *
        (n_in + sum(hidden))``: every source's buckets each step) and ``total_macs``.
    """
    K = net.n_buckets
    sizes = net.sizes
    n_steps = n_clock_steps(window, dt)
    per_step = []
    for l in range(net.n_layers):
        n_pre, n_post = sizes[l], sizes[l + 1]
        per_step.append(n_pre * n_post * K + (0 if net.per_synapse else n_post * K))
    syn = n_steps * sum(per_step)
    buckets = n_steps * 2 * K * (net.n_in + sum(net.hidden))
    return {"dt": float(dt), "n_steps": n_steps, "macs_per_step": per_step, "synaptic_macs": syn,
            "bucket_macs": buckets, "total_macs": syn + buckets}


def energy_pj(acs: float, macs: float) -> float:
    """Energy proxy in pJ: ``acs * E_AC_PJ + macs * E_MAC_PJ`` (memory traffic not counted)."""
    return float(acs) * E_AC_PJ + float(macs) * E_MAC_PJ


# ---------------------------------------------------------------------------- static (NeuroBench)
def parameter_count(net: Network) -> int:
    """Trainable parameters: every ``w`` and ``v`` entry and the used biases (NeuroBench parameter count).

    The time constants and spiking parameters are configuration, not trained: they are buffers
    (see :func:`footprint_bytes`).
    """
    n = sum(a.size for a in net.w) + sum(a.size for a in net.v)
    n += sum(b.size for b, used in zip(net.b, net.bias) if used)
    return int(n)


def footprint_bytes(net: Network, bytes_per_value: int = 8) -> dict[str, int]:
    """Memory footprint in bytes (NeuroBench: parameters plus buffers, zero weights included).

    Parameters
    ----------
    net : Network
    bytes_per_value : int
        Bytes per stored number (8: sgevent's float64; 4 for an fp32 deployment).

    Returns
    -------
    dict
        ``parameters`` (``parameter_count * bytes_per_value``), ``buffers`` and ``total``.

    Notes
    -----
    Buffers are the fixed configuration (``K`` time constants per source, 5 spiking parameters
    per hidden layer, ``h_in``) and the state the event engine keeps per neuron during a sample:
    ``R K`` aggregated states per neuron of every layer, plus ``yhat_j[0]`` and ``theta_dyn`` per
    hidden neuron. The engine's event heap and spike buffers are not counted.
    """
    K = net.n_buckets
    R = K if net.per_synapse else 1
    n_config = K * len(net.taus) + 5 * len(net.hidden) + 1
    n_state = R * K * (sum(net.hidden) + net.n_out) + 2 * sum(net.hidden)
    params = parameter_count(net) * int(bytes_per_value)
    buffers = (n_config + n_state) * int(bytes_per_value)
    return {"parameters": params, "buffers": buffers, "total": params + buffers}


def connection_sparsity(net: Network) -> float:
    """Zero connection weights / all connection weights, over every layer's ``w`` (NeuroBench).

    A synapse ``(j, i)`` is absent when ``w[j, i] == 0``; bucket weights ``v`` and biases are not
    connection weights (NeuroBench counts the ``weight`` of connection layers only).
    """
    zeros = sum(int(np.count_nonzero(a == 0)) for a in net.w)
    return zeros / sum(a.size for a in net.w)


def _fanout_nonzero(net: Network, l: int) -> np.ndarray:
    """Per pre-neuron of layer ``l``: non-zero entries of what one of its events adds, shape (n_pre,)."""
    if net.per_synapse:
        return np.count_nonzero(net.w[l][:, :, None] * net.v[l], axis=(0, 2))
    return np.count_nonzero(net.w[l], axis=0)


def effective_ops(result: SimulationResult, input_units: np.ndarray, net: Network) -> dict[str, int]:
    """NeuroBench effective ACs and MACs of one sample.

    Parameters
    ----------
    result : SimulationResult
    input_units : ndarray of int, shape (n_delivered,)
        Channels of the delivered input spikes (:func:`inputs_in_window`).
    net : Network

    Returns
    -------
    dict
        ``effective_acs``: over input spikes (binary), the non-zero weights they reach;
        ``effective_macs``: over hidden events (graded), the non-zero weights they reach in the
        next layer (readout included).

    Notes
    -----
    NeuroBench counts synaptic operations with a non-zero input and a non-zero weight. In the
    event engine a zero input is never delivered, and a delivery from ``i`` adds ``w[j,i]`` (or,
    per synapse, ``w[j,i] v[j,i,r]`` for ``r < K``) to every post-neuron ``j``; the non-zero ones
    are the effective operations. With dense weights this is ``acs`` and ``macs`` of
    :func:`synaptic_ops`.
    """
    acs = int(_fanout_nonzero(net, 0)[np.asarray(input_units, dtype=np.int64)].sum())
    macs = 0
    for l, layer in enumerate(result.layers):
        macs += int(_fanout_nonzero(net, l + 1)[np.asarray(layer.neurons, dtype=np.int64)].sum())
    return {"effective_acs": acs, "effective_macs": macs}


# ---------------------------------------------------------------------------- one sample, many samples
def _check_result(result: SimulationResult, net: Network, idx: int) -> None:
    if len(result.layers) != len(net.hidden):
        raise InputError(f"sample {idx}: result has {len(result.layers)} hidden layers, the network {len(net.hidden)}")
    for l, layer in enumerate(result.layers):
        n = net.hidden[l]
        if layer.neurons.size and (layer.neurons.min() < 0 or layer.neurons.max() >= n):
            raise InputError(f"sample {idx}: layers[{l}].neurons must lie in 0..{n - 1}")
        if np.any(np.asarray(layer.counts) < 1):
            raise InputError(f"sample {idx}: layers[{l}].counts must be >= 1 (one event holds at least one spike)")
    upd = result.stats.get("state_updates") if isinstance(result.stats, dict) else None
    if upd is None or len(upd) != net.n_layers:
        raise InputError(
            f"sample {idx}: stats['state_updates'] must list {net.n_layers} counts (hidden layers and readout), "
            "as sgevent.engine.simulate reports"
        )


def sample_metrics(
    result: SimulationResult, times, units, net: Network, window: float | None = None,
    dt_ref: float = 1e-3, dt_dense: float | None = None, *, sample_idx: int = 0,
) -> dict[str, Any]:
    """Every metric of one sample (see the module docstring for definitions).

    Parameters
    ----------
    result : SimulationResult
        Output of :func:`sgevent.engine.simulate` (its ``stats`` must hold ``state_updates``).
    times, units : array_like, shape (n_spikes,)
        The sample's input events (s, channel), as passed to the simulation.
    net : Network
    window : float, optional
        Window (s) rates and the dense equivalent are taken over; default ``result.t_end``.
    dt_ref : float
        Reference step (s) of the activation sparsity (default 1 ms).
    dt_dense : float, optional
        Step (s) of the dense clock-driven equivalent; default ``dt_ref``.
    sample_idx : int
        Used in error messages.

    Returns
    -------
    dict
        ``layers`` (list of :func:`layer_activity` dicts, hidden layers), ``input_spikes``,
        ``ops`` (:func:`synaptic_ops` plus ``state_updates``, ``state_macs_per_update`` and
        ``state_macs``), ``dense`` (:func:`dense_equivalent`), ``energy`` (pJ: ``ours``, its
        parts ``synaptic_ac``, ``synaptic_mac``, ``state``, then ``dense`` and ``ratio_dense_over_ours``),
        ``effective_acs``, ``effective_macs``, ``active_pairs`` and ``total_pairs`` (hidden
        (neuron, step) pairs, for a pooled activation sparsity).
    """
    _check_result(result, net, sample_idx)
    dt_ref = check_positive_time(dt_ref, "dt_ref")
    dt_dense = dt_ref if dt_dense is None else check_positive_time(dt_dense, "dt_dense")
    win = float(result.t_end) if window is None else float(window)
    if not (np.isfinite(win) and win >= 0.0):
        raise InputError(f"sample {sample_idx}: window must be a finite time >= 0 s, got {window!r}")
    t_in, u_in = inputs_in_window(times, units, float(result.t_end), result.dt)
    layers = [layer_activity(lay, net.hidden[l], win, dt_ref) for l, lay in enumerate(result.layers)]
    total_pairs = sum(a["total_pairs"] for a in layers)
    active_pairs = sum(a["active_pairs"] for a in layers)
    ops = synaptic_ops(result, t_in.size, net)
    upd = [int(x) for x in result.stats["state_updates"]]
    per_upd = state_update_macs(net)
    ops["state_updates"] = upd
    ops["state_macs_per_update"] = per_upd
    ops["state_macs"] = sum(n * c for n, c in zip(upd, per_upd))
    dense = dense_equivalent(net, win, dt_dense)
    e_ac = ops["acs"] * E_AC_PJ
    e_mac = ops["macs"] * E_MAC_PJ
    e_state = ops["state_macs"] * E_MAC_PJ
    ours = e_ac + e_mac + e_state
    e_dense = energy_pj(0, dense["total_macs"])
    eff = effective_ops(result, u_in, net)
    return {
        "window": win, "input_spikes": int(t_in.size), "layers": layers, "ops": ops, "dense": dense,
        "energy": {"synaptic_ac": e_ac, "synaptic_mac": e_mac, "state": e_state, "ours": ours, "dense": e_dense,
                   "ratio_dense_over_ours": e_dense / ours if ours > 0 else float("inf")},
        "active_pairs": int(active_pairs), "total_pairs": int(total_pairs), **eff,
    }


def summarize(
    results: Sequence[SimulationResult], inputs: Sequence[tuple], net: Network,
    window: float | Sequence[float] | None = None, dt_ref: float = 1e-3, dt_dense: float | None = None,
) -> dict[str, Any]:
    """Means per sample of every metric over a set of samples, plus the NeuroBench columns.

    Parameters
    ----------
    results : sequence of SimulationResult
        One per sample, from :func:`sgevent.engine.simulate`.
    inputs : sequence of (times, units)
        The input events of each sample.
    net : Network
    window : float, sequence of float or None
        Window (s) per sample (one value for all, one per sample, or None for each ``t_end``).
    dt_ref : float
        Reference step (s) of the activation sparsity (default 1 ms).
    dt_dense : float, optional
        Step (s) of the dense clock-driven equivalent (default ``dt_ref``).

    Returns
    -------
    dict
        ``n_samples``, ``window_mean``, ``dt_ref``, ``dt_dense``;
        ``layers``: per hidden layer, means per sample of ``spikes``, ``events``, ``rate_hz``,
        ``silent_fraction`` and ``activation_sparsity`` (with ``n_neurons``);
        ``ops``: means per sample of ``input_spikes``, ``synaptic_ops`` (list per layer, with
        ``kind``), ``acs``, ``macs``, ``state_updates`` (list), ``state_macs``, and
        ``state_macs_per_update``; ``dense``: ``macs_per_step`` and the means of ``n_steps``,
        ``synaptic_macs``, ``bucket_macs``, ``total_macs``; ``energy`` (pJ per sample): ``ours``
        and its parts, ``dense``, ``ratio_dense_over_ours`` (ratio of the means), the constants
        ``e_ac_pj``, ``e_mac_pj``, ``source``, ``memory_traffic_counted`` (False) and ``note``;
        ``neurobench``: ``footprint_bytes``, ``parameter_count``, ``connection_sparsity``,
        ``activation_sparsity`` (pooled over hidden layers, steps and samples), ``dense_ops``
        (mean synaptic MACs of the dense equivalent), ``effective_macs``, ``effective_acs``
        (means) and ``source``.
    """
    if len(results) != len(inputs):
        raise InputError(f"results ({len(results)}) and inputs ({len(inputs)}) must hold one entry per sample")
    if len(results) == 0:
        raise InputError("summarize needs at least one sample")
    if window is None or np.isscalar(window):
        windows = [window] * len(results)
    else:
        windows = list(window)
        if len(windows) != len(results):
            raise InputError(f"window must be one number or one per sample ({len(results)}), got {len(windows)}")
    per = []
    for i, (res, inp) in enumerate(zip(results, inputs)):
        try:
            t, u = inp
        except (TypeError, ValueError):
            raise InputError(f"sample {i}: inputs[{i}] must be a pair (times, units)") from None
        per.append(sample_metrics(res, t, u, net, windows[i], dt_ref, dt_dense, sample_idx=i))

    def mean(f):
        return float(np.mean([f(m) for m in per]))

    def mean_list(f):
        return [float(x) for x in np.mean([f(m) for m in per], axis=0)]

    layers = []
    for l, n in enumerate(net.hidden):
        d = {"layer": l, "n_neurons": n}
        for key in ("spikes", "events", "rate_hz", "silent_fraction", "activation_sparsity"):
            d[key] = mean(lambda m: m["layers"][l][key])
        layers.append(d)
    ops = {
        "input_spikes": mean(lambda m: m["input_spikes"]),
        "synaptic_ops": mean_list(lambda m: m["ops"]["synaptic_ops"]),
        "kind": per[0]["ops"]["kind"],
        "acs": mean(lambda m: m["ops"]["acs"]),
        "macs": mean(lambda m: m["ops"]["macs"]),
        "state_updates": mean_list(lambda m: m["ops"]["state_updates"]),
        "state_macs_per_update": per[0]["ops"]["state_macs_per_update"],
        "state_macs": mean(lambda m: m["ops"]["state_macs"]),
    }
    dense = {"dt": per[0]["dense"]["dt"], "macs_per_step": per[0]["dense"]["macs_per_step"]}
    for key in ("n_steps", "synaptic_macs", "bucket_macs", "total_macs"):
        dense[key] = mean(lambda m: m["dense"][key])
    energy = {key: mean(lambda m: m["energy"][key]) for key in ("synaptic_ac", "synaptic_mac", "state", "ours", "dense")}
    energy["ratio_dense_over_ours"] = energy["dense"] / energy["ours"] if energy["ours"] > 0 else float("inf")
    energy.update(e_ac_pj=E_AC_PJ, e_mac_pj=E_MAC_PJ, source=ENERGY_SOURCE, memory_traffic_counted=False, note=MEMORY_NOTE)
    total_pairs = sum(m["total_pairs"] for m in per)
    neurobench = {
        "footprint_bytes": footprint_bytes(net)["total"],
        "parameter_count": parameter_count(net),
        "connection_sparsity": connection_sparsity(net),
        "activation_sparsity": 1.0 - sum(m["active_pairs"] for m in per) / total_pairs,
        "dense_ops": dense["synaptic_macs"],
        "effective_macs": mean(lambda m: m["effective_macs"]),
        "effective_acs": mean(lambda m: m["effective_acs"]),
        "source": NEUROBENCH_SOURCE,
    }
    return {
        "n_samples": len(per), "window_mean": mean(lambda m: m["window"]), "dt_ref": float(dt_ref),
        "dt_dense": dense["dt"], "layers": layers, "ops": ops, "dense": dense, "energy": energy,
        "neurobench": neurobench,
    }


def _g(x: float) -> str:
    """Compact number for tables."""
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"


def format_table(summary: dict[str, Any]) -> str:
    """Markdown tables of a :func:`summarize` output (activity, operations and energy, NeuroBench).

    The energy rows print the per-operation constants and their source beside the figures, and
    state that memory traffic is not counted.
    """
    s = summary
    ms = 1e3
    lines = [
        f"Samples: {s['n_samples']}, mean window {_g(s['window_mean'] * ms)} ms; "
        f"activation sparsity at {_g(s['dt_ref'] * ms)} ms steps.",
        "",
        "| hidden layer | neurons | spikes / sample | events / sample | spikes / neuron / s | silent fraction | activation sparsity |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in s["layers"]:
        lines.append(
            f"| {d['layer']} | {d['n_neurons']} | {_g(d['spikes'])} | {_g(d['events'])} | {_g(d['rate_hz'])} "
            f"| {_g(d['silent_fraction'])} | {_g(d['activation_sparsity'])} |"
        )
    o, dn, e = s["ops"], s["dense"], s["energy"]
    n_l = len(o["synaptic_ops"])
    names = [f"layer {l}" if l < n_l - 1 else "readout" for l in range(n_l)]
    lines += ["", "| operations per sample | count | energy (pJ) | constant |", "|---|---|---|---|"]
    for l in range(n_l):
        lines.append(f"| synaptic ops, {names[l]} ({o['kind'][l]}) | {_g(o['synaptic_ops'][l])} | | |")
    lines += [
        f"| ACs (input spikes x fan-out) | {_g(o['acs'])} | {_g(e['synaptic_ac'])} | {e['e_ac_pj']} pJ / AC |",
        f"| MACs (graded events x fan-out) | {_g(o['macs'])} | {_g(e['synaptic_mac'])} | {e['e_mac_pj']} pJ / MAC |",
        f"| neuron-state updates (per layer: {', '.join(_g(x) for x in o['state_updates'])}; "
        f"MACs each: {', '.join(str(x) for x in o['state_macs_per_update'])}) | {_g(o['state_macs'])} MACs "
        f"| {_g(e['state'])} | {e['e_mac_pj']} pJ / MAC |",
        f"| **event-driven total** | | **{_g(e['ours'])}** | |",
        f"| dense clock-driven at {_g(dn['dt'] * ms)} ms: {_g(dn['n_steps'])} steps, synaptic MACs "
        f"| {_g(dn['synaptic_macs'])} | | |",
        f"| dense: bucket updates (2K per source per step) | {_g(dn['bucket_macs'])} | | |",
        f"| **dense clock-driven total** | {_g(dn['total_macs'])} MACs | **{_g(e['dense'])}** | {e['e_mac_pj']} pJ / MAC |",
        f"| **energy ratio dense / event-driven** | | **{_g(e['ratio_dense_over_ours'])}** | |",
        "",
        f"Energy constants: {e['source']}. Proxy only: {e['note']}.",
        "",
        "| NeuroBench | value |",
        "|---|---|",
    ]
    nb = s["neurobench"]
    lines += [
        f"| footprint (bytes) | {nb['footprint_bytes']} |",
        f"| parameter count | {nb['parameter_count']} |",
        f"| connection sparsity | {_g(nb['connection_sparsity'])} |",
        f"| activation sparsity ({_g(s['dt_ref'] * ms)} ms steps) | {_g(nb['activation_sparsity'])} |",
        f"| dense synaptic ops / sample ({_g(dn['dt'] * ms)} ms steps) | {_g(nb['dense_ops'])} |",
        f"| effective MACs / sample | {_g(nb['effective_macs'])} |",
        f"| effective ACs / sample | {_g(nb['effective_acs'])} |",
        "",
        f"NeuroBench definitions: {nb['source']}.",
    ]
    return "\n".join(lines) + "\n"
