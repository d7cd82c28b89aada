"""The phases of one instant of the event loop (:func:`sgevent.engine.loop.run_chunk`).

Each phase is a small kernel over the parameters ``B`` (:class:`~sgevent.engine.build.Built`)
and ``LA`` (:class:`~sgevent.learn.accumulate.LearnArgs`), the state ``S``
(:class:`~sgevent.engine.state.EngineState`, written in place), the scratch ``sc``
(:class:`~sgevent.numerics.scratch.Scratch`) and the chunk's inputs ``X``
(:class:`~sgevent.engine.state.RunArgs`). Cursors and per-instant counts live in the named
slots of ``S.ctr``, so a phase returns at most a status. The phases (and the two per-layer
helpers ``_deliver_below`` and ``_check_neurons``) are inlined into ``run_chunk`` at Numba IR level
(``inline="always"``): a call that takes the nested state pays a reference count per array it
carries (about 1 us per phase call, measured), inlined it pays none; bit-identical
(``bench/identity.py``), 10-13% less CPU time on the network of ``bench/vs_brian2.py``.
In the order of an instant ``t``:

1. :func:`next_instant`: the earliest of the next input and the next valid prediction;
2. :func:`serve_readouts`: readouts and learning events due before ``t`` (may pause the chunk);
3. :func:`deliver_inputs`: bring hidden layer 0 to ``t`` and add every input spike at ``t``;
4. :func:`pop_due`: pop the predictions due at ``t`` (stale versions dropped);
5. :func:`switch_gates`: the gate switches due at ``t`` (``traces``);
6. :func:`update_hidden`, layer by layer: bring the layer to ``t``, add the spikes of the layer
   below, fire every neuron at threshold (a burst) and re-predict the neurons it checked;
7. :func:`deliver_to_readout`: the last hidden layer's spikes into the readout layer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sgevent.engine.emit import error_at, fire, push_prediction, record, spike_source
from sgevent.engine.layer import (
    add_jump,
    add_jump_lazy,
    bring_layer,
    fan_out,
    is_lazy,
    layer_views,
    may_cross,
    predict_at,
    push_gate,
    signal,
    stats_at,
)
from sgevent.engine.lazy import check_lazy
from sgevent.engine.state import (
    C_HSIZE,
    C_INPUT,
    C_MBUF,
    C_N_FORCED,
    C_N_GATES,
    C_N_PREV,
    C_N_SPIKES,
    C_N_THIS,
    C_N_TOUCHED,
    C_P_IN,
    C_P_RO,
    C_START,
    C_SYNCED,
    ST_GATES,
    ST_INPUTS,
    ST_INSTANTS,
    ST_PREDICTIONS,
    STATUS_BUDGET,
    STATUS_BURST,
    STATUS_OK,
    STATUS_PAUSED,
    STATUS_SEARCH,
)
from sgevent.learn.accumulate import (
    LOSS_LAST,
    LOSS_MAX,
    LOSS_MSE,
    advance_source,
    flush,
    penalty_loss,
    push_event,
    sync_sources,
)
from sgevent.learn.traces import flush_all_acc, gate_switch, push_traces
from sgevent.numerics.queue import heap_pop

__all__ = ["next_instant", "serve_readouts", "deliver_inputs", "pop_due", "switch_gates", "update_hidden",
           "deliver_to_readout", "count_instant"]


@njit(cache=True, inline="always")
def next_instant(S, X):
    """Drop stale predictions from the top of the heap; return the next instant: the earliest
    of the next input and the next valid prediction (``0`` for a start instant, ``inf`` if none)."""
    hp = S.heap
    ver = S.neurons.ver
    hsize = S.ctr[C_HSIZE]
    while hsize > 0 and hp.ver[0] != ver[hp.nid[0]]:
        hsize = heap_pop(hp.t, hp.seq, hp.nid, hp.ver, hsize)
    S.ctr[C_HSIZE] = hsize
    t_heap = hp.t[0] if hsize > 0 else np.inf
    p_in = S.ctr[C_P_IN]
    t_inp = X.in_t[p_in] if p_in < X.in_t.shape[0] else np.inf
    return 0.0 if S.ctr[C_START] == 1 else min(t_heap, t_inp)


@njit(cache=True)
def _read_out(B, S, sc, p_ro, tr_t):
    """Readout ``p_ro`` at ``tr_t``: bring the readout layer there and record ``o``."""
    lr = B.n_post.shape[0] - 1
    bring_layer(B, S.neurons, sc, lr, tr_t)
    S.out.updates[lr] += B.n_post[lr]
    z = S.neurons.z
    for j in range(B.n_post[lr]):
        S.out.ro[p_ro, j] = signal(B, lr, j, z)


@njit(cache=True)
def _learning_loss(B, LA, S, e, o, m_buf):
    """Loss term and output error of learning event ``e`` (readout ``o``); pushes it into the
    buffers (``max`` loss: updates the per-class argmax snapshots). Events before ``LA.e_first``
    (``last``, ``onset``) are not in the loss. Returns the loss increment, with the rate
    penalty's share (``LA.rate``)."""
    Ls = S.learn
    n_out = o.shape[0]
    E = LA.n_events
    d_out = Ls.d_out
    if LA.loss == LOSS_MSE:
        inc = 0.0
        for c in range(n_out):
            d = o[c] - LA.target[e, c]
            inc += 0.5 * d * d / E
            d_out[c] = d / E
        push_event(B, LA, S, d_out, Ls.xs, Ls.src, m_buf)
        if LA.rate != 0.0:
            inc += penalty_loss(B, LA, Ls.xs)
        return inc
    if LA.loss == LOSS_MAX:  # keep the first maximum in time of each class
        for c in range(n_out):
            if o[c] > Ls.smax[c]:
                Ls.smax[c] = o[c]
                Ls.snap_x[c, :] = Ls.xs
                Ls.snap_src[c, :] = Ls.src
        return 0.0
    if e < LA.e_first:
        return 0.0
    mx = o.max()
    tot = 0.0
    for c in range(n_out):
        Ls.p_soft[c] = np.exp(o[c] - mx)
        tot += Ls.p_soft[c]
    scale = 1.0 if LA.loss == LOSS_LAST else 1.0 / (E - LA.e_first)  # mean, onset: 1/E'
    for c in range(n_out):
        d_out[c] = (Ls.p_soft[c] / tot - (1.0 if c == LA.label else 0.0)) * scale
    push_event(B, LA, S, d_out, Ls.xs, Ls.src, m_buf)
    inc = -(o[LA.label] - mx - np.log(tot)) * scale
    if LA.rate != 0.0:
        inc += penalty_loss(B, LA, Ls.xs)
    return inc


