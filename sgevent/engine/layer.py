"""Kernels on one layer or neuron of the built network, shared by the loop's phases.

Each sequence is written once here: bring a layer to a time, a neuron's signal and its search
bounds, deliver a spike's jumps, predict a crossing or a gate switch, and push a prediction
into the heap. Arguments follow :mod:`sgevent.engine.phases` (``B``, ``S``, ``sc``, ``X``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.engine.state import C_HSIZE, C_N_TOUCHED, C_SEQ
from sgevent.learn.traces import predict_gate
from sgevent.numerics.crossing import Neuron, Workspace, next_crossing
from sgevent.numerics.propagator import propagate
from sgevent.numerics.queue import heap_push_compact
from sgevent.numerics.unrolled import propagate_rows

__all__ = ["bring_layer", "bring_neuron", "is_lazy", "add_jump_lazy", "signal", "add_jump", "fan_out",
           "Views", "layer_views", "stats_at", "may_cross", "predict", "predict_at", "push_gate",
           "schedule"]


@njit(cache=True)
def is_lazy(B, l):
    """A hidden conv layer: its neurons are brought to the present one by one, when a spike
    reaches them or their prediction pops, never all at every instant (module notes of
    :mod:`sgevent.engine.phases`)."""
    return B.lazy[l]


@njit(cache=True)
def bring_neuron(B, nr, sc, l, j, t):
    """Bring neuron ``j`` of lazy layer ``l`` from ``nr.t_n`` to ``t``: the propagator on its
    R rows, the own decays on ``y0`` and ``thd`` (the propagator is reused while consecutive
    calls share the layer and elapsed time: ``sc.Pn``, ``sc.pkey``). Writes ``nr`` and ``sc``;
    returns 1 if it moved, else 0."""
    g = B.post_off[l] + j
    dtl = t - nr.t_n[g]
    if dtl <= 0.0:
        return 0
    if not (sc.pkey[0] == l and sc.pkey[1] == dtl):  # neighbours often share their last update
        propagate(B.grid, B.rates[l], dtl, sc.Pn, sc.W1, sc.W2)
        sc.pkey[0] = l
        sc.pkey[1] = dtl
    propagate_rows(sc.Pn, nr.z, B.c_off[l] + j * B.R * B.K, B.R, B.K, sc.zs[0])
    if B.grid:
        nr.y0[g] *= B.own0[l] ** dtl
        nr.thd[g] *= B.own_th[l] ** dtl
    else:
        nr.y0[g] *= np.exp(-B.own0[l] * dtl)
        nr.thd[g] *= np.exp(-B.own_th[l] * dtl)
    nr.t_n[g] = t
    return 1


@njit(cache=True)
def bring_layer(B, nr, sc, l, t):
    """Bring every neuron of layer ``l`` from ``nr.t_last[l]`` to ``t`` (s or steps): the
    exact propagator on the cascade states, the own decays on ``y0`` and ``thd`` (hidden
    layers); a lazy layer neuron by neuron (:func:`bring_neuron`). Writes ``nr`` (the
    :class:`~sgevent.engine.state.NeuronState`)."""
    if is_lazy(B, l):
        for j in range(B.n_post[l]):
            bring_neuron(B, nr, sc, l, j, t)
        nr.t_last[l] = t
        return
    dtl = t - nr.t_last[l]
    if dtl <= 0.0:
        return
    z = nr.z
    K = B.K
    P = sc.P
    tmp = sc.zs[0]
    propagate(B.grid, B.rates[l], dtl, P, sc.W1, sc.W2)
    propagate_rows(P, z, B.c_off[l], B.n_post[l] * B.R, K, tmp)
    if l < B.n_post.shape[0] - 1:
        if B.grid:
            d0 = B.own0[l] ** dtl
            dth = B.own_th[l] ** dtl
        else:
            d0 = np.exp(-B.own0[l] * dtl)
            dth = np.exp(-B.own_th[l] * dtl)
        p0 = B.post_off[l]
        for j in range(B.n_post[l]):
            nr.y0[p0 + j] *= d0
            nr.thd[p0 + j] *= dth
    nr.t_last[l] = t


@njit(cache=True, inline="always")
def signal(B, l, j, z):
    """Signal ``x_j = b_j + sum_r c[j,r] . z_j[r]`` of neuron ``j`` of layer ``l`` (flat indexing)."""
    n = B.R * B.K
    a = B.c_off[l] + j * n
    acc = B.b[B.post_off[l] + j]
    for q in range(n):
        acc += B.c[a + q] * z[a + q]
    return acc


@njit(cache=True, inline="always")
def fan_out(B, l, i):
    """How many neurons of layer ``l`` a spike of source ``i`` reaches (its synaptic operations)."""
    if B.sparse[l]:
        return B.fo_ptr[B.ptr_off[l] + i + 1] - B.fo_ptr[B.ptr_off[l] + i]
    return B.n_post[l]


@njit(cache=True, inline="always")
def add_jump(B, l, i, height, z):
    """Deliver a spike of height ``height`` from pre-neuron ``i`` to every neuron of layer ``l``
    (a conv layer: to its receptive field's entries only)."""
    K = B.K
    if B.sparse[l]:
        R = B.R
        pa = B.ptr_off[l] + i
        fa = B.fo_off[l]
        ja = B.jump_off[l]
        za = B.c_off[l]
        for e in range(B.fo_ptr[pa], B.fo_ptr[pa + 1]):
            row = B.fo_post[fa + e] * R
            for r in range(R):
                z[za + (row + r) * K] += height * B.jump[ja + e * R + r]
        return
    n_rows = B.n_post[l] * B.R
    ja = B.jump_off[l] + i * n_rows
    za = B.c_off[l]
    for row in range(n_rows):
        z[za + row * K] += height * B.jump[ja + row]


@njit(cache=True)
def add_jump_lazy(B, nr, sc, touched, ctr, l, i, height, t):
    """Deliver a spike of source ``i`` to lazy layer ``l``: each neuron of its receptive field
    is first brought to ``t``, then receives its jump and joins ``touched`` (once per instant:
    ``nr.mark``; ``ctr[C_N_TOUCHED]`` counts them). Returns how many neurons were brought."""
    K = B.K
    R = B.R
    pa = B.ptr_off[l] + i
    fa = B.fo_off[l]
    ja = B.jump_off[l]
    za = B.c_off[l]
    p0 = B.post_off[l]
    moved = 0
    for e in range(B.fo_ptr[pa], B.fo_ptr[pa + 1]):
        j = B.fo_post[fa + e]
        moved += bring_neuron(B, nr, sc, l, j, t)
        if not nr.mark[p0 + j]:
            nr.mark[p0 + j] = True
            touched[ctr[C_N_TOUCHED]] = j
            ctr[C_N_TOUCHED] += 1
        row = j * R
        for r in range(R):
            nr.z[za + (row + r) * K] += height * B.jump[ja + e * R + r]
    return moved


class Views(NamedTuple):
    """Layer ``l``'s arrays as views indexed by its neuron ``j``: ``z, c, c1`` (n, R, K), the
    bound norms (n, R), ``b, y0, thd, ver, forced`` (n,). Indexed by loop variables, they spare
    the per-neuron loop the offset arithmetic and the negative-index wraparound that Numba adds
    to a computed flat index (measured: 1 ms grid 28.6 -> 26.2 ms on issue 13's network)."""

    z: np.ndarray
    c: np.ndarray
    c1: np.ndarray
    n0p: np.ndarray
    n0n: np.ndarray
    n2p: np.ndarray
    n2n: np.ndarray
    b: np.ndarray
    y0: np.ndarray
    thd: np.ndarray
    ver: np.ndarray
    forced: np.ndarray


@njit(cache=True, inline="always")
def layer_views(B, nr, l):
    """The :class:`Views` of hidden layer ``l`` on ``B`` and ``nr``."""
    n, R, K = B.n_post[l], B.R, B.K
    c0, c1 = B.c_off[l], B.c_off[l + 1]
    r0, r1 = B.nr_off[l], B.nr_off[l + 1]
    p0, p1 = B.post_off[l], B.post_off[l + 1]
    return Views(
        z=nr.z[c0:c1].reshape(n, R, K), c=B.c[c0:c1].reshape(n, R, K), c1=B.c1[c0:c1].reshape(n, R, K),
        n0p=B.n0p[r0:r1].reshape(n, R), n0n=B.n0n[r0:r1].reshape(n, R), n2p=B.n2p[r0:r1].reshape(n, R),
        n2n=B.n2n[r0:r1].reshape(n, R), b=B.b[p0:p1], y0=nr.y0[p0:p1], thd=nr.thd[p0:p1], ver=nr.ver[p0:p1],
        forced=nr.forced[p0:p1],
    )


@njit(cache=True, inline="always")
def stats_at(V, j):
    """``(x, c1 . z, M2, x_max)`` of neuron ``j`` on the layer's :class:`Views`.

    ``M2`` bounds ``x''`` and ``x_max`` bounds ``x`` for all future times (see
    :mod:`sgevent.numerics.crossing`); spikes change neither (they only touch ``yhat0`` and ``theta``).
    """
    R, K = V.z.shape[1], V.z.shape[2]
    x = V.b[j]
    d1 = 0.0
    m2 = 0.0
    xmax = x
    for r in range(R):
        zp = 0.0
        zn = 0.0
        for k in range(K):
            v = V.z[j, r, k]
            x += V.c[j, r, k] * v
            d1 += V.c1[j, r, k] * v
            zp = max(zp, v)  # branch-free: the signs of the states are unpredictable
            zn = max(zn, -v)
        m2 += V.n2p[j, r] * zp + V.n2n[j, r] * zn
        xmax += V.n0p[j, r] * zp + V.n0n[j, r] * zn
    return x, d1, m2, xmax


@njit(cache=True, inline="always")
def may_cross(B, l, st, y0g, thdg, horizon):
    """False when the neuron (``st``: its :func:`stats_at`) provably cannot reach threshold
    within ``horizon``.

    The first step of :func:`sgevent.numerics.crossing.next_crossing`: the convex bound
    ``q(u) = f + f' u + M2 u^2 / 2`` (grid: ``M2 u (u-1) / 2``) with ``q(0) < 0`` is negative on
    all of ``(0, horizon]`` iff ``q(horizon) < 0``; ``x_max < theta_0`` rules out every future.
    """
    x, d1, m2, xmax = st
    th0 = B.theta_0[l]
    f0 = x - y0g - th0 - thdg
    if B.grid:
        d1 += y0g * (1.0 - B.own0[l]) + thdg * (1.0 - B.own_th[l])
        q = f0 + horizon * d1 + 0.5 * m2 * horizon * (horizon - 1.0)
    else:
        d1 += y0g * B.own0[l] + thdg * B.own_th[l]
        q = f0 + horizon * d1 + 0.5 * m2 * horizon * horizon
    # both tests, combined without a branch (the first one passes about half the time)
    return (not (xmax - th0 < 0.0)) & (q >= 0.0)


@njit(cache=True)
def predict(B, nr, sc, l, j, t, horizon_abs, tol):
    """Next threshold crossing of neuron ``j`` of hidden layer ``l`` after ``t`` (relative to
    ``t``; ``inf`` if none before ``horizon_abs``, ``nan`` if the search failed): :func:`predict_at`
    on the layer's views, for callers that do not hold them."""
    return predict_at(B, layer_views(B, nr, l), sc, l, j, t, horizon_abs, tol)


@njit(cache=True, inline="always")
def predict_at(B, V, sc, l, j, t, horizon_abs, tol):
    """:func:`predict` on the layer's :class:`Views` ``V`` (inlined into the check loops: the
    neuron's (R, K) arrays are views of the views, no reshape and no call that carries ``B``)."""
    nrn = Neuron(
        z=V.z[j], c=V.c[j], c1=V.c1[j], n0p=V.n0p[j], n0n=V.n0n[j], n2p=V.n2p[j], n2n=V.n2n[j], b=V.b[j],
        theta_0=B.theta_0[l], y0=V.y0[j], thd=V.thd[j], own0=B.own0[l], own_th=B.own_th[l], rates=B.rates[l],
    )
    return next_crossing(B.grid, nrn, horizon_abs - t, tol, Workspace(P=sc.P, W1=sc.W1, W2=sc.W2, zs=sc.zs))


@njit(cache=True, inline="always")
def schedule(heap, ver, ctr, t_s, nid):
    """Push the prediction ``(t_s, nid)`` with the owner's current version ``ver[nid]`` (heap
    compacted when full; ``ctr[C_HSIZE]``, ``ctr[C_SEQ]`` advanced). Returns True if it compacted."""
    hsize, compacted = heap_push_compact(heap, ctr[C_HSIZE], ver, t_s, ctr[C_SEQ], nid)
    ctr[C_HSIZE] = hsize
    ctr[C_SEQ] += 1
    return compacted


@njit(cache=True)
def push_gate(B, nr, gate, heap, ctr, sc, l, j, when, tol):
    """Re-predict the gate switch of neuron j of hidden layer l after ``when = (t, horizon)``
    (traces): a new version of the gate (gate ids follow the neurons: ``n_tot + g``), its next
    switch pushed if there is one before the horizon."""
    g = B.post_off[l] + j
    gid = B.post_off[B.n_post.shape[0]] + g
    nr.ver[gid] += 1
    s = predict_gate(B, nr.z, gate[g] != 0.0, sc, l, j, when, tol)
    if s < np.inf:
        schedule(heap, nr.ver, ctr, when[0] + s, gid)
