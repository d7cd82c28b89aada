"""Slow, obvious twins of sgevent's kernels (STUMPY style): loops, scipy.linalg.expm, heapq,
dense time grids. Tests compare the kernels against these."""

from __future__ import annotations

import heapq

import numpy as np
import scipy.linalg


def naive_cascade_matrix(taus):
    K = len(taus)
    A = np.zeros((K, K))
    for k in range(K):
        A[k, k] = -1.0 / taus[k]
        if k >= 1:
            A[k, k - 1] = 1.0 / taus[k]
    return A


def naive_grid_step(taus, dt):
    K = len(taus)
    D = np.zeros((K, K))
    for k in range(K):
        D[k, k] = np.exp(-dt / taus[k])
        if k >= 1:
            D[k, k - 1] = 1.0 - D[k, k]  # rows sum to exactly 1, as in the kernels
    return D


def naive_propagator(taus, s):
    """exp(A s) by scipy.linalg.expm (accurate for distinct or equal taus; see below)."""
    return scipy.linalg.expm(naive_cascade_matrix(taus) * s)


def naive_propagator_rotated(taus, s):
    """exp(A s) by scipy.linalg.expm, applied to an orthogonally rotated copy of A.

    scipy's expm recognises a triangular argument and recomputes its first superdiagonal with a
    formula that loses up to ~1e-9 relative accuracy when taus are nearly equal (measured
    against 50-digit mpmath). Rotating A by a fixed orthogonal Q hides the structure, so expm
    runs its plain, normwise-accurate Pade scaling and squaring: exp(A) = Q exp(Q^T A Q) Q^T.
    The price: accuracy is relative to the largest intermediate, so tiny results (long s) lose
    relative accuracy; use it for short horizons.
    """
    A = naive_cascade_matrix(taus) * s
    Q = _rotation(A.shape[0])
    return Q @ scipy.linalg.expm(Q.T @ A @ Q) @ Q.T


_ROT = {}


def _rotation(K):
    if K not in _ROT:
        q, _ = np.linalg.qr(np.random.default_rng(K).standard_normal((K, K)))
        _ROT[K] = q
    return _ROT[K]


def naive_grid_propagator(taus, dt, n):
    """D^n by n explicit matrix products."""
    D = naive_grid_step(taus, dt)
    P = np.eye(len(taus))
    for _ in range(n):
        P = D @ P
    return P


def mp_propagator(taus, s, dps=50):
    """exp(A s) in mpmath at ``dps`` digits (exact reference for nearly equal taus)."""
    import mpmath

    with mpmath.workdps(dps):
        A = mpmath.matrix(naive_cascade_matrix(taus).tolist()) * s
        return np.array(mpmath.expm(A).tolist(), dtype=float)


def mp_grid_power(D, n, dps=50):
    """D^n in mpmath at ``dps`` digits, for the float64 matrix ``D`` taken as exact.

    (alpha^n has condition number n in alpha: the oracle must power the same rounded step
    matrix as the kernel, or it measures the rounding of alpha, not the algorithm.)"""
    import mpmath

    with mpmath.workdps(dps):
        M = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in D])
        return np.array((M ** n).tolist(), dtype=float)


class NaiveHeap:
    """heapq-based twin of sgevent.queue."""

    def __init__(self):
        self.h = []

    def push(self, t, seq, nid, ver):
        heapq.heappush(self.h, (t, seq, nid, ver))

    def pop(self):
        return heapq.heappop(self.h)

    def __len__(self):
        return len(self.h)


def naive_f(s, z, c, b, theta_0, y0, thd, lam0, lam_th, taus):
    """f(s) = x(s) - yhat0(s) - theta(s) of one neuron, continuous time, by expm."""
    P = naive_propagator_rotated(taus, s)  # accurate for nearly equal taus too (s <= 0.1 s here)
    x = b + sum(c[r] @ (P @ z[r]) for r in range(z.shape[0]))
    return x - y0 * np.exp(-lam0 * s) - theta_0 - thd * np.exp(-lam_th * s)


def naive_f_curve(s_grid, z, c, b, theta_0, y0, thd, lam0, lam_th, Ps):
    """f on a dense grid given precomputed propagators ``Ps`` (n_s, K, K)."""
    zs = np.einsum("sij,rj->sri", Ps, z)
    x = b + np.einsum("rk,srk->s", c, zs)
    return x - y0 * np.exp(-lam0 * s_grid) - theta_0 - thd * np.exp(-lam_th * s_grid)


def naive_first_crossing_dense(f_of_s, s_grid, f_grid, tol=1e-12):
    """First crossing seen on a dense grid, refined by bisection between grid points.

    Returns inf if no grid point has f >= 0. Misses excursions shorter than the grid spacing.
    """
    idx = np.flatnonzero(f_grid >= 0)
    if idx.size == 0:
        return np.inf
    i = idx[0]
    if i == 0:
        return s_grid[0]
    lo, hi = s_grid[i - 1], s_grid[i]
    while hi - lo > tol:
        m = 0.5 * (lo + hi)
        if f_of_s(m) >= 0:
            hi = m
        else:
            lo = m
    return hi


def naive_grid_first_crossing(n_max, z, c, b, theta_0, y0, thd, a0, a_th, taus, dt):
    """First step u in 1..n_max with f[u] >= 0, stepping the discrete recursion one step at a time."""
    D = naive_grid_step(taus, dt)
    zc = z.copy()
    for u in range(1, n_max + 1):
        zc = zc @ D.T
        x = b + np.sum(c * zc)
        f = x - y0 * a0 ** u - theta_0 - thd * a_th ** u
        if f >= 0:
            return u, f
    return None, None
