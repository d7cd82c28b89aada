"""Benchmark: data-parallel training steps on Dask workers against in-process threads.

Run: ``.venv/bin/python bench/distributed.py [--quick]`` (about 3-4 minutes; ``--quick`` well
under one).

Problem: the run-shd model by default (``configs/run_shd.json``: 700 -> 128 -> 20, K = 8, grid
dt = 1 ms, learning events every 10 ms, mean cross-entropy, ``instant`` backward) on synthetic
speech-like spike trains of ``bench/engine.py`` (7,000 spikes over 1 s per sample, one seed per
sample), written to an SHD-layout HDF5 file so that the workers read it themselves
(``sgevent.train.distributed``, data="path"). A training step is the summed gradients of a mini-batch
of 16 samples (the optimiser, the same in every mode, is timed apart).

Side by side in one run, on this machine:

- in-process: ``sgevent.train.batch.batch_gradients`` on 1 thread and on 2 threads (the default path);
- Dask: a ``LocalCluster`` of 1 and of 2 single-threaded worker processes
  (``DaskBackend.batch_gradients``: the network scattered to every worker, one contiguous shard
  per worker, shard sums gathered and reduced on the driver).

Each mode: one warm-up step (Numba cache, file read on the workers), then ``--steps`` timed steps
on different samples; the median step is reported. Then the communication of a step, measured:
serialised bytes (``distributed.protocol.serialize``) of the network scattered to each worker,
of one shard's task arguments and of one shard's returned sums; the Dask overhead of a step that
simulates nothing (scatter + tasks + gather of gradient-sized results on this machine's loopback);
the driver's serial reduction per shard and the optimiser step.

Last, a **projection** (not a measurement) of one SSC epoch (75,466 training samples) on 8 and 64
workers from those numbers: per-sample compute as measured on one Dask worker here, mini-batch
max(16, W) (one shard per worker), every byte of a step through the driver's / scheduler's one
link at 1 Gb/s or 10 Gb/s (the scatter sends one copy of the network per worker; the shard sums
come back one per worker), the driver's reduction serial in W, a per-step scheduling latency
grown linearly from the measured 1- and 2-worker null steps; stragglers (unequal sample
durations), other jobs and a slower or faster core are not modelled.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import math
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time

# BLAS on one thread in every mode, as in bench/train.py (Dask sets the same in its workers):
# parallelism comes from samples, and idle BLAS threads spinning beside them cost up to 7x here.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# This file shares its name with the ``distributed`` package: keep bench/ off the import path
# (Python puts a script's folder first) so that ``import distributed`` finds Dask's.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, os.path.dirname(HERE))

N_SSC_TRAIN = 75_466
N_IN, N_OUT = 700, 20


def _bench_engine():
    """``bench/engine.py`` as a module (its speech-like input and threshold)."""
    spec = importlib.util.spec_from_file_location("bench_engine", os.path.join(HERE, "engine.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_data(folder: str, n_samples: int, n_spikes: int, t_end: float):
    """``n_samples`` speech-like samples (seed = index, ``n_spikes`` +- 5 spikes) in an SHD-layout
    file, read back."""
    from sgevent.data import load_h5
    from sgevent.data.shd_writer import write_shd_h5

    # counts differ by a few spikes between samples (write_shd_h5 needs ragged lists)
    speech_like_input = _bench_engine().speech_like_input
    times, units = zip(*(speech_like_input(n_spikes + seed % 11 - 5, t_end, seed) for seed in range(n_samples)))
    labels = [i % N_OUT for i in range(n_samples)]
    path = os.path.join(folder, "bench_train.h5")
    write_shd_h5(path, times, units, labels, [0] * n_samples, keys=[f"c{c}" for c in range(N_OUT)], n_channels=N_IN)
    return load_h5(path, n_channels=N_IN)


def _null_shard(net, k):
    """A shard that simulates nothing and returns gradient-sized sums (the Dask overhead)."""
    from sgevent.train.batch import BatchResult

    grads = [{key: np.zeros_like(getattr(net, key)[l]) for key in ("w", "v", "b")} for l in range(net.n_layers)]
    return BatchResult(loss=0.0, grads=grads, n_samples=1, hidden_spikes=np.zeros(len(net.hidden), np.int64), correct=0)


def _noop(k):
    return k


def _serialized_bytes(obj) -> int:
    from distributed.protocol import serialize

    _, frames = serialize(obj, on_error="raise")
    return int(sum(memoryview(f).nbytes for f in frames))


def _median_step(fn, batches) -> tuple[float, list[float], object]:
    fn(batches[0])  # warm-up
    walls, res = [], None
    for b in batches[1:]:
        t0 = time.perf_counter()
        res = fn(b)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), walls, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller samples and fewer steps (a smoke run)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per mode (after one warm-up)")
    ap.add_argument("--dt", type=float, default=1e-3, help="grid step (s); 0: continuous")
    ap.add_argument("--learn-period", dest="learn_period", type=float, default=1e-2)
    args = ap.parse_args()

    import sgevent

    THETA_0 = _bench_engine().THETA_0
    from sgevent.learn.spec import LearnSpec
    from sgevent.train.batch import BatchResult, batch_gradients
    from sgevent.train.distributed import _reduce, shard_bounds, start_backend
    from sgevent.train.optim import OptimConfig, make_optimizer

    n_spikes, t_end = (2000, 0.3) if args.quick else (7000, 1.0)
    steps = 1 if args.quick else args.steps
    B, dt = args.batch, (None if args.dt <= 0 else args.dt)
    spec = LearnSpec(learn_period=args.learn_period)
    net = sgevent.Network.create(N_IN, args.hidden, N_OUT, n_buckets=8, seed=0, theta_0=THETA_0)
    tmp = tempfile.mkdtemp(prefix="sgevent-bench-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    data = build_data(tmp, B * (steps + 1), n_spikes, t_end)
    batches = [np.arange(k * B, (k + 1) * B) for k in range(steps + 1)]
    seeds = list(range(B))
    print(f"sgevent {sgevent.__version__} | {N_IN}-{args.hidden}-{N_OUT}, K=8, "
          f"{'continuous' if dt is None else f'grid dt={dt * 1e3:g} ms'}, learn every {spec.learn_period * 1e3:g} ms; "
          f"{n_spikes} input spikes over {t_end:g} s per sample; mini-batch {B}; median of {steps} timed steps "
          f"after a warm-up; BLAS {os.environ['OPENBLAS_NUM_THREADS']} thread(s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    rows = []

    def inproc(threads):
        return lambda b: batch_gradients(net, data, b, spec, dt=dt, window=t_end, threads=threads, rng_seeds=seeds)

    for threads in (1, 2):
        med, walls, res = _median_step(inproc(threads), batches)
        rows.append((f"in-process, {threads} thread{'s' if threads > 1 else ''}", med, walls))
        ref_loss = res.loss

    comm = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        backend = start_backend(workers=workers)
        start_s = time.perf_counter() - t0
        with backend:
            med, walls, res = _median_step(lambda b: backend.batch_gradients(
                net, data, b, spec, dt=dt, window=t_end, rng_seeds=seeds), batches)
            rows.append((f"Dask, {workers} worker{'s' if workers > 1 else ''} (start {start_s:.1f} s)", med, walls))
            assert abs(res.loss - ref_loss) <= 1e-9 * abs(ref_loss), (res.loss, ref_loss)
            # communication of one step, measured
            shard = batch_gradients(net, data, batches[0][: B // workers], spec, dt=dt, window=t_end,
                                    threads=1, rng_seeds=seeds[: B // workers])
            a, b = shard_bounds(B, workers)[0]
            task_args = (batches[0][a:b], seeds[a:b], spec, dt, t_end, None, None)
            template = BatchResult(loss=0.0, grads=shard.grads, n_samples=b - a, hidden_spikes=shard.hidden_spikes,
                                   correct=0)
            nulls = []
            for _ in range(6):
                t1 = time.perf_counter()
                parts = backend.run_tasks(_null_shard, [(k,) for k in range(workers)], broadcast=net,
                                          what="null")
                nulls.append(time.perf_counter() - t1)
            comm[workers] = {"null_step_s": statistics.median(nulls[1:])}
            if workers == 2:  # scheduler cost per task: many tiny tasks at once
                backend.client.gather(backend.client.map(_noop, range(20), pure=False))
                t1 = time.perf_counter()
                backend.client.gather(backend.client.map(_noop, range(400), pure=False))
                task_s = (time.perf_counter() - t1) / 400
        t1 = time.perf_counter()
        for _ in range(20):
            _reduce(parts)
        comm[workers]["reduce_s"] = (time.perf_counter() - t1) / 20

    net_bytes, net_pickle = _serialized_bytes(net), len(pickle.dumps(net, protocol=5))
    grad_bytes = _serialized_bytes(template)
    args_bytes = _serialized_bytes(task_args)
    params = [a.copy() for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
    opt = make_optimizer(OptimConfig(name="adam", lr=1e-2), params)
    grads = [g[k] / B for g in shard.grads for k in ("w", "v", "b")]
    opt.step(grads)
    t1 = time.perf_counter()
    for _ in range(20):
        opt.step(grads)
    opt_s = (time.perf_counter() - t1) / 20
    reduce_per_shard = comm[2]["reduce_s"] / 2

    base = rows[0][1]
    print(f"\n{'mode':34s} {'s / step':>9s} {'samples / s':>12s} {'vs 1 thread':>12s}   steps (s)")
    for name, med, walls in rows:
        print(f"{name:34s} {med:9.2f} {B / med:12.2f} {base / med:11.2f}x   "
              + " ".join(f"{w:.2f}" for w in walls))
    t_sample = (rows[2][1] - comm[1]["null_step_s"]) / B  # one worker core, simulation only

    print("\ncommunication of one step (serialised with distributed.protocol.serialize):")
    print(f"  network scattered to each worker : {net_bytes / 1e6:8.3f} MB (pickle {net_pickle / 1e6:.3f} MB; "
          f"{sum(p.size for p in params):,} float64 parameters)")
    print(f"  task arguments per shard         : {args_bytes / 1e3:8.3f} kB (sample indices, seeds, options)")
    print(f"  summed gradients back per shard  : {grad_bytes / 1e6:8.3f} MB")
    for w in (1, 2):
        label = f"per step, {w} worker{'s' if w > 1 else ''}"
        print(f"  {label:33s}: {w * (net_bytes + args_bytes + grad_bytes) / 1e6:8.3f} MB "
              f"(null step, no simulation: {comm[w]['null_step_s'] * 1e3:.0f} ms on loopback)")
    print(f"  driver: reduction {reduce_per_shard * 1e3:.2f} ms per shard, Adam step {opt_s * 1e3:.2f} ms")
    print(f"  per-sample compute on one worker core: {t_sample:.3f} s")
    print(f"  Dask scheduler: {task_s * 1e3:.2f} ms per task (400 tiny tasks on 2 workers)")

    step_bytes = net_bytes + args_bytes + grad_bytes  # per worker and step
    print(f"\nPROJECTION (not measured) of one SSC epoch ({N_SSC_TRAIN:,} training samples) from the numbers above:")
    print(f"{'workers':>7s} {'batch':>5s} {'link':>9s} {'compute':>8s} {'comm':>7s} {'driver':>7s} {'fixed':>6s} "
          f"{'step (s)':>8s} {'epoch (min)':>11s} {'ideal (min)':>11s} {'efficiency':>10s}")
    for w in (8, 64):
        for bsz in sorted({max(B, w), 4 * w}):
            n_steps = math.ceil(N_SSC_TRAIN / bsz)
            compute = math.ceil(bsz / w) * t_sample
            driver = w * (reduce_per_shard + task_s) + opt_s
            fixed = comm[1]["null_step_s"]
            ideal = N_SSC_TRAIN * t_sample / w / 60
            for gbit in (1, 10):
                comm_s = w * step_bytes * 8 / (gbit * 1e9)
                step = compute + comm_s + driver + fixed
                epoch = n_steps * step / 60
                print(f"{w:7d} {bsz:5d} {gbit:4d} Gb/s {compute:7.2f}s {comm_s:6.3f}s {driver:6.3f}s {fixed:5.3f}s "
                      f"{step:8.2f} {epoch:11.1f} {ideal:11.1f} {ideal / epoch:9.0%}")
    print("  step = compute (ceil(batch/W) samples x the per-sample cost measured on one worker here)\n"
          "       + comm (W x (network + task arguments + shard sums) through the driver's / scheduler's one link)\n"
          "       + driver (W x (reduction of one shard + scheduler cost of one task), serial, + one Adam step)\n"
          "       + fixed (the 1-worker null step measured here: scatter, submit, gather on loopback).\n"
          "  Not modelled: stragglers (unequal sample durations, slower machines), other jobs, a faster core.")


if __name__ == "__main__":
    main()