@njit(cache=True)
def _event_gates(B, LA, S, sc, t):
    """The gates at a learning event are ``[x > 0]`` (settles sub-tolerance ties; traces)."""
    for l in range(B.n_post.shape[0] - 1):
        for j in range(B.n_post[l]):
            g = B.post_off[l] + j
            ng = 1.0 if S.learn.xs[g] > 0.0 else 0.0
            if ng != S.traces.gate[g]:
                gate_switch(B, LA, S, sc, l, j, t, ng)


@njit(cache=True)
def _learning_event(B, LA, S, sc, e, t):
    """Learning event ``e`` at ``t`` (after its readout): bring the hidden layers and every
    source to ``t``, then the loss, the backward pass and the buffers (flushed when full)."""
    tr = LA.traces
    z = S.neurons.z
    for l in range(B.n_post.shape[0] - 1):
        bring_layer(B, S.neurons, sc, l, t)
        for j in range(B.n_post[l]):
            S.learn.xs[B.post_off[l] + j] = signal(B, l, j, z)
    sync_sources(B, S, sc, t, -1)
    if tr:
        _event_gates(B, LA, S, sc, t)
    m_buf = S.ctr[C_MBUF]
    S.out.loss[0] += _learning_loss(B, LA, S, e, S.out.ro[e], m_buf)
    in_loss = e >= LA.e_first
    if tr and in_loss:
        push_traces(B, LA, S, sc, m_buf, t)
    if LA.loss != LOSS_MAX and in_loss:
        m_buf += 1
        if m_buf == LA.buffer:
            flush(B, LA, S)
            m_buf = 0
        S.ctr[C_MBUF] = m_buf


