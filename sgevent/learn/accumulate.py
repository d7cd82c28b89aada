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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sgevent.learn.traces import h_apply, h_props
from sgevent.model.network import Network
from sgevent.numerics.propagator import prop_continuous, prop_grid

__all__ = ["LearnArgs", "make_learn_args", "no_learning", "grads_from_accumulators", "LOSS_CODES",
           "push_event", "flush", "advance_source", "sync_sources"]

LOSS_CODES = {"mean": 0, "last": 1, "max": 2, "mse": 3}
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


def _backward_weights(net: Network, l: int, backward: str) -> np.ndarray:
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


def make_learn_args(net: Network, spec, n_events: int, label, target) -> LearnArgs:
    """Kernel inputs for learning with ``spec`` (a :class:`sgevent.learn.spec.LearnSpec`)."""
    traces = spec.backward == "traces"
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
        bias=np.array(net.bias, dtype=np.bool_),
    )


def no_learning(net: Network) -> LearnArgs:
    """Kernel inputs for a forward run."""
    z = np.zeros(net.n_layers + 1, np.int64)
    return LearnArgs(False, 0, -1, np.zeros((0, net.n_out)), 0, np.zeros(0), z, 1, False, 1, np.zeros(0), z,
                     np.array(net.bias, dtype=np.bool_))


@njit(cache=True)
def advance_source(B, s, i, t, src, src_t, s_off, P, W1, W2, H, h_off, Pcs, lam, W1c, W2c, tmp):
    """Bring source ``i`` of source layer ``s`` to time ``t`` (writes ``src``, ``src_t`` and,
    with traces, the source's ``H`` of :mod:`sgevent.learn.traces`)."""
    K = B.K
    g = _src_index(B, s, i)
    d = t - src_t[g]
    if d <= 0.0:
        return
    if h_off[s + 1] > h_off[s]:
        h_props(B, s, d, Pcs, lam, W1c, W2c)
        h_apply(Pcs, src, s_off[s] + i * K, H, h_off[s] + i * K * (K - 1), K, tmp)
    if B.grid:
        prop_grid(B.rates[s], np.int64(d), P, W1, W2)
    else:
        prop_continuous(B.rates[s], d, P, W1, W2)
    _apply(P, src, s_off[s] + i * K, K, W1)
    src_t[g] = t


@njit(cache=True)
def _src_index(B, s, i):
    g = 0
    for q in range(s):
        g += B.n_pre[q]
    return g + i


@njit(cache=True)
def _apply(P, src, a, K, tmp):
    """``src[a:a+K] = P @ src[a:a+K]`` (lower-triangular P)."""
    for r in range(K):
        acc = 0.0
        for c in range(r + 1):
            acc += P[r, c] * src[a + c]
        tmp[0, r] = acc
    for r in range(K):
        src[a + r] = tmp[0, r]


@njit(cache=True)
def sync_sources(B, t, src, src_t, s_off, P, Ps, W1, W2, H, h_off, Pcs, lam, W1c, W2c, tmp, only):
    """Bring every source of every layer (``only >= 0``: of source layer ``only``) to ``t``
    (one shared propagator per elapsed time); with traces also their ``H``."""
    K = B.K
    L = B.n_pre.shape[0]
    g = 0
    for s in range(L):
        if only >= 0 and s != only:
            g += B.n_pre[s]
            continue
        last_d = -1.0
        has_h = h_off[s + 1] > h_off[s]
        for i in range(B.n_pre[s]):
            d = t - src_t[g]
            if d > 0.0:
                if d != last_d:
                    if B.grid:
                        prop_grid(B.rates[s], np.int64(d), Ps, W1, W2)
                    else:
                        prop_continuous(B.rates[s], d, Ps, W1, W2)
                    if has_h:
                        h_props(B, s, d, Pcs, lam, W1c, W2c)
                    last_d = d
                if has_h:
                    h_apply(Pcs, src, s_off[s] + i * K, H, h_off[s] + i * K * (K - 1), K, tmp)
                _apply(Ps, src, s_off[s] + i * K, K, W1)
                src_t[g] = t
            g += 1


@njit(cache=True)
def push_event(B, LA, delta_out, xs, src, s_off, dbuf, d_off, ybuf, y_off, m, db, deltas):
    """Backward pass of one learning event and append it to the buffers (column ``m``).

    ``delta_out`` (n_out,) is ``dL/do_e``; ``xs`` (sum of hidden sizes) the hidden signals at
    the event; ``src`` the source buckets. Writes ``dbuf``, ``ybuf``, ``db`` and ``deltas``.
    """
    L = B.n_post.shape[0]
    K = B.K
    # deltas: flat per layer, offsets B.post_off
    lo = B.post_off[L - 1]
    for j in range(B.n_post[L - 1]):
        deltas[lo + j] = delta_out[j]
    for l in range(L - 2, -1, -1):
        n_post = B.n_post[l]
        n_up = B.n_post[l + 1]
        wg = LA.wg[LA.wg_off[l + 1]:LA.wg_off[l + 2]].reshape(n_up, n_post)
        up = B.post_off[l + 1]
        for i in range(n_post):
            acc = 0.0
            if xs[B.post_off[l] + i] > 0.0:
                for j in range(n_up):
                    acc += deltas[up + j] * wg[j, i]
            deltas[B.post_off[l] + i] = acc
    Mc = LA.buffer * LA.vk
    col = m * LA.vk
    for l in range(L):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        dl = dbuf[d_off[l]:d_off[l + 1]].reshape(n_post, Mc)
        yl = ybuf[y_off[l]:y_off[l + 1]].reshape(K, Mc, n_pre)
        for j in range(n_post):
            dv = deltas[B.post_off[l] + j]
            dl[j, col] = dv
            db[B.post_off[l] + j] += dv
        for k in range(K):
            for i in range(n_pre):
                yl[k, col, i] = src[s_off[l] + i * K + k]


@njit(cache=True)
def flush(B, M, dbuf, d_off, ybuf, y_off, G, g_off):
    """``G^l[k] += dbuf^l @ ybuf^l[k]`` for every layer and bucket; clears the buffers.
    ``M`` is the number of buffer columns (events x slots per event)."""
    L = B.n_post.shape[0]
    K = B.K
    for l in range(L):
        n_post = B.n_post[l]
        n_pre = B.n_pre[l]
        Gl = G[g_off[l]:g_off[l + 1]].reshape(K, n_post, n_pre)
        dl = dbuf[d_off[l]:d_off[l + 1]].reshape(n_post, M)
        yl = ybuf[y_off[l]:y_off[l + 1]].reshape(K, M, n_pre)
        for k in range(K):
            Gl[k] += np.dot(dl, yl[k])
    dbuf[:] = 0.0
    ybuf[:] = 0.0


def grads_from_accumulators(net: Network, G: np.ndarray, db: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Per-layer ``{"w", "v", "b"}`` gradients from the kernel's ``G`` and ``db`` (module notes)."""
    K = net.n_buckets
    sizes = net.sizes
    out = []
    g0 = b0 = 0
    for l in range(net.n_layers):
        n_pre, n_post = sizes[l], sizes[l + 1]
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
