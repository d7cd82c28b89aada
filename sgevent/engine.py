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

from .build import Built, build
from .gradient import (
    LearnArgs,
    advance_source,
    flush,
    grads_from_accumulators,
    make_learn_args,
    no_learning,
    push_event,
    src_offsets,
    sync_sources,
)
from .crossing import _dot, _propagate_rows, next_crossing
from .errors import BurstLimitError, ConfigError, EngineError, InputError
from .learning import LearnSpec, learning_times, loss_and_output_error
from .events import STEP_TOL, check_dt, check_spikes, resolve_window
from .network import Network
from .propagator import prop_continuous, prop_grid
from .queue import heap_compact, heap_pop, heap_push
from .result import LayerSpikes, SimulationResult

__all__ = ["simulate", "run_sample", "TIME_TOL"]

TIME_TOL = 1e-9  # continuous spike-time tolerance (s)

# stats slots
ST_INSTANTS, ST_INPUTS, ST_PREDICTIONS, ST_PUSHES, ST_COMPACTIONS = 0, 1, 2, 3, 4
N_STATS = 5

STATUS_OK, STATUS_BURST, STATUS_SEARCH = 0, 1, 2


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
    :mod:`sgevent.crossing`); spikes change neither (they only touch ``yhat0`` and ``theta``).
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

    The first step of :func:`sgevent.crossing.next_crossing`: the convex bound
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


