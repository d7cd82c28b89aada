"""Metrics and energy proxies: hand-computed spike sets with exact expected values, bounds,
NeuroBench static columns of a small network, and agreement with the engine's and the clock
reference's own counts on real runs."""

import numpy as np
import pytest

from sgevent import InputError, Network, simulate, simulate_reference
from sgevent.model.result import LayerSpikes, SimulationResult
from sgevent.report.metrics import (
    E_AC_PJ,
    E_MAC_PJ,
    activation_sparsity,
    connection_sparsity,
    dense_equivalent,
    footprint_bytes,
    format_table,
    inputs_in_window,
    layer_activity,
    parameter_count,
    sample_metrics,
    state_update_macs,
    summarize,
)


def _layer(times, neurons, counts, heights=None):
    counts = np.asarray(counts, dtype=np.int64)
    return LayerSpikes(
        times=np.asarray(times, dtype=np.float64), neurons=np.asarray(neurons, dtype=np.int64),
        heights=0.2 * counts.astype(float) if heights is None else np.asarray(heights, dtype=np.float64),
        counts=counts,
    )


def _result(layers, t_end, updates, dt=None):
    return SimulationResult(
        layers=layers, readout_times=np.zeros(0), readout=np.zeros((0, 2)), dt=dt, t_end=t_end,
        stats={"state_updates": list(updates)},
    )


def _net(per_synapse=False):
    """3 inputs -> 4 -> 2 hidden -> 2 readout, K = 3, with three zero weights."""
    net = Network.create(3, [4, 2], 2, n_buckets=3, seed=0, per_synapse=per_synapse)
    w = [a.copy() for a in net.w]
    w[0][2, 1] = 0.0  # input 1 reaches 3 of 4 neurons
    w[1][0, 0] = 0.0  # hidden-0 neuron 0 reaches 1 of 2 neurons
    w[2][1, 1] = 0.0  # hidden-1 neuron 1 reaches 1 of 2 readout units
    d = net.to_dict()
    d["w"] = w
    return Network.from_dict(d)


# Hand spike set, window 10 ms, reference step 1 ms -> steps 0..10 (11 steps).
# Hidden 0 (4 neurons): neuron 0 at 0.5 ms (1 spike) and 0.8 ms (burst of 3), both in step 1;
# neuron 2 at 2 ms (burst of 2, step 2); neuron 0 at 9.5 ms (step 10). Neurons 1, 3 silent.
# Hidden 1 (2 neurons): neuron 1 at 2 ms (step 2) and at 10 ms (burst of 2, step 10).
H0 = _layer([0.0005, 0.0008, 0.002, 0.0095], [0, 0, 2, 0], [1, 3, 2, 1])
H1 = _layer([0.002, 0.01], [1, 1], [1, 2])
IN_T = np.array([0.0, 0.001, 0.003, 0.012])  # the last one is after t_end: not delivered
IN_U = np.array([0, 1, 1, 2])


def test_layer_activity_hand_counts_with_bursts_and_silent_neurons():
    a0 = layer_activity(H0, 4, 0.01, 1e-3)
    assert a0["spikes"] == 7 and a0["events"] == 4
    assert a0["rate_hz"] == pytest.approx(7 / (4 * 0.01), rel=1e-12)
    assert a0["silent_fraction"] == 0.5
    assert a0["active_pairs"] == 3 and a0["total_pairs"] == 44
    assert a0["activation_sparsity"] == pytest.approx(41 / 44, rel=1e-12)
    a1 = layer_activity(H1, 2, 0.01, 1e-3)
    assert a1["spikes"] == 3 and a1["events"] == 2
    assert a1["rate_hz"] == pytest.approx(150.0, rel=1e-12)
    assert a1["silent_fraction"] == 0.5
    assert a1["activation_sparsity"] == pytest.approx(20 / 22, rel=1e-12)
    # 5 ms steps: {0}, (0, 5], (5, 10] ms; neuron 0 is active in the last two, neuron 2 in the
    # second -> 3 of 4 * 3 pairs
    assert activation_sparsity(H0.times, H0.neurons, 4, 0.01, 5e-3) == pytest.approx(1 - 3 / 12, rel=1e-12)


