"""The event-driven engine: one sample, exact in continuous time or on a grid (DESIGN.md 2).

Semantics (the same sequence as DESIGN.md 1.4, at event instants only)
----------------------------------------------------------------------
The engine jumps from instant to instant. An instant is the time of an input spike or of a
predicted threshold crossing (the top of the event heap). At an instant ``t``:

1. inputs at ``t``: bring hidden layer 0 to ``t`` and add every input spike's jumps;
2. predicted crossings at ``t`` are popped (stale versions dropped);
3. each hidden layer in order: bring it to ``t``, add the jumps of the layer below's spikes at
   ``t`` (zero delay), then check neurons: a neuron whose valid prediction is ``t`` and whose
   layer received no jump at ``t`` fires at least once (the prediction proved it); every checked
   neuron fires while ``relu(x) - yhat0 >= theta`` (a burst, one event carrying the total
   height, at most ``max_burst`` spikes). At an input instant *every* hidden neuron is checked
   and re-predicted with horizon ``min(next input, t_end)``; otherwise only the neurons that were
   touched;
4. the readout layer receives the last hidden layer's spikes.

Readouts are served, in time order, once every event at or before the readout time has been
processed (so ``o(t)`` is right-continuous, and grid readouts equal ``o[floor(t/dt + 1e-9)]``).

In grid mode the kernel's clock counts whole steps (as float64 integers) and the propagators
are matrix powers of the discrete step, so it reproduces the clock-driven recursion spike for
spike at a cost that does not depend on ``dt`` beyond how many inputs share a step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sgevent.engine.state import C_HSIZE, C_MBUF, C_P_IN, C_P_RO, C_SEQ, C_START
from sgevent.learn.accumulate import (
    advance_source,
    flush,
    push_event,
    sync_sources,
)
from sgevent.learn.traces import flush_all_acc, gate_switch, predict_gate, push_traces
from sgevent.numerics.crossing import next_crossing
from sgevent.numerics.propagator import prop_continuous, prop_grid
from sgevent.numerics.queue import heap_compact, heap_pop, heap_push

__all__ = ["run_chunk", "after_update", "finish_learning", "TIME_TOL", "STATUS_OK", "STATUS_BURST",
           "STATUS_SEARCH", "STATUS_PAUSED"]

TIME_TOL = 1e-9  # continuous spike-time tolerance (s)

# stats slots
ST_INSTANTS, ST_INPUTS, ST_PREDICTIONS, ST_PUSHES, ST_COMPACTIONS, ST_GATES = 0, 1, 2, 3, 4, 5

STATUS_OK, STATUS_BURST, STATUS_SEARCH, STATUS_PAUSED = 0, 1, 2, 3


@njit(cache=True)
def _propagate_layer(B, l, dtl, z, y0, thd, P, W1, W2, zs):
    """Advance every neuron of layer ``l`` by ``dtl`` (s or steps); writes ``z, y0, thd``."""
    if dtl <= 0.0:
        return
    K = B.K
    R = B.R
    if B.grid:
        prop_grid(B.rates[l], np.int64(dtl), P, W1, W2)
    else:
        prop_continuous(B.rates[l], dtl, P, W1, W2)
    tmp = zs[0]
    base = B.c_off[l]
    for row in range(B.n_post[l] * R):
        a = base + row * K
        for i in range(K):
            acc = 0.0
            for c in range(i + 1):
                acc += P[i, c] * z[a + c]
            tmp[i] = acc
        for i in range(K):
            z[a + i] = tmp[i]
    if l < B.n_post.shape[0] - 1:
        if B.grid:
            d0 = B.own0[l] ** dtl
            dth = B.own_th[l] ** dtl
        else:
            d0 = np.exp(-B.own0[l] * dtl)
            dth = np.exp(-B.own_th[l] * dtl)
        p0 = B.post_off[l]
        for j in range(B.n_post[l]):
            y0[p0 + j] *= d0
            thd[p0 + j] *= dth


@njit(cache=True)
def _x(B, l, j, z):
    """Signal ``x_j = b_j + sum_r c[j,r] . z_j[r]`` of neuron ``j`` of layer ``l`` (flat indexing)."""
    n = B.R * B.K
    a = B.c_off[l] + j * n
    acc = B.b[B.post_off[l] + j]
    for q in range(n):
        acc += B.c[a + q] * z[a + q]
    return acc


@njit(cache=True)
def _add_jump(B, l, i, height, z):
    """Deliver a spike of height ``height`` from pre-neuron ``i`` to every neuron of layer ``l``."""
    R = B.R
    K = B.K
    n_rows = B.n_post[l] * R
    ja = B.jump_off[l] + i * n_rows
    za = B.c_off[l]
    for row in range(n_rows):
        z[za + row * K] += height * B.jump[ja + row]


@njit(cache=True)
def _neuron_stats(B, l, j, z):
    """``x``, ``c1 . z`` and the bounds ``M2`` and ``x_max`` of neuron ``j`` (flat indexing).

    ``M2`` bounds ``x''`` and ``x_max`` bounds ``x`` for all future times (see
    :mod:`sgevent.numerics.crossing`); spikes change neither (they only touch ``yhat0`` and ``theta``).
    """
    R = B.R
    K = B.K
    a = B.c_off[l] + j * R * K
    r0 = B.nr_off[l] + j * R
    x = B.b[B.post_off[l] + j]
    d1 = 0.0
    m2 = 0.0
    xmax = x
    for r in range(R):
        zp = 0.0
        zn = 0.0
        for k in range(K):
            q = a + r * K + k
            v = z[q]
            x += B.c[q] * v
            d1 += B.c1[q] * v
            if v > zp:
                zp = v
            elif -v > zn:
                zn = -v
        m2 += B.n2p[r0 + r] * zp + B.n2n[r0 + r] * zn
        xmax += B.n0p[r0 + r] * zp + B.n0n[r0 + r] * zn
    return x, d1, m2, xmax


@njit(cache=True)
def _may_cross(B, l, x, d1, m2, xmax, y0g, thdg, horizon):
    """False when the neuron provably cannot reach threshold within ``horizon``.

    The first step of :func:`sgevent.numerics.crossing.next_crossing`: the convex bound
    ``q(u) = f + f' u + M2 u^2 / 2`` (grid: ``M2 u (u-1) / 2``) with ``q(0) < 0`` is negative on
    all of ``(0, horizon]`` iff ``q(horizon) < 0``; ``x_max < theta_0`` rules out every future.
    """
    th0 = B.theta_0[l]
    if xmax - th0 < 0.0:
        return False
    f0 = x - y0g - th0 - thdg
    if B.grid:
        d1 += y0g * (1.0 - B.own0[l]) + thdg * (1.0 - B.own_th[l])
        return f0 + horizon * d1 + 0.5 * m2 * horizon * (horizon - 1.0) >= 0.0
    d1 += y0g * B.own0[l] + thdg * B.own_th[l]
    return f0 + horizon * d1 + 0.5 * m2 * horizon * horizon >= 0.0


@njit(cache=True)
def _predict(B, l, j, t, horizon_abs, tol, zl, cl, c1l, y0, thd, P, W1, W2, zs):
    """Next crossing of neuron ``j`` of layer ``l``; ``zl, cl, c1l`` are the layer's (n_post, R, K) views."""
    R = B.R
    a, e = B.nr_off[l] + j * R, B.nr_off[l] + (j + 1) * R
    g = B.post_off[l] + j
    return next_crossing(
        B.grid, zl[j], cl[j], c1l[j], B.n0p[a:e], B.n0n[a:e], B.n2p[a:e], B.n2n[a:e],
        B.b[g], B.theta_0[l], y0[g], thd[g], B.own0[l], B.own_th[l], B.rates[l],
        horizon_abs - t, tol, P, W1, W2, zs,
    )


