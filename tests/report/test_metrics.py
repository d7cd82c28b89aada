"""Metrics of samples (:mod:`sgevent.report.metrics`): hand-computed spike sets with exact expected
values, energy proxies, means over samples, errors, and agreement with the engine's and the clock
reference's own counts on real runs."""

import numpy as np
import pytest
from spike_sets import H0, H1, IN_T, IN_U, _layer, _net, _result

from sgevent import InputError, Network, simulate, simulate_reference
from sgevent.report.metrics import E_AC_PJ, E_MAC_PJ, dense_equivalent, format_table, sample_metrics, summarize


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
