"""Benchmark: cost of one SHD-sized training sample, and memory against sample duration.

Run: ``.venv/bin/python bench/train.py [--quick] [--no-traces]``.

Problem: 700 -> 256 -> 20, K = 8, the speech-like input of ``bench/engine.py`` (7,000 spikes
over 1 s), learning events every 1 ms (``LearnSpec()``: mean cross-entropy, ``instant``
backward). Each mode runs in its own subprocess (warm-up call first, then the best of N timed
calls), side by side in this one invocation:

- event engine, continuous and grid dt = 1 ms, 0.1 ms, 0.01 ms: ``simulate(..., learn=...)``;
- clock reference at 1 ms: ``simulate_reference(..., learn=...)``;
- event engine with the ``traces`` backward (exact eligibility traces), 1 ms grid and continuous.

Printed: seconds per training sample, ratios to the engine at 1 ms (target: within 1.3x down to
0.01 ms), and the projected time of an SHD epoch (8,156 samples) with the samples of each
mini-batch on both cores (``sgevent.train.batch`` runs them on threads): ``8156 * t / 2``.

Gradient work: the learning events' products alone (``K x 256 x 700`` MACs per event for the
hidden layer, as ``learn.accumulate.flush`` forms them, in chunks of 32 events), timed with one
BLAS thread; printed as the ratio of a training sample to that GEMM floor.

Memory: peak RSS (``ru_maxrss``) of a process that runs one continuous training step on a 1 s
sample and of one on a 20 s sample (the same input pattern repeated 20 times), each in a fresh
subprocess; target: within 10%.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

N_SHD_TRAIN = 8156
BLAS_ENV = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def _problem(quick: bool, repeat: int = 1):
    from engine import THETA_0, speech_like_input  # bench/engine.py

    import sgevent

    n, T = (2000, 0.3) if quick else (7000, 1.0)
    t, u = speech_like_input(n, T, 1)
    if repeat > 1:
        t = np.concatenate([t + k * T for k in range(repeat)])
        u = np.tile(u, repeat)
    net = sgevent.Network.create(700, 256, 20, n_buckets=8, seed=0, theta_0=THETA_0)
    return net, t, u, T * repeat


def _child(mode: str, dt: float | None, quick: bool, repeat: int, n_rep: int) -> dict:
    import sgevent
    from sgevent.learn.spec import LearnSpec

    net, t, u, T = _problem(quick, repeat)
    spec = LearnSpec(backward="traces") if mode == "traces" else LearnSpec()
    fn = sgevent.simulate_reference if mode == "reference" else sgevent.simulate
    # warm-up (compile or load the numba cache) on a short piece
    fn(net, t[:100], u[:100], dt=dt, t_end=0.01, learn=spec, label=3)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = np.inf
    for _ in range(n_rep):
        t0 = time.perf_counter()
        r = fn(net, t, u, dt=dt, t_end=T, learn=spec, label=3)
        best = min(best, time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall": best, "loss": r.loss, "spikes": int(sum(r.n_spikes)), "rss_mb": rss / 1024,
            "rss_rise_mb": (rss - rss0) / 1024, "duration": T}


def _gemm_floor(n_events: int, K: int, sizes: tuple[int, ...], chunk: int = 32, n_rep: int = 3) -> dict:
    """Time of the gradient products alone: for every layer and bucket, one ``(n_post, chunk) @
    (chunk, n_pre)`` product per ``chunk`` learning events (what ``learn.accumulate.flush`` does),
    on random data with one BLAS thread, best of ``n_rep``; and the MAC count per event."""
    rng = np.random.default_rng(0)
    n_chunks = -(-n_events // chunk)
    pairs = [(rng.standard_normal((n_post, chunk)), rng.standard_normal((chunk, n_pre)))
             for n_pre, n_post in zip(sizes[:-1], sizes[1:])]
    best = np.inf
    for _ in range(n_rep):
        t0 = time.perf_counter()
        for _ in range(n_chunks * K):
            for d, y in pairs:
                np.dot(d, y)
        best = min(best, time.perf_counter() - t0)
    macs = [K * n_post * n_pre for n_pre, n_post in zip(sizes[:-1], sizes[1:])]
    return {"wall": best, "macs_per_event": macs, "n_events": n_events,
            "gflops": 2 * sum(macs) * n_chunks * chunk / best / 1e9}


def _spawn(mode, dt, quick, repeat=1, n_rep=2) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps([mode, dt, quick, repeat, n_rep])]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **BLAS_ENV})
    if p.returncode != 0:
        raise SystemExit(f"{mode} dt={dt} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _gemm_child(n_events: int) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(["gemm", n_events, 8, (700, 256, 20)])]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **BLAS_ENV})
    if p.returncode != 0:
        raise SystemExit(f"gemm floor failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-traces", action="store_true", help="skip the two (slow) traces modes")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(_gemm_floor(*spec[1:]) if spec[0] == "gemm" else _child(*spec)))
        return
    load = os.getloadavg()[0]
    print(f"training sample: 700-256-20, K=8, speech-like input, learn_period 1 ms; load average {load:.1f} on "
          f"{os.cpu_count()} cores; each mode in a fresh subprocess, best of 2 (traces: 1), BLAS 1 thread")
    modes = [("engine", None), ("engine", 1e-3), ("engine", 1e-4), ("engine", 1e-5), ("reference", 1e-3)]
    if not args.no_traces:
        modes += [("traces", 1e-3), ("traces", None)]
    rows = {}
    print(f"{'mode':10s} {'dt':>8s} {'s/sample':>9s} {'epoch(8156, 2 cores)':>22s} {'loss':>8s} {'hid.spk':>8s}")
    for mode, dt in modes:
        r = _spawn(mode, dt, args.quick, 1, 1 if mode == "traces" else 2)
        rows[(mode, dt)] = r
        epoch_min = N_SHD_TRAIN * r["wall"] / 2 / 60
        label = "cont" if dt is None else f"{dt * 1e3:g} ms"
        print(f"{mode:10s} {label:>8s} {r['wall']:9.3f} {epoch_min:19.1f} min {r['loss']:8.4f} {r['spikes']:8d}")
    base = rows[("engine", 1e-3)]["wall"]
    print("\nengine time relative to engine at 1 ms (target <= 1.3x at 0.01 ms):")
    for dt in (None, 1e-4, 1e-5):
        ratio = rows[("engine", dt)]["wall"] / base
        tag = "" if dt != 1e-5 else ("  PASS" if ratio <= 1.3 else "  MISS")
        print(f"  {'cont' if dt is None else f'{dt * 1e3:g} ms':>8s}: {ratio:5.2f}x{tag}")
    print("  note: coarse grids merge input spikes that share a step into one instant, so they do fewer instants;")
    print("        the cost follows the number of distinct event instants, not 1/dt (it saturates as dt -> 0).")
    ref = rows[("reference", 1e-3)]["wall"]
    print(f"reference / engine at 1 ms: {ref / base:.1f}x")
    T = rows[("engine", 1e-3)]["duration"]
    n_events = int(round(T / 1e-3))  # LearnSpec(): a learning event every 1 ms
    floor = _gemm_child(n_events)
    print(f"\ngradient work: {n_events} learning events x {floor['macs_per_event'][0]:,} MACs (K x 256 x 700) + "
          f"{floor['macs_per_event'][1]:,} (readout) each; its GEMM floor (the same products alone, chunks of 32 "
          f"events, BLAS 1 thread, {floor['gflops']:.1f} GFLOP/s) is {floor['wall']:.3f} s per sample:")
    for dt in (None, 1e-3):
        ratio = rows[("engine", dt)]["wall"] / floor["wall"]
        print(f"  engine {'cont' if dt is None else f'{dt * 1e3:g} ms':>8s}: {ratio:5.1f}x"
              " the GEMM floor (the rest is the forward pass, the error push-down and the event bookkeeping)")
    print("\nmemory of one continuous training step (fresh process each):")
    short = _spawn("engine", None, args.quick, 1, 1)
    long_ = _spawn("engine", None, args.quick, 20, 1)
    ratio = long_["rss_mb"] / short["rss_mb"]
    for m in (short, long_):
        print(f"  {m['duration']:5.1f} s sample: peak RSS {m['rss_mb']:.1f} MB "
              f"(rise over warm-up {m['rss_rise_mb']:.1f} MB)")
    print(f"  ratio {ratio:.3f}  ({'PASS' if ratio <= 1.10 else 'MISS'}: target within 10%)")


if __name__ == "__main__":
    main()
