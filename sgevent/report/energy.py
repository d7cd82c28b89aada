"""Operation counts, energy proxy and NeuroBench columns of simulated samples (DESIGN.md section 6).

Part of the metrics of :mod:`sgevent.report.metrics` (which gathers them per sample and over
samples). Everything is a pure function of a :class:`~sgevent.model.result.SimulationResult`, the
sample's input events and the :class:`~sgevent.model.network.Network`; nothing is simulated again.

What is counted
---------------
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

from typing import Any

import numpy as np

from sgevent.model.conv import entries
from sgevent.model.events import STEP_TOL
from sgevent.model.network import Network
from sgevent.model.result import SimulationResult
from sgevent.report.activity import n_clock_steps

__all__ = [
    "E_AC_PJ", "E_MAC_PJ", "ENERGY_SOURCE", "NEUROBENCH_SOURCE", "MEMORY_NOTE",
    "inputs_in_window", "synaptic_ops", "state_update_macs", "dense_equivalent", "energy_pj",
    "parameter_count", "footprint_bytes", "connection_sparsity", "effective_ops",
]

#: Energy of one fp32 add (an accumulate), 45 nm, pJ (Horowitz, ISSCC 2014).
E_AC_PJ = 0.9
#: Energy of one fp32 multiply-accumulate (3.7 pJ multiply + 0.9 pJ add), 45 nm, pJ.
E_MAC_PJ = 4.6
ENERGY_SOURCE = "Horowitz, ISSCC 2014: 45 nm, fp32 add 0.9 pJ, fp32 MAC 4.6 pJ"
NEUROBENCH_SOURCE = "Yik et al. 2025, NeuroBench (github.com/NeuroBench/neurobench, neurobench/metrics)"
MEMORY_NOTE = "memory traffic (weight/state reads and writes) is not counted"


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


def synaptic_ops(result: SimulationResult, n_input_spikes: int, net: Network,
                 input_units: np.ndarray | None = None) -> dict[str, Any]:
    """Synaptic operations of one sample per layer (hidden layers, then readout).

    Parameters
    ----------
    result : SimulationResult
        The sample's hidden events.
    n_input_spikes : int
        Input spikes delivered (see :func:`inputs_in_window`).
    net : Network
    input_units : ndarray of int, optional
        Channels of the delivered input spikes; needed with conv layers, whose deliveries cost
        the fan-out of their source (:meth:`~sgevent.model.network.Network.fan_out`: ``C' k^2``
        inside the map, fewer at its border) instead of ``n_post``.

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
    if net.has_conv:  # a conv layer's delivery reaches the source's receptive field only
        if input_units is None:
            raise ValueError("synaptic_ops of a conv network needs input_units (the delivered channels)")
        sources = [np.asarray(input_units, dtype=np.int64)] + [np.asarray(la.neurons, np.int64) for la in result.layers]
        ops = [int(net.fan_out(l)[src].sum()) if net.conv[l] is not None else ops[l]
               for l, src in enumerate(sources)]
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
        (n_in + sum(hidden))``: every source's buckets each step) and ``total_macs``. With conv
        layers, ``macs_per_step`` is their dense equivalent (what the reference runs) and
        ``conv_macs_per_step``, ``conv_synaptic_macs``, ``conv_total_macs`` count a
        time-stepped convolution instead (``nnz K + n_post K``, ``nnz`` the connected pairs).
    """
    K = net.n_buckets
    sizes = net.sizes
    n_steps = n_clock_steps(window, dt)
    per_step, conv_step = [], []
    for l in range(net.n_layers):
        n_pre, n_post = sizes[l], sizes[l + 1]
        per_step.append(n_pre * n_post * K + (0 if net.per_synapse else n_post * K))
        nnz = n_pre * n_post if net.conv[l] is None else int(net.fan_out(l).sum())
        conv_step.append(nnz * K + (0 if net.per_synapse else n_post * K))
    syn = n_steps * sum(per_step)
    buckets = n_steps * 2 * K * (net.n_in + sum(net.hidden))
    out = {"dt": float(dt), "n_steps": n_steps, "macs_per_step": per_step, "synaptic_macs": syn,
           "bucket_macs": buckets, "total_macs": syn + buckets}
    if net.has_conv:  # a time-stepped conv implementation mixes the receptive fields only
        out.update(conv_macs_per_step=conv_step, conv_synaptic_macs=n_steps * sum(conv_step),
                   conv_total_macs=n_steps * sum(conv_step) + buckets)
    return out


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
    spec = net.conv[l]
    if spec is not None:  # the receptive-field entries with a non-zero jump
        ent = entries(spec)
        w_e = ent.coef * net.w[l].ravel()[ent.tap]
        if net.per_synapse:
            nz = np.count_nonzero(w_e[:, None] * net.v[l].reshape(-1, net.n_buckets)[ent.tap], axis=1)
        else:
            nz = (w_e != 0).astype(np.int64)
        return np.bincount(ent.pre, weights=nz, minlength=spec.n_pre).astype(np.int64)
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