@njit(cache=True, inline="always")
def serve_readouts(B, LA, S, sc, X, t):
    """Serve, in time order, every readout (and learning event) before ``t`` (all of them once
    ``t > t_end``). Returns ``STATUS_PAUSED`` right after the ``X.stop_at``-th one (buffers and
    traces folded into ``G``, so the weights may change), else ``STATUS_OK``."""
    ro_t = X.ro_t
    while S.ctr[C_P_RO] < ro_t.shape[0] and (ro_t[S.ctr[C_P_RO]] < t or t > X.t_end):
        p_ro = S.ctr[C_P_RO]
        _read_out(B, S, sc, p_ro, ro_t[p_ro])
        if LA.active:
            _learning_event(B, LA, S, sc, p_ro, ro_t[p_ro])
        S.ctr[C_P_RO] = p_ro + 1
        if p_ro + 1 == X.stop_at:
            if LA.active and S.ctr[C_MBUF] > 0:
                flush(B, LA, S)
                S.ctr[C_MBUF] = 0
            if LA.active and LA.traces:
                flush_all_acc(B, S)
            return STATUS_PAUSED
    return STATUS_OK


@njit(cache=True, inline="always")
def deliver_inputs(B, LA, S, sc, X, t):
    """Input spikes at ``t``: bring hidden layer 0 to ``t`` and add each spike's jumps (and,
    when learning, its height to the channel's own buckets). Sets ``ctr[C_INPUT]``."""
    ctr = S.ctr
    p_in = ctr[C_P_IN]
    n_in = X.in_t.shape[0]
    has_input = p_in < n_in and X.in_t[p_in] == t
    ctr[C_INPUT] = 1 if has_input else 0
    ctr[C_N_TOUCHED] = 0
    if not has_input:
        return
    lazy = is_lazy(B, 0)
    if not lazy:
        bring_layer(B, S.neurons, sc, 0, t)
        S.out.updates[0] += B.n_post[0]
    K = B.K
    z = S.neurons.z
    src = S.learn.src
    s_off = S.learn.s_off
    while p_in < n_in and X.in_t[p_in] == t:
        u = X.in_u[p_in]
        if LA.active:
            advance_source(B, S, sc, 0, u, t)
            src[s_off[0] + u * K] += B.h_in
        if lazy:
            S.out.updates[0] += add_jump_lazy(B, S.neurons, sc, S.inst.touched, ctr, 0, u, B.h_in, t)
        else:
            add_jump(B, 0, u, B.h_in, z)
        S.out.syn_ops[0] += fan_out(B, 0, u)
        S.out.stats[ST_INPUTS] += 1
        p_in += 1
    ctr[C_P_IN] = p_in


@njit(cache=True, inline="always")
def pop_due(B, S, t):
    """Pop every heap entry due at ``t``; valid spike predictions go to ``inst.forced_ids`` (and
    ``neurons.forced``), valid gate switches to ``inst.gate_ids``. Sets ``C_N_FORCED, C_N_GATES``."""
    hp = S.heap
    ver = S.neurons.ver
    forced = S.neurons.forced
    forced_ids = S.inst.forced_ids
    gate_ids = S.inst.gate_ids
    n_tot = B.post_off[B.n_post.shape[0]]
    hsize = S.ctr[C_HSIZE]
    n_forced = 0
    n_gates = 0
    while hsize > 0 and hp.t[0] == t:
        nid = hp.nid[0]
        if hp.ver[0] == ver[nid]:
            if nid >= n_tot:
                gate_ids[n_gates] = nid - n_tot
                n_gates += 1
            else:
                forced[nid] = True
                forced_ids[n_forced] = nid
                n_forced += 1
        hsize = heap_pop(hp.t, hp.seq, hp.nid, hp.ver, hsize)
    S.ctr[C_HSIZE] = hsize
    S.ctr[C_N_FORCED] = n_forced
    S.ctr[C_N_GATES] = n_gates


@njit(cache=True)
def _check_gate(B, LA, S, sc, l, j, t, x):
    """Switch neuron j's gate if ``[x > 0]`` changed, first synchronising the sources of layer
    ``l`` to ``t`` (once per instant and layer: ``ctr[C_SYNCED]``)."""
    g = B.post_off[l] + j
    ng = 1.0 if x > 0.0 else 0.0
    if ng != S.traces.gate[g]:
        if S.ctr[C_SYNCED] != l:
            sync_sources(B, S, sc, t, l)
            S.ctr[C_SYNCED] = l
        gate_switch(B, LA, S, sc, l, j, t, ng)
        S.out.stats[ST_GATES] += 1


