"""Exact propagators of the gamma bucket cascade.

The cascade of one source (DESIGN.md 1.1) is linear. With rates ``lam[k] = 1/tau[k]``:

continuous time
    ``d yhat/dt = A yhat`` with ``A[k, k] = -lam[k]`` and ``A[k, k-1] = lam[k]`` (k >= 1), so the
    state after ``s`` seconds is ``P(s) yhat`` with ``P(s) = exp(A s)``;
grid time (step ``dt``)
    ``yhat[n] = D yhat[n-1]`` with ``D[k, k] = alpha[k] = exp(-dt/tau[k])`` and
    ``D[k, k-1] = 1 - alpha[k]`` (k >= 1), so the state after ``n`` steps is ``D^n yhat``.

Both matrices are lower bidiagonal, entrywise non-negative (``P``: ``A`` is a Metzler matrix)
and substochastic (row sums <= 1, since rows k >= 1 of ``A`` sum to 0 and of ``D`` to 1). The
engine relies on these two facts for its spike-search bounds.

How they are computed (exactly, to rounding; nothing is integrated)
-------------------------------------------------------------------
The textbook closed form of ``P(s)[k, j]`` is a divided difference of ``exp(-lam s)`` over
``lam[j..k]`` (a sum of exponentials for distinct taus, Erlang terms for equal ones); evaluated
naively it loses every digit when taus are nearly equal. We evaluate the same matrix function
without any cancellation instead:

* continuous: *uniformisation*. With ``mu = max(lam)``, ``B = A + mu I`` is entrywise
  non-negative and ``exp(A s) = exp(-mu s) sum_m (B s)^m / m!`` is a sum of non-negative terms;
  for ``mu s > 1`` we use the semigroup ``P(s) = P(s / 2^q)^(2^q)`` (products of non-negative
  matrices, again cancellation-free). Each entry is obtained with relative error of order
  ``(2^q + terms) * eps`` whatever the taus (distinct, equal or nearly equal).
* grid: ``D^n`` by binary powering of the non-negative matrix ``D``: ``O(K^3 log n)`` and
  cancellation-free. Each squaring doubles the relative error already present, so the error of
  plain float64 powering grows like ``n * eps`` (2e-10 at n = 1e7). Above ``n = 2^15`` the
  powering therefore runs in double-double arithmetic (error-free transformations, about 32
  significant digits), which keeps ``D^n`` within a few eps of the exact power of the rounded
  step matrix up to n = 1e7 and beyond.

Every kernel writes into an ``out`` argument; all matrices are dense ``(K, K)`` float64 arrays
whose strict upper triangle is zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sgevent.errors import ConfigError, InputError

__all__ = [
    "cascade_matrix",
    "grid_step_matrix",
    "propagator",
    "grid_propagator",
    "prop_continuous",
    "prop_grid",
    "propagate",
]

_TERM_RTOL = 2.0 ** -60  # stop the series when every new term is below this fraction of its entry


@njit(cache=True)
def tri_matmul(a, b, out):
    """``out = a @ b`` for lower-triangular (K, K) matrices (``out`` must not alias inputs)."""
    K = a.shape[0]
    for i in range(K):
        for j in range(K):
            out[i, j] = 0.0
        for j in range(i + 1):
            acc = 0.0
            for l in range(j, i + 1):
                acc += a[i, l] * b[l, j]
            out[i, j] = acc


@njit(cache=True)
def _set_identity(out):
    K = out.shape[0]
    for i in range(K):
        for j in range(K):
            out[i, j] = 0.0
        out[i, i] = 1.0


@njit(cache=True)
def _copy_lower(src, out):
    """``out[i, j] = src[i, j]`` on the lower triangle."""
    K = src.shape[0]
    for i in range(K):
        for j in range(i + 1):
            out[i, j] = src[i, j]


@njit(cache=True)
def _series_term(term, nxt, out, lam, mu, h, m):
    """``nxt = term @ (B h) / m`` (``B[j, j] = mu - lam[j]``, ``B[j+1, j] = lam[j+1]``), added to
    ``out``; returns the largest ratio of a new entry to its partial sum."""
    K = lam.shape[0]
    big = 0.0
    for i in range(K):
        for j in range(i + 1):
            val = term[i, j] * (mu - lam[j])
            if j + 1 <= i:
                val += term[i, j + 1] * lam[j + 1]
            val *= h / m
            nxt[i, j] = val
            out[i, j] += val
            if val > 0.0:
                r = val / out[i, j]
                if r > big:
                    big = r
    return big


@njit(cache=True)
def _uniformised_series(lam, mu, h, out, work1, work2):
    """``out = sum_m (B h)^m / m!`` until the terms fall below rounding (see :func:`prop_continuous`)."""
    term = work1
    nxt = work2
    _set_identity(term)
    _set_identity(out)
    K = lam.shape[0]
    m = 0
    quiet = 0
    while True:
        m += 1
        big = _series_term(term, nxt, out, lam, mu, h, m)
        tmp = term
        term = nxt
        nxt = tmp
        if m >= K - 1 and big < _TERM_RTOL:
            quiet += 1
            if quiet >= 2:
                break
        else:
            quiet = 0
        if m > 200:
            break


@njit(cache=True)
def prop_continuous(lam, s, out, work1, work2):
    """Continuous propagator ``P(s) = exp(A s)`` of the cascade with rates ``lam``.

    Parameters
    ----------
    lam : ndarray, shape (K,)
        Rates ``1/tau[k]`` (1/s), > 0.
    s : float
        Elapsed time (s), >= 0.
    out : ndarray, shape (K, K)
        Written with ``P(s)``.
    work1, work2 : ndarray, shape (K, K)
        Scratch space.

    Notes
    -----
    Uniformisation ``exp(A h) = exp(-mu h) sum_m (B h)^m/m!`` with ``B = A + mu I >= 0`` at
    ``h = s / 2^q`` (``mu h <= 1``), then ``q`` squarings. The series stops once every entry of
    a new term is below ``2^-60`` of the partial sum (all entries are reached after ``K - 1``
    terms), so the truncation is below rounding entrywise.
    """
    K = lam.shape[0]
    if s <= 0.0:
        _set_identity(out)
        return
    for i in range(K):
        for j in range(K):
            out[i, j] = 0.0
    mu = 0.0
    for k in range(K):
        if lam[k] > mu:
            mu = lam[k]
    q = 0
    h = s
    while mu * h > 1.0:
        h *= 0.5
        q += 1
    _uniformised_series(lam, mu, h, out, work1, work2)
    scale = np.exp(-mu * h)
    for i in range(K):
        for j in range(i + 1):
            out[i, j] *= scale
    for _ in range(q):
        tri_matmul(out, out, work1)
        _copy_lower(work1, out)


_DD_MIN_N = 1 << 15
_SPLITTER = 134217729.0  # 2^27 + 1 (Veltkamp split)


@njit(cache=True)
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(cache=True)
def _two_prod(a, b):
    p = a * b
    c = _SPLITTER * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLITTER * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@njit(cache=True)
def _tri_matmul_dd(ah, al, bh, bl, oh, ol):
    """Double-double ``(oh + ol) = (ah + al) @ (bh + bl)`` for lower-triangular matrices."""
    K = ah.shape[0]
    for i in range(K):
        for j in range(K):
            oh[i, j] = 0.0
            ol[i, j] = 0.0
        for j in range(i + 1):
            sh = 0.0
            sl = 0.0
            for l in range(j, i + 1):
                p, e = _two_prod(ah[i, l], bh[l, j])
                e += ah[i, l] * bl[l, j] + al[i, l] * bh[l, j]
                s, e2 = _two_sum(sh, p)
                e2 += sl + e
                sh = s + e2
                sl = e2 - (sh - s)
            oh[i, j] = sh
            ol[i, j] = sl


@njit(cache=True)
def _prop_grid_dd(alpha, n, out):
    K = alpha.shape[0]
    bh = np.zeros((K, K))
    bl = np.zeros((K, K))
    rh = np.zeros((K, K))
    rl = np.zeros((K, K))
    th = np.empty((K, K))
    tl = np.empty((K, K))
    for i in range(K):
        rh[i, i] = 1.0
        bh[i, i] = alpha[i]
        if i >= 1:
            bh[i, i - 1] = 1.0 - alpha[i]
    while n > 0:
        if n & 1:
            _tri_matmul_dd(rh, rl, bh, bl, th, tl)
            rh[:, :] = th
            rl[:, :] = tl
        n >>= 1
        if n > 0:
            _tri_matmul_dd(bh, bl, bh, bl, th, tl)
            bh[:, :] = th
            bl[:, :] = tl
    for i in range(K):
        for j in range(K):
            out[i, j] = rh[i, j] + rl[i, j]


@njit(cache=True)
def _step_matrix(alpha, out, base):
    """``out = I`` and ``base = D`` (the one-step matrix of factors ``alpha``)."""
    K = alpha.shape[0]
    for i in range(K):
        for j in range(K):
            out[i, j] = 0.0
            base[i, j] = 0.0
        out[i, i] = 1.0
        base[i, i] = alpha[i]
        if i >= 1:
            base[i, i - 1] = 1.0 - alpha[i]


@njit(cache=True)
def prop_grid(alpha, n, out, work1, work2):
    """Grid propagator ``D^n`` of the discrete recursion with decay factors ``alpha``.

    Parameters
    ----------
    alpha : ndarray, shape (K,)
        ``exp(-dt / tau[k])``, in (0, 1).
    n : int
        Number of steps, >= 0.
    out : ndarray, shape (K, K)
        Written with ``D^n``.
    work1, work2 : ndarray, shape (K, K)
        Scratch space.

    Notes
    -----
    ``D[k, k] = alpha[k]``, ``D[k, k-1] = 1 - alpha[k]`` (so rows k >= 1 sum to exactly 1).
    Binary powering of a non-negative matrix: ``O(K^3 log2 n)`` operations, no cancellation;
    in double-double arithmetic for ``n >= 2^15`` (see the module notes).
    """
    if n >= _DD_MIN_N:
        _prop_grid_dd(alpha, n, out)
        return
    K = alpha.shape[0]
    base = work1
    _step_matrix(alpha, out, base)
    first = True
    while n > 0:
        if n & 1:
            if first:
                for i in range(K):
                    for j in range(K):
                        out[i, j] = base[i, j]
                first = False
            else:
                tri_matmul(out, base, work2)
                _copy_lower(work2, out)
        n >>= 1
        if n > 0:
            tri_matmul(base, base, work2)
            _copy_lower(work2, base)


@njit(cache=True)
def propagate(grid, rates, d, out, work1, work2):
    """The propagator over ``d`` of the time model: ``D^d`` (grid: ``d`` whole steps as float64,
    ``rates`` the factors ``alpha``) or ``exp(A d)`` (continuous: ``d`` in s, ``rates`` = 1/tau).
    Writes ``out``."""
    if grid:
        prop_grid(rates, np.int64(d), out, work1, work2)
    else:
        prop_continuous(rates, d, out, work1, work2)


# ---------------------------------------------------------------------- public wrappers
def _check_taus(taus) -> np.ndarray:
    t = np.asarray(taus, dtype=np.float64)
    if t.ndim != 1 or t.size < 1:
        raise ConfigError(f"taus must be a 1-D array of K >= 1 time constants, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ConfigError(f"taus must be finite and > 0 s, got {t.tolist()}")
    return t


def cascade_matrix(taus) -> np.ndarray:
    """Generator ``A`` of the continuous cascade, shape (K, K), in 1/s."""
    lam = 1.0 / _check_taus(taus)
    A = np.diag(-lam)
    A[np.arange(1, lam.size), np.arange(lam.size - 1)] = lam[1:]
    return A


def grid_step_matrix(taus, dt: float) -> np.ndarray:
    """One step ``D`` of the discrete recursion at step ``dt`` (s), shape (K, K)."""
    t = _check_taus(taus)
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be finite and > 0 s, got {dt}")
    a = np.exp(-dt / t)
    D = np.diag(a)
    D[np.arange(1, a.size), np.arange(a.size - 1)] = 1.0 - a[1:]  # rows sum to exactly 1
    return D


def propagator(taus, s: float) -> np.ndarray:
    """Continuous-time propagator ``exp(A s)`` of the cascade (see module notes).

    Parameters
    ----------
    taus : array_like, shape (K,)
        Time constants (s), > 0; distinct, repeated or nearly repeated.
    s : float
        Elapsed time (s), >= 0.

    Returns
    -------
    ndarray, shape (K, K)
        Lower-triangular, non-negative, substochastic.
    """
    lam = 1.0 / _check_taus(taus)
    if not (np.isfinite(s) and s >= 0):
        raise InputError(f"elapsed time s must be finite and >= 0 s, got {s}")
    K = lam.size
    out, w1, w2 = np.empty((K, K)), np.empty((K, K)), np.empty((K, K))
    prop_continuous(lam, float(s), out, w1, w2)
    return out


def grid_propagator(taus, dt: float, n: int) -> np.ndarray:
    """Grid propagator ``D^n``: the discrete recursion at step ``dt`` applied ``n`` times.

    Parameters
    ----------
    taus : array_like, shape (K,)
        Time constants (s), > 0.
    dt : float
        Grid step (s), > 0.
    n : int
        Number of steps, >= 0.

    Returns
    -------
    ndarray, shape (K, K)
    """
    t = _check_taus(taus)
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"dt must be finite and > 0 s, got {dt}")
    if int(n) != n or n < 0:
        raise InputError(f"n must be an integer >= 0, got {n}")
    alpha = np.exp(-dt / t)
    K = t.size
    out, w1, w2 = np.empty((K, K)), np.empty((K, K)), np.empty((K, K))
    prop_grid(alpha, int(n), out, w1, w2)
    return out
