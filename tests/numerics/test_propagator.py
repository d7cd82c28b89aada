"""Propagators of the bucket cascade against expm / mpmath / repeated products, and their
algebra (P(0) = I, semigroup, non-negativity, substochastic rows)."""

import numpy as np
import pytest
from naive import mp_grid_power, mp_propagator, naive_grid_propagator, naive_propagator

from sgevent.errors import ConfigError, InputError
from sgevent.numerics.propagator import grid_propagator, grid_step_matrix, propagator


def _taus(kind, K, rng):
    if kind == "distinct":
        return rng.uniform(1e-3, 0.1, K)
    if kind == "equal":
        return np.full(K, rng.uniform(1e-3, 0.05))
    if kind == "near":  # relative gap 1e-6
        return rng.uniform(2e-3, 0.05) * (1.0 + 1e-6 * rng.standard_normal(K))
    raise ValueError(kind)


def _rel(P, E):
    scale = np.abs(E).max()
    if scale == 0.0:  # everything underflowed (e.g. 10 s through 1 ms taus)
        return np.abs(P).max()
    return np.abs(P - E).max() / scale


@pytest.mark.parametrize("kind", ["distinct", "equal"])
def test_continuous_matches_expm(kind):
    rng = np.random.default_rng(1)
    for _ in range(40):
        K = int(rng.integers(1, 17))
        taus = _taus(kind, K, rng)
        for s in (1e-7, 1e-4, 3e-3, 0.05, 1.0, 10.0):
            # expm is normwise accurate here; 1e-10 relative leaves room for its own error
            assert _rel(propagator(taus, s), naive_propagator(taus, s)) < 1e-10, (K, s, taus)


def test_continuous_nearly_equal_taus_elementwise_vs_mpmath():
    # scipy's expm itself is off by up to ~3e-9 for taus with a relative gap of 1e-6 (its
    # triangular fix-up loses digits), so the exact reference is mpmath at 50 digits.
    rng = np.random.default_rng(2)
    for K, s in ((2, 1e-3), (5, 0.05), (8, 1.0), (16, 0.05), (16, 10.0)):
        taus = _taus("near", K, rng)
        P, E = propagator(taus, s), mp_propagator(taus, s)
        m = E > 1e-280
        assert np.max(np.abs(P[m] - E[m]) / E[m]) < 1e-10, (K, s)


def test_continuous_mixed_clusters_elementwise_vs_mpmath():
    taus = np.array([1e-3, 0.1, 1.0000001e-3, 0.02, 0.02, 0.0200000002, 5e-3])
    for s in (1e-4, 0.01, 0.3, 10.0):
        P, E = propagator(taus, s), mp_propagator(taus, s)
        m = E > 1e-280
        assert np.max(np.abs(P[m] - E[m]) / E[m]) < 1e-10


@pytest.mark.parametrize("kind", ["distinct", "equal", "near"])
def test_grid_matches_repeated_products(kind):
    rng = np.random.default_rng(3)
    for _ in range(20):
        K = int(rng.integers(1, 17))
        taus = _taus(kind, K, rng)
        dt = float(rng.choice([1e-5, 1e-4, 1e-3]))
        for n in (0, 1, 2, 7, 64, 1000):
            # the n explicit products round too: both sides carry ~n*eps; 1e-10 covers n=1000
            assert _rel(grid_propagator(taus, dt, n), naive_grid_propagator(taus, dt, n)) < 1e-10


@pytest.mark.parametrize("kind", ["distinct", "equal", "near"])
def test_grid_large_n_vs_mpmath(kind):
    rng = np.random.default_rng(4)
    K = 8
    taus = _taus(kind, K, rng)
    for dt, n, tscale in ((1e-6, 10**7, 10.0), (1e-5, 123457, 1.0), (1e-4, 10**7, 100.0), (1e-3, 40000, 100.0)):
        # the oracle powers the same float64 step matrix (see naive.mp_grid_power)
        G = grid_propagator(taus * tscale, dt, n)
        E = mp_grid_power(grid_step_matrix(taus * tscale, dt), n)
        assert _rel(G, E) < 1e-10
        m = E > 1e-280
        assert m.sum() >= K  # taus scaled so the comparison is not vacuous
        assert np.max(np.abs(G[m] - E[m]) / E[m]) < 1e-10


def test_identity_at_zero():
    taus = np.array([5e-3, 0.015, 0.015, 0.03])
    assert np.array_equal(propagator(taus, 0.0), np.eye(4))
    assert np.array_equal(grid_propagator(taus, 1e-3, 0), np.eye(4))


@pytest.mark.parametrize("kind", ["distinct", "equal", "near"])
def test_semigroup(kind):
    rng = np.random.default_rng(5)
    for _ in range(30):
        K = int(rng.integers(1, 12))
        taus = _taus(kind, K, rng)
        a, b = rng.uniform(0, 0.2, 2)
        lhs = propagator(taus, a) @ propagator(taus, b)
        assert _rel(lhs, propagator(taus, a + b)) < 1e-12
        na, nb = (int(x) for x in rng.integers(0, 5000, 2))
        lhs = grid_propagator(taus, 1e-4, na) @ grid_propagator(taus, 1e-4, nb)
        assert _rel(lhs, grid_propagator(taus, 1e-4, na + nb)) < 1e-12


def test_nonnegative_lower_triangular_substochastic():
    rng = np.random.default_rng(6)
    for _ in range(30):
        taus = rng.uniform(1e-3, 0.1, 8)
        for P in (propagator(taus, rng.uniform(0, 2)), grid_propagator(taus, 1e-3, int(rng.integers(0, 3000)))):
            assert np.all(P >= 0)
            assert np.all(np.triu(P, 1) == 0)
            assert np.all(P.sum(axis=1) <= 1 + 1e-12)


def test_dc_gain_of_delay_stages():
    # stages k >= 1 have DC gain 1: the impulse response of every bucket integrates to tau_0
    taus = np.array([5e-3, 0.01, 0.02, 0.02])
    s = np.linspace(0, 1.5, 30001)
    vals = np.array([propagator(taus, x)[:, 0] for x in s])
    integral = np.trapezoid(vals, s, axis=0)
    assert np.allclose(integral, taus[0], rtol=2e-5)  # trapezoid error ~ (h/tau)^2/12 at h = 50 us
    # grid: rows of the step matrix k >= 1 sum to exactly 1
    D = grid_step_matrix(taus, 1e-4)
    assert np.all(D[1:].sum(axis=1) == 1.0)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="taus"):
        propagator([0.01, -0.02], 0.1)
    with pytest.raises(ConfigError, match="taus"):
        propagator([0.01, np.nan], 0.1)
    with pytest.raises(InputError, match="s must be"):
        propagator([0.01], -1.0)
    with pytest.raises(InputError, match="dt"):
        grid_propagator([0.01], 0.0, 3)
    with pytest.raises(InputError, match="n must be"):
        grid_propagator([0.01], 1e-3, 2.5)
