"""Hidden conv layers advanced lazily: only the neurons a spike reaches (or whose prediction
pops) are brought to the present and checked (``simulate(conv_mode="lazy")``;
:mod:`sgevent.engine.phases` calls :func:`check_lazy`). Exact (the same spikes as the whole-layer
mode, tested) but not yet faster: each touched neuron computes its own propagator."""

from __future__ import annotations

import numpy as np
from numba import njit

from sgevent.engine.emit import error_at, fire, push_prediction, record, spike_source
from sgevent.engine.layer import bring_neuron, layer_views, may_cross, predict_at, stats_at
from sgevent.engine.state import (
    C_N_FORCED,
    C_N_PREV,
    C_N_SPIKES,
    C_N_THIS,
    C_N_TOUCHED,
    C_START,
    ST_PREDICTIONS,
    STATUS_BUDGET,
    STATUS_BURST,
    STATUS_OK,
    STATUS_SEARCH,
)

__all__ = ["check_lazy"]


@njit(cache=True)
def _candidate(B, S, l, q, check_all, n_touched):
    """The ``q``-th neuron to check (-1: skip it): every neuron at the start instant, else the
    touched ones, then the popped ones of this layer that were not touched."""
    if check_all:
        return q
    if q < n_touched:
        return S.inst.touched[q]
    j = S.inst.forced_ids[q - n_touched] - B.post_off[l]
    if j < 0 or j >= B.n_post[l] or S.neurons.mark[B.post_off[l] + j]:
        return -1  # another layer's, or already checked as touched
    return j


@njit(cache=True)
def _repredict(B, S, V, sc, X, l, j, t, st):
    """New version of neuron ``j``'s prediction: its next crossing within the lookahead, else a
    re-check at the lookahead unless it is provably silent for ever (``V``: the layer's
    :class:`~sgevent.engine.layer.Views`). Returns False if the search failed."""
    nr, ctr, stats = S.neurons, S.ctr, S.out.stats
    g = B.post_off[l] + j
    V.ver[j] += 1
    stats[ST_PREDICTIONS] += 1
    h_abs = min(X.t_end, t + B.lookahead)
    s = np.inf
    if may_cross(B, l, st, V.y0[j], V.thd[j], h_abs - t):
        s = predict_at(B, V, sc, l, j, t, h_abs, X.tol)
        if s != s:
            return False
    nr.recheck[g] = False
    if s < np.inf:
        push_prediction(S.heap, nr.ver, ctr, stats, t + s, g)
    elif h_abs < X.t_end and st[3] >= B.theta_0[l]:  # not provably silent for ever: look again
        nr.recheck[g] = True
        push_prediction(S.heap, nr.ver, ctr, stats, h_abs, g)
    return True


@njit(cache=True)
def check_lazy(B, LA, S, sc, X, sp, l, t):
    """Check the neurons of lazy layer ``l`` at ``t``: those that received a jump at ``t``
    (``inst.touched``), then those whose prediction popped (brought to ``t`` first), every
    one at the start instant. As ``_check_neurons`` of :mod:`sgevent.engine.phases` (burst,
    record, re-predict), except that a popped neuron fires at least once unless it received a
    jump itself or its prediction was a re-check, and that the horizon does not stop at the next
    input: a neuron's state evolves on its own until a spike reaches it, and every neuron a
    spike reaches is re-predicted. The search runs ``B.lookahead`` ahead (the safe stepping of
    :mod:`sgevent.numerics.crossing` costs more the longer the horizon); a neuron that is not
    provably silent for ever (its bound ``x_max >= theta_0``) but does not cross within it is
    re-checked there (``nr.recheck``), with its decayed state and a tighter bound. Clears the
    marks. Returns the status."""
    nr, ctr, info = S.neurons, S.ctr, S.out.info
    V = layer_views(B, nr, l)
    cur_ids, cur_h, touched = S.inst.cur_ids, S.inst.cur_h, S.inst.touched
    hp = (B.theta_0[l], B.spike_gain[l], B.m_f[l], B.max_burst[l])
    p0, n_prev = B.post_off[l], ctr[C_N_PREV]
    check_all = ctr[C_START] == 1
    n_touched = ctr[C_N_TOUCHED]
    n_this = 0
    status = STATUS_OK
    for q in range(B.n_post[l] if check_all else n_touched + ctr[C_N_FORCED]):
        j = _candidate(B, S, l, q, check_all, n_touched)
        if j < 0:
            continue
        g = p0 + j
        S.out.updates[l] += bring_neuron(B, nr, sc, l, j, t)
        force = nr.forced[g] and not nr.mark[g] and not nr.recheck[g]
        nr.forced[g] = False
        st = stats_at(V, j)
        count, height = fire(nr.y0, nr.thd, g, st[0], force, hp)
        if count < 0:
            status = STATUS_BURST
        elif count > 0:
            record(sp, ctr, l, j, t, height, count)
            if LA.active:
                spike_source(B, S, sc, l, j, t, height)
            cur_ids[n_prev + n_this] = j
            cur_h[n_prev + n_this] = height
            n_this += 1
            if ctr[C_N_SPIKES] > X.spike_budget:
                status = STATUS_BUDGET
        if status == STATUS_OK and not _repredict(B, S, V, sc, X, l, j, t, st):
            status = STATUS_SEARCH
        if status != STATUS_OK:
            error_at(info, l, j, t)
            break
    for q in range(n_touched):
        nr.mark[p0 + touched[q]] = False
    ctr[C_N_TOUCHED] = 0
    ctr[C_N_THIS] = n_this
    return status
