"""The check loop's view kernels against their flat-index twins (engine.layer).

``stats_at`` and ``predict_at`` read a layer through :class:`~sgevent.engine.layer.Views`; they
must give exactly what ``neuron_stats`` and ``predict`` give from the flat arrays, for every
neuron, per-neuron and per-synapse bucket weights, both time models, on states where some
neurons cross within the horizon and some cannot.
"""

import numpy as np
import pytest
from numba import njit

from sgevent import Network
from sgevent.engine.build import build
from sgevent.engine.layer import layer_views, neuron_stats, predict, predict_at, stats_at
from sgevent.engine.state import init_state
from sgevent.learn.accumulate import no_learning
from sgevent.numerics.scratch import make_scratch


@njit(cache=True)
def _both(B, nr, sc, l, t, horizon, tol):
    """(flat, views) stats and predictions of every neuron of layer ``l``."""
    n = B.n_post[l]
    flat = np.empty((n, 5))
    view = np.empty((n, 5))
    V = layer_views(B, nr, l)
    for j in range(n):
        a = neuron_stats(B, l, j, nr.z)
        b = stats_at(V, j)
        for q in range(4):
            flat[j, q] = a[q]
            view[j, q] = b[q]
        flat[j, 4] = predict(B, nr, sc, l, j, t, horizon, tol)
        view[j, 4] = predict_at(B, V, sc, l, j, t, horizon, tol)
    return flat, view


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("dt", [None, 1e-3])
def test_views_equal_flat_kernels(per_synapse, dt):
    net = Network.create(12, (40, 30), 3, n_buckets=4, seed=3, per_synapse=per_synapse, hidden_bias=True,
                         m_f=0.3, theta_0=0.05)
    B = build(net, dt)
    S = init_state(B, no_learning(net), 1)
    sc = make_scratch(B.K, B.R)
    rng = np.random.default_rng(7)
    nr = S.neurons
    nr.z[:] = rng.normal(0.0, 1.0, nr.z.size)
    nr.y0[:] = rng.uniform(0.0, 0.2, nr.y0.size)
    nr.thd[:] = rng.uniform(0.0, 0.05, nr.thd.size)
    horizon = 50.0 if dt else 0.05
    for l in range(2):
        flat, view = _both(B, nr, sc, l, 0.0, horizon, 1e-9)
        np.testing.assert_array_equal(view, flat)
        s = flat[:, 4]
        # both outcomes of the search are compared: crossings after now, and none in the horizon
        assert np.sum(np.isfinite(s) & (s > 0)) >= 2 and np.sum(np.isinf(s)) >= 5
        assert np.all(flat[:, 3] >= flat[:, 0])  # the all-time bound holds at s = 0
