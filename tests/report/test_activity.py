"""Activity of hidden layers (:mod:`sgevent.report.activity`): hand-computed spike sets with exact
expected values, and bounds on random spike sets."""

import numpy as np
import pytest
from spike_sets import H0, H1, _layer

from sgevent.report.activity import activation_sparsity, layer_activity


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