@njit(cache=True, nogil=True)
def run_sample(B, in_t, in_u, t_end, ro_t, tol, LA):
    """Simulate one sample on the built network ``B``.

    Parameters
    ----------
    B : Built
        Flat network arrays (:func:`sgevent.build.build`).
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
    LA : LearnArgs
        Learning inputs; when ``LA.active`` the readout times are the learning events.

    Returns
    -------
    status : int
        0 ok, 1 burst limit exceeded, 2 spike search failed.
    info : ndarray of float64, shape (3,)
        On error: layer, neuron, time.
    sp_t, sp_h : ndarray of float64; sp_l, sp_n, sp_c : ndarray of int64
        Spike events of all hidden layers (time, height, layer, neuron, count), in emission order.
    ro : ndarray, shape (n_ro, n_out)
        Readout at ``ro_t``.
    stats : ndarray of int64, shape (N_STATS,)
        Instants, input spikes, predictions, heap pushes, heap compactions.
    syn_ops, updates : ndarray of int64, shape (L,)
        Per layer: synaptic operations (event deliveries times fan-out) and neuron-state updates.
    G, db : ndarray of float64
        With learning: the accumulators of :mod:`sgevent.gradient` (flat per layer).
    loss : float
        With learning: the sample's loss.
    """
    L = B.n_post.shape[0]
    n_hid = L - 1
    K = B.K
    R = B.R
    z = np.zeros(B.c_off[L])
    n_tot = B.post_off[L]
    y0 = np.zeros(n_tot)
    thd = np.zeros(n_tot)
    ver = np.zeros(n_tot, dtype=np.int64)
    forced = np.zeros(n_tot, dtype=np.bool_)
    t_last = np.zeros(L)
    P = np.empty((K, K))
    W1 = np.empty((K, K))
    W2 = np.empty((K, K))
    zs = np.empty((R, K))
    n_hidden_neurons = B.post_off[n_hid]
    cap = 4 * n_hidden_neurons + 64
    ht = np.empty(cap)
    hs = np.empty(cap, dtype=np.int64)
    hn = np.empty(cap, dtype=np.int64)
    hv = np.empty(cap, dtype=np.int64)
    hsize = 0
    seq = 0
    # spikes at the current instant: per layer lists (reused)
    cur_ids = np.empty(n_tot, dtype=np.int64)
    cur_h = np.empty(n_tot)
    forced_ids = np.empty(n_tot, dtype=np.int64)
    # output buffers
    cap_sp = 1024
    sp_t = np.empty(cap_sp)
    sp_h = np.empty(cap_sp)
    sp_l = np.empty(cap_sp, dtype=np.int64)
    sp_n = np.empty(cap_sp, dtype=np.int64)
    sp_c = np.empty(cap_sp, dtype=np.int64)
    n_sp = 0
    n_out = B.n_post[L - 1]
    ro = np.zeros((ro_t.shape[0], n_out))
    stats = np.zeros(N_STATS, dtype=np.int64)
    syn_ops = np.zeros(L, dtype=np.int64)
    updates = np.zeros(L, dtype=np.int64)
    info = np.zeros(3)
    n_in = in_t.shape[0]
    n_ro = ro_t.shape[0]
    p_in = 0
    p_ro = 0
    # ---- learning state (tiny placeholders when inactive)
    s_off = src_offsets(B)
    act = LA.active
    M = LA.buffer
    src = np.zeros(s_off[L] if act else 0)
    src_t = np.zeros(s_off[L] // K if act else 0)
    Ps = np.empty((K, K))
    dbuf = [np.zeros((B.n_post[0], M if act else 0))]
    ybuf = [np.zeros((K, M if act else 0, B.n_pre[0]))]
    for l in range(1, L):
        dbuf.append(np.zeros((B.n_post[l], M if act else 0)))
        ybuf.append(np.zeros((K, M if act else 0, B.n_pre[l])))
    g_off = np.zeros(L + 1, dtype=np.int64)
    for l in range(L):
        g_off[l + 1] = g_off[l] + (K * B.n_post[l] * B.n_pre[l] if act else 0)
    G = np.zeros(g_off[L])
    db = np.zeros(n_tot)
    deltas = np.zeros(n_tot)
    xs = np.zeros(n_tot)
    d_out = np.zeros(n_out)
    p_soft = np.zeros(n_out)
    smax = np.full(n_out, -np.inf)
    snap_x = np.zeros((n_out if LA.loss == 2 and act else 0, n_tot))
    snap_src = np.zeros((n_out if LA.loss == 2 and act else 0, src.shape[0]))
    m_buf = 0
    loss = 0.0
    E = LA.n_events
    while True:
        while hsize > 0 and hv[0] != ver[hn[0]]:
            hsize = heap_pop(ht, hs, hn, hv, hsize)
        t_heap = ht[0] if hsize > 0 else np.inf
        t_inp = in_t[p_in] if p_in < n_in else np.inf
        t = min(t_heap, t_inp)
        # readouts due before this instant
        while p_ro < n_ro and (ro_t[p_ro] < t or t > t_end):
            tr = ro_t[p_ro]
            for l in range(L - 1, L):
                _propagate_layer(B, l, tr - t_last[l], z, y0, thd, P, W1, W2, zs)
                t_last[l] = max(t_last[l], tr)
                updates[l] += B.n_post[l]
            for j in range(n_out):
                ro[p_ro, j] = _x(B, L - 1, j, z)
            if act:
                for l in range(L - 1):
                    _propagate_layer(B, l, tr - t_last[l], z, y0, thd, P, W1, W2, zs)
                    t_last[l] = max(t_last[l], tr)
                    for j in range(B.n_post[l]):
                        xs[B.post_off[l] + j] = _x(B, l, j, z)
                sync_sources(B, tr, src, src_t, s_off, P, Ps, W1, W2)
                loss += _learning_event(B, LA, p_ro, E, ro[p_ro], xs, src, s_off, dbuf, ybuf, m_buf, db, deltas,
                                        d_out, p_soft, smax, snap_x, snap_src)
                if LA.loss != 2 and (LA.loss != 1 or p_ro == E - 1):
                    m_buf += 1
                    if m_buf == M:
                        flush(B, dbuf, ybuf, G, g_off)
                        m_buf = 0
            p_ro += 1
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
                    advance_source(B, 0, in_u[p_in], t, src, src_t, s_off, P, W1, W2)
                    src[s_off[0] + in_u[p_in] * K] += B.h_in
                _add_jump(B, 0, in_u[p_in], B.h_in, z)
                syn_ops[0] += B.n_post[0]
                stats[ST_INPUTS] += 1
                p_in += 1
        n_forced = 0
        while hsize > 0 and ht[0] == t:
            if hv[0] == ver[hn[0]]:
                forced[hn[0]] = True
                forced_ids[n_forced] = hn[0]
                n_forced += 1
            hsize = heap_pop(ht, hs, hn, hv, hsize)
        t_next_in = in_t[p_in] if p_in < n_in else np.inf
        horizon = min(t_next_in, t_end)
        n_prev = 0  # spikes of the layer below at this instant (cur_ids[:n_prev])
        for l in range(n_hid):
            p0 = B.post_off[l]
            n_post = B.n_post[l]
            touched = has_input if l == 0 else n_prev > 0
            check_all = has_input or touched
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
                        return STATUS_BURST, info, sp_t[:n_sp], sp_h[:n_sp], sp_l[:n_sp], sp_n[:n_sp], sp_c[:n_sp], ro, stats, syn_ops, updates, G, db, loss
                    y0[g] += B.spike_gain[l] * theta
                    height += B.spike_gain[l] * theta
                    thd[g] += B.m_f[l] * theta
                    theta = B.theta_0[l] + thd[g]
                    count += 1
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
                        advance_source(B, l + 1, j, t, src, src_t, s_off, P, W1, W2)
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
                    return STATUS_SEARCH, info, sp_t[:n_sp], sp_h[:n_sp], sp_l[:n_sp], sp_n[:n_sp], sp_c[:n_sp], ro, stats, syn_ops, updates, G, db, loss
                if s < np.inf:
                    if hsize == cap:
                        hsize = heap_compact(ht, hs, hn, hv, hsize, ver)
                        stats[ST_COMPACTIONS] += 1
                    hsize = heap_push(ht, hs, hn, hv, hsize, t + s, seq, g, ver[g])
                    seq += 1
                    stats[ST_PUSHES] += 1
            # this layer's spikes become the next layer's input list
            for q in range(n_this):
                cur_ids[q] = cur_ids[n_prev + q]
                cur_h[q] = cur_h[n_prev + q]
            n_prev = n_this
        if n_prev > 0:
            lr = L - 1
            _propagate_layer(B, lr, t - t_last[lr], z, y0, thd, P, W1, W2, zs)
            t_last[lr] = t
            updates[lr] += n_out
            for q in range(n_prev):
                _add_jump(B, lr, cur_ids[q], cur_h[q], z)
                syn_ops[lr] += n_out
    if act:
        if LA.loss == 2:  # max over time: backward from each class's argmax snapshot
            mx = smax.max()
            tot = 0.0
            for c in range(n_out):
                p_soft[c] = np.exp(smax[c] - mx)
                tot += p_soft[c]
            for c in range(n_out):
                p_soft[c] /= tot
            loss = -np.log(p_soft[LA.label])
            for c in range(n_out):
                d_out[:] = 0.0
                d_out[c] = p_soft[c] - (1.0 if c == LA.label else 0.0)
                push_event(B, LA, d_out, snap_x[c], snap_src[c], s_off, dbuf, ybuf, m_buf, db, deltas)
                m_buf += 1
                if m_buf == M:
                    flush(B, dbuf, ybuf, G, g_off)
                    m_buf = 0
        if m_buf > 0:
            flush(B, dbuf, ybuf, G, g_off)
    return STATUS_OK, info, sp_t[:n_sp], sp_h[:n_sp], sp_l[:n_sp], sp_n[:n_sp], sp_c[:n_sp], ro, stats, syn_ops, updates, G, db, loss


@njit(cache=True)
def _learning_event(B, LA, e, E, o, xs, src, s_off, dbuf, ybuf, m_buf, db, deltas, d_out, p_soft, smax, snap_x, snap_src):
    """Loss term and output error of learning event ``e``; pushes it into the buffers (or, for
    the ``max`` loss, updates the per-class argmax snapshots). Returns the loss increment."""
    n_out = o.shape[0]
    if LA.loss == 3:  # mse
        inc = 0.0
        for c in range(n_out):
            d = o[c] - LA.target[e, c]
            inc += 0.5 * d * d / E
            d_out[c] = d / E
        push_event(B, LA, d_out, xs, src, s_off, dbuf, ybuf, m_buf, db, deltas)
        return inc
    if LA.loss == 2:  # max: keep the first maximum in time of each class
        for c in range(n_out):
            if o[c] > smax[c]:
                smax[c] = o[c]
                snap_x[c, :] = xs
                snap_src[c, :] = src
        return 0.0
    if LA.loss == 1 and e != E - 1:
        return 0.0
    mx = o.max()
    tot = 0.0
    for c in range(n_out):
        p_soft[c] = np.exp(o[c] - mx)
        tot += p_soft[c]
    scale = 1.0 / E if LA.loss == 0 else 1.0
    for c in range(n_out):
        d_out[c] = (p_soft[c] / tot - (1.0 if c == LA.label else 0.0)) * scale
    push_event(B, LA, d_out, xs, src, s_off, dbuf, ybuf, m_buf, db, deltas)
    return -(o[LA.label] - mx - np.log(tot)) * scale


def prepare_inputs(net: Network, times, units, dt, t_end, readout_times):
    """Validate arguments and convert them to the kernel's clock.

    Returns ``(in_t, in_u, t_end, ro_kernel, ro_order, ro_requested, t_end_kernel)`` where
    kernel times are seconds (continuous) or step indices as float64 (grid).
    """
    t, u = check_spikes(times, units, net.n_in)
    if dt is not None:
        dt = check_dt(dt)
    t_end, ro = resolve_window(t, dt, t_end, readout_times)
    order = np.argsort(ro, kind="stable")
    ro_sorted = ro[order]
    if dt is None:
        return t, u, t_end, ro_sorted, order, ro, t_end
    in_steps = np.ceil(t / dt - STEP_TOL)
    in_steps[in_steps < 0] = 0.0
    n_end = float(np.floor(t_end / dt + STEP_TOL))
    ro_steps = np.minimum(np.floor(ro_sorted / dt + STEP_TOL), n_end)
    return in_steps, u, t_end, ro_steps, order, ro, n_end


def simulate(
    net: Network,
    times,
    units,
    dt: float | None = None,
    t_end: float | None = None,
    readout_times=None,
    *,
    learn: LearnSpec | None = None,
    label: int | None = None,
    target=None,
) -> SimulationResult:
    """Simulate one sample with the event-driven engine.

    Parameters
    ----------
    net : Network
        The network.
    times : array_like of float, shape (n_spikes,)
        Input spike times (s), finite and >= 0; need not be sorted (a stable sort is applied).
    units : array_like of int, shape (n_spikes,)
        Input channel of each spike, ``0 <= unit < net.n_in``.
    dt : float or None
        None: the continuous model (spike times found to 1e-9 s). A float: the grid model of
        step ``dt`` seconds (DESIGN.md 1.4), identical to :func:`simulate_reference`.
    t_end : float, optional
        End of the window (s); default: the last input spike time. Inputs after it are ignored.
    readout_times : array_like of float, optional
        Times (s, within ``[0, t_end]``) at which to evaluate the readout; default every 1 ms.
    learn : LearnSpec, optional
        Also compute the loss and its gradients (DESIGN.md 3, :mod:`sgevent.learning`); the
        readout is then evaluated at the learning events (``readout_times`` must be None).
    label : int, optional
        Class of the sample (cross-entropy losses).
    target : array_like, shape (n_events, n_out), optional
        Regression targets at the learning events (``mse`` loss).

    Returns
    -------
    SimulationResult
        Per hidden layer the spike events (time, neuron, height, count); the readout at the
        requested times; ``stats`` with instants, input spikes, predictions, heap pushes,
        synaptic operations and neuron-state updates per layer; with ``learn``, ``loss`` and
        ``grads`` (per layer ``{"w", "v", "b"}``).

    Raises
    ------
    InputError
        Bad times, units, dt, t_end or readout times.
    BurstLimitError
        A neuron needs more than ``max_burst`` spikes at one instant.
    EngineError
        The spike search failed to converge (a bug; please report).
    """
    if learn is not None:
        if readout_times is not None:
            raise InputError("with learn=..., the readout is evaluated at the learning events: pass readout_times=None")
        if backward_unavailable(learn):
            raise ConfigError("backward='traces' is not available in the event engine yet; use 'instant' or 'steady'")
        t_chk, _ = check_spikes(times, units, net.n_in)
        t_end_r, _ = resolve_window(t_chk, None if dt is None else check_dt(dt), t_end, None)
        readout_times = learning_times(t_end_r, learn.learn_period)
        # validates label/target shapes before any simulation (E x n_out dummy readouts)
        loss_and_output_error(np.zeros((readout_times.size, net.n_out)), learn.loss, label, target)
        t_end = t_end_r
    in_t, in_u, t_end, ro_k, order, ro_req, t_end_k = prepare_inputs(net, times, units, dt, t_end, readout_times)
    B = build(net, dt)
    LA = no_learning(net) if learn is None else make_learn_args(net, learn, ro_k.size, label, target)
    (status, info, sp_t, sp_h, sp_l, sp_n, sp_c, ro_out, stats, syn_ops, updates, G, db, loss) = run_sample(
        B, in_t, in_u, float(t_end_k), np.ascontiguousarray(ro_k, dtype=np.float64), TIME_TOL, LA
    )
    scale = 1.0 if dt is None else float(dt)
    if status == STATUS_BURST:
        raise BurstLimitError(
            f"hidden layer {int(info[0])}, neuron {int(info[1])} needs more than "
            f"max_burst={net.hidden_params[int(info[0])].max_burst} spikes at t={info[2] * scale:.9g} s; "
            "lower the weights or raise max_burst"
        )
    if status == STATUS_SEARCH:
        raise EngineError(
            f"spike search did not converge for hidden layer {int(info[0])}, neuron {int(info[1])} "
            f"at t={info[2] * scale:.9g} s"
        )
    layers = []
    for l in range(len(net.hidden)):
        m = sp_l == l
        layers.append(LayerSpikes(
            times=sp_t[m] * scale, neurons=sp_n[m].copy(), heights=sp_h[m].copy(), counts=sp_c[m].copy()
        ))
    readout = np.empty_like(ro_out)
    readout[order] = ro_out
    st = {
        "instants": int(stats[ST_INSTANTS]),
        "input_spikes": int(stats[ST_INPUTS]),
        "predictions": int(stats[ST_PREDICTIONS]),
        "heap_pushes": int(stats[ST_PUSHES]),
        "heap_compactions": int(stats[ST_COMPACTIONS]),
        "synaptic_ops": syn_ops.tolist(),
        "state_updates": updates.tolist(),
    }
    if learn is None:
        return SimulationResult(layers=layers, readout_times=ro_req, readout=readout, dt=dt, t_end=t_end, stats=st)
    return SimulationResult(
        layers=layers, readout_times=ro_req, readout=readout, dt=dt, t_end=t_end, stats=st,
        loss=float(loss), grads=grads_from_accumulators(net, G, db),
    )


def backward_unavailable(spec: LearnSpec) -> bool:
    """True for backward options the engine does not implement yet."""
    return spec.backward == "traces"