@njit(cache=True)
def _trace_scratch(K, R):
    """Scratch of the traces kernels: chain propagators (K, 2K-1, 2K-1), their rates and work
    matrices, a K-vector and two (R, K) read-out buffers."""
    Kc = 2 * K - 1
    return (np.empty((K, Kc, Kc)), np.empty(Kc), np.empty((Kc, Kc)), np.empty((Kc, Kc)), np.empty(K),
            np.empty((R, K)), np.empty((R, K)))


@njit(cache=True)
def _push_gate(B, S, l, j, t, horizon, tol, z, cn, c1n, P, W1, W2, zs, hsize, seq):
    """Re-predict the gate switch of neuron j of hidden layer l (traces); returns heap size, seq."""
    R = B.R
    K = B.K
    n_tot = B.post_off[B.n_post.shape[0]]
    g = B.post_off[l] + j
    S.ver[n_tot + g] += 1
    zl = z[B.c_off[l] + j * R * K:B.c_off[l] + (j + 1) * R * K].reshape(R, K)
    s = predict_gate(B, l, j, t, horizon, tol, zl, S.gate[g] != 0.0, cn, c1n, P, W1, W2, zs)
    if s < np.inf and s == s:
        if hsize == S.ht.shape[0]:
            hsize = heap_compact(S.ht, S.hs, S.hn, S.hv, hsize, S.ver)
        hsize = heap_push(S.ht, S.hs, S.hn, S.hv, hsize, t + s, seq, n_tot + g, S.ver[n_tot + g])
        seq += 1
    return hsize, seq