def test_sample_metrics_hand_counts_energy_and_neurobench_ops():
    net = _net()
    res = _result([H0, H1], 0.01, [10, 6, 4])
    m = sample_metrics(res, IN_T, IN_U, net)
    assert m["input_spikes"] == 3
    ops = m["ops"]
    assert ops["deliveries"] == [3, 4, 2]
    assert ops["synaptic_ops"] == [12, 8, 4]
    assert ops["kind"] == ["AC", "MAC", "MAC"]
    assert ops["acs"] == 12 and ops["macs"] == 12
    # K = 3: K(K+1)/2 = 6 MACs per state update, +2 for hidden neurons
    assert ops["state_macs_per_update"] == [8, 8, 6]
    assert ops["state_macs"] == 10 * 8 + 6 * 8 + 4 * 6 == 152
    e = m["energy"]
    assert e["ours"] == pytest.approx(12 * 0.9 + 12 * 4.6 + 152 * 4.6, rel=1e-12)
    # dense at 1 ms over 10 ms: 11 steps; per step 48 + 30 + 18 synaptic MACs, 2*3*(3+4+2) bucket MACs
    d = m["dense"]
    assert d["n_steps"] == 11 and d["macs_per_step"] == [48, 30, 18]
    assert d["synaptic_macs"] == 11 * 96 and d["bucket_macs"] == 11 * 54 and d["total_macs"] == 1650
    assert e["dense"] == pytest.approx(1650 * 4.6, rel=1e-12)
    assert e["ratio_dense_over_ours"] == pytest.approx(1650 * 4.6 / (10.8 + 55.2 + 699.2), rel=1e-12)
    # effective ops skip zero weights: inputs 0, 1, 1 reach 4 + 3 + 3; hidden-0 events of neurons
    # 0, 0, 2, 0 reach 1 + 1 + 2 + 1; hidden-1 events of neuron 1 reach 1 + 1
    assert m["effective_acs"] == 10 and m["effective_macs"] == 7
    assert E_AC_PJ == 0.9 and E_MAC_PJ == 4.6


def test_empty_sample():
    net = _net()
    empty = _layer([], [], [])
    m = sample_metrics(_result([empty, empty], 0.01, [0, 0, 0]), [], [], net)
    for a in m["layers"]:
        assert a["spikes"] == 0 and a["rate_hz"] == 0.0
        assert a["silent_fraction"] == 1.0 and a["activation_sparsity"] == 1.0
    assert m["ops"]["synaptic_ops"] == [0, 0, 0] and m["ops"]["state_macs"] == 0
    assert m["energy"]["ours"] == 0.0 and m["energy"]["ratio_dense_over_ours"] == np.inf
    assert m["effective_acs"] == 0 and m["effective_macs"] == 0
    s = summarize([_result([empty, empty], 0.01, [0, 0, 5])], [([], [])], net)
    assert s["neurobench"]["activation_sparsity"] == 1.0
    assert s["energy"]["ours"] == pytest.approx(5 * 6 * 4.6, rel=1e-12)


def test_summarize_means_and_pooled_sparsity():
    net = _net()
    empty = _layer([], [], [])
    r1 = _result([H0, H1], 0.01, [10, 6, 4])
    r2 = _result([empty, empty], 0.01, [0, 0, 2])
    s = summarize([r1, r2], [(IN_T, IN_U), ([], [])], net, window=0.01)
    assert s["n_samples"] == 2
    assert s["layers"][0]["spikes"] == 3.5 and s["layers"][1]["spikes"] == 1.5
    assert s["layers"][0]["silent_fraction"] == 0.75
    assert s["ops"]["synaptic_ops"] == [6.0, 4.0, 2.0]
    assert s["ops"]["state_macs"] == (152 + 12) / 2
    # pooled over layers and samples: active pairs 3 + 2, total (44 + 22) * 2
    assert s["neurobench"]["activation_sparsity"] == pytest.approx(1 - 5 / 132, rel=1e-12)
    assert s["neurobench"]["effective_acs"] == 5.0 and s["neurobench"]["effective_macs"] == 3.5
    assert s["neurobench"]["dense_ops"] == 11 * 96
    e = s["energy"]
    ours_1 = 12 * 0.9 + 12 * 4.6 + 152 * 4.6
    ours_2 = 12 * 4.6
    assert e["ours"] == pytest.approx((ours_1 + ours_2) / 2, rel=1e-12)
    assert e["ratio_dense_over_ours"] == pytest.approx(1650 * 4.6 / ((ours_1 + ours_2) / 2), rel=1e-12)
    assert e["memory_traffic_counted"] is False and e["e_ac_pj"] == 0.9 and e["e_mac_pj"] == 4.6
    table = format_table(s)
    for text in ("0.9 pJ", "4.6 pJ", "Horowitz", "not counted", "NeuroBench", "| footprint (bytes) | 848 |"):
        assert text in table
    assert table.count("\n|---") == 3


