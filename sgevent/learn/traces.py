"""The ``traces`` backward option: exact eligibility traces through the linear cascade.

Definition (the same in :mod:`sgevent.reference.learner`)
---------------------------------------------------------
Write every hidden signal as ``x_i = b_i + sum_{m,k'} c[i,m,k'] yhat_m[k']`` with
``c[i,m,k'] = w[i,m] v[i,k']`` (per-synapse ``w[i,m] v[i,m,k']``). Under the linearised model
(the quantiser is the identity: ``yhat_i[0] = y_i = relu(x_i)``), with the layer's inputs held
fixed, the sensitivities of neuron i's own buckets to its coefficients are

    E_{i,m,k'}[0](t) = [x_i(t) > 0] yhat_m[k'](t)
    E_{i,m,k'}[k]    = the neuron's own cascade stage k (k >= 1) driven by E_{i,m,k'}[k-1]

(grid: ``E[k][n] = alpha_k E[k][n-1] + (1 - alpha_k) E[k-1][n-1]``), and the bias's
``Eb_i`` likewise with ``Eb_i[0] = [x_i > 0]``. At a learning event the error at source i's
buckets is ``g_i[k] = sum_j delta^{l+1}_j w^{l+1}[j,i] v^{l+1}[j,k]`` (``delta`` of the readout,
or the ``instant`` error ``[x_j > 0] g_j[0]`` of a hidden layer above), and

    G^l[k', i, m] += sum_k g_i[k] E_{i,m,k'}[k],        db_i += sum_k g_i[k] Eb_i[k].

The k = 0 term is the ``instant`` rule; with one hidden layer the result is the exact gradient
of the linearised model. The traces depend on the weights only through the gates ``[x > 0]``,
so online updates inside a sample leave them valid.

How the event engine computes them without stepping
---------------------------------------------------
Let ``H_m[k', k](t)`` (k >= 1) be the neuron-side cascade driven by ``yhat_m[k']`` with the gate
always open: the chain ``yhat_m[0] -> ... -> yhat_m[k'] -> H[k', 1] -> ... -> H[k', K-1]`` is
itself a cascade (the source's rates, then the layer's own rates), so it is advanced by the
exact propagator of that chain, per source, together with the source's buckets (per-source
states, as for the other backward options). Then ``E = D + gate * H`` where the residual ``D``
follows the zero-input sub-cascade (stages 1..K-1 of the layer's own cascade) at all times and
jumps by ``-(gate change) * H`` when the gate switches. The engine therefore:

* predicts every hidden neuron's next gate switch (the next zero crossing of ``x``, with the
  same safe-stepping search as spikes, :func:`sgevent.numerics.crossing.next_crossing`) and handles it
  as a queue event; gates are also re-evaluated wherever a neuron is checked;
* keeps ``D_i`` (n_pre x K x (K-1) numbers per neuron) as of its last switch ``a_i``; at a
  learning event ``t`` the ``D`` part of the gradient is ``(P_sub(t - a_i)^T g_i[1:]) . D_i``,
  so it only accumulates the K-1 numbers ``A_i += P_sub(t - a_i)^T g_i[1:]`` and folds
  ``A_i . D_i`` into ``G`` when ``D_i`` changes (a switch) or at the end;
* adds the ``gate * H`` part through the learning buffers: K slots per event, slot k holding
  ``gate_i g_i[k]`` and the sources' ``H[., k]`` (slot 0: their buckets), reduced by the same
  batched BLAS products as the other options.

Memory is ``n_post * n_pre * K * (K-1)`` numbers per hidden layer for ``D`` and
``n_pre * K * (K-1)`` for ``H``: constant in time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.numerics.crossing import Neuron, Workspace, next_crossing, state_bounds
from sgevent.numerics.propagator import propagate

__all__ = ["TraceState", "h_props", "h_apply", "gate_switch", "flush_acc", "flush_all_acc", "predict_gate",
           "acc_event", "bias_h", "push_traces"]


class TraceState(NamedTuple):
    """State of the ``traces`` backward option (module notes); every array is empty otherwise."""

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


@njit(cache=True)
def h_props(B, s, d, sc):
    """Propagators over ``d`` of the K chains ``source bucket k' -> own stages 1..K-1`` of the
    sources of layer ``s`` (into ``sc.Pcs[k', :k'+K, :k'+K]``; uses ``sc.lam, sc.W1c, sc.W2c``)."""
    K = B.K
    Pcs, lam, W1c, W2c = sc.Pcs, sc.lam, sc.W1c, sc.W2c
    for kp in range(K):
        n = kp + K
        for q in range(kp + 1):
            lam[q] = B.rates[s, q]
        for q in range(1, K):
            lam[kp + q] = B.rates[s + 1, q]
        propagate(B.grid, lam[:n], d, Pcs[kp, :n, :n], W1c[:n, :n], W2c[:n, :n])


@njit(cache=True)
def h_apply(Pcs, src, a, H, hb, K, tmp):
    """Advance one source's ``H`` (at ``H[hb:]``, layout (K, K-1)) with ``Pcs``, reading the
    source's buckets ``src[a:a+K]`` *before* they are advanced."""
    Km = K - 1
    for kp in range(K):
        P = Pcs[kp]
        base = hb + kp * Km
        for r in range(1, K):
            row = kp + r
            acc = 0.0
            for c in range(kp + 1):
                acc += P[row, c] * src[a + c]
            for c in range(1, r + 1):
                acc += P[row, kp + c] * H[base + c - 1]
            tmp[r - 1] = acc
        for r in range(Km):
            H[base + r] = tmp[r]


@njit(cache=True)
def bias_h(B, l, t, sc):
    """``sc.tmp[k-1]`` (k >= 1): own stage k of layer ``l`` driven by a constant 1 since time 0
    (uses ``sc.P`` and the chain scratch)."""
    K = B.K
    lam = sc.lam
    lam[0] = 1.0 if B.grid else 0.0  # a constant source: alpha = 1 / rate 0
    for q in range(1, K):
        lam[q] = B.rates[l + 1, q]
    propagate(B.grid, lam[:K], t, sc.P, sc.W1c[:K, :K], sc.W2c[:K, :K])
    for k in range(1, K):
        sc.tmp[k - 1] = sc.P[k, 0]


@njit(cache=True)
def flush_acc(B, S, l, j):
    """Fold neuron j's accumulated ``A`` into ``G`` (and ``db``) through its residual ``D``."""
    T = S.traces
    K = B.K
    Km = K - 1
    g = B.post_off[l] + j
    A = T.acc[g * Km:(g + 1) * Km]
    nz = False
    for k in range(Km):
        if A[k] != 0.0:
            nz = True
    if not nz:
        return
    n_pre = B.n_pre[l]
    n_post = B.n_post[l]
    Di = T.D[T.dd_off[l]:T.dd_off[l + 1]].reshape(n_post, n_pre * K, Km)[j]
    Gl = S.learn.G[S.learn.g_off[l]:S.learn.g_off[l + 1]].reshape(K, n_post, n_pre)
    for m in range(n_pre):
        for kp in range(K):
            row = m * K + kp
            acc = 0.0
            for k in range(Km):
                acc += Di[row, k] * A[k]
            Gl[kp, j, m] += acc
    acc = 0.0
    for k in range(Km):
        acc += T.Db[g * Km + k] * A[k]
        A[k] = 0.0
    S.learn.db[g] += acc


@njit(cache=True)
def _advance_residual(P, Di, Dbg):
    """``D[row] <- P_sub @ D[row]`` for every row of ``Di`` (n_rows, K-1) and for ``Dbg``
    (K-1,), in place (``P_sub = P[1:, 1:]``, lower-triangular)."""
    n_rows, Km = Di.shape
    for row in range(n_rows):
        for r in range(Km - 1, -1, -1):
            acc = 0.0
            for c in range(r + 1):
                acc += P[r + 1, c + 1] * Di[row, c]
            Di[row, r] = acc
    for r in range(Km - 1, -1, -1):
        acc = 0.0
        for c in range(r + 1):
            acc += P[r + 1, c + 1] * Dbg[c]
        Dbg[r] = acc


@njit(cache=True)
def gate_switch(B, LA, S, sc, l, j, t, newg):
    """Neuron j of hidden layer l switches its gate to ``newg`` at ``t`` (the sources of layer
    l must be synchronised to ``t``): fold ``A``, bring ``D`` to ``t`` and add ``-(change) H``."""
    T = S.traces
    K = B.K
    Km = K - 1
    g = B.post_off[l] + j
    flush_acc(B, S, l, j)
    n_pre = B.n_pre[l]
    Di = T.D[T.dd_off[l]:T.dd_off[l + 1]].reshape(B.n_post[l], n_pre * K, Km)[j]
    Dbg = T.Db[g * Km:(g + 1) * Km]
    d = t - T.ta[g]
    if d > 0.0 and T.dset[g] != 0.0:
        propagate(B.grid, B.rates[l + 1], d, sc.P, sc.W1, sc.W2)
        _advance_residual(sc.P, Di, Dbg)
    dg = newg - T.gate[g]
    Hl = T.H[T.h_off[l]:T.h_off[l + 1]].reshape(n_pre * K, Km)
    for row in range(n_pre * K):
        for r in range(Km):
            Di[row, r] -= dg * Hl[row, r]
    if LA.bias[l]:
        bias_h(B, l, t, sc)
        for r in range(Km):
            Dbg[r] -= dg * sc.tmp[r]
    T.dset[g] = 1.0
    T.ta[g] = t
    T.gate[g] = newg


@njit(cache=True)
def acc_event(B, S, sc, t):
    """Learning event at ``t``: ``A_i += P_sub(t - a_i)^T g_i[1:]`` for every hidden neuron with
    a non-zero residual (``S.traces.gk`` holds ``g``)."""
    T = S.traces
    P = sc.P
    K = B.K
    Km = K - 1
    L = B.n_post.shape[0]
    for l in range(L - 1):
        last_d = -1.0
        for j in range(B.n_post[l]):
            g = B.post_off[l] + j
            if T.dset[g] == 0.0:
                continue
            d = t - T.ta[g]
            if d != last_d:
                propagate(B.grid, B.rates[l + 1], d, P, sc.W1, sc.W2)
                last_d = d
            for c in range(Km):
                acc = 0.0
                for r in range(c, Km):
                    acc += P[r + 1, c + 1] * T.gk[g * K + r + 1]
                T.acc[g * Km + c] += acc


@njit(cache=True)
def predict_gate(B, z, on, sc, l, j, when, tol):
    """Time (relative to ``t``) of neuron j's next gate switch after ``when = (t, horizon)``:
    the first ``x <= 0`` when the gate is open (``on``), the first ``x >= 0`` when it is shut;
    ``inf`` if none before the horizon. ``z`` holds every neuron's cascade states
    (``NeuronState.z``); ``sc.cn, sc.c1n`` receive the signed read-out vectors."""
    t, horizon_abs = when
    R = B.R
    K = B.K
    a = B.c_off[l] + j * R * K
    r0, r1 = B.nr_off[l] + j * R, B.nr_off[l] + (j + 1) * R
    g = B.post_off[l] + j
    z = z[a:a + R * K].reshape(R, K)
    cn, c1n = sc.cn, sc.c1n
    sgn = -1.0 if on else 1.0
    for r in range(R):
        for k in range(K):
            cn[r, k] = sgn * B.c[a + r * K + k]
            c1n[r, k] = sgn * B.c1[a + r * K + k]
    if on:
        n0p, n0n, n2p, n2n = B.n0n[r0:r1], B.n0p[r0:r1], B.n2n[r0:r1], B.n2p[r0:r1]
    else:
        n0p, n0n, n2p, n2n = B.n0p[r0:r1], B.n0n[r0:r1], B.n2p[r0:r1], B.n2n[r0:r1]
    b = sgn * B.b[g]
    if b + state_bounds(z, n0p, n0n) <= 0.0 and not on:
        return np.inf  # x can never become positive
    nrn = Neuron(z=z, c=cn, c1=c1n, n0p=n0p, n0n=n0n, n2p=n2p, n2n=n2n, b=b, theta_0=0.0, y0=0.0, thd=0.0,
                 own0=0.5, own_th=0.5, rates=B.rates[l])
    s = next_crossing(B.grid, nrn, horizon_abs - t, tol, Workspace(P=sc.P, W1=sc.W1, W2=sc.W2, zs=sc.zs))
    if s == 0.0:
        return np.inf  # x == 0 exactly while shut (continuous): left to the next check
    if not B.grid and s < tol:
        # the search brackets the root to ``tol``; a root closer than that (x within rounding
        # of 0, e.g. a signal decayed to 1e-17) is taken at ``t + tol`` so that time advances
        s = tol if tol <= horizon_abs - t else np.inf
    return s


@njit(cache=True)
def _source_errors(B, LA, S, l):
    """``S.traces.gk`` of hidden layer ``l``: ``g[i, k] = sum_j delta_j w[j,i] v[j,(i,)k]`` of
    the layer above (``S.learn.deltas``)."""
    T = S.traces
    K = B.K
    n_post = B.n_post[l]
    up = l + 1
    n_up = B.n_post[up]
    wgk = LA.wgk[LA.wgk_off[up]:LA.wgk_off[up + 1]].reshape(K, n_up, n_post)
    p0 = B.post_off[l]
    pu = B.post_off[up]
    for i in range(n_post):
        for k in range(K):
            T.gk[(p0 + i) * K + k] = 0.0
    for k in range(K):
        for j in range(n_up):
            dj = S.learn.deltas[pu + j]
            if dj != 0.0:
                for i in range(n_post):
                    T.gk[(p0 + i) * K + k] += dj * wgk[k, j, i]


@njit(cache=True)
def _trace_slots(B, LA, S, l, m):
    """Buffer slots ``1..K-1`` of event ``m`` for hidden layer ``l``: ``gate * g[k]`` against the
    sources' ``H[., k]``."""
    T = S.traces
    Ls = S.learn
    K = B.K
    Km = K - 1
    Mc = LA.buffer * LA.vk
    n_post = B.n_post[l]
    n_pre = B.n_pre[l]
    p0 = B.post_off[l]
    dl = Ls.dbuf[Ls.d_off[l]:Ls.d_off[l + 1]].reshape(n_post, Mc)
    yl = Ls.ybuf[Ls.y_off[l]:Ls.y_off[l + 1]].reshape(K, Mc, n_pre)
    Hl = T.H[T.h_off[l]:T.h_off[l + 1]].reshape(n_pre, K, Km)
    col = m * K
    for i in range(n_post):
        if T.gate[p0 + i] != 0.0:
            for k in range(1, K):
                dl[i, col + k] = T.gk[(p0 + i) * K + k]
    for kp in range(K):
        for k in range(1, K):
            for q in range(n_pre):
                yl[kp, col + k, q] = Hl[q, kp, k - 1]


@njit(cache=True)
def _bias_trace(B, S, sc, l, t):
    """The bias's ``gate * H`` part of the event at ``t`` for hidden layer ``l`` (into ``db``)."""
    T = S.traces
    K = B.K
    p0 = B.post_off[l]
    bias_h(B, l, t, sc)
    for i in range(B.n_post[l]):
        if T.gate[p0 + i] != 0.0:
            acc = 0.0
            for k in range(1, K):
                acc += T.gk[(p0 + i) * K + k] * sc.tmp[k - 1]
            S.learn.db[p0 + i] += acc


@njit(cache=True)
def push_traces(B, LA, S, sc, m, t):
    """The traces part of learning event ``m`` (after :func:`sgevent.learn.accumulate.push_event` wrote
    slot 0 and the deltas): ``g`` of every hidden neuron, buffer slots ``1..K-1`` (``gate * g[k]``
    against the sources' ``H[., k]``), the bias's ``gate * H`` part and ``A``."""
    L = B.n_post.shape[0]
    for l in range(L - 1):
        _source_errors(B, LA, S, l)
        _trace_slots(B, LA, S, l, m)
        if LA.bias[l]:
            _bias_trace(B, S, sc, l, t)
    acc_event(B, S, sc, t)


@njit(cache=True)
def flush_all_acc(B, S):
    """Fold every hidden neuron's ``A`` into ``G`` (end of a sample or before an online update)."""
    L = B.n_post.shape[0]
    for l in range(L - 1):
        for j in range(B.n_post[l]):
            flush_acc(B, S, l, j)
