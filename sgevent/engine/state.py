"""The event loop's complete state, so that a sample can run in chunks.

Everything :func:`sgevent.engine.loop.run_chunk` carries from one instant to the next lives in an
:class:`EngineState`, grouped as NEST groups a precise-spiking model's data (the parameters are
the :class:`~sgevent.engine.build.Built` network and the
:class:`~sgevent.learn.accumulate.LearnArgs`; scratch is :class:`~sgevent.numerics.scratch.Scratch`):

* ``neurons`` (:class:`NeuronState`): cascade states, own buckets, thresholds, versions;
* ``heap`` (:class:`~sgevent.numerics.queue.Heap`): the event queue;
* ``inst`` (:class:`Instant`): the lists of one instant (spikes, popped predictions);
* ``out`` (:class:`Outputs`): readouts, loss, operation counts and the error record;
* ``learn`` (:class:`~sgevent.learn.accumulate.LearnState`) and ``traces``
  (:class:`~sgevent.learn.traces.TraceState`): learning state, empty arrays without learning;
* ``ctr``: int64 counters and cursors, one named slot each (``C_*``).

A chunk can stop after a learning event and resume later; between the two, Python may change
the weights (the ``online`` schedule of DESIGN.md 3) and call
:func:`sgevent.engine.loop.after_update`. Memory is fixed when the state is created: it does
not grow with the sample's duration.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.learn.accumulate import LOSS_MAX, LearnState
from sgevent.learn.traces import TraceState
from sgevent.numerics.queue import Heap

__all__ = ["EngineState", "NeuronState", "Instant", "Outputs", "RunArgs", "init_state", "state_arrays",
           "C_P_IN", "C_P_RO", "C_SEQ", "C_HSIZE", "C_MBUF", "C_START", "C_INPUT", "C_N_PREV", "C_N_FORCED",
           "C_N_GATES", "C_SYNCED", "C_N_EVENTS", "C_N_THIS", "C_N_SPIKES", "C_N_TOUCHED", "ST_INSTANTS", "ST_INPUTS",
           "ST_PREDICTIONS", "ST_PUSHES", "ST_COMPACTIONS", "ST_GATES", "INFO_LAYER", "INFO_NEURON", "INFO_TIME",
           "STATUS_OK", "STATUS_BURST", "STATUS_SEARCH", "STATUS_PAUSED", "STATUS_BUDGET"]

# ctr slots. Kept across chunks: input and readout cursors, heap push counter and size, learning
# events in the buffer, "an instant at t = 0 although no input is there" (biased neurons), and
# the sample's hidden spikes (the spike budget).
C_P_IN, C_P_RO, C_SEQ, C_HSIZE, C_MBUF, C_START, C_N_SPIKES = 0, 1, 2, 3, 4, 5, 6
# Per instant: 1 if it has input spikes; spikes of the layer below (inst.cur_ids[:n]); valid
# predictions and gate switches popped; the source layer synchronised for gate switches (-1: none).
C_INPUT, C_N_PREV, C_N_FORCED, C_N_GATES, C_SYNCED = 7, 8, 9, 10, 11
# Per chunk: spike events recorded. Per layer: spikes of the layer being updated.
C_N_EVENTS, C_N_THIS = 12, 13
# Per layer (lazy conv layers): neurons that received a jump at this instant (inst.touched[:n]).
C_N_TOUCHED = 14
N_CTR = 15

# out.stats slots
ST_INSTANTS, ST_INPUTS, ST_PREDICTIONS, ST_PUSHES, ST_COMPACTIONS, ST_GATES = 0, 1, 2, 3, 4, 5
N_STATS = 6

# out.info slots: where the loop stopped with an error
INFO_LAYER, INFO_NEURON, INFO_TIME = 0, 1, 2

# run_chunk status codes: done, burst past max_burst, spike search failed, paused at stop_at,
# spike budget exceeded
STATUS_OK, STATUS_BURST, STATUS_SEARCH, STATUS_PAUSED, STATUS_BUDGET = 0, 1, 2, 3, 4


class NeuronState(NamedTuple):
    """Per-neuron state (``post_off`` layout unless said)."""

    z: np.ndarray          # aggregated cascade states, layout of Built.c
    y0: np.ndarray         # own bucket 0 of every neuron
    thd: np.ndarray        # dynamic threshold
    ver: np.ndarray        # int64 prediction version per neuron (traces: then per gate, n_tot + g)
    forced: np.ndarray     # bool: a valid prediction popped at this instant
    t_last: np.ndarray     # (L,) time each layer was last brought up to date
    t_n: np.ndarray        # time of each neuron's state (lazy conv layers: neurons are brought one by one)
    mark: np.ndarray       # bool: the neuron is in inst.touched (lazy conv layers)
    recheck: np.ndarray    # bool: its pending prediction is a re-check, not a proven crossing (lazy layers)


class Instant(NamedTuple):
    """The lists of one instant (scratch, ``n_tot`` entries each)."""

    cur_ids: np.ndarray    # int64: spiking neurons of the layer below, then of this layer
    cur_h: np.ndarray      # their event heights
    forced_ids: np.ndarray  # int64: neurons whose valid prediction popped
    gate_ids: np.ndarray   # int64: gate switches popped (traces)
    touched: np.ndarray    # int64: neurons of a lazy conv layer that received a jump at this instant


class Outputs(NamedTuple):
    """What the loop reports besides spikes."""

    ro: np.ndarray         # (n_ro, n_out) readout at the requested times
    loss: np.ndarray       # (1,) accumulated loss
    stats: np.ndarray      # int64 (N_STATS,), ST_* slots
    syn_ops: np.ndarray    # int64 (L,) synaptic operations per layer
    updates: np.ndarray    # int64 (L,) neuron-state updates per layer
    info: np.ndarray       # (3,) INFO_* slots: layer, neuron, time (s or step) of an error


class EngineState(NamedTuple):
    """The loop state (module docstring)."""

    neurons: NeuronState
    heap: Heap
    inst: Instant
    out: Outputs
    learn: LearnState
    traces: TraceState
    ctr: np.ndarray        # int64 (N_CTR,), C_* slots


class RunArgs(NamedTuple):
    """The inputs of one chunk (kernel clock: seconds, or grid steps as float64)."""

    in_t: np.ndarray       # (n,) sorted input times
    in_u: np.ndarray       # (n,) int64 input channels
    t_end: float           # last instant processed
    ro_t: np.ndarray       # (n_ro,) sorted readout (learning event) times, all <= t_end
    tol: float             # continuous spike-time tolerance (s)
    stop_at: int           # pause once this many readouts are done; -1: run to the end
    spike_budget: int      # most hidden spikes of the sample (summed over layers)


@njit(cache=True)
def _offsets(B, LA):
    """Offsets of the learning arrays: sources, delta buffers, source buffers, accumulators,
    traces' ``H`` and ``D``; each ``(L+1,)``."""
    L = B.n_post.shape[0]
    K = B.K
    tr = LA.active and LA.traces
    act = LA.active
    M = LA.buffer * LA.vk if act else 0
    s_off = np.zeros(L + 1, dtype=np.int64)
    d_off = np.zeros(L + 1, dtype=np.int64)
    y_off = np.zeros(L + 1, dtype=np.int64)
    g_off = np.zeros(L + 1, dtype=np.int64)
    h_off = np.zeros(L + 1, dtype=np.int64)
    dd_off = np.zeros(L + 1, dtype=np.int64)
    Km = K - 1
    for l in range(L):
        h_off[l + 1] = h_off[l] + (B.n_pre[l] * K * Km if tr and l < L - 1 else 0)
        dd_off[l + 1] = dd_off[l] + (B.n_post[l] * B.n_pre[l] * K * Km if tr and l < L - 1 else 0)
        s_off[l + 1] = s_off[l] + (B.n_pre[l] * K if act else 0)
        if B.sparse[l]:  # a conv layer accumulates per entry, without buffers
            d_off[l + 1] = d_off[l]
            y_off[l + 1] = y_off[l]
            g_off[l + 1] = g_off[l] + (K * (B.fo_off[l + 1] - B.fo_off[l]) if act else 0)
            continue
        d_off[l + 1] = d_off[l] + B.n_post[l] * M
        y_off[l + 1] = y_off[l] + K * M * B.n_pre[l]
        g_off[l + 1] = g_off[l] + (K * B.n_post[l] * B.n_pre[l] if act else 0)
    return s_off, d_off, y_off, g_off, h_off, dd_off


