"""The event-driven engine: one sample, exact in continuous time or on a grid (DESIGN.md 2).

Semantics (the same sequence as DESIGN.md 1.4, at event instants only)
----------------------------------------------------------------------
The engine jumps from instant to instant. An instant is the time of an input spike or of a
predicted threshold crossing (the top of the event heap). At an instant ``t``
(:mod:`sgevent.engine.phases` holds one kernel per step):

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

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.engine.layer import is_lazy, predict, push_gate, schedule, signal
from sgevent.engine.phases import (
    count_instant,
    deliver_inputs,
    deliver_to_readout,
    next_instant,
    pop_due,
    serve_readouts,
    switch_gates,
    update_hidden,
)
from sgevent.engine.state import (
    C_MBUF,
    C_N_EVENTS,
    C_N_PREV,
    C_P_IN,
    C_START,
    C_SYNCED,
    ST_GATES,
    STATUS_OK,
)
from sgevent.learn.accumulate import LOSS_MAX, flush, push_event
from sgevent.learn.traces import flush_all_acc, gate_switch
from sgevent.numerics.scratch import make_scratch

__all__ = ["run_chunk", "after_update", "finish_learning", "Spikes", "TIME_TOL"]

TIME_TOL = 1e-9  # continuous spike-time tolerance (s)
SPIKES_CAPACITY = 1024  # first capacity of a chunk's spike record (doubled when needed)


class Spikes(NamedTuple):
    """A chunk's spike events, in emission order (``ctr[C_N_EVENTS]`` of them are filled)."""

    t: np.ndarray   # time (s or step)
    h: np.ndarray   # height
    l: np.ndarray   # int64 hidden layer
    n: np.ndarray   # int64 neuron within the layer
    c: np.ndarray   # int64 spike count (a burst)


@njit(cache=True)
def _spikes(n):
    return Spikes(t=np.empty(n), h=np.empty(n), l=np.empty(n, dtype=np.int64), n=np.empty(n, dtype=np.int64),
                  c=np.empty(n, dtype=np.int64))


@njit(cache=True)
def _grow(sp, n_used, n_more):
    """A copy of ``sp`` (first ``n_used`` events) with room for ``n_more`` more."""
    cap = sp.t.shape[0]
    while cap < n_used + n_more:
        cap *= 2
    new = _spikes(cap)
    new.t[:n_used] = sp.t[:n_used]
    new.h[:n_used] = sp.h[:n_used]
    new.l[:n_used] = sp.l[:n_used]
    new.n[:n_used] = sp.n[:n_used]
    new.c[:n_used] = sp.c[:n_used]
    return new


@njit(cache=True, nogil=True)
def run_chunk(B, LA, S, X):
    """Run the event loop of one sample on the built network ``B`` from state ``S``.

    Parameters
    ----------
    B : Built
        Flat network arrays (:func:`sgevent.engine.build.build`).
    LA : LearnArgs
        Learning inputs; when ``LA.active`` the readout times are the learning events.
    S : EngineState
        Loop state (:func:`sgevent.engine.state.init_state`), updated in place.
    X : RunArgs
        The inputs, window, readout times, tolerance, pause point and spike budget
        (:class:`sgevent.engine.state.RunArgs`).

    Returns
    -------
    status : int
        ``STATUS_*`` of :mod:`sgevent.engine.state`: done, burst limit exceeded, spike search
        failed, paused at ``X.stop_at``, spike budget exceeded.
    sp : Spikes
        Spike events of this chunk (time, height, layer, neuron, count), in emission order.

    Notes
    -----
    Readouts and learning events at ``t_r`` are served once every event at or before ``t_r``
    is processed; a pause happens right after one, between two instants, so the state is
    consistent and the weights may change before :func:`after_update` and the next chunk.
    """
    ctr = S.ctr
    sc = make_scratch(B.K, B.R)
    sp = _spikes(SPIKES_CAPACITY)
    ctr[C_N_EVENTS] = 0
    n_hid = B.n_post.shape[0] - 1
    status = STATUS_OK
    while True:
        t = next_instant(S, X)
        status = serve_readouts(B, LA, S, sc, X, t)
        if status != STATUS_OK or t > X.t_end:
            break
        count_instant(S)
        deliver_inputs(B, LA, S, sc, X, t)
        pop_due(B, S, t)
        p_in = ctr[C_P_IN]
        horizon = min(X.in_t[p_in] if p_in < X.in_t.shape[0] else np.inf, X.t_end)
        ctr[C_SYNCED] = -1
        switch_gates(B, LA, S, sc, X, t, horizon)
        ctr[C_N_PREV] = 0
        for l in range(n_hid):
            if ctr[C_N_EVENTS] + B.n_post[l] > sp.t.shape[0]:  # grow between phases, never inside one
                sp = _grow(sp, ctr[C_N_EVENTS], B.n_post[l])
            status = update_hidden(B, LA, S, sc, X, sp, l, (t, horizon))
            if status != STATUS_OK:
                break
        if status != STATUS_OK:
            break
        ctr[C_START] = 0
        deliver_to_readout(B, S, sc, t)
    n = ctr[C_N_EVENTS]
    return status, Spikes(t=sp.t[:n], h=sp.h[:n], l=sp.l[:n], n=sp.n[:n], c=sp.c[:n])