@njit(cache=True, inline="always")
def switch_gates(B, LA, S, sc, X, t, horizon):
    """The gate switches popped at ``t`` (traces): bring the neuron's layer to ``t``, switch if
    ``[x > 0]`` changed, and predict the next switch."""
    nr, gate, heap, ctr = S.neurons, S.traces.gate, S.heap, S.ctr
    for q in range(ctr[C_N_GATES]):
        g = S.inst.gate_ids[q]
        l = 0
        while B.post_off[l + 1] <= g:
            l += 1
        j = g - B.post_off[l]
        bring_layer(B, nr, sc, l, t)
        x = signal(B, l, j, nr.z)
        if (1.0 if x > 0.0 else 0.0) != gate[g]:
            _check_gate(B, LA, S, sc, l, j, t, x)
        push_gate(B, nr, gate, heap, ctr, sc, l, j, (t, horizon), X.tol)


@njit(cache=True)
def _layer_flags(B, S, l):
    """``(touched, check_all)`` of hidden layer ``l`` at this instant: it received spikes (layer
    0: inputs), and every neuron is to be checked (input or start instant, or touched). A lazy
    layer checks every neuron at the start instant only (its touched neurons are listed)."""
    has_input = S.ctr[C_INPUT] == 1
    touched = has_input if l == 0 else S.ctr[C_N_PREV] > 0
    if is_lazy(B, l):
        return touched, S.ctr[C_START] == 1
    return touched, has_input or touched or S.ctr[C_START] == 1


@njit(cache=True)
def _in_layer(B, S, l):
    """How many of the popped predictions belong to layer ``l``."""
    p0 = B.post_off[l]
    n = 0
    for q in range(S.ctr[C_N_FORCED]):
        if S.inst.forced_ids[q] >= p0 and S.inst.forced_ids[q] < p0 + B.n_post[l]:
            n += 1
    return n


@njit(cache=True, inline="always")
def _deliver_below(B, S, sc, l, t):
    """Bring hidden layer l to ``t`` (layer 0 was, with the inputs) and add the spikes of the
    layer below (``inst.cur_ids[:C_N_PREV]``)."""
    n_post = B.n_post[l]
    if is_lazy(B, l):  # the receptive fields only, each neuron brought to t as it is reached
        if l > 0:
            S.ctr[C_N_TOUCHED] = 0
        for q in range(S.ctr[C_N_PREV]):
            i = S.inst.cur_ids[q]
            S.out.updates[l] += add_jump_lazy(B, S.neurons, sc, S.inst.touched, S.ctr, l, i, S.inst.cur_h[q], t)
            S.out.syn_ops[l] += fan_out(B, l, i)
        return
    if l > 0 or S.ctr[C_INPUT] == 0:
        bring_layer(B, S.neurons, sc, l, t)
        S.out.updates[l] += n_post
    for q in range(S.ctr[C_N_PREV]):
        add_jump(B, l, S.inst.cur_ids[q], S.inst.cur_h[q], S.neurons.z)
        S.out.syn_ops[l] += fan_out(B, l, S.inst.cur_ids[q])


