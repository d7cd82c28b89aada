"""In-kernel learning: per-source bucket states, learning events and gradient accumulation.

See :mod:`sgevent.learn.spec` for the maths. The event loop (:func:`sgevent.engine.loop.run_chunk`)
calls these kernels; they never cross into Python.

Per-source states
-----------------
The engine's neurons hold aggregated states, but ``dL/dw[j,i]`` needs every source's own
buckets ``Y[i, k]`` at each learning event. Each source keeps its buckets as of its own last
update ``src_t[i]``: a spike advances that one source to the spike time and adds its height.
At a learning event every source of a layer is advanced to ``t_e``; sources that did not spike
since the previous event share one propagator.

Accumulation
------------
Each learning event appends ``delta^l_e`` (column of ``dbuf``) and ``Y^l_e`` (row of
``ybuf[k]``) to fixed buffers of ``M`` events; when full they are flushed as one matrix product
per bucket, ``G^l[k] += dbuf @ ybuf[k]`` (BLAS), so the cost is that of a few large products
and memory stays constant in time.

Events in the loss and the rate penalty
---------------------------------------
``LearnArgs.e_first`` is the first learning event the loss uses (:func:`sgevent.learn.spec.first_loss_event`:
``last`` ``E - 1``, ``onset`` the event at the sample's onset, else 0); earlier events are neither
scored nor pushed. ``LearnArgs.rate`` is ``lambda / (E' N_h)`` of the spike-rate penalty
(``E' = E - e_first`` events, ``N_h`` hidden neurons): :func:`_backward_deltas` adds
``rate * [x > 0]`` to every hidden delta before passing the error down, and
:func:`penalty_loss` gives the penalty's share of the event's loss.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.errors import ConfigError
from sgevent.learn.traces import h_apply, h_props
from sgevent.model.conv import entries, reduce_gradients
from sgevent.model.network import Network
from sgevent.numerics.propagator import propagate
from sgevent.numerics.unrolled import propagate_rows

__all__ = ["LearnArgs", "LearnState", "make_learn_args", "no_learning", "grads_from_accumulators", "LOSS_CODES",
           "LOSS_MEAN", "LOSS_LAST", "LOSS_MAX", "LOSS_MSE", "LOSS_ONSET", "push_event", "flush", "advance_source",
           "sync_sources", "penalty_loss"]

# loss codes of LearnArgs.loss (sgevent.learn.spec: the losses)
LOSS_MEAN, LOSS_LAST, LOSS_MAX, LOSS_MSE, LOSS_ONSET = 0, 1, 2, 3, 4
LOSS_CODES = {"mean": LOSS_MEAN, "last": LOSS_LAST, "max": LOSS_MAX, "mse": LOSS_MSE, "onset": LOSS_ONSET}
BUFFER_EVENTS = 32
TRACE_BUFFER_EVENTS = 8  # x K slots per event


class LearnArgs(NamedTuple):
    """Learning inputs of the kernel (``active=False``: forward simulation only)."""

    active: bool
    loss: int            # LOSS_CODES
    label: int
    target: np.ndarray   # (E, n_out) for mse, else (0, n_out)
    n_events: int        # E
    wg: np.ndarray       # flat (n_post, n_pre) per layer: w[j,i] * g[j,i] of the backward option
    wg_off: np.ndarray   # (L+1,)
    buffer: int          # M
    traces: bool         # backward 'traces' (sgevent.learn.traces)
    vk: int              # buffer slots per learning event: K with traces, else 1
    wgk: np.ndarray      # traces: flat (K, n_post, n_pre) per layer, w[j,i] v[j,(i,)k]; else empty
    wgk_off: np.ndarray  # (L+1,)
    bias: np.ndarray     # (L,) bool: the layer has a (learned) bias
    e_first: int         # first learning event in the loss (module notes)
    rate: float          # lambda / (E' N_h) of the spike-rate penalty (0: off)


class LearnState(NamedTuple):
    """Learning state of one sample (module notes); every array is empty without learning."""

    src: np.ndarray        # per-source buckets, s_off layout (n_pre, K) per layer
    src_t: np.ndarray      # time of each source's buckets
    s_off: np.ndarray      # (L+1,)
    dbuf: np.ndarray       # flat (n_post, M) per layer, d_off layout: deltas of buffered events
    d_off: np.ndarray      # (L+1,)
    ybuf: np.ndarray       # flat (K, M, n_pre) per layer, y_off layout: sources of buffered events
    y_off: np.ndarray      # (L+1,)
    G: np.ndarray          # flat (K, n_post, n_pre) per layer, g_off layout: gradient accumulators
    g_off: np.ndarray      # (L+1,)
    db: np.ndarray         # dL/db accumulator (post_off layout)
    deltas: np.ndarray     # scratch (post_off layout)
    xs: np.ndarray         # hidden signals at the current learning event (post_off layout)
    d_out: np.ndarray      # (n_out,) scratch: dL/do of the event
    p_soft: np.ndarray     # (n_out,) scratch: softmax
    smax: np.ndarray       # (n_out,) running max of the readout ('max' loss)
    snap_x: np.ndarray     # (n_out, n_tot) xs at each class's argmax ('max' loss)
    snap_src: np.ndarray   # (n_out, len(src)) src at each class's argmax ('max' loss)


def _backward_weights(net: Network, l: int, backward: str) -> np.ndarray:
    spec = net.conv[l]
    if spec is not None:  # per entry (sgevent.engine.build): coef w[tap] g[tap or channel]
        ent = entries(spec)
        v = net.v[l].reshape(-1, net.n_buckets)[ent.tap] if net.per_synapse else net.v[l][ent.chan]
        g = v[:, 0] if backward == "instant" else v.sum(axis=1)
        return np.ascontiguousarray(ent.coef * net.w[l].ravel()[ent.tap] * g)
    w, v = net.w[l], net.v[l]
    if net.per_synapse:
        g = v[:, :, 0] if backward == "instant" else v.sum(axis=2)
    else:
        g = (v[:, 0] if backward == "instant" else v.sum(axis=1))[:, None]
    return np.ascontiguousarray(w * g)


def _bucket_gains(net: Network, l: int) -> np.ndarray:
    """``(K, n_post, n_pre)``: ``w[j,i] v[j,k]`` (per-synapse ``w[j,i] v[j,i,k]``)."""
    w, v = net.w[l], net.v[l]
    if net.per_synapse:
        return np.ascontiguousarray((w[:, :, None] * v).transpose(2, 0, 1))
    return np.ascontiguousarray(w[None, :, :] * v.T[:, :, None])


def _offsets(parts) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([p.size for p in parts])]).astype(np.int64)


def make_learn_args(net: Network, spec, n_events: int, label, target, e_first: int = 0) -> LearnArgs:
    """Kernel inputs for learning with ``spec`` (a :class:`sgevent.learn.spec.LearnSpec`);
    ``e_first`` from :func:`sgevent.learn.spec.first_loss_event`."""
    traces = spec.backward == "traces"
    if traces and net.has_conv:
        raise ConfigError("backward='traces' is not available with convolutional layers; use 'instant' or 'steady'")
    n_hidden = sum(net.hidden)
    rate = spec.rate_penalty / ((n_events - e_first) * n_hidden) if spec.rate_penalty > 0 else 0.0
    # with traces the error between hidden layers is the instant rule (sgevent.learn.traces)
    parts = [_backward_weights(net, l, "instant" if traces else spec.backward).ravel() for l in range(net.n_layers)]
    kparts = [_bucket_gains(net, l).ravel() for l in range(net.n_layers)] if traces else []
    tgt = np.zeros((0, net.n_out)) if target is None else np.ascontiguousarray(target, dtype=np.float64)
    return LearnArgs(
        active=True, loss=LOSS_CODES[spec.loss], label=-1 if label is None else int(label), target=tgt,
        n_events=int(n_events), wg=np.concatenate(parts), wg_off=_offsets(parts),
        buffer=TRACE_BUFFER_EVENTS if traces else BUFFER_EVENTS, traces=traces,
        vk=net.n_buckets if traces else 1,
        wgk=np.concatenate(kparts) if traces else np.zeros(0),
        wgk_off=_offsets(kparts) if traces else np.zeros(net.n_layers + 1, np.int64),
        bias=np.array(net.bias, dtype=np.bool_), e_first=int(e_first), rate=float(rate),
    )


def no_learning(net: Network) -> LearnArgs:
    """Kernel inputs for a forward run."""
    z = np.zeros(net.n_layers + 1, np.int64)
    return LearnArgs(
        active=False, loss=LOSS_MEAN, label=-1, target=np.zeros((0, net.n_out)), n_events=0, wg=np.zeros(0),
        wg_off=z, buffer=1, traces=False, vk=1, wgk=np.zeros(0), wgk_off=z, bias=np.array(net.bias, dtype=np.bool_),
        e_first=0, rate=0.0,
    )


@njit(cache=True)
def advance_source(B, S, sc, s, i, t):
    """Bring source ``i`` of source layer ``s`` to time ``t`` (writes ``S.learn.src``,
    ``S.learn.src_t`` and, with traces, the source's ``S.traces.H`` of :mod:`sgevent.learn.traces`)."""
    K = B.K
    src, src_t, s_off = S.learn.src, S.learn.src_t, S.learn.s_off
    H, h_off = S.traces.H, S.traces.h_off
    g = _src_index(B, s, i)
    d = t - src_t[g]
    if d <= 0.0:
        return
    if h_off[s + 1] > h_off[s]:
        h_props(B, s, d, sc)
        h_apply(sc.Pcs, src, s_off[s] + i * K, H, h_off[s] + i * K * (K - 1), K, sc.tmp)
    propagate(B.grid, B.rates[s], d, sc.P, sc.W1, sc.W2)
    propagate_rows(sc.P, src, s_off[s] + i * K, 1, K, sc.tmp)
    src_t[g] = t


@njit(cache=True)
def _src_index(B, s, i):
    g = 0
    for q in range(s):
        g += B.n_pre[q]
    return g + i


@njit(cache=True)
def _sync_layer_traces(B, S, sc, s, t, g):
    """:func:`_sync_layer` for a source layer with traces (``H`` too, one propagator pair per
    run of equal elapsed times)."""
    K = B.K
    src, src_t, s_off = S.learn.src, S.learn.src_t, S.learn.s_off
    H, h_off = S.traces.H, S.traces.h_off
    last_d = -1.0
    for i in range(B.n_pre[s]):
        d = t - src_t[g]
        if d > 0.0:
            if d != last_d:
                propagate(B.grid, B.rates[s], d, sc.Ps, sc.W1, sc.W2)
                h_props(B, s, d, sc)
                last_d = d
            h_apply(sc.Pcs, src, s_off[s] + i * K, H, h_off[s] + i * K * (K - 1), K, sc.tmp)
            propagate_rows(sc.Ps, src, s_off[s] + i * K, 1, K, sc.tmp)
            src_t[g] = t
        g += 1


@njit(cache=True)
def _sync_layer(B, S, sc, s, t, g):
    """Bring every source of source layer ``s`` (global source ids from ``g``) to ``t``.

    Sources are taken in runs of equal elapsed time (one K-specialised pass over the run's
    rows), with two cached propagators (``sc.Ps`` and ``sc.P``, least recently used replaced):
    between learning events most sources share one elapsed time and the few that spiked have
    their own, so the shared propagator is computed once per event instead of after each of them.
    """
    if S.traces.h_off[s + 1] > S.traces.h_off[s]:
        _sync_layer_traces(B, S, sc, s, t, g)
        return
    K = B.K
    src, src_t, a0 = S.learn.src, S.learn.src_t, S.learn.s_off[s]
    n = B.n_pre[s]
    d_a = -1.0  # elapsed time held by sc.Ps
    d_b = -1.0  # ... by sc.P
    recent_a = True
    i = 0
    while i < n:
        d = t - src_t[g + i]
        if not d > 0.0:
            i += 1
            continue
        r = i + 1
        while r < n and t - src_t[g + r] == d:
            r += 1
        if d == d_a or (d != d_b and not recent_a):
            if d != d_a:
                propagate(B.grid, B.rates[s], d, sc.Ps, sc.W1, sc.W2)
                d_a = d
            propagate_rows(sc.Ps, src, a0 + i * K, r - i, K, sc.tmp)
            recent_a = True
        else:
            if d != d_b:
                propagate(B.grid, B.rates[s], d, sc.P, sc.W1, sc.W2)
                d_b = d
            propagate_rows(sc.P, src, a0 + i * K, r - i, K, sc.tmp)
            recent_a = False
        for q in range(i, r):
            src_t[g + q] = t
        i = r


@njit(cache=True)
def sync_sources(B, S, sc, t, only):
    """Bring every source of every layer (``only >= 0``: of source layer ``only``) to ``t``
    (one shared propagator per elapsed time); with traces also their ``H``."""
    g = 0
    for s in range(B.n_pre.shape[0]):
        if only < 0 or s == only:
            _sync_layer(B, S, sc, s, t, g)
        g += B.n_pre[s]


@njit(cache=True)
def _deltas_below_conv(B, LA, xs, deltas, l):
    """Hidden layer ``l``'s deltas when layer ``l + 1`` is a conv layer: each neuron sums the
    deltas of its receptive-field entries (``wg`` per entry), as :func:`_backward_deltas`."""
    wge = LA.wg[LA.wg_off[l + 1]:LA.wg_off[l + 2]]
    pa, fa, up = B.ptr_off[l + 1], B.fo_off[l + 1], B.post_off[l + 1]
    for i in range(B.n_post[l]):
        acc = 0.0
        if xs[B.post_off[l] + i] > 0.0:
            for e in range(B.fo_ptr[pa + i], B.fo_ptr[pa + i + 1]):
                acc += deltas[up + B.fo_post[fa + e]] * wge[e]
            if LA.rate != 0.0:
                acc += LA.rate
        deltas[B.post_off[l] + i] = acc


@njit(cache=True)
def _backward_deltas(B, LA, delta_out, xs, deltas):
    """``deltas`` (post_off layout) of every layer from the readout's ``delta_out`` (module
    notes of :mod:`sgevent.learn.spec`), each hidden one with the rate penalty's ``LA.rate``."""
    L = B.n_post.shape[0]
    lo = B.post_off[L - 1]
    for j in range(B.n_post[L - 1]):
        deltas[lo + j] = delta_out[j]
    for l in range(L - 2, -1, -1):
        n_post = B.n_post[l]
        n_up = B.n_post[l + 1]
        up = B.post_off[l + 1]
        if B.sparse[l + 1]:  # the layer above is a conv layer
            _deltas_below_conv(B, LA, xs, deltas, l)
            continue
        wg = LA.wg[LA.wg_off[l + 1]:LA.wg_off[l + 2]].reshape(n_up, n_post)
        for i in range(n_post):
            acc = 0.0
            if xs[B.post_off[l] + i] > 0.0:
                for j in range(n_up):
                    acc += deltas[up + j] * wg[j, i]
                if LA.rate != 0.0:
                    acc += LA.rate
            deltas[B.post_off[l] + i] = acc


@njit(cache=True)
def penalty_loss(B, LA, xs):
    """The rate penalty's loss at one event: ``LA.rate * sum_i relu(x_i)`` over every hidden neuron."""
    acc = 0.0
    for g in range(B.post_off[B.n_post.shape[0] - 1]):
        if xs[g] > 0.0:
            acc += xs[g]
    return LA.rate * acc


@njit(cache=True)
def push_event(B, LA, S, delta_out, xs, src, m):
    """Backward pass of one learning event and append it to the buffers (column ``m``).

    ``delta_out`` (n_out,) is ``dL/do_e``; ``xs`` (sum of hidden sizes) the hidden signals at
    the event; ``src`` the source buckets. Writes ``S.learn``'s ``dbuf``, ``ybuf``, ``db`` and
    ``deltas``.
    """
    Ls = S.learn
    L = B.n_post.shape[0]
    K = B.K
    deltas = Ls.deltas
    _backward_deltas(B, LA, delta_out, xs, deltas)
    Mc = LA.buffer * LA.vk
    col = m * LA.vk
    for l in range(L):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        if B.sparse[l]:
            _push_entries(B, Ls, deltas, src, l)
            continue
        dl = Ls.dbuf[Ls.d_off[l]:Ls.d_off[l + 1]].reshape(n_post, Mc)
        yl = Ls.ybuf[Ls.y_off[l]:Ls.y_off[l + 1]].reshape(K, Mc, n_pre)
        for j in range(n_post):
            dv = deltas[B.post_off[l] + j]
            dl[j, col] = dv
            Ls.db[B.post_off[l] + j] += dv
        for k in range(K):
            for i in range(n_pre):
                yl[k, col, i] = src[Ls.s_off[l] + i * K + k]


@njit(cache=True)
def _push_entries(B, Ls, deltas, src, l):
    """Conv layer ``l``: ``G[k, e] += delta[post_e] Y[pre_e, k]`` for every entry (the dense
    accumulator restricted to the connected pairs, ``K nnz`` MACs) and ``db += delta``."""
    K = B.K
    nnz = B.fo_off[l + 1] - B.fo_off[l]
    Gl = Ls.G[Ls.g_off[l]:Ls.g_off[l + 1]]
    p0, pa, fa = B.post_off[l], B.ptr_off[l], B.fo_off[l]
    for j in range(B.n_post[l]):
        Ls.db[p0 + j] += deltas[p0 + j]
    for i in range(B.n_pre[l]):
        a = Ls.s_off[l] + i * K
        for e in range(B.fo_ptr[pa + i], B.fo_ptr[pa + i + 1]):
            dv = deltas[p0 + B.fo_post[fa + e]]
            if dv != 0.0:
                for k in range(K):
                    Gl[k * nnz + e] += dv * src[a + k]


@njit(cache=True)
def flush(B, LA, S):
    """``G^l[k] += dbuf^l @ ybuf^l[k]`` for every layer and bucket; clears the buffers
    (``LA.buffer * LA.vk`` columns: events x slots per event). Writes ``S.learn``."""
    Ls = S.learn
    L = B.n_post.shape[0]
    K = B.K
    M = LA.buffer * LA.vk
    for l in range(L):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        if B.sparse[l]:  # accumulated at each event (_push_entries)
            continue
        Gl = Ls.G[Ls.g_off[l]:Ls.g_off[l + 1]].reshape(K, n_post, n_pre)
        dl = Ls.dbuf[Ls.d_off[l]:Ls.d_off[l + 1]].reshape(n_post, M)
        yl = Ls.ybuf[Ls.y_off[l]:Ls.y_off[l + 1]].reshape(K, M, n_pre)
        for k in range(K):
            Gl[k] += np.dot(dl, yl[k])
    Ls.dbuf[:] = 0.0
    Ls.ybuf[:] = 0.0


def grads_from_accumulators(net: Network, G: np.ndarray, db: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per-layer ``{"w", "v", "b"}`` gradients from the kernel's ``G`` and ``db`` (module notes)."""
    K = net.n_buckets
    sizes = net.sizes
    out = []
    g0 = b0 = 0
    for l in range(net.n_layers):
        n_pre, n_post = sizes[l], sizes[l + 1]
        spec = net.conv[l]
        if spec is not None:
            ent = entries(spec)
            nnz = ent.pre.shape[0]
            Ge = G[g0:g0 + K * nnz].reshape(K, nnz)
            g0 += K * nnz
            g = reduce_gradients(spec, ent, net.w[l], net.v[l], net.per_synapse, Ge, db[b0:b0 + n_post])
            if not net.bias[l]:
                g["b"] = np.zeros_like(g["b"])
            b0 += n_post
            out.append(g)
            continue
        Gl = G[g0:g0 + K * n_post * n_pre].reshape(K, n_post, n_pre)
        g0 += K * n_post * n_pre
        w, v = net.w[l], net.v[l]
        if net.per_synapse:
            dw = np.einsum("jik,kji->ji", v, Gl)
            dv = w[:, :, None] * Gl.transpose(1, 2, 0)
        else:
            dw = np.einsum("jk,kji->ji", v, Gl)
            dv = np.einsum("ji,kji->jk", w, Gl)
        dbl = db[b0:b0 + n_post].copy() if net.bias[l] else np.zeros(n_post)
        b0 += n_post
        out.append({"w": dw, "v": dv, "b": dbl})
    return out
