"""The event loop's complete state, so that a sample can run in chunks.

Everything :func:`sgevent.engine.loop.run_chunk` carries from one instant to the next lives in an
:class:`EngineState` of flat arrays: neuron states, the event heap, the input/readout cursors,
the per-source bucket states and gradient accumulators of :mod:`sgevent.learn.accumulate`, and the
counters. A chunk can stop after a learning event and resume later; between the two, Python
may change the weights (the ``online`` schedule of DESIGN.md 3) and call
:func:`sgevent.engine.loop.after_update`. Memory is fixed when the state is created: it does not
grow with the sample's duration.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["EngineState", "init_state", "C_P_IN", "C_P_RO", "C_SEQ", "C_HSIZE", "C_MBUF", "C_START"]

# ctr slots
C_P_IN, C_P_RO, C_SEQ, C_HSIZE, C_MBUF, C_START = 0, 1, 2, 3, 4, 5
N_CTR = 6
N_STATS = 6


class EngineState(NamedTuple):
    """Flat arrays of the event loop (see module docstring); ``*_off`` index per layer."""

    z: np.ndarray          # aggregated cascade states, layout of Built.c
    y0: np.ndarray         # own bucket 0 of every neuron (post_off layout)
    thd: np.ndarray        # dynamic threshold
    ver: np.ndarray        # prediction version per neuron
    forced: np.ndarray     # bool: a valid prediction popped at this instant
    t_last: np.ndarray     # (L,) time each layer was last brought up to date
    ht: np.ndarray         # heap: time
    hs: np.ndarray         # heap: seq
    hn: np.ndarray         # heap: neuron
    hv: np.ndarray         # heap: version
    ctr: np.ndarray        # int64 counters (C_* slots)
    loss: np.ndarray       # (1,) accumulated loss
    ro: np.ndarray         # (n_ro, n_out) readout at the requested times
    stats: np.ndarray      # int64 (N_STATS,)
    syn_ops: np.ndarray    # int64 (L,)
    updates: np.ndarray    # int64 (L,)
    info: np.ndarray       # (3,) layer, neuron, time of an error
    cur_ids: np.ndarray    # spikes of the current instant (scratch)
    cur_h: np.ndarray
    forced_ids: np.ndarray
    src: np.ndarray        # per-source buckets (learning), s_off layout
    src_t: np.ndarray      # time of each source's buckets
    s_off: np.ndarray      # (L+1,)
    dbuf: np.ndarray       # flat (n_post, M) per layer, d_off layout
    d_off: np.ndarray
    ybuf: np.ndarray       # flat (K, M, n_pre) per layer, y_off layout
    y_off: np.ndarray
    G: np.ndarray          # flat (K, n_post, n_pre) per layer, g_off layout
    g_off: np.ndarray
    db: np.ndarray         # dL/db accumulator (post_off layout)
    deltas: np.ndarray     # scratch (post_off layout)
    xs: np.ndarray         # hidden signals at the current learning event
    d_out: np.ndarray      # (n_out,) scratch
    p_soft: np.ndarray     # (n_out,) scratch
    smax: np.ndarray       # (n_out,) running max of the readout ('max' loss)
    snap_x: np.ndarray     # (n_out, n_tot) snapshots at each class's argmax ('max' loss)
    snap_src: np.ndarray   # (n_out, len(src))
    # backward 'traces' (sgevent.learn.traces); empty otherwise
    H: np.ndarray          # per source of a hidden layer: (K, K-1) gate-open sensitivities, h_off layout
    h_off: np.ndarray      # (L+1,) by source layer
    D: np.ndarray          # per hidden layer (n_post, n_pre * K, K-1) residuals, dd_off layout
    dd_off: np.ndarray     # (L+1,)
    Db: np.ndarray         # (n_tot, K-1) bias residuals
    gate: np.ndarray       # (n_tot,) 1.0 where x > 0
    ta: np.ndarray         # (n_tot,) time of each neuron's residual
    acc: np.ndarray        # (n_tot, K-1) accumulated P_sub^T g since then
    dset: np.ndarray       # (n_tot,) 1.0 once the residual is non-zero
    gk: np.ndarray         # (n_tot, K) errors at the neuron's buckets (scratch)
    gate_ids: np.ndarray   # (n_tot,) int64 gate events popped at this instant (scratch)


@njit(cache=True)
def init_state(B, LA, n_ro):
    """Zero state for one sample of the built network ``B`` with learning inputs ``LA``."""
    L = B.n_post.shape[0]
    K = B.K
    n_tot = B.post_off[L]
    tr = LA.active and LA.traces
    cap = (8 if tr else 4) * B.post_off[L - 1] + 64
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
        d_off[l + 1] = d_off[l] + B.n_post[l] * M
        y_off[l + 1] = y_off[l] + K * M * B.n_pre[l]
        g_off[l + 1] = g_off[l] + (K * B.n_post[l] * B.n_pre[l] if act else 0)
    n_ver = 2 * n_tot if tr else n_tot
    n_km = n_tot * Km if tr else 0
    n_k = n_tot * K if tr else 0
    n_out = B.n_post[L - 1]
    n_snap = n_out if (act and LA.loss == 2) else 0
    return EngineState(
        np.zeros(B.c_off[L]), np.zeros(n_tot), np.zeros(n_tot), np.zeros(n_ver, dtype=np.int64),
        np.zeros(n_tot, dtype=np.bool_), np.zeros(L),
        np.empty(cap), np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64),
        np.zeros(N_CTR, dtype=np.int64), np.zeros(1), np.zeros((n_ro, n_out)),
        np.zeros(N_STATS, dtype=np.int64), np.zeros(L, dtype=np.int64), np.zeros(L, dtype=np.int64), np.zeros(3),
        np.empty(n_tot, dtype=np.int64), np.empty(n_tot), np.empty(n_tot, dtype=np.int64),
        np.zeros(s_off[L]), np.zeros(s_off[L] // K), s_off,
        np.zeros(d_off[L]), d_off, np.zeros(y_off[L]), y_off, np.zeros(g_off[L]), g_off,
        np.zeros(n_tot), np.zeros(n_tot), np.zeros(n_tot), np.zeros(n_out), np.zeros(n_out),
        np.full(n_out, -np.inf), np.zeros((n_snap, n_tot)), np.zeros((n_snap, s_off[L])),
        np.zeros(h_off[L]), h_off, np.zeros(dd_off[L]), dd_off, np.zeros(n_km),
        np.zeros(n_tot), np.zeros(n_tot), np.zeros(n_km), np.zeros(n_tot),
        np.zeros(n_k), np.empty(n_tot, dtype=np.int64),
    )
