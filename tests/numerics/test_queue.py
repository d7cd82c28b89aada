"""The event heap against heapq: same pop order, FIFO ties, compaction keeps valid entries."""

import numpy as np
from naive import NaiveHeap

from sgevent.numerics.queue import heap_compact, heap_pop, heap_push


def _arrays(cap):
    return np.empty(cap), np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)


def test_pop_order_matches_heapq_with_ties():
    rng = np.random.default_rng(0)
    ht, hs, hn, hv = _arrays(5000)
    naive = NaiveHeap()
    size = 0
    seq = 0
    popped, popped_naive = [], []
    for step in range(20000):
        if size < 5000 and (size == 0 or rng.random() < 0.55):
            t = float(rng.integers(0, 50))  # many equal times: ties must pop FIFO by seq
            size = heap_push(ht, hs, hn, hv, size, t, seq, int(rng.integers(0, 9)), 0)
            naive.push(t, seq, 0, 0)
            seq += 1
        else:
            popped.append((ht[0], hs[0]))
            size = heap_pop(ht, hs, hn, hv, size)
            popped_naive.append(naive.pop()[:2])
    while size:
        popped.append((ht[0], hs[0]))
        size = heap_pop(ht, hs, hn, hv, size)
        popped_naive.append(naive.pop()[:2])
    assert popped == popped_naive


def test_pops_are_non_decreasing():
    rng = np.random.default_rng(1)
    ht, hs, hn, hv = _arrays(1000)
    size = 0
    for i in range(1000):
        size = heap_push(ht, hs, hn, hv, size, rng.random(), i, 0, 0)
    last = -1.0
    while size:
        assert ht[0] >= last
        last = ht[0]
        size = heap_pop(ht, hs, hn, hv, size)


def test_compact_drops_only_stale_entries():
    rng = np.random.default_rng(2)
    ht, hs, hn, hv = _arrays(400)
    version = np.zeros(10, np.int64)
    size = 0
    valid = []
    for i in range(400):
        nid = int(rng.integers(0, 10))
        version[nid] += 1  # every push invalidates the neuron's earlier entries
        size = heap_push(ht, hs, hn, hv, size, rng.random(), i, nid, version[nid])
    for nid in range(10):
        idx = [k for k in range(size) if hn[k] == nid and hv[k] == version[nid]]
        valid += [(ht[k], hs[k]) for k in idx]
    size = heap_compact(ht, hs, hn, hv, size, version)
    assert size == len(valid) <= 10
    out = []
    while size:
        out.append((ht[0], hs[0]))
        size = heap_pop(ht, hs, hn, hv, size)
    assert out == sorted(valid)
