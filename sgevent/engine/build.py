"""Lower a :class:`~sgevent.model.network.Network` to the flat arrays the event kernel runs on.

Aggregated states (DESIGN.md 2.1)
---------------------------------
A post-neuron never stores its inputs' buckets one by one. With per-neuron bucket weights it
keeps ``z_j[k] = sum_i w[j,i] yhat_i[k]`` (R = 1 row), which follows the source cascade; an
input spike of height ``h`` from ``i`` adds ``w[j,i] h`` to ``z_j[0]`` and
``x_j = b_j + v[j] . z_j``. With per-synapse weights it keeps the cross-aggregates
``m_j[r, k'] = sum_i w[j,i] v[j,i,r] yhat_i[k']`` (R = K rows, only ``k' <= r`` is ever
non-zero), each row again a cascade; a spike adds ``w[j,i] v[j,i,r] h`` to ``m_j[r, 0]`` and
``x_j = b_j + sum_r m_j[r, r]``. Both are written ``x_j = b_j + sum_r c[j,r] . z_j[r]`` with
read-out vectors ``c[j,0] = v[j]`` or ``c[j,r] = e_r``; the kernel only sees that form.

Layout
------
Layer ``l`` holds ``n_post`` neurons with R rows of K states. Flat arrays are concatenated
over layers; ``*_off[l]`` gives the start of layer ``l``:

* ``jump``  (n_pre, n_post, R) per layer: what a unit-height spike of pre-neuron ``i`` adds;
* ``c, c1`` (n_post, R, K): read-out vectors and their derivative vectors (``A^T c`` or
  ``(D - I)^T c``); ``n0p, n0n, n2p, n2n`` (n_post, R): norms used by the spike search;
* ``rates`` (L, K): the source cascade of each layer (continuous: ``1/tau``; grid: ``alpha``).

Convolutional layers (``sparse[l]``)
------------------------------------
A conv layer (:mod:`sgevent.model.conv`) is stored by its connected pairs only, sorted by
source: source ``i`` reaches the entries ``e = fo_ptr[ptr_off[l] + i] .. fo_ptr[ptr_off[l] + i + 1] - 1``
(local to the layer), post ``fo_post[fo_off[l] + e]``, and its ``jump`` block is ``(nnz, R)``
(``coef w[tap]`` per neuron, ``coef w[tap] v[tap, r]`` per synapse). A spike is delivered to
its receptive field only (fan-out ``C' k^2``, never a dense row). Dense layers hold empty
``fo_*`` blocks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sgevent.model.conv import entries
from sgevent.model.network import Network
from sgevent.numerics.crossing import search_coefficients
from sgevent.numerics.propagator import cascade_matrix, grid_step_matrix

__all__ = ["Built", "build", "LAZY_LOOKAHEAD"]

LAZY_LOOKAHEAD = 2e-3  # s: how far a lazy (conv) layer's neuron is searched before a re-check (README)


class Built(NamedTuple):
    """Flat arrays of a network for one time model (see module docstring)."""

    grid: bool
    dt: float
    n_pre: np.ndarray        # (L,) int64
    n_post: np.ndarray       # (L,) int64
    R: int
    K: int
    rates: np.ndarray        # (L, K)
    own0: np.ndarray         # (L,) own bucket-0 decay (rate or factor); readout unused
    own_th: np.ndarray       # (L,) threshold decay (rate or factor)
    theta_0: np.ndarray      # (L,)
    m_f: np.ndarray          # (L,)
    spike_gain: np.ndarray   # (L,)
    max_burst: np.ndarray    # (L,) int64
    jump: np.ndarray         # flat
    jump_off: np.ndarray     # (L+1,)
    c: np.ndarray            # flat
    c1: np.ndarray           # flat
    c_off: np.ndarray        # (L+1,)
    n0p: np.ndarray
    n0n: np.ndarray
    n2p: np.ndarray
    n2n: np.ndarray
    nr_off: np.ndarray       # (L+1,) offsets of (n_post, R) arrays
    b: np.ndarray            # flat (sum n_post,)
    post_off: np.ndarray     # (L+1,)
    h_in: float
    sparse: np.ndarray       # (L,) bool: a conv layer, stored by entries
    fo_ptr: np.ndarray       # flat (n_pre + 1,) per sparse layer: CSR pointers by source
    ptr_off: np.ndarray      # (L+1,)
    fo_post: np.ndarray      # flat (nnz,) per sparse layer: post of each entry
    fo_off: np.ndarray       # (L+1,)
    lookahead: float         # lazy layers' search horizon (s or steps; sgevent.engine.phases)
    lazy: np.ndarray         # (L,) bool: a hidden conv layer whose neurons are brought one by one


def _readout_vectors(net: Network, l: int) -> np.ndarray:
    K = net.n_buckets
    n_post = net.sizes[l + 1]
    if net.per_synapse:
        c = np.zeros((n_post, K, K))
        c[:, np.arange(K), np.arange(K)] = 1.0
        return c
    spec = net.conv[l]
    if spec is not None:  # bucket weights per output channel
        return np.repeat(net.v[l], n_post // spec.out_channels, axis=0)[:, None, :].copy()
    return net.v[l][:, None, :].copy()


def _jump_weights(net: Network, l: int, ent) -> np.ndarray:
    if ent is not None:  # (nnz, R): per entry
        w_e = ent.coef * net.w[l].ravel()[ent.tap]
        if net.per_synapse:
            return np.ascontiguousarray(w_e[:, None] * net.v[l].reshape(-1, net.n_buckets)[ent.tap])
        return np.ascontiguousarray(w_e[:, None])
    if net.per_synapse:
        # (n_post, n_pre, K) -> (n_pre, n_post, K)
        return np.ascontiguousarray((net.w[l][:, :, None] * net.v[l]).transpose(1, 0, 2))
    return np.ascontiguousarray(net.w[l].T[:, :, None])


def build(net: Network, dt: float | None, lazy: bool = False) -> Built:
    """Lower ``net`` for the continuous model (``dt=None``) or the grid model of step ``dt``.

    Parameters
    ----------
    net : Network
    dt : float or None
        Grid step in seconds, or None for continuous time.
    lazy : bool
        Advance hidden conv layers neuron by neuron (``simulate(conv_mode=...)``).

    Returns
    -------
    Built
    """
    grid = dt is not None
    L = net.n_layers
    K = net.n_buckets
    R = K if net.per_synapse else 1
    sizes = net.sizes
    n_pre = np.array(sizes[:-1], dtype=np.int64)
    n_post = np.array(sizes[1:], dtype=np.int64)
    rates = np.empty((L, K))
    own0 = np.zeros(L)
    own_th = np.zeros(L)
    theta_0 = np.zeros(L)
    m_f = np.zeros(L)
    spike_gain = np.zeros(L)
    max_burst = np.zeros(L, dtype=np.int64)
    jumps, cs, c1s, n0p, n0n, n2p, n2n, bs = [], [], [], [], [], [], [], []
    sparse = np.zeros(L, dtype=np.bool_)
    ptrs, posts = [], []
    for l in range(L):
        ent = None if net.conv[l] is None else entries(net.conv[l])
        sparse[l] = ent is not None
        ptrs.append(np.zeros(0, np.int64) if ent is None else ent.ptr)
        posts.append(np.zeros(0, np.int64) if ent is None else ent.post)
        taus = net.taus[l]
        if grid:
            rates[l] = np.exp(-dt / taus)
            G = grid_step_matrix(taus, dt) - np.eye(K)
        else:
            rates[l] = 1.0 / taus
            G = cascade_matrix(taus)
        if l < L - 1:
            hp = net.hidden_params[l]
            tau_own = net.taus[l + 1][0]
            own0[l] = np.exp(-dt / tau_own) if grid else 1.0 / tau_own
            own_th[l] = np.exp(-dt / hp.tau_theta) if grid else 1.0 / hp.tau_theta
            theta_0[l], m_f[l], spike_gain[l], max_burst[l] = hp.theta_0, hp.m_f, hp.spike_gain, hp.max_burst
        c = _readout_vectors(net, l)                      # (n_post, R, K)
        c1, a0p, a0n, a2p, a2n = search_coefficients(c, G)
        jumps.append(_jump_weights(net, l, ent).ravel())
        cs.append(c.ravel())
        c1s.append(c1.ravel())
        n0p.append(a0p.ravel())
        n0n.append(a0n.ravel())
        n2p.append(a2p.ravel())
        n2n.append(a2n.ravel())
        spec = net.conv[l]
        bs.append(net.b[l] if spec is None else np.repeat(net.b[l], sizes[l + 1] // spec.out_channels))

    def offsets(parts):
        return np.concatenate([[0], np.cumsum([p.size for p in parts])]).astype(np.int64)

    return Built(
        grid=grid, dt=float(dt) if grid else 0.0, n_pre=n_pre, n_post=n_post, R=R, K=K,
        rates=rates, own0=own0, own_th=own_th, theta_0=theta_0, m_f=m_f, spike_gain=spike_gain,
        max_burst=max_burst,
        jump=np.concatenate(jumps), jump_off=offsets(jumps),
        c=np.concatenate(cs), c1=np.concatenate(c1s), c_off=offsets(cs),
        n0p=np.concatenate(n0p), n0n=np.concatenate(n0n), n2p=np.concatenate(n2p), n2n=np.concatenate(n2n),
        nr_off=offsets(n0p), b=np.concatenate(bs), post_off=offsets(bs), h_in=float(net.h_in),
        sparse=sparse, fo_ptr=np.concatenate(ptrs), ptr_off=offsets(ptrs), fo_post=np.concatenate(posts),
        fo_off=offsets(posts),
        lookahead=max(1.0, float(np.floor(LAZY_LOOKAHEAD / dt))) if grid else LAZY_LOOKAHEAD,
        lazy=sparse & (np.arange(L) < L - 1) & bool(lazy),
    )
