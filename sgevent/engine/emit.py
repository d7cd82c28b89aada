"""Emitting spikes and predictions: the per-neuron steps shared by the loop's phases
(:mod:`sgevent.engine.phases`) and the lazy conv-layer check (:mod:`sgevent.engine.lazy`)."""

from __future__ import annotations

from numba import njit

from sgevent.engine.layer import schedule
from sgevent.engine.state import C_N_EVENTS, C_N_SPIKES, INFO_LAYER, INFO_NEURON, INFO_TIME, ST_COMPACTIONS, ST_PUSHES
from sgevent.learn.accumulate import advance_source

__all__ = ["fire", "error_at", "record", "spike_source", "push_prediction"]


@njit(cache=True, inline="always")
def fire(y0, thd, g, x, force, hp):
    """Fire neuron ``g`` while ``relu(x) - yhat0 >= theta`` (at least once if ``force``): a
    burst; ``hp = (theta_0, spike_gain, m_f, max_burst)`` of its layer. Writes ``y0, thd``.
    Returns the spike count (-1 past ``max_burst``) and the event's total height."""
    theta_0, spike_gain, m_f, max_burst = hp
    y = x if x > 0.0 else 0.0
    theta = theta_0 + thd[g]
    count = 0
    height = 0.0
    while force or y - y0[g] >= theta:
        force = False
        if count >= max_burst:
            return -1, height
        y0[g] += spike_gain * theta
        height += spike_gain * theta
        thd[g] += m_f * theta
        theta = theta_0 + thd[g]
        count += 1
    return count, height


@njit(cache=True, inline="always")
def error_at(info, l, j, t):
    """Where the loop stopped with an error (``out.info``)."""
    info[INFO_LAYER] = l
    info[INFO_NEURON] = j
    info[INFO_TIME] = t


@njit(cache=True, inline="always")
def record(sp, ctr, l, j, t, height, count):
    """Append the spike event to ``sp`` (capacity ensured by the loop) and count its spikes."""
    n = ctr[C_N_EVENTS]
    sp.t[n] = t
    sp.h[n] = height
    sp.l[n] = l
    sp.n[n] = j
    sp.c[n] = count
    ctr[C_N_EVENTS] = n + 1
    ctr[C_N_SPIKES] += count


@njit(cache=True)
def spike_source(B, S, sc, l, j, t, height):
    """Learning: bring neuron j of hidden layer l (a source of layer l+1) to ``t``, add the height."""
    advance_source(B, S, sc, l + 1, j, t)
    S.learn.src[S.learn.s_off[l + 1] + j * B.K] += height


@njit(cache=True, inline="always")
def push_prediction(heap, ver, ctr, stats, t_s, g):
    """Push neuron g's prediction at ``t_s``, counting pushes and compactions."""
    if schedule(heap, ver, ctr, t_s, g):
        stats[ST_COMPACTIONS] += 1
    stats[ST_PUSHES] += 1