def test_sparsity_bounds_random_spike_sets():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n, n_ev = int(rng.integers(1, 6)), int(rng.integers(0, 40))
        window = float(rng.uniform(1e-4, 0.05))
        t = rng.uniform(0, window, n_ev)
        a = layer_activity(_layer(t, rng.integers(0, n, n_ev), rng.integers(1, 4, n_ev)), n, window, 1e-3)
        assert 0.0 <= a["activation_sparsity"] <= 1.0
        assert 0.0 <= a["silent_fraction"] <= 1.0
        # a neuron with a spike is active in at least one step
        assert a["active_pairs"] >= round((1 - a["silent_fraction"]) * n)


def test_static_columns_of_small_network():
    net = _net()
    assert parameter_count(net) == 24 + 24 + 2  # w, v (per neuron), readout bias only
    assert connection_sparsity(net) == pytest.approx(3 / 24, rel=1e-12)
    fp = footprint_bytes(net)
    # buffers: 3 cascades x 3 taus + 5 x 2 hidden params + h_in; state 3 x (4+2+2) + 2 x (4+2)
    assert fp == {"parameters": 400, "buffers": (20 + 36) * 8, "total": 848}
    assert footprint_bytes(net, bytes_per_value=4)["total"] == 424
    ps = _net(per_synapse=True)
    assert parameter_count(ps) == 24 + (36 + 24 + 12) + 2
    assert state_update_macs(ps) == [20, 20, 18]  # R = K = 3 rows of 6
    assert dense_equivalent(ps, 0.01)["macs_per_step"] == [36, 24, 12]


def test_inputs_in_window_grid_and_continuous():
    t = np.array([0.0, 0.01, 0.0100000001, 0.0105])
    u = np.array([0, 1, 2, 0])
    tc, _ = inputs_in_window(t, u, 0.01, None)
    assert tc.size == 2
    tg, ug = inputs_in_window(t, u, 0.01, 1e-3)  # steps 0, 10, 11, 11; N = 10
    assert tg.size == 2 and list(ug) == [0, 1]


def test_errors_name_the_problem():
    net = _net()
    with pytest.raises(InputError, match="one entry per sample"):
        summarize([_result([H0, H1], 0.01, [1, 1, 1])], [], net)
    with pytest.raises(InputError, match=r"sample 0: layers\[1\].neurons"):
        sample_metrics(_result([H0, _layer([0.001], [2], [1])], 0.01, [1, 1, 1]), [], [], net)
    with pytest.raises(InputError, match="state_updates"):
        sample_metrics(_result([H0, H1], 0.01, [1, 1]), [], [], net)
    with pytest.raises(InputError, match="dt_ref"):
        sample_metrics(_result([H0, H1], 0.01, [1, 1, 1]), [], [], net, dt_ref=0.0)


@pytest.mark.parametrize("per_synapse", [False, True])
def test_counts_equal_engine_and_reference_stats(per_synapse):
    net = Network.create(5, [6, 4], 3, n_buckets=3, seed=2, weight_gain=3.0, theta_0=0.05, per_synapse=per_synapse)
    rng = np.random.default_rng(1)
    t = np.concatenate([rng.uniform(0, 0.03, 40), [0.0312]])  # the last is after t_end
    u = rng.integers(0, 5, t.size)
    for dt in (None, 1e-3):
        res = simulate(net, t, u, dt=dt, t_end=0.03)
        assert sum(res.n_spikes) > 0
        m = sample_metrics(res, t, u, net)
        assert m["input_spikes"] == res.stats["input_spikes"] == 40
        assert m["ops"]["synaptic_ops"] == res.stats["synaptic_ops"]
        assert m["ops"]["state_updates"] == res.stats["state_updates"]
        R = 3 if per_synapse else 1
        assert m["ops"]["acs"] == res.stats["synaptic_ops"][0] * R
        assert m["ops"]["macs"] == sum(res.stats["synaptic_ops"][1:]) * R
        if dt is not None:
            # grid events are distinct (neuron, step) pairs: sparsity at dt_ref = dt is exact
            for a, lay, n in zip(m["layers"], res.layers, net.hidden):
                assert a["active_pairs"] == lay.n_events
                assert a["activation_sparsity"] == pytest.approx(1 - lay.n_events / (n * 31), rel=1e-12)
    ref = simulate_reference(net, t, u, dt=1e-3, t_end=0.03)
    d = dense_equivalent(net, 0.03, 1e-3)
    assert d["n_steps"] == ref.stats["n_steps"]
    assert d["macs_per_step"] == ref.stats["macs_per_step"]
    assert d["synaptic_macs"] == ref.stats["dense_ops"]
