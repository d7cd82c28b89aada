"""The next-crossing finder against dense brute force (tests/naive.py), on 10,000+ random
states including near-tangent ones: no missed crossing, no false crossing, time error within
the 1e-9 s tolerance; grid mode finds exactly the first grid step."""

import numpy as np
import scipy.linalg
from naive import naive_f, naive_first_crossing_dense, naive_grid_first_crossing

from sgevent.numerics.crossing import Neuron, Workspace, next_crossing, search_coefficients
from sgevent.numerics.propagator import cascade_matrix, grid_step_matrix
from sgevent.numerics.scratch import make_scratch

TOL = 1e-9
NAIVE_TOL = 1e-10  # bisection tolerance of the brute-force twin


def _crossing(grid, z, c, c1, n0p, n0n, n2p, n2n, b, theta_0, y0, thd, own0, own_th, rates, horizon, tol):
    """:func:`next_crossing` of one neuron given field by field (fresh scratch, the engine's
    :class:`Workspace`)."""
    nrn = Neuron(z=z, c=c, c1=c1, n0p=n0p, n0n=n0n, n2p=n2p, n2n=n2n, b=float(b), theta_0=float(theta_0),
                 y0=float(y0), thd=float(thd), own0=float(own0), own_th=float(own_th), rates=rates)
    sc = make_scratch(z.shape[1], z.shape[0])
    ws = Workspace(P=sc.P, W1=sc.W1, W2=sc.W2, zs=sc.zs)
    return next_crossing(grid, nrn, float(horizon), float(tol), ws)


def _random_taus(rng, K):
    kind = rng.integers(0, 3)
    if kind == 0:
        return rng.uniform(2e-3, 0.03, K)
    if kind == 1:
        return np.full(K, rng.uniform(2e-3, 0.03))
    return rng.uniform(2e-3, 0.03) * (1 + 1e-6 * rng.standard_normal(K))


def _random_neuron(rng, K, R):
    z = rng.standard_normal((R, K))
    if R == 1:
        c = rng.standard_normal((1, K))
    else:
        c = np.zeros((R, K))
        c[np.arange(K), np.arange(K)] = 1.0
        z = np.tril(z)  # per-synapse rows only hold buckets k' <= r
    y0 = abs(rng.standard_normal()) * rng.integers(0, 2)
    thd = abs(rng.standard_normal()) * 0.5 * rng.integers(0, 2)
    return z, c, y0, thd


def _continuous_case(rng, n_states):
    """Yield (state, finder result, naive crossing, f evaluator) for one random tau set."""
    K = int(rng.integers(1, 9))
    R = 1 if rng.random() < 0.6 else K
    taus = _random_taus(rng, K)
    A = cascade_matrix(taus)
    lam0, lam_th = 1 / rng.uniform(2e-3, 0.03), 1 / rng.uniform(0.02, 0.2)
    H = 0.04
    n_grid = 2001  # 20 us spacing
    s_grid = np.linspace(0, H, n_grid)
    step = scipy.linalg.expm(A * (s_grid[1] - s_grid[0]))
    Ps = np.empty((n_grid, K, K))
    Ps[0] = np.eye(K)
    for i in range(1, n_grid):
        Ps[i] = step @ Ps[i - 1]
    for _ in range(n_states):
        z, c, y0, thd = _random_neuron(rng, K, R)
        c1, n0p, n0n, n2p, n2n = search_coefficients(c, A)
        zz = np.matmul(Ps, z.T)  # (n_grid, K, R)
        g = np.einsum("rk,skr->s", c, zz) - y0 * np.exp(-lam0 * s_grid) - thd * np.exp(-lam_th * s_grid)
        # choose theta_0 (> 0) and b so that max over the grid of f = margin, f(0) < 0
        kind = rng.integers(0, 4)
        margin = [abs(rng.normal()) * 0.3, -abs(rng.normal()) * 0.3, 1e-7, -1e-7][kind] * max(1e-3, np.abs(g).max())
        if kind >= 2:
            margin *= rng.choice([1.0, 1e-2, 1e-5])  # down to 1e-12 of the signal scale: near-tangent
        gmax = g[1:].max()
        theta_0 = abs(rng.normal()) + 0.1
        b = theta_0 + margin - gmax
        if b + g[0] - theta_0 >= 0:  # must start below threshold
            continue
        s = _crossing(False, z, c, c1, n0p, n0n, n2p, n2n, b, theta_0, y0, thd, lam0, lam_th, 1.0 / taus, H, TOL)
        f_of = lambda x: naive_f(x, z, c, b, theta_0, y0, thd, lam0, lam_th, taus)  # noqa: E731
        fg = b + g - theta_0
        yield s, naive_first_crossing_dense(f_of, s_grid, fg, tol=NAIVE_TOL), f_of, np.abs(g).max() + abs(b)


