"""The check loop's view kernels (engine.layer) against naive twins on the flat arrays.

``stats_at`` and ``predict_at`` read a layer through :class:`~sgevent.engine.layer.Views`. The
twins here index the flat ``Built`` and state arrays by hand: NumPy sums for the statistics, and
the spike search on a :class:`~sgevent.numerics.crossing.Neuron` built from reshaped copies for
the prediction (the same search on the same numbers, so equal bit for bit). Per-neuron and
per-synapse bucket weights, both time models, with neurons that cross within the horizon and
neurons that cannot in every layer.
"""

import numpy as np
import pytest
from numba import njit

from sgevent import Network
from sgevent.engine.build import build
from sgevent.engine.layer import layer_views, predict, predict_at, stats_at
from sgevent.engine.state import init_state
from sgevent.learn.accumulate import no_learning
from sgevent.numerics.crossing import Neuron, Workspace, next_crossing
from sgevent.numerics.scratch import make_scratch


@njit(cache=True)
def _view_kernels(B, nr, sc, l, t, horizon, tol):
    """Statistics and prediction of every neuron of layer ``l`` through the views (and the
    prediction again through ``predict``, which builds the views itself)."""
    n = B.n_post[l]
    out = np.empty((n, 6))
    V = layer_views(B, nr, l)
    for j in range(n):
        st = stats_at(V, j)
        for q in range(4):
            out[j, q] = st[q]
        out[j, 4] = predict_at(B, V, sc, l, j, t, horizon, tol)
        out[j, 5] = predict(B, nr, sc, l, j, t, horizon, tol)
    return out


@njit(cache=True)
def _search(grid, nrn, horizon, sc):
    return next_crossing(grid, nrn, horizon, 1e-9, Workspace(P=sc.P, W1=sc.W1, W2=sc.W2, zs=sc.zs))


def _twin(B, nr, sc, l, horizon):
    """The same quantities from the flat arrays, by hand."""
    n, R, K = int(B.n_post[l]), int(B.R), int(B.K)
    sl = slice(B.c_off[l], B.c_off[l + 1])
    z, c, c1 = (a[sl].reshape(n, R, K).copy() for a in (nr.z, B.c, B.c1))
    norms = [a[B.nr_off[l]:B.nr_off[l + 1]].reshape(n, R).copy() for a in (B.n0p, B.n0n, B.n2p, B.n2n)]
    g = slice(B.post_off[l], B.post_off[l + 1])
    b, y0, thd = B.b[g], nr.y0[g], nr.thd[g]
    zp, zn = np.maximum(z, 0).max(axis=2), np.maximum(-z, 0).max(axis=2)
    out = np.empty((n, 5))
    out[:, 0] = b + (c * z).sum(axis=(1, 2))
    out[:, 1] = (c1 * z).sum(axis=(1, 2))
    out[:, 2] = (norms[2] * zp + norms[3] * zn).sum(axis=1)
    out[:, 3] = b + (norms[0] * zp + norms[1] * zn).sum(axis=1)
    for j in range(n):
        nrn = Neuron(z=z[j].copy(), c=c[j].copy(), c1=c1[j].copy(), n0p=norms[0][j].copy(), n0n=norms[1][j].copy(),
                     n2p=norms[2][j].copy(), n2n=norms[3][j].copy(), b=float(b[j]), theta_0=float(B.theta_0[l]),
                     y0=float(y0[j]), thd=float(thd[j]), own0=float(B.own0[l]), own_th=float(B.own_th[l]),
                     rates=B.rates[l].copy())
        out[j, 4] = _search(B.grid, nrn, horizon, sc)
    return out


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("dt", [None, 1e-3])
def test_view_kernels_equal_their_twins(per_synapse, dt):
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
        got = _view_kernels(B, nr, sc, l, 0.0, horizon, 1e-9)
        want = _twin(B, nr, sc, l, horizon)
        np.testing.assert_allclose(got[:, :4], want[:, :4], rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(got[:, 4], want[:, 4])
        np.testing.assert_array_equal(got[:, 5], want[:, 4])
        s = want[:, 4]
        # both outcomes of the search are compared: crossings after now, and none in the horizon
        assert np.sum(np.isfinite(s) & (s > 0)) >= 2 and np.sum(np.isinf(s)) >= 5
        assert np.all(got[:, 3] >= got[:, 0])  # the all-time bound holds at s = 0
