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
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sgevent.model.network import Network
from sgevent.numerics.crossing import search_coefficients
from sgevent.numerics.propagator import cascade_matrix, grid_step_matrix

__all__ = ["Built", "build"]


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


def _readout_vectors(net: Network, l: int) -> np.ndarray:
    K = net.n_buckets
    n_post = net.sizes[l + 1]
    if net.per_synapse:
        c = np.zeros((n_post, K, K))
        c[:, np.arange(K), np.arange(K)] = 1.0
        return c
    return net.v[l][:, None, :].copy()


def _jump_weights(net: Network, l: int) -> np.ndarray:
    if net.per_synapse:
        # (n_post, n_pre, K) -> (n_pre, n_post, K)
        return np.ascontiguousarray((net.w[l][:, :, None] * net.v[l]).transpose(1, 0, 2))
    return np.ascontiguousarray(net.w[l].T[:, :, None])


def build(net: Network, dt: float | None) -> Built:
    """Lower ``net`` for the continuous model (``dt=None``) or the grid model of step ``dt``.

    Parameters
    ----------
    net : Network
    dt : float or None
        Grid step in seconds, or None for continuous time.

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
    for l in range(L):
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
        jumps.append(_jump_weights(net, l).ravel())
        cs.append(c.ravel())
        c1s.append(c1.ravel())
        n0p.append(a0p.ravel())
        n0n.append(a0n.ravel())
        n2p.append(a2p.ravel())
        n2n.append(a2n.ravel())
        bs.append(net.b[l])

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
    )