@njit(cache=True, inline="always")
def _check_neurons(B, LA, S, sc, X, sp, l, when):
    """Check the neurons of hidden layer l at ``when = (t, horizon)`` (every one, or those whose
    prediction popped): gate (traces), burst, record, re-predict. The arrays are hoisted here:
    per-neuron calls take arrays, never the whole state (each array argument costs a reference
    count). Returns the status; this layer's spikes are stashed after the layer below's list."""
    t = when[0]
    nr, ctr, info, stats = S.neurons, S.ctr, S.out.info, S.out.stats
    heap, cur_ids, cur_h, forced_ids = S.heap, S.inst.cur_ids, S.inst.cur_h, S.inst.forced_ids
    ver, gate = nr.ver, S.traces.gate
    V = layer_views(B, nr, l)  # indexed by j below (the layer's offsets and wraparound spared)
    touched, check_all = _layer_flags(B, S, l)
    tr = LA.active and LA.traces
    hp = (B.theta_0[l], B.spike_gain[l], B.m_f[l], B.max_burst[l])
    p0, n_post, n_prev = B.post_off[l], B.n_post[l], ctr[C_N_PREV]
    n_this = 0
    for q in range(n_post if check_all else ctr[C_N_FORCED]):
        j = q if check_all else forced_ids[q] - p0
        if j < 0 or j >= n_post:
            continue
        g = p0 + j
        force = V.forced[j] and not touched
        V.forced[j] = False
        st = stats_at(V, j)
        if tr:  # the gate [x > 0] where the neuron is checked, and its next switch
            if (1.0 if st[0] > 0.0 else 0.0) != gate[g]:
                _check_gate(B, LA, S, sc, l, j, t, st[0])
            if check_all:
                push_gate(B, nr, gate, heap, ctr, sc, l, j, when, X.tol)
        count, height = fire(V.y0, V.thd, j, st[0], force, hp)
        if count < 0:
            error_at(info, l, j, t)
            return STATUS_BURST
        if count > 0:
            record(sp, ctr, l, j, t, height, count)
            if LA.active:
                spike_source(B, S, sc, l, j, t, height)
            cur_ids[n_prev + n_this] = j
            cur_h[n_prev + n_this] = height
            n_this += 1
            if ctr[C_N_SPIKES] > X.spike_budget:
                error_at(info, l, j, t)
                return STATUS_BUDGET
        # re-predict: a new version, and the next crossing unless the bound rules it out
        V.ver[j] += 1
        stats[ST_PREDICTIONS] += 1
        if may_cross(B, l, st, V.y0[j], V.thd[j], when[1] - t):
            s = predict_at(B, V, sc, l, j, t, when[1], X.tol)
            if s != s:
                error_at(info, l, j, t)
                return STATUS_SEARCH
            if s < np.inf:
                push_prediction(heap, ver, ctr, stats, t + s, g)
    ctr[C_N_THIS] = n_this
    return STATUS_OK


@njit(cache=True, inline="always")
def update_hidden(B, LA, S, sc, X, sp, l, when):
    """Hidden layer ``l`` at ``when = (t, horizon)``: bring it to ``t``, add the spikes of the
    layer below (zero delay), then check neurons and re-predict them with the horizon: every
    neuron at an input instant or when the layer received spikes, else only those whose
    prediction popped (a valid prediction in an untouched layer fires at least once: it proved
    the crossing). This layer's spikes (``sp`` and ``inst.cur_ids``) become the next layer's
    input. Returns a status."""
    ctr = S.ctr
    lazy = is_lazy(B, l)
    touched, check_all = _layer_flags(B, S, l)
    if not (check_all or (lazy and touched)) and _in_layer(B, S, l) == 0:
        ctr[C_N_PREV] = 0
        return STATUS_OK
    _deliver_below(B, S, sc, l, when[0])
    if lazy:
        status = check_lazy(B, LA, S, sc, X, sp, l, when[0])
    else:
        status = _check_neurons(B, LA, S, sc, X, sp, l, when)
    if status != STATUS_OK:
        return status
    n_prev, n_this = ctr[C_N_PREV], ctr[C_N_THIS]
    cur_ids, cur_h = S.inst.cur_ids, S.inst.cur_h
    for q in range(n_this):
        cur_ids[q] = cur_ids[n_prev + q]
        cur_h[q] = cur_h[n_prev + q]
    ctr[C_N_PREV] = n_this
    return STATUS_OK


@njit(cache=True, inline="always")
def deliver_to_readout(B, S, sc, t):
    """The last hidden layer's spikes at ``t`` (``inst.cur_ids[:C_N_PREV]``) into the readout."""
    n_prev = S.ctr[C_N_PREV]
    if n_prev == 0:
        return
    lr = B.n_post.shape[0] - 1
    n_out = B.n_post[lr]
    bring_layer(B, S.neurons, sc, lr, t)
    S.out.updates[lr] += n_out
    for q in range(n_prev):
        add_jump(B, lr, S.inst.cur_ids[q], S.inst.cur_h[q], S.neurons.z)
        S.out.syn_ops[lr] += fan_out(B, lr, S.inst.cur_ids[q])


@njit(cache=True, inline="always")
def count_instant(S):
    """One more instant processed (``ST_INSTANTS``)."""
    S.out.stats[ST_INSTANTS] += 1

