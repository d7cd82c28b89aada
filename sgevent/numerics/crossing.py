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

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.numerics.propagator import propagate

__all__ = ["Neuron", "Workspace", "next_crossing", "state_bounds", "search_coefficients"]

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


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def _propagate_rows(P, z, out):
    """``out[r] = P @ z[r]`` for lower-triangular P (writes ``out``)."""
    R, K = z.shape
    for r in range(R):
        for i in range(K):
            acc = 0.0
            for j in range(i + 1):
                acc += P[i, j] * z[r, j]
            out[r, i] = acc


@njit(cache=True, inline="always")
def _dot(a, z):
    R, K = z.shape
    acc = 0.0
    for r in range(R):
        for k in range(K):
            acc += a[r, k] * z[r, k]
    return acc


class Neuron(NamedTuple):
    """One neuron's search problem (module notes); arrays are read only."""

    z: np.ndarray        # (R, K) cascade states at s = 0
    c: np.ndarray        # (R, K) read-out vectors
    c1: np.ndarray       # (R, K) A^T c (continuous) or (D - I)^T c (grid)
    n0p: np.ndarray      # (R,) L1 norms of the positive/negative parts of c ...
    n0n: np.ndarray
    n2p: np.ndarray      # (R,) ... and of C2 (module notes)
    n2n: np.ndarray
    b: float             # bias
    theta_0: float       # resting threshold
    y0: float            # own bucket 0 at s = 0 (>= 0)
    thd: float           # dynamic threshold at s = 0 (>= 0)
    own0: float          # continuous: decay rate (1/s) of y0; grid: per-step factor in (0, 1)
    own_th: float        # the same for thd
    rates: np.ndarray    # (K,) continuous: cascade rates 1/tau; grid: per-step factors alpha


class Workspace(NamedTuple):
    """Scratch space of the search (the fields of :class:`sgevent.numerics.scratch.Scratch` it
    uses; the engine passes this smaller tuple: each array of an argument costs a reference count)."""

    P: np.ndarray      # (K, K) propagator
    W1: np.ndarray     # (K, K) work
    W2: np.ndarray     # (K, K) work
    zs: np.ndarray     # (R, K) state at the trial point


@njit(cache=True, inline="always")
def _gap(b, c, zs, ycur, theta_0, tcur):
    """The threshold function ``f = x - yhat0 - theta`` at cascade state ``zs`` (R, K), own
    bucket 0 ``ycur`` and dynamic threshold ``tcur`` (read-out ``c``, bias ``b``)."""
    return b + _dot(c, zs) - ycur - theta_0 - tcur


@njit(cache=True, inline="always")
def _own_decay(grid, x0, rate, s):
    """``x0`` decayed over ``s``: ``x0 rate^s`` (grid, a factor per step) or ``x0 exp(-rate s)``."""
    if grid:
        return x0 * rate ** s
    return x0 * np.exp(-rate * s)


@njit(cache=True, inline="always")
def _state_at(grid, rates, s, z, P, W1, W2, zs):
    """``zs = P(s) z`` (writes ``P, W1, W2, zs``)."""
    propagate(grid, rates, s, P, W1, W2)
    _propagate_rows(P, z, zs)


# The search loops below hoist the problem's and the scratch's arrays into locals and pass
# arrays, not the tuples, to the kernels they call per iteration: every array argument of a
# call costs a reference count.
@njit(cache=True)
def _search_grid(nrn, s, f, ycur, tcur, horizon, sc):
    """Safe stepping by whole grid steps from step ``s`` (where ``f < 0``, state in ``sc.zs``)."""
    z, c, c1, rates = nrn.z, nrn.c, nrn.c1, nrn.rates
    n0p, n0n, n2p, n2n = nrn.n0p, nrn.n0n, nrn.n2p, nrn.n2n
    b, theta_0, own0, own_th = nrn.b, nrn.theta_0, nrn.own0, nrn.own_th
    P, W1, W2, zs = sc.P, sc.W1, sc.W2, sc.zs
    for _ in range(_MAX_ITER):
        if b + state_bounds(zs, n0p, n0n) - theta_0 < 0.0:
            return np.inf  # it can never fire from here
        m2 = state_bounds(zs, n2p, n2n)
        d1 = _dot(c1, zs) + ycur * (1.0 - own0) + tcur * (1.0 - own_th)
        root = _positive_root(0.5 * m2, d1 - 0.5 * m2, f)
        if root == np.inf:
            return np.inf
        u = np.ceil(root - 1e-9 * max(1.0, root))
        if u < 1.0:
            u = 1.0
        if s + u > horizon:
            return np.inf
        s = s + u
        _state_at(True, rates, s, z, P, W1, W2, zs)
        ycur = _own_decay(True, nrn.y0, own0, s)
        tcur = _own_decay(True, nrn.thd, own_th, s)
        f = _gap(b, c, zs, ycur, theta_0, tcur)
        if f >= 0.0:
            return s
    return np.nan