@njit(cache=True, nogil=True)
def run_chunk(B, LA, S, in_t, in_u, t_end, ro_t, tol, stop_at):
    """Run the event loop of one sample on the built network ``B`` from state ``S``.

    Parameters
    ----------
    B : Built
        Flat network arrays (:func:`sgevent.engine.build.build`).
    LA : LearnArgs
        Learning inputs; when ``LA.active`` the readout times are the learning events.
    S : EngineState
        Loop state (:func:`sgevent.engine.state.init_state`), updated in place.
    in_t : ndarray of float64, shape (n,)
        Sorted input times (s; grid mode: step indices as float64).
    in_u : ndarray of int64, shape (n,)
        Input channels.
    t_end : float
        Last instant processed (s or step).
    ro_t : ndarray of float64, shape (n_ro,)
        Sorted readout times (s or step), all <= t_end.
    tol : float
        Continuous spike-time tolerance (s).
    stop_at : int
        Pause (status 3) once this many readouts/learning events are done; -1: run to the end.

    Returns
    -------
    status : int
        0 done, 1 burst limit exceeded, 2 spike search failed, 3 paused at ``stop_at``.
    sp_t, sp_h : ndarray of float64; sp_l, sp_n, sp_c : ndarray of int64
        Spike events of this chunk (time, height, layer, neuron, count), in emission order.

    Notes
    -----
    Readouts and learning events at ``t_r`` are served once every event at or before ``t_r``
    is processed; a pause happens right after one, between two instants, so the state is
    consistent and the weights may change before :func:`after_update` and the next chunk.
    """
    L = B.n_post.shape[0]
    n_hid = L - 1
    K = B.K
    R = B.R
    z, y0, thd, ver, forced, t_last = S.z, S.y0, S.thd, S.ver, S.forced, S.t_last
    ht, hs, hn, hv = S.ht, S.hs, S.hn, S.hv
    cap = ht.shape[0]
    cur_ids, cur_h, forced_ids = S.cur_ids, S.cur_h, S.forced_ids
    ro, stats, syn_ops, updates, info = S.ro, S.stats, S.syn_ops, S.updates, S.info
    src, src_t, s_off = S.src, S.src_t, S.s_off
    P = np.empty((K, K))
    W1 = np.empty((K, K))
    W2 = np.empty((K, K))
    Ps = np.empty((K, K))
    zs = np.empty((R, K))
    tr = LA.active and LA.traces
    n_tot = B.post_off[L]
    Pcs, lam, W1c, W2c, ttmp, cn, c1n = _trace_scratch(K, R)
    cap_sp = 1024
    sp_t = np.empty(cap_sp)
    sp_h = np.empty(cap_sp)
    sp_l = np.empty(cap_sp, dtype=np.int64)
    sp_n = np.empty(cap_sp, dtype=np.int64)
    sp_c = np.empty(cap_sp, dtype=np.int64)
    n_sp = 0
    n_out = B.n_post[L - 1]
    n_in = in_t.shape[0]
    n_ro = ro_t.shape[0]
    act = LA.active
    M = LA.buffer
    Mc = M * LA.vk
    E = LA.n_events
    p_in = S.ctr[C_P_IN]
    p_ro = S.ctr[C_P_RO]
    seq = S.ctr[C_SEQ]
    hsize = S.ctr[C_HSIZE]
    m_buf = S.ctr[C_MBUF]
    start = S.ctr[C_START] == 1  # an instant at t = 0 although no input is there (biased neurons)
    status = STATUS_OK
    while True:
        while hsize > 0 and hv[0] != ver[hn[0]]:
            hsize = heap_pop(ht, hs, hn, hv, hsize)
        t_heap = ht[0] if hsize > 0 else np.inf
        t_inp = in_t[p_in] if p_in < n_in else np.inf
        t = 0.0 if start else min(t_heap, t_inp)
        # readouts due before this instant
        while p_ro < n_ro and (ro_t[p_ro] < t or t > t_end):
            tr_t = ro_t[p_ro]
            lr = L - 1
            _propagate_layer(B, lr, tr_t - t_last[lr], z, y0, thd, P, W1, W2, zs)
            t_last[lr] = max(t_last[lr], tr_t)
            updates[lr] += n_out
            for j in range(n_out):
                ro[p_ro, j] = _x(B, L - 1, j, z)
            if act:
                for l in range(L - 1):
                    _propagate_layer(B, l, tr_t - t_last[l], z, y0, thd, P, W1, W2, zs)
                    t_last[l] = max(t_last[l], tr_t)
                    for j in range(B.n_post[l]):
                        S.xs[B.post_off[l] + j] = _x(B, l, j, z)
                sync_sources(B, tr_t, src, src_t, s_off, P, Ps, W1, W2, S.H, S.h_off, Pcs, lam, W1c, W2c, ttmp, -1)
                if tr:  # the gates at the event are [x > 0] (settles sub-tolerance ties)
                    for l in range(L - 1):
                        for j in range(B.n_post[l]):
                            g = B.post_off[l] + j
                            ng = 1.0 if S.xs[g] > 0.0 else 0.0
                            if ng != S.gate[g]:
                                gate_switch(B, LA, S, l, j, tr_t, ng, P, W1, W2, lam, W1c, W2c, ttmp)
                S.loss[0] += _learning_event(B, LA, S, p_ro, E, ro[p_ro], m_buf)
                if tr and (LA.loss != 1 or p_ro == E - 1):
                    push_traces(B, LA, S, m_buf, tr_t, P, W1, W2, lam, W1c, W2c, ttmp)
                if LA.loss != 2 and (LA.loss != 1 or p_ro == E - 1):
                    m_buf += 1
                    if m_buf == M:
                        flush(B, Mc, S.dbuf, S.d_off, S.ybuf, S.y_off, S.G, S.g_off)
                        m_buf = 0
            p_ro += 1
            if p_ro == stop_at:
                if act and m_buf > 0:
                    flush(B, Mc, S.dbuf, S.d_off, S.ybuf, S.y_off, S.G, S.g_off)
                    m_buf = 0
                if tr:
                    flush_all_acc(B, S)
                status = STATUS_PAUSED
                break
        if status == STATUS_PAUSED:
            break
        if t > t_end:
            break
        stats[ST_INSTANTS] += 1
        has_input = t_inp == t
        if has_input:
            _propagate_layer(B, 0, t - t_last[0], z, y0, thd, P, W1, W2, zs)
            t_last[0] = t
            updates[0] += B.n_post[0]
            while p_in < n_in and in_t[p_in] == t:
                if act:
                    advance_source(B, 0, in_u[p_in], t, src, src_t, s_off, P, W1, W2, S.H, S.h_off, Pcs, lam, W1c,
                                   W2c, ttmp)
                    src[s_off[0] + in_u[p_in] * K] += B.h_in
                _add_jump(B, 0, in_u[p_in], B.h_in, z)
                syn_ops[0] += B.n_post[0]
                stats[ST_INPUTS] += 1
                p_in += 1
        n_forced = 0
        n_gates = 0
        while hsize > 0 and ht[0] == t:
            if hv[0] == ver[hn[0]]:
                if hn[0] >= n_tot:
                    S.gate_ids[n_gates] = hn[0] - n_tot
                    n_gates += 1
                else:
                    forced[hn[0]] = True
                    forced_ids[n_forced] = hn[0]
                    n_forced += 1
            hsize = heap_pop(ht, hs, hn, hv, hsize)
        t_next_in = in_t[p_in] if p_in < n_in else np.inf
        horizon = min(t_next_in, t_end)
        synced = -1  # source layer whose sources (and H) are at t, for gate switches
        for q in range(n_gates):  # predicted gate switches (traces)
            g = S.gate_ids[q]
            l = 0
            while B.post_off[l + 1] <= g:
                l += 1
            j = g - B.post_off[l]
            _propagate_layer(B, l, t - t_last[l], z, y0, thd, P, W1, W2, zs)
            t_last[l] = t
            ng = 1.0 if _x(B, l, j, z) > 0.0 else 0.0
            if ng != S.gate[g]:
                if synced != l:
                    sync_sources(B, t, src, src_t, s_off, P, Ps, W1, W2, S.H, S.h_off, Pcs, lam, W1c, W2c, ttmp, l)
                    synced = l
                gate_switch(B, LA, S, l, j, t, ng, P, W1, W2, lam, W1c, W2c, ttmp)
                stats[ST_GATES] += 1
            hsize, seq = _push_gate(B, S, l, j, t, horizon, tol, z, cn, c1n, P, W1, W2, zs, hsize, seq)
        n_prev = 0  # spikes of the layer below at this instant (cur_ids[:n_prev])
        for l in range(n_hid):
            p0 = B.post_off[l]
            n_post = B.n_post[l]
            touched = has_input if l == 0 else n_prev > 0
            check_all = has_input or touched or start
            n_forced_l = 0
            for q in range(n_forced):
                if forced_ids[q] >= p0 and forced_ids[q] < p0 + n_post:
                    n_forced_l += 1
            if not check_all and n_forced_l == 0:
                n_prev = 0
                continue
            if l > 0 or not has_input:
                _propagate_layer(B, l, t - t_last[l], z, y0, thd, P, W1, W2, zs)
                t_last[l] = t
                updates[l] += n_post
            for q in range(n_prev):
                _add_jump(B, l, cur_ids[q], cur_h[q], z)
                syn_ops[l] += n_post
            n_this = 0
            n_check = n_post if check_all else n_forced
            zl = z[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
            cl = B.c[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
            c1l = B.c1[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
            for q in range(n_check):
                if check_all:
                    j = q
                else:
                    if forced_ids[q] < p0 or forced_ids[q] >= p0 + n_post:
                        continue
                    j = forced_ids[q] - p0
                g = p0 + j
                force = forced[g] and not touched
                forced[g] = False
                x, d1z, m2, xmax = _neuron_stats(B, l, j, z)
                if tr:
                    ng = 1.0 if x > 0.0 else 0.0
                    if ng != S.gate[g]:
                        if synced != l:
                            sync_sources(B, t, src, src_t, s_off, P, Ps, W1, W2, S.H, S.h_off, Pcs, lam, W1c, W2c,
                                         ttmp, l)
                            synced = l
                        gate_switch(B, LA, S, l, j, t, ng, P, W1, W2, lam, W1c, W2c, ttmp)
                        stats[ST_GATES] += 1
                    if check_all:
                        hsize, seq = _push_gate(B, S, l, j, t, horizon, tol, z, cn, c1n, P, W1, W2, zs, hsize, seq)
                y = x if x > 0.0 else 0.0
                theta = B.theta_0[l] + thd[g]
                count = 0
                height = 0.0
                while force or y - y0[g] >= theta:
                    force = False
                    if count >= B.max_burst[l]:
                        info[0] = l
                        info[1] = j
                        info[2] = t
                        status = STATUS_BURST
                        break
                    y0[g] += B.spike_gain[l] * theta
                    height += B.spike_gain[l] * theta
                    thd[g] += B.m_f[l] * theta
                    theta = B.theta_0[l] + thd[g]
                    count += 1
                if status != STATUS_OK:
                    break
                if count > 0:
                    if n_sp == sp_t.shape[0]:
                        new = 2 * n_sp
                        a_t = np.empty(new)
                        a_h = np.empty(new)
                        a_l = np.empty(new, dtype=np.int64)
                        a_n = np.empty(new, dtype=np.int64)
                        a_c = np.empty(new, dtype=np.int64)
                        a_t[:n_sp] = sp_t
                        a_h[:n_sp] = sp_h
                        a_l[:n_sp] = sp_l
                        a_n[:n_sp] = sp_n
                        a_c[:n_sp] = sp_c
                        sp_t, sp_h, sp_l, sp_n, sp_c = a_t, a_h, a_l, a_n, a_c
                    sp_t[n_sp] = t
                    sp_h[n_sp] = height
                    sp_l[n_sp] = l
                    sp_n[n_sp] = j
                    sp_c[n_sp] = count
                    n_sp += 1
                    if act:
                        advance_source(B, l + 1, j, t, src, src_t, s_off, P, W1, W2, S.H, S.h_off, Pcs, lam,
                                       W1c, W2c, ttmp)
                        src[s_off[l + 1] + j * K] += height
                    cur_ids[n_prev + n_this] = j  # stash after the previous layer's list
                    cur_h[n_prev + n_this] = height
                    n_this += 1
                # re-predict this neuron
                ver[g] += 1
                stats[ST_PREDICTIONS] += 1
                if _may_cross(B, l, x, d1z, m2, xmax, y0[g], thd[g], horizon - t):
                    s = _predict(B, l, j, t, horizon, tol, zl, cl, c1l, y0, thd, P, W1, W2, zs)
                else:
                    s = np.inf
                if s != s:
                    info[0] = l
                    info[1] = j
                    info[2] = t
                    status = STATUS_SEARCH
                    break
                if s < np.inf:
                    if hsize == cap:
                        hsize = heap_compact(ht, hs, hn, hv, hsize, ver)
                        stats[ST_COMPACTIONS] += 1
                    hsize = heap_push(ht, hs, hn, hv, hsize, t + s, seq, g, ver[g])
                    seq += 1
                    stats[ST_PUSHES] += 1
            if status != STATUS_OK:
                break
            # this layer's spikes become the next layer's input list
            for q in range(n_this):
                cur_ids[q] = cur_ids[n_prev + q]
                cur_h[q] = cur_h[n_prev + q]
            n_prev = n_this
        if status != STATUS_OK:
            break
        start = False
        if n_prev > 0:
            lr = L - 1
            _propagate_layer(B, lr, t - t_last[lr], z, y0, thd, P, W1, W2, zs)
            t_last[lr] = t
            updates[lr] += n_out
            for q in range(n_prev):
                _add_jump(B, lr, cur_ids[q], cur_h[q], z)
                syn_ops[lr] += n_out
    S.ctr[C_P_IN] = p_in
    S.ctr[C_P_RO] = p_ro
    S.ctr[C_SEQ] = seq
    S.ctr[C_HSIZE] = hsize
    S.ctr[C_MBUF] = m_buf
    S.ctr[C_START] = 1 if start else 0
    return status, sp_t[:n_sp], sp_h[:n_sp], sp_l[:n_sp], sp_n[:n_sp], sp_c[:n_sp]


@njit(cache=True)
def finish_learning(B, LA, S):
    """End of a learning sample: the ``max`` loss's backward passes and the last flush."""
    L = B.n_post.shape[0]
    n_out = B.n_post[L - 1]
    M = LA.buffer
    m_buf = S.ctr[C_MBUF]
    if LA.loss == 2:  # max over time: backward from each class's argmax snapshot
        mx = S.smax.max()
        tot = 0.0
        for c in range(n_out):
            S.p_soft[c] = np.exp(S.smax[c] - mx)
            tot += S.p_soft[c]
        for c in range(n_out):
            S.p_soft[c] /= tot
        S.loss[0] = -np.log(S.p_soft[LA.label])
        for c in range(n_out):
            S.d_out[:] = 0.0
            S.d_out[c] = S.p_soft[c] - (1.0 if c == LA.label else 0.0)
            push_event(B, LA, S.d_out, S.snap_x[c], S.snap_src[c], S.s_off, S.dbuf, S.d_off, S.ybuf, S.y_off,
                       m_buf, S.db, S.deltas)
            m_buf += 1
            if m_buf == M:
                flush(B, M, S.dbuf, S.d_off, S.ybuf, S.y_off, S.G, S.g_off)
                m_buf = 0
    if m_buf > 0:
        flush(B, M * LA.vk, S.dbuf, S.d_off, S.ybuf, S.y_off, S.G, S.g_off)
    if LA.traces:
        flush_all_acc(B, S)
    S.ctr[C_MBUF] = 0


@njit(cache=True)
def after_update(B, LA, S, t, in_t, t_end, tol):
    """After the weights changed at time ``t`` (between chunks): re-aggregate every neuron's
    cascade states from the per-source buckets with the new weights, invalidate every pending
    prediction and predict every hidden neuron afresh (in grid mode from the next step on).
    With traces, the gates ``[x > 0]`` are re-evaluated with the new weights and re-predicted."""
    L = B.n_post.shape[0]
    K = B.K
    R = B.R
    for l in range(L):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        Y = S.src[S.s_off[l]:S.s_off[l + 1]].reshape(n_pre, K)
        J = B.jump[B.jump_off[l]:B.jump_off[l + 1]].reshape(n_pre, n_post * R)
        zl = S.z[B.c_off[l]:B.c_off[l + 1]].reshape(n_post * R, K)
        zl[:, :] = np.dot(J.T, Y)  # z[j, r, k] = sum_i jump[i, j, r] Y[i, k]
    P = np.empty((K, K))
    W1 = np.empty((K, K))
    W2 = np.empty((K, K))
    zs = np.empty((R, K))
    _, lam, W1c, W2c, ttmp, cn, c1n = _trace_scratch(K, R)
    tr = LA.active and LA.traces
    p_in = S.ctr[C_P_IN]
    horizon = min(in_t[p_in] if p_in < in_t.shape[0] else np.inf, t_end)
    seq = S.ctr[C_SEQ]
    hsize = S.ctr[C_HSIZE]
    cap = S.ht.shape[0]
    for l in range(L - 1):
        n_post = B.n_post[l]
        zl = S.z[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
        cl = B.c[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
        c1l = B.c1[B.c_off[l]:B.c_off[l + 1]].reshape(n_post, R, K)
        for j in range(n_post):
            g = B.post_off[l] + j
            if tr:
                # continuous: the new weights act from t on, so the gate switches now (the
                # sources are at t: the pause follows a learning event); grid: step t was
                # computed with the old weights, so a switch is searched from the next step
                ng = 1.0 if _x(B, l, j, S.z) > 0.0 else 0.0
                if ng != S.gate[g] and not B.grid:
                    gate_switch(B, LA, S, l, j, t, ng, P, W1, W2, lam, W1c, W2c, ttmp)
                    S.stats[ST_GATES] += 1
                hsize, seq = _push_gate(B, S, l, j, t, horizon, tol, S.z, cn, c1n, P, W1, W2, zs, hsize, seq)
            S.ver[g] += 1
            s = _predict(B, l, j, t, horizon, tol, zl, cl, c1l, S.y0, S.thd, P, W1, W2, zs)
            if s < np.inf:
                if hsize == cap:
                    hsize = heap_compact(S.ht, S.hs, S.hn, S.hv, hsize, S.ver)
                hsize = heap_push(S.ht, S.hs, S.hn, S.hv, hsize, t + s, seq, g, S.ver[g])
                seq += 1
    S.ctr[C_SEQ] = seq
    S.ctr[C_HSIZE] = hsize


@njit(cache=True)
def _learning_event(B, LA, S, e, E, o, m_buf):
    """Loss term and output error of learning event ``e``; pushes it into the buffers (or, for
    the ``max`` loss, updates the per-class argmax snapshots). Returns the loss increment."""
    n_out = o.shape[0]
    d_out = S.d_out
    if LA.loss == 3:  # mse
        inc = 0.0
        for c in range(n_out):
            d = o[c] - LA.target[e, c]
            inc += 0.5 * d * d / E
            d_out[c] = d / E
        push_event(B, LA, d_out, S.xs, S.src, S.s_off, S.dbuf, S.d_off, S.ybuf, S.y_off, m_buf, S.db, S.deltas)
        return inc
    if LA.loss == 2:  # max: keep the first maximum in time of each class
        for c in range(n_out):
            if o[c] > S.smax[c]:
                S.smax[c] = o[c]
                S.snap_x[c, :] = S.xs
                S.snap_src[c, :] = S.src
        return 0.0
    if LA.loss == 1 and e != E - 1:
        return 0.0
    mx = o.max()
    tot = 0.0
    for c in range(n_out):
        S.p_soft[c] = np.exp(o[c] - mx)
        tot += S.p_soft[c]
    scale = 1.0 / E if LA.loss == 0 else 1.0
    for c in range(n_out):
        d_out[c] = (S.p_soft[c] / tot - (1.0 if c == LA.label else 0.0)) * scale
    push_event(B, LA, d_out, S.xs, S.src, S.s_off, S.dbuf, S.d_off, S.ybuf, S.y_off, m_buf, S.db, S.deltas)
    return -(o[LA.label] - mx - np.log(tot)) * scale
