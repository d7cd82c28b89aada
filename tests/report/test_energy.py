"""Operation counts and NeuroBench static columns (:mod:`sgevent.report.energy`) of a small network."""

import numpy as np
import pytest
from spike_sets import _net

from sgevent.report.energy import (
    connection_sparsity,
    dense_equivalent,
    footprint_bytes,
    inputs_in_window,
    parameter_count,
    state_update_macs,
)


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