@njit(cache=True)
def _learn_state(B, LA, s_off, d_off, y_off, g_off):
    L = B.n_post.shape[0]
    n_tot = B.post_off[L]
    n_out = B.n_post[L - 1]
    n_snap = n_out if (LA.active and LA.loss == LOSS_MAX) else 0
    return LearnState(
        src=np.zeros(s_off[L]), src_t=np.zeros(s_off[L] // B.K), s_off=s_off,
        dbuf=np.zeros(d_off[L]), d_off=d_off, ybuf=np.zeros(y_off[L]), y_off=y_off, G=np.zeros(g_off[L]), g_off=g_off,
        db=np.zeros(n_tot), deltas=np.zeros(n_tot), xs=np.zeros(n_tot), d_out=np.zeros(n_out), p_soft=np.zeros(n_out),
        smax=np.full(n_out, -np.inf), snap_x=np.zeros((n_snap, n_tot)), snap_src=np.zeros((n_snap, s_off[L])),
    )


@njit(cache=True)
def _trace_state(B, LA, h_off, dd_off):
    n_tot = B.post_off[B.n_post.shape[0]]
    tr = LA.active and LA.traces
    n_km = n_tot * (B.K - 1) if tr else 0
    return TraceState(
        H=np.zeros(h_off[-1]), h_off=h_off, D=np.zeros(dd_off[-1]), dd_off=dd_off, Db=np.zeros(n_km),
        gate=np.zeros(n_tot), ta=np.zeros(n_tot), acc=np.zeros(n_km), dset=np.zeros(n_tot),
        gk=np.zeros(n_tot * B.K if tr else 0),
    )


@njit(cache=True)
def init_state(B, LA, n_ro):
    """Zero state for one sample of the built network ``B`` with learning inputs ``LA``."""
    L = B.n_post.shape[0]
    n_tot = B.post_off[L]
    tr = LA.active and LA.traces
    cap = (8 if tr else 4) * B.post_off[L - 1] + 64
    s_off, d_off, y_off, g_off, h_off, dd_off = _offsets(B, LA)
    neurons = NeuronState(
        z=np.zeros(B.c_off[L]), y0=np.zeros(n_tot), thd=np.zeros(n_tot),
        ver=np.zeros(2 * n_tot if tr else n_tot, dtype=np.int64), forced=np.zeros(n_tot, dtype=np.bool_),
        t_last=np.zeros(L), t_n=np.zeros(n_tot), mark=np.zeros(n_tot, dtype=np.bool_),
        recheck=np.zeros(n_tot, dtype=np.bool_),
    )
    heap = Heap(t=np.empty(cap), seq=np.empty(cap, dtype=np.int64), nid=np.empty(cap, dtype=np.int64),
                ver=np.empty(cap, dtype=np.int64))
    inst = Instant(cur_ids=np.empty(n_tot, dtype=np.int64), cur_h=np.empty(n_tot),
                   forced_ids=np.empty(n_tot, dtype=np.int64), gate_ids=np.empty(n_tot, dtype=np.int64),
                   touched=np.empty(n_tot, dtype=np.int64))
    out = Outputs(ro=np.zeros((n_ro, B.n_post[L - 1])), loss=np.zeros(1), stats=np.zeros(N_STATS, dtype=np.int64),
                  syn_ops=np.zeros(L, dtype=np.int64), updates=np.zeros(L, dtype=np.int64), info=np.zeros(3))
    return EngineState(
        neurons=neurons, heap=heap, inst=inst, out=out, learn=_learn_state(B, LA, s_off, d_off, y_off, g_off),
        traces=_trace_state(B, LA, h_off, dd_off), ctr=np.zeros(N_CTR, dtype=np.int64),
    )


def state_arrays(S: EngineState) -> dict[str, np.ndarray]:
    """Every array of ``S`` by dotted name (``"neurons.z"``, ..., ``"out.ro"``, ``"ctr"``)."""
    out = {}
    for name, part in zip(S._fields, S):
        if isinstance(part, np.ndarray):
            out[name] = part
        else:
            out.update({f"{name}.{f}": a for f, a in zip(part._fields, part)})
    return out
