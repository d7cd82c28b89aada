"""Next threshold crossing of one LNL-SD neuron between events (DESIGN.md 2.3).

Between two events that touch a neuron its state evolves linearly. Let ``z`` (shape (R, K)) be
the neuron's aggregated cascade states (R = 1 with per-neuron bucket weights, R = K with
per-synapse weights; see :mod:`sgevent.engine.build`) and ``c`` (R, K) the read-out vectors, so that

    x(s)  = b + sum_r c[r] . (P(s) z[r])
    f(s)  = x(s) - y0 * d0(s) - theta_0 - thd * dth(s)

where ``P`` is the cascade propagator and ``d0, dth`` the decays of the neuron's own bucket 0
and dynamic threshold. (``y = relu(x)`` does not matter here: ``yhat0 >= 0`` and ``theta > 0``,
so ``relu(x) - yhat0 >= theta`` iff ``x - yhat0 >= theta``.) We need the first ``s`` in
``(0, H]`` with ``f(s) >= 0``, or a proof that there is none.

The bound
---------
``P(s)`` is entrywise non-negative with row sums <= 1, so for any vector ``a``
``a . P(s) z <= |a+|_1 max(z+) + |a-|_1 max(z-)`` for *every* s >= 0, where ``max(z+)`` is the
largest positive entry of ``z`` (0 if none). Hence, with ``C2[r] = (A^T)^2 c[r]`` (continuous)
or ``((D - I)^T)^2 c[r]`` (grid),

    f''(s) <= M2 := sum_r |C2[r]+|_1 max(z[r]+) + |C2[r]-|_1 max(z[r]-)

(the own decays are convex decreasing, their second derivatives are <= 0), and by Taylor's
theorem ``f(s + u) <= q(u) = f(s) + f'(s) u + M2 u^2 / 2`` for all u >= 0 (grid: the discrete
analogue ``f(s) + u Df(s) + M2 u (u-1) / 2`` with forward differences). ``q`` is convex with
``q(0) = f(s) < 0``, so ``f < 0`` on ``[s, s + u*)`` where ``u*`` is the positive root of ``q``:

1. screen: if ``b + sum_r |c+|_1 max(z+) + |c-|_1 max(z-) < theta_0`` the neuron can never fire
   (the bound holds for all s); if ``s + u* > H`` it cannot fire before the horizon;
2. safe stepping: otherwise move to ``s + u*`` (never past a crossing), re-evaluate and repeat.
   Near a transversal crossing the steps converge quadratically from below.

Continuous mode floors a step at ``tol`` (1e-9 s); when the floored step lands on ``f >= 0`` the
bracket (of width <= tol) is refined by Illinois regula falsi and its right end (where
``f >= 0`` was evaluated) is returned. The only crossings that can be missed are excursions above
threshold lasting less than ``tol``, whose height is at most ``M2 tol^2 / 8`` (about 1e-13 of
the threshold for millisecond taus). Grid mode steps by whole grid steps (``ceil`` of the
root), so it returns exactly the first grid step with ``f >= 0``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sgevent.numerics.propagator import prop_continuous, prop_grid

__all__ = ["next_crossing", "state_bounds", "search_coefficients"]

_MAX_ITER = 100000
NO_CROSSING = np.inf


def search_coefficients(c: np.ndarray, G: np.ndarray):
    """Derivative vectors and bound norms of read-out vectors ``c`` (shape (..., R, K)).

    Parameters
    ----------
    c : ndarray, shape (..., R, K)
        Read-out vectors.
    G : ndarray, shape (K, K)
        ``A`` (continuous) or ``D - I`` (grid).

    Returns
    -------
    c1 : ndarray, shape (..., R, K)
        ``G^T c`` (row form ``c @ G``): ``x' = c1 . z``.
    n0p, n0n, n2p, n2n : ndarray, shape (..., R)
        L1 norms of the positive/negative parts of ``c`` and of ``C2 = (G^T)^2 c``.
    """
    c1 = c @ G
    c2 = c1 @ G
    pos = lambda a: np.clip(a, 0, None).sum(-1)  # noqa: E731
    return c1, pos(c), pos(-c), pos(c2), pos(-c2)


@njit(cache=True)
def _positive_root(a, b, c):
    """Positive root of ``a u^2 + b u + c`` with ``a >= 0`` and ``c < 0`` (inf if none)."""
    if a <= 0.0:
        if b <= 0.0:
            return np.inf
        return -c / b
    disc = b * b - 4.0 * a * c
    sq = np.sqrt(disc)
    if b >= 0.0:
        return (-2.0 * c) / (b + sq)
    return (-b + sq) / (2.0 * a)


@njit(cache=True)
def state_bounds(z, n_pos, n_neg):
    """``sum_r n_pos[r] max(z[r]+) + n_neg[r] max(z[r]-)``: a bound valid for all future times.

    Parameters
    ----------
    z : ndarray, shape (R, K)
        Cascade states.
    n_pos, n_neg : ndarray, shape (R,)
        L1 norms of the positive and negative parts of a read-out vector per row.
    """
    R, K = z.shape
    tot = 0.0
    for r in range(R):
        zp = 0.0
        zn = 0.0
        for k in range(K):
            v = z[r, k]
            if v > zp:
                zp = v
            elif -v > zn:
                zn = -v
        tot += n_pos[r] * zp + n_neg[r] * zn
    return tot


@njit(cache=True)
def _propagate_rows(P, z, out):
    """``out[r] = P @ z[r]`` for lower-triangular P (writes ``out``)."""
    R, K = z.shape
    for r in range(R):
        for i in range(K):
            acc = 0.0
            for j in range(i + 1):
                acc += P[i, j] * z[r, j]
            out[r, i] = acc


@njit(cache=True)
def _dot(a, z):
    R, K = z.shape
    acc = 0.0
    for r in range(R):
        for k in range(K):
            acc += a[r, k] * z[r, k]
    return acc


@njit(cache=True)
def next_crossing(
    grid, z, c, c1, n0p, n0n, n2p, n2n, b, theta_0, y0, thd, own0, own_th,
    rates, horizon, tol, P, work1, work2, zs,
):
    """First time in ``(0, horizon]`` where the neuron reaches threshold.

    Parameters
    ----------
    grid : bool
        False: continuous time, ``s`` in seconds. True: grid time, ``s`` in whole steps.
    z : ndarray, shape (R, K)
        Cascade state at s = 0 (read only).
    c, c1 : ndarray, shape (R, K)
        Read-out vectors and ``A^T c`` (continuous) or ``(D - I)^T c`` (grid).
    n0p, n0n, n2p, n2n : ndarray, shape (R,)
        L1 norms of the positive/negative parts of ``c`` and of ``C2`` (module notes).
    b, theta_0 : float
        Bias and resting threshold.
    y0, thd : float
        The neuron's own bucket 0 and dynamic threshold at s = 0 (both >= 0).
    own0, own_th : float
        Continuous: decay rates (1/s) of y0 and thd. Grid: per-step factors in (0, 1).
    rates : ndarray, shape (K,)
        Continuous: cascade rates ``1/tau``. Grid: per-step factors ``alpha``.
    horizon : float
        Search ``(0, horizon]`` (seconds or steps, relative to now).
    tol : float
        Continuous time tolerance (s); ignored in grid mode.
    P, work1, work2 : ndarray, shape (K, K)
        Scratch space.
    zs : ndarray, shape (R, K)
        Scratch space (state at the trial point).

    Returns
    -------
    s : float
        Crossing time relative to now (grid: a whole number of steps); ``inf`` if there is no
        crossing in ``(0, horizon]``; ``nan`` if the search did not converge.

    Notes
    -----
    Normally ``f(0) < 0`` (the caller fires neurons that are at threshold first). After a
    weight update ``f(0) >= 0`` is possible: continuous time then returns 0 (fire now), grid
    time searches from the next step (the current one is done).
    """
    R, K = z.shape
    for r in range(R):
        for k in range(K):
            zs[r, k] = z[r, k]
    s = 0.0
    ycur = y0
    tcur = thd
    f = b + _dot(c, zs) - ycur - theta_0 - tcur
    if f >= 0.0:
        # only possible right after a weight update (the engine fires neurons at threshold
        # before predicting): continuous time fires now; on a grid the current step is
        # done, so the search starts at the next step
        if not grid:
            return 0.0
        if horizon < 1.0:
            return np.inf
        s = 1.0
        prop_grid(rates, np.int64(1), P, work1, work2)
        _propagate_rows(P, z, zs)
        ycur = y0 * own0
        tcur = thd * own_th
        f = b + _dot(c, zs) - ycur - theta_0 - tcur
        if f >= 0.0:
            return 1.0
    for _ in range(_MAX_ITER):
        # can it ever fire from here?
        if b + state_bounds(zs, n0p, n0n) - theta_0 < 0.0:
            return np.inf
        m2 = state_bounds(zs, n2p, n2n)
        if grid:
            d1 = _dot(c1, zs) + ycur * (1.0 - own0) + tcur * (1.0 - own_th)
            root = _positive_root(0.5 * m2, d1 - 0.5 * m2, f)
            if root == np.inf:
                return np.inf
            u = np.ceil(root - 1e-9 * max(1.0, root))
            if u < 1.0:
                u = 1.0
            if s + u > horizon:
                return np.inf
            s_new = s + u
            prop_grid(rates, np.int64(s_new), P, work1, work2)
            _propagate_rows(P, z, zs)
            ycur = y0 * own0 ** s_new
            tcur = thd * own_th ** s_new
            f = b + _dot(c, zs) - ycur - theta_0 - tcur
            if f >= 0.0:
                return s_new
            s = s_new
        else:
            d1 = _dot(c1, zs) + ycur * own0 + tcur * own_th
            root = _positive_root(0.5 * m2, d1, f)
            if s + root > horizon:
                return np.inf
            floored = root < tol
            s_new = s + (tol if floored else root)
            if s_new > horizon:
                s_new = horizon
            prop_continuous(rates, s_new, P, work1, work2)
            _propagate_rows(P, z, zs)
            ycur = y0 * np.exp(-own0 * s_new)
            tcur = thd * np.exp(-own_th * s_new)
            f_new = b + _dot(c, zs) - ycur - theta_0 - tcur
            if f_new >= 0.0:
                if not floored:
                    return s_new
                # refine the bracket [s, s_new] (width <= tol) by Illinois regula falsi
                lo, hi, flo, fhi = s, s_new, f, f_new
                side = 0
                for _it in range(60):
                    if hi - lo <= 1e-13 * max(1.0, hi):
                        break
                    m = (lo * fhi - hi * flo) / (fhi - flo)
                    if not (m > lo and m < hi):
                        m = 0.5 * (lo + hi)
                    prop_continuous(rates, m, P, work1, work2)
                    _propagate_rows(P, z, zs)
                    fm = b + _dot(c, zs) - y0 * np.exp(-own0 * m) - theta_0 - thd * np.exp(-own_th * m)
                    if fm >= 0.0:
                        hi, fhi = m, fm
                        if side == 1:
                            flo *= 0.5
                        side = 1
                    else:
                        lo, flo = m, fm
                        if side == -1:
                            fhi *= 0.5
                        side = -1
                return hi
            if s_new >= horizon:
                return np.inf
            s = s_new
            f = f_new
    return np.nan
