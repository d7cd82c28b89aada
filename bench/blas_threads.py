"""Benchmark: training samples with BLAS on its default threads vs pinned to one thread.

Run: ``.venv/bin/python bench/blas_threads.py [learn_period]`` (default 1e-3; needs the
synthetic digits in ``datasets/synth/SHD/``, e.g. from ``make run-shd``).

The run-shd network (``configs/run_shd.json``) on 16 training samples, 1 ms grid, with 1 and 2
sample threads, once with OpenBLAS left alone and once inside
:func:`sgevent.train.batch.one_blas_thread`. Printed: seconds per sample, side by side. (Since
``batch_gradients`` now pins BLAS itself, the "default" rows call the kernels' batched products
with whatever threads the outer ``threadpool_limits`` allows, i.e. they show the old behaviour.)
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import sgevent.train.batch as batch  # noqa: E402
from sgevent.data import load_h5  # noqa: E402
from sgevent.learn.spec import LearnSpec  # noqa: E402
from sgevent.train.config import load_config  # noqa: E402
from sgevent.train.trainer import network_from_config  # noqa: E402


def main() -> None:
    lp = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-3
    root = os.path.dirname(HERE)
    data = load_h5(os.path.join(root, "datasets/synth/SHD/shd_train.h5"))
    net = network_from_config(load_config(os.path.join(root, "configs/run_shd.json")), 700, 20)
    spec = LearnSpec(loss="mean", backward="instant", learn_period=lp)
    idx = np.arange(16)
    blas = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    print(f"run-shd network, 1 ms grid, learn_period {lp:g} s, 16 samples; BLAS default threads {blas}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    pinned = batch.one_blas_thread
    batch.batch_gradients(net, data, idx[:2], spec, dt=1e-3, window=1.15)  # compile / load the cache
    for label, limit in (("BLAS default threads", blas), ("BLAS one thread", 1)):
        batch.one_blas_thread = (lambda n=limit: threadpool_limits(n, user_api="blas"))
        for threads in (1, 2):
            t0 = time.perf_counter()
            batch.batch_gradients(net, data, idx, spec, dt=1e-3, window=1.15, threads=threads)
            print(f"  {label:22s} sample threads {threads}: {(time.perf_counter() - t0) / idx.size:.3f} s / sample",
                  flush=True)
    batch.one_blas_thread = pinned


if __name__ == "__main__":
    main()