@njit(cache=True)
def _refine(nrn, lo, hi, flo, fhi, sc):
    """Illinois regula falsi on a bracket ``[lo, hi]`` (``f(lo) < 0 <= f(hi)``, width <= tol);
    returns its right end."""
    z, c, rates = nrn.z, nrn.c, nrn.rates
    P, W1, W2, zs = sc.P, sc.W1, sc.W2, sc.zs
    side = 0
    for _it in range(60):
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
        m = (lo * fhi - hi * flo) / (fhi - flo)
        if not (m > lo and m < hi):
            m = 0.5 * (lo + hi)
        _state_at(False, rates, m, z, P, W1, W2, zs)
        fm = _gap(nrn.b, c, zs, _own_decay(False, nrn.y0, nrn.own0, m), nrn.theta_0,
                  _own_decay(False, nrn.thd, nrn.own_th, m))
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


@njit(cache=True)
def _search_continuous(nrn, f, horizon, tol, sc):
    """Safe stepping in continuous time from ``s = 0`` (where ``f < 0``, state in ``sc.zs``)."""
    z, c, c1, rates = nrn.z, nrn.c, nrn.c1, nrn.rates
    n0p, n0n, n2p, n2n = nrn.n0p, nrn.n0n, nrn.n2p, nrn.n2n
    b, theta_0, own0, own_th = nrn.b, nrn.theta_0, nrn.own0, nrn.own_th
    P, W1, W2, zs = sc.P, sc.W1, sc.W2, sc.zs
    s = 0.0
    ycur = nrn.y0
    tcur = nrn.thd
    for _ in range(_MAX_ITER):
        if b + state_bounds(zs, n0p, n0n) - theta_0 < 0.0:
            return np.inf  # it can never fire from here
        m2 = state_bounds(zs, n2p, n2n)
        d1 = _dot(c1, zs) + ycur * own0 + tcur * own_th
        root = _positive_root(0.5 * m2, d1, f)
        if s + root > horizon:
            return np.inf
        floored = root < tol
        s_new = s + (tol if floored else root)
        if s_new > horizon:
            s_new = horizon
        _state_at(False, rates, s_new, z, P, W1, W2, zs)
        ycur = _own_decay(False, nrn.y0, own0, s_new)
        tcur = _own_decay(False, nrn.thd, own_th, s_new)
        f_new = _gap(b, c, zs, ycur, theta_0, tcur)
        if f_new >= 0.0:
            return _refine(nrn, s, s_new, f, f_new, sc) if floored else s_new
        if s_new >= horizon:
            return np.inf
        s = s_new
        f = f_new
    return np.nan


@njit(cache=True)
def next_crossing(grid, nrn, horizon, tol, sc):
    """First time in ``(0, horizon]`` where the neuron reaches threshold.

    Parameters
    ----------
    grid : bool
        False: continuous time, ``s`` in seconds. True: grid time, ``s`` in whole steps.
    nrn : Neuron
        The neuron's state and coefficients (read only).
    horizon : float
        Search ``(0, horizon]`` (seconds or steps, relative to now).
    tol : float
        Continuous time tolerance (s); ignored in grid mode.
    sc : Workspace or sgevent.numerics.scratch.Scratch
        Scratch space (``P, W1, W2`` and ``zs``, the state at the trial point).

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
    z = nrn.z
    zs = sc.zs
    R, K = z.shape
    for r in range(R):
        for k in range(K):
            zs[r, k] = z[r, k]
    f = _gap(nrn.b, nrn.c, zs, nrn.y0, nrn.theta_0, nrn.thd)
    if not grid:
        if f >= 0.0:
            return 0.0
        return _search_continuous(nrn, f, horizon, tol, sc)
    if f < 0.0:
        return _search_grid(nrn, 0.0, f, nrn.y0, nrn.thd, horizon, sc)
    # only possible right after a weight update (the engine fires neurons at threshold before
    # predicting): on a grid the current step is done, so the search starts at the next step
    if horizon < 1.0:
        return np.inf
    _state_at(True, nrn.rates, 1.0, z, sc.P, sc.W1, sc.W2, zs)
    ycur = _own_decay(True, nrn.y0, nrn.own0, 1.0)
    tcur = _own_decay(True, nrn.thd, nrn.own_th, 1.0)
    f = _gap(nrn.b, nrn.c, zs, ycur, nrn.theta_0, tcur)
    if f >= 0.0:
        return 1.0
    return _search_grid(nrn, 1.0, f, ycur, tcur, horizon, sc)
