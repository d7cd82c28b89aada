"""Array-backed binary min-heap of predicted events, ordered by ``(t, seq)`` (DESIGN.md 2.2).

Each entry is ``(t, seq, nid, ver)``: time, a monotone push counter (so equal times pop
first-in-first-out and runs are bit-reproducible), the global neuron id and the neuron's
version counter at push time. A popped entry whose ``ver`` differs from the neuron's current
version is stale (lazy invalidation) and is dropped by the caller. The heap lives in four
parallel arrays of fixed capacity; :func:`heap_compact` drops stale entries when it fills, so
its size never exceeds ``capacity`` (memory is constant in time).

All kernels modify the arrays in place and return the new size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["Heap", "heap_push", "heap_pop", "heap_compact", "heap_push_compact"]


class Heap(NamedTuple):
    """The heap's four parallel arrays of one capacity."""

    t: np.ndarray      # float64: event time
    seq: np.ndarray    # int64: push counter
    nid: np.ndarray    # int64: global id of the event's owner
    ver: np.ndarray    # int64: owner's version at push time


@njit(cache=True)
def _less(ht, hs, a, b):
    return ht[a] < ht[b] or (ht[a] == ht[b] and hs[a] < hs[b])


@njit(cache=True)
def _swap(ht, hs, hn, hv, a, b):
    ht[a], ht[b] = ht[b], ht[a]
    hs[a], hs[b] = hs[b], hs[a]
    hn[a], hn[b] = hn[b], hn[a]
    hv[a], hv[b] = hv[b], hv[a]


@njit(cache=True)
def _sift_down(ht, hs, hn, hv, size, i):
    while True:
        l = 2 * i + 1
        if l >= size:
            return
        m = l
        r = l + 1
        if r < size and _less(ht, hs, r, l):
            m = r
        if _less(ht, hs, m, i):
            _swap(ht, hs, hn, hv, m, i)
            i = m
        else:
            return


@njit(cache=True)
def heap_push(ht, hs, hn, hv, size, t, seq, nid, ver):
    """Insert ``(t, seq, nid, ver)``; requires ``size < capacity``. Returns the new size."""
    i = size
    ht[i] = t
    hs[i] = seq
    hn[i] = nid
    hv[i] = ver
    while i > 0:
        p = (i - 1) // 2
        if _less(ht, hs, i, p):
            _swap(ht, hs, hn, hv, i, p)
            i = p
        else:
            break
    return size + 1


@njit(cache=True)
def heap_pop(ht, hs, hn, hv, size):
    """Remove the top entry (read it at index 0 first). Returns the new size."""
    size -= 1
    if size > 0:
        _swap(ht, hs, hn, hv, 0, size)
        _sift_down(ht, hs, hn, hv, size, 0)
    return size


@njit(cache=True)
def heap_compact(ht, hs, hn, hv, size, version):
    """Drop entries whose version is stale (``hv != version[hn]``) and re-heapify."""
    k = 0
    for i in range(size):
        if hv[i] == version[hn[i]]:
            ht[k] = ht[i]
            hs[k] = hs[i]
            hn[k] = hn[i]
            hv[k] = hv[i]
            k += 1
    for i in range(k // 2 - 1, -1, -1):
        _sift_down(ht, hs, hn, hv, k, i)
    return k


@njit(cache=True)
def heap_push_compact(heap, size, version, t, seq, nid):
    """Push ``(t, seq, nid, version[nid])`` into ``heap``, first dropping stale entries
    (:func:`heap_compact`) when it is full. Returns the new size and whether it compacted."""
    compacted = size == heap.t.shape[0]
    if compacted:
        size = heap_compact(heap.t, heap.seq, heap.nid, heap.ver, size, version)
    return heap_push(heap.t, heap.seq, heap.nid, heap.ver, size, t, seq, nid, version[nid]), compacted
