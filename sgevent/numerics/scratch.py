"""Scratch space of the event loop's kernels, allocated once per chunk.

Every kernel that needs temporary matrices takes one :class:`Scratch` instead of a dozen
positional arrays. The contents are undefined on entry: a kernel writes before it reads (except ``Pn``, valid
for the layer and elapsed time in ``pkey``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["Scratch", "make_scratch"]


class Scratch(NamedTuple):
    """Temporary arrays of one layer's size ``K`` (buckets) and ``R`` (rows per neuron)."""

    P: np.ndarray      # (K, K) a propagator
    W1: np.ndarray     # (K, K) work of the propagators (W1[0] also a K-vector)
    W2: np.ndarray     # (K, K) work of the propagators
    Ps: np.ndarray     # (K, K) the propagator shared by sources (sync_sources)
    zs: np.ndarray     # (R, K) a neuron's state at a trial time (spike search)
    Pcs: np.ndarray    # (K, 2K-1, 2K-1) traces: chain propagators
    lam: np.ndarray    # (2K-1,) traces: the chains' rates
    W1c: np.ndarray    # (2K-1, 2K-1) traces: propagator work
    W2c: np.ndarray    # (2K-1, 2K-1) traces: propagator work
    tmp: np.ndarray    # (K,) a K-vector
    cn: np.ndarray     # (R, K) traces: signed read-out vectors of a gate search
    c1n: np.ndarray    # (R, K) traces: their derivative vectors
    Pn: np.ndarray     # (K, K) the last propagator of a lazy neuron (engine.layer.bring_neuron)
    pkey: np.ndarray   # (2,) its layer and elapsed time (nan: none yet)


@njit(cache=True)
def make_scratch(K, R):
    """Uninitialised :class:`Scratch` for ``K`` buckets and ``R`` rows per neuron."""
    Kc = 2 * K - 1
    return Scratch(
        P=np.empty((K, K)), W1=np.empty((K, K)), W2=np.empty((K, K)), Ps=np.empty((K, K)),
        zs=np.empty((R, K)), Pcs=np.empty((K, Kc, Kc)), lam=np.empty(Kc), W1c=np.empty((Kc, Kc)),
        W2c=np.empty((Kc, Kc)), tmp=np.empty(K), cn=np.empty((R, K)), c1n=np.empty((R, K)),
        Pn=np.empty((K, K)), pkey=np.full(2, np.nan),
    )