def test_continuous_finder_vs_brute_force():
    rng = np.random.default_rng(12345)
    n_checked = n_cross = n_tangent = 0
    for _ in range(100):
        for s, s_naive, f_of, scale in _continuous_case(rng, 150):
            n_checked += 1
            assert not np.isnan(s), "search did not converge"
            if np.isfinite(s_naive):
                n_cross += 1
                # never miss: the finder's crossing is no later than the one the grid sees
                assert np.isfinite(s) and s <= s_naive + TOL, (s, s_naive)
            if np.isfinite(s):
                # never a false crossing: f really reaches threshold there (rounding slack)
                assert f_of(s) >= -1e-12 * scale, (s, f_of(s))
                if abs(f_of(s - 2 * TOL)) < 1e-6 * scale:
                    n_tangent += 1
                if np.isfinite(s_naive) and s < s_naive - TOL:
                    # an earlier excursion between grid points: it must be genuine
                    assert f_of(s) >= -1e-12 * scale
                elif np.isfinite(s_naive):
                    assert abs(s - s_naive) <= TOL + NAIVE_TOL  # time error within tolerance
    assert n_checked >= 10000 and n_cross >= 3000 and n_tangent >= 100, (n_checked, n_cross, n_tangent)


def test_continuous_finder_catches_brief_excursion():
    # a bump above threshold lasting ~1 ms between checks far apart: a sampling search at the
    # horizon's ends would miss it, the bound-guided search must not
    taus = np.array([1e-3, 1e-3])
    A = cascade_matrix(taus)
    z = np.array([[1.0, 0.0]])
    c = np.array([[0.0, 1.0]])  # bucket 1: peaks at 1 ms at 1/e
    c1, n0p, n0n, n2p, n2n = search_coefficients(c, A)
    theta_0 = 1.0 / np.e - 1e-4
    s = _crossing(False, z, c, c1, n0p, n0n, n2p, n2n, 0.0, theta_0, 0.0, 0.0, 100.0, 10.0, 1.0 / taus, 10.0, TOL)
    f = lambda x: x / 1e-3 * np.exp(-x / 1e-3) - theta_0  # noqa: E731
    assert 0.8e-3 < s < 1e-3 and abs(f(s)) < 1e-9
    # just below the peak: no crossing, and no false alarm
    s = _crossing(False, z, c, c1, n0p, n0n, n2p, n2n, 0.0, 1.0 / np.e + 1e-12, 0.0, 0.0, 100.0, 10.0, 1.0 / taus,
                  10.0, TOL)
    assert s == np.inf


def test_grid_finder_exact_first_step():
    rng = np.random.default_rng(7)
    n_checked = n_cross = 0
    for _ in range(70):
        K = int(rng.integers(1, 9))
        R = 1 if rng.random() < 0.6 else K
        taus = _random_taus(rng, K)
        dt = float(rng.choice([1e-3, 1e-4]))
        D = grid_step_matrix(taus, dt)
        G = D - np.eye(K)
        a0, a_th = np.exp(-dt / rng.uniform(2e-3, 0.03)), np.exp(-dt / rng.uniform(0.02, 0.2))
        H = 150
        Ds = [np.linalg.matrix_power(D, u) for u in range(H + 1)]
        for _ in range(45):
            z, c, y0, thd = _random_neuron(rng, K, R)
            c1, n0p, n0n, n2p, n2n = search_coefficients(c, G)
            g = np.array([np.sum(c * (z @ Du.T)) - y0 * a0 ** u - thd * a_th ** u for u, Du in enumerate(Ds)])
            theta_0 = abs(rng.normal()) + 0.1
            margin = rng.choice([0.3, -0.3, 1e-6, -1e-6]) * max(1e-3, np.abs(g).max())
            b = theta_0 + margin - g[1:].max()
            if b + g[0] - theta_0 >= 0:
                continue
            n_checked += 1
            s = _crossing(True, z, c, c1, n0p, n0n, n2p, n2n, b, theta_0, y0, thd, a0, a_th, np.exp(-dt / taus),
                          float(H), 0.0)
            u, f = naive_grid_first_crossing(H, z, c, b, theta_0, y0, thd, a0, a_th, taus, dt)
            if u is None:
                assert s == np.inf
            else:
                n_cross += 1
                assert s == u, (s, u, f)
    assert n_checked >= 2000 and n_cross >= 800, (n_checked, n_cross)
