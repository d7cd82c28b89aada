"""Metrics of simulated samples, one sample and means over many (DESIGN.md section 6).

:func:`sample_metrics` gathers every metric of one sample, :func:`summarize` their means per
sample over a set of samples plus the NeuroBench columns, and :func:`format_table` prints a
summary as Markdown tables. What each metric counts, and how it maps onto this model, is in
:mod:`sgevent.report.activity` (spikes, rates, silent neurons, activation sparsity) and
:mod:`sgevent.report.energy` (operation counts, the dense clock-driven equivalent, the energy
proxy and the NeuroBench static columns); their names are re-exported here, so one import gives
every metric. Everything is a pure function of :class:`~sgevent.model.result.SimulationResult`
objects, the samples' input events and the :class:`~sgevent.model.network.Network`; nothing is
simulated again.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sgevent.errors import InputError
from sgevent.model.events import check_positive_time
from sgevent.model.network import Network
from sgevent.model.result import SimulationResult
from sgevent.report.activity import activation_sparsity, layer_activity, n_clock_steps
from sgevent.report.energy import (
    E_AC_PJ,
    E_MAC_PJ,
    ENERGY_SOURCE,
    MEMORY_NOTE,
    NEUROBENCH_SOURCE,
    connection_sparsity,
    dense_equivalent,
    effective_ops,
    energy_pj,
    footprint_bytes,
    inputs_in_window,
    parameter_count,
    state_update_macs,
    synaptic_ops,
)

__all__ = [
    "E_AC_PJ", "E_MAC_PJ", "ENERGY_SOURCE", "NEUROBENCH_SOURCE", "MEMORY_NOTE",
    "n_clock_steps", "activation_sparsity", "layer_activity", "inputs_in_window",
    "synaptic_ops", "state_update_macs", "dense_equivalent", "energy_pj",
    "parameter_count", "footprint_bytes", "connection_sparsity", "effective_ops",
    "sample_metrics", "summarize", "format_table",
]


def _check_result(result: SimulationResult, net: Network, idx: int) -> None:
    if len(result.layers) != len(net.hidden):
        raise InputError(
            f"sample {idx}: result has {len(result.layers)} hidden layers, the network {len(net.hidden)}")
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
        parts ``synaptic_ac``, ``synaptic_mac``, ``state``, then ``dense`` and
        ``ratio_dense_over_ours``),
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
    ops = synaptic_ops(result, t_in.size, net, u_in)
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
    energy = {"synaptic_ac": e_ac, "synaptic_mac": e_mac, "state": e_state, "ours": ours, "dense": e_dense,
              "ratio_dense_over_ours": e_dense / ours if ours > 0 else float("inf")}
    if "conv_total_macs" in dense:  # a time-stepped convolution (receptive fields only)
        e_conv = energy_pj(0, dense["conv_total_macs"])
        energy.update(conv_clock=e_conv, ratio_conv_clock_over_ours=e_conv / ours if ours > 0 else float("inf"))
    return {
        "window": win, "input_spikes": int(t_in.size), "layers": layers, "ops": ops, "dense": dense,
        "energy": energy,
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
    per = _per_sample(results, inputs, net, window, dt_ref, dt_dense)
    dense = {"dt": per[0]["dense"]["dt"], "macs_per_step": per[0]["dense"]["macs_per_step"]}
    for key in ("n_steps", "synaptic_macs", "bucket_macs", "total_macs", "conv_synaptic_macs", "conv_total_macs"):
        if key in per[0]["dense"]:
            dense[key] = _mean(per, lambda m: m["dense"][key])
    if "conv_macs_per_step" in per[0]["dense"]:
        dense["conv_macs_per_step"] = per[0]["dense"]["conv_macs_per_step"]
    total_pairs = sum(m["total_pairs"] for m in per)
    neurobench = {
        "footprint_bytes": footprint_bytes(net)["total"],
        "parameter_count": parameter_count(net),
        "connection_sparsity": connection_sparsity(net),
        "activation_sparsity": 1.0 - sum(m["active_pairs"] for m in per) / total_pairs,
        "dense_ops": dense["synaptic_macs"],
        "effective_macs": _mean(per, lambda m: m["effective_macs"]),
        "effective_acs": _mean(per, lambda m: m["effective_acs"]),
        "source": NEUROBENCH_SOURCE,
    }
    return {
        "n_samples": len(per), "window_mean": _mean(per, lambda m: m["window"]), "dt_ref": float(dt_ref),
        "dt_dense": dense["dt"], "layers": _mean_layers(per, net), "ops": _mean_ops(per), "dense": dense,
        "energy": _mean_energy(per), "neurobench": neurobench,
    }


def _per_sample(results, inputs, net: Network, window, dt_ref: float, dt_dense: float | None) -> list[dict]:
    """:func:`sample_metrics` of every sample, after checking that the arguments match."""
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
    return per


def _mean(per: list[dict], f) -> float:
    """Mean over samples of ``f(sample metrics)``."""
    return float(np.mean([f(m) for m in per]))


def _mean_list(per: list[dict], f) -> list[float]:
    """Elementwise mean over samples of the list ``f(sample metrics)``."""
    return [float(x) for x in np.mean([f(m) for m in per], axis=0)]


def _mean_layers(per: list[dict], net: Network) -> list[dict]:
    layers = []
    for l, n in enumerate(net.hidden):
        d = {"layer": l, "n_neurons": n}
        for key in ("spikes", "events", "rate_hz", "silent_fraction", "activation_sparsity"):
            d[key] = _mean(per, lambda m: m["layers"][l][key])
        layers.append(d)
    return layers


def _mean_ops(per: list[dict]) -> dict:
    return {
        "input_spikes": _mean(per, lambda m: m["input_spikes"]),
        "synaptic_ops": _mean_list(per, lambda m: m["ops"]["synaptic_ops"]),
        "kind": per[0]["ops"]["kind"],
        "acs": _mean(per, lambda m: m["ops"]["acs"]),
        "macs": _mean(per, lambda m: m["ops"]["macs"]),
        "state_updates": _mean_list(per, lambda m: m["ops"]["state_updates"]),
        "state_macs_per_update": per[0]["ops"]["state_macs_per_update"],
        "state_macs": _mean(per, lambda m: m["ops"]["state_macs"]),
    }


def _mean_energy(per: list[dict]) -> dict:
    energy = {key: _mean(per, lambda m: m["energy"][key])
              for key in ("synaptic_ac", "synaptic_mac", "state", "ours", "dense")}
    energy["ratio_dense_over_ours"] = energy["dense"] / energy["ours"] if energy["ours"] > 0 else float("inf")
    if "conv_clock" in per[0]["energy"]:
        energy["conv_clock"] = _mean(per, lambda m: m["energy"]["conv_clock"])
        energy["ratio_conv_clock_over_ours"] = (energy["conv_clock"] / energy["ours"] if energy["ours"] > 0
                                                else float("inf"))
    energy.update(e_ac_pj=E_AC_PJ, e_mac_pj=E_MAC_PJ, source=ENERGY_SOURCE, memory_traffic_counted=False,
                  note=MEMORY_NOTE)
    return energy


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
        "| hidden layer | neurons | spikes / sample | events / sample | spikes / neuron / s | silent fraction "
        "| activation sparsity |",
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
        f"| **dense clock-driven total** | {_g(dn['total_macs'])} MACs | **{_g(e['dense'])}** "
        f"| {e['e_mac_pj']} pJ / MAC |",
        f"| **energy ratio dense / event-driven** | | **{_g(e['ratio_dense_over_ours'])}** | |",
        *([f"| time-stepped convolution at {_g(dn['dt'] * ms)} ms (receptive fields only; synaptic "
           f"{_g(dn['conv_synaptic_macs'])}) | {_g(dn['conv_total_macs'])} MACs | **{_g(e['conv_clock'])}** "
           f"| {e['e_mac_pj']} pJ / MAC |",
           f"| **energy ratio time-stepped conv / event-driven** | | **{_g(e['ratio_conv_clock_over_ours'])}** | |"]
          if "conv_clock" in e else []),
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