@njit(cache=True)
def finish_learning(B, LA, S):
    """End of a learning sample: the ``max`` loss's backward passes and the last flush."""
    Ls = S.learn
    n_out = B.n_post[B.n_post.shape[0] - 1]
    m_buf = S.ctr[C_MBUF]
    if LA.loss == LOSS_MAX:  # max over time: backward from each class's argmax snapshot
        mx = Ls.smax.max()
        tot = 0.0
        for c in range(n_out):
            Ls.p_soft[c] = np.exp(Ls.smax[c] - mx)
            tot += Ls.p_soft[c]
        for c in range(n_out):
            Ls.p_soft[c] /= tot
        S.out.loss[0] = -np.log(Ls.p_soft[LA.label])
        for c in range(n_out):
            Ls.d_out[:] = 0.0
            Ls.d_out[c] = Ls.p_soft[c] - (1.0 if c == LA.label else 0.0)
            push_event(B, LA, S, Ls.d_out, Ls.snap_x[c], Ls.snap_src[c], m_buf)
            m_buf += 1
            if m_buf == LA.buffer:
                flush(B, LA, S)  # (no traces with 'max': LA.vk == 1)
                m_buf = 0
    if m_buf > 0:
        flush(B, LA, S)
    if LA.traces:
        flush_all_acc(B, S)
    S.ctr[C_MBUF] = 0


@njit(cache=True)
def _reaggregate(B, S):
    """Every neuron's cascade states from the per-source buckets and the (new) weights."""
    K = B.K
    R = B.R
    for l in range(B.n_post.shape[0]):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        Y = S.learn.src[S.learn.s_off[l]:S.learn.s_off[l + 1]].reshape(n_pre, K)
        if B.sparse[l]:  # z[post_e, r, k] = sum_e jump[e, r] Y[pre_e, k] over the entries
            z = S.neurons.z
            za, ja, fa, pa = B.c_off[l], B.jump_off[l], B.fo_off[l], B.ptr_off[l]
            z[za:B.c_off[l + 1]] = 0.0
            for i in range(n_pre):
                for e in range(B.fo_ptr[pa + i], B.fo_ptr[pa + i + 1]):
                    row = B.fo_post[fa + e] * R
                    for r in range(R):
                        h = B.jump[ja + e * R + r]
                        for k in range(K):
                            z[za + (row + r) * K + k] += h * Y[i, k]
            continue
        J = B.jump[B.jump_off[l]:B.jump_off[l + 1]].reshape(n_pre, n_post * R)
        zl = S.neurons.z[B.c_off[l]:B.c_off[l + 1]].reshape(n_post * R, K)
        zl[:, :] = np.dot(J.T, Y)  # z[j, r, k] = sum_i jump[i, j, r] Y[i, k]


@njit(cache=True)
def after_update(B, LA, S, X, t):
    """After the weights changed at time ``t`` (between chunks): re-aggregate every neuron's
    cascade states from the per-source buckets with the new weights, invalidate every pending
    prediction and predict every hidden neuron afresh (in grid mode from the next step on).
    With traces, the gates ``[x > 0]`` are re-evaluated with the new weights and re-predicted."""
    _reaggregate(B, S)
    sc = make_scratch(B.K, B.R)
    tr = LA.active and LA.traces
    p_in = S.ctr[C_P_IN]
    horizon = min(X.in_t[p_in] if p_in < X.in_t.shape[0] else np.inf, X.t_end)
    for l in range(B.n_post.shape[0] - 1):
        lazy = is_lazy(B, l)  # its predictions run to the end of the window (sgevent.engine.phases)
        for j in range(B.n_post[l]):
            g = B.post_off[l] + j
            if tr:
                # continuous: the new weights act from t on, so the gate switches now (the
                # sources are at t: the pause follows a learning event); grid: step t was
                # computed with the old weights, so a switch is searched from the next step
                ng = 1.0 if signal(B, l, j, S.neurons.z) > 0.0 else 0.0
                if ng != S.traces.gate[g] and not B.grid:
                    gate_switch(B, LA, S, sc, l, j, t, ng)
                    S.out.stats[ST_GATES] += 1
                push_gate(B, S.neurons, S.traces.gate, S.heap, S.ctr, sc, l, j, (t, horizon), X.tol)
            S.neurons.ver[g] += 1
            h_abs = min(X.t_end, t + B.lookahead) if lazy else horizon
            s = predict(B, S.neurons, sc, l, j, t, h_abs, X.tol)
            S.neurons.recheck[g] = False
            if s < np.inf:
                schedule(S.heap, S.neurons.ver, S.ctr, t + s, g)
            elif lazy and h_abs < X.t_end:  # look again there (sgevent.engine.phases._check_lazy)
                S.neurons.recheck[g] = True
                schedule(S.heap, S.neurons.ver, S.ctr, h_abs, g)
