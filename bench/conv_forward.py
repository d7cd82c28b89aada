"""Benchmark: a forward pass of a small conv SpikingGamma network (issue 14's speed target).

Run (from the repository root)::

    NUMBA_NUM_THREADS=1 .venv/bin/python bench/conv_forward.py [--events 100000] [--repeats 1]
        [--modes 1e-3:layer 1e-3:lazy cont:lazy cont:layer] [--stride 1|2] [--quick]

A mode is ``STEP:CONV``: ``cont`` or a grid step in seconds, and how conv layers are advanced
(``simulate(conv_mode=...)``: ``lazy``, ``layer`` or ``auto``).

The network (``--stride 1``, the default): input ``2 x 32 x 32`` (DVS polarity x pixels) ->
``16c5`` (16 channels, 5 x 5 kernel, stride 1, no padding: 16 x 28 x 28 = 12,544 neurons) ->
``32c3`` reading the first map through a 2 x 2 average pooling (32 x 12 x 12 = 4,608 neurons) ->
a dense readout of 11 units; K = 8 buckets, per-channel bucket weights, theta 0.1, input
cascade ``tau = (5 ms, 7 x 15 ms)``, ``weight_gain`` 1, seed 0. ``--stride 2`` uses stride 2 in
both conv layers instead (16 x 14 x 14 -> 32 x 6 x 6, no pooling).

Input: ``--events`` events (default 100,000) over 1 s, uniform over the 2,048 (polarity, pixel)
channels and in time (``default_rng(1)``), at most one per channel per 1 ms step is *not*
enforced. The readout is read every 10 ms.

Printed: per mode (continuous time and each grid step), the best and median wall time of
``--repeats`` warm runs of :func:`sgevent.simulate` on one thread, the instants and
predictions, the hidden spikes, the
synaptic operations the engine performed (receptive-field fan-out) against the dense
equivalent (every input event reaching every post-neuron), and the dense clock-driven cost of
the same network (MACs of the synaptic mixing per step, ``K n_pre n_post + K n_post`` per layer
as :func:`sgevent.simulate_reference` counts them, times the steps of 1 s). The reference itself
is too slow to time at this size (about 7e11 MACs for 1 s at 1 ms), so only its count is printed.
``--quick``: 10,000 events over 0.1 s (the same rate), one repeat.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import sgevent  # noqa: E402
from sgevent.model.network import Network  # noqa: E402

T_END = 1.0


def network(stride: int) -> Network:
    if stride == 1:
        convs = [dict(out_channels=16, kernel=5), dict(out_channels=32, kernel=3, pool=2, pool_mode="avg")]
    else:
        convs = [dict(out_channels=16, kernel=5, stride=2), dict(out_channels=32, kernel=3, stride=2)]
    return Network.create_conv((2, 32, 32), convs, 11, n_buckets=8, seed=0, theta_0=0.1, weight_gain=1.0,
                               tau_0=5e-3, tau_delay=15e-3)


def inputs(n_events: int, t_end: float, n_in: int):
    rng = np.random.default_rng(1)
    return np.sort(rng.uniform(0.0, t_end, n_events)), rng.integers(0, n_in, n_events)


def dense_macs(net: Network) -> int:
    K = net.n_buckets
    return int(sum(K * net.sizes[l] * net.sizes[l + 1] + K * net.sizes[l + 1] for l in range(net.n_layers)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["1e-3:layer", "1e-3:lazy", "cont:lazy", "cont:layer"],
                    help="STEP:CONV, STEP 'cont' or a grid step in s, CONV lazy|layer|auto")
    ap.add_argument("--stride", type=int, choices=(1, 2), default=1)
    ap.add_argument("--quick", action="store_true", help="10,000 events over 0.1 s, 1 repeat (a smoke run)")
    args = ap.parse_args(argv)
    n_events, t_end, repeats = (10_000, 0.1, 1) if args.quick else (args.events, T_END, args.repeats)
    net = network(args.stride)
    t, u = inputs(n_events, t_end, net.n_in)
    ro = np.arange(1, int(round(t_end / 0.01)) + 1) * 0.01
    print(f"sgevent {sgevent.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.2f}")
    shapes = " -> ".join(["2x32x32"] + [("x".join(map(str, c.out_shape)) if c else str(net.sizes[l + 1]))
                                         for l, c in enumerate(net.conv)])
    print(f"network {shapes} ({sum(net.hidden)} hidden neurons), K = {net.n_buckets}; "
          f"{n_events} input events over {t_end:g} s")
    print(f"{'mode':>12} {'best s':>8} {'median s':>9} {'us/event':>9} {'instants':>9} {'predictions':>12} "
          f"{'hidden spikes':>14} {'syn ops':>12} {'dense-equivalent ops':>21}")
    for mode in args.modes:
        step, _, conv = mode.partition(":")
        dt = None if step == "cont" else float(step)
        conv = conv or "auto"
        sgevent.simulate(net, t[:100], u[:100], dt=dt, t_end=0.01, readout_times=[0.01], conv_mode=conv)  # warm
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = sgevent.simulate(net, t, u, dt=dt, t_end=t_end, readout_times=ro, conv_mode=conv)
            times.append(time.perf_counter() - t0)
        ops = sum(res.stats["synaptic_ops"])
        spikes_in = [n_events] + [int(la.n_events) for la in res.layers]
        dense = sum(spikes_in[l] * net.sizes[l + 1] for l in range(net.n_layers))
        n_spikes = sum(int(la.counts.sum()) for la in res.layers)
        print(f"{mode:>12} {min(times):8.3f} {statistics.median(times):9.3f} {1e6 * min(times) / n_events:9.1f} "
              f"{res.stats['instants']:>9,d} {res.stats['predictions']:>12,d} {n_spikes:>14,d} {ops:>12,d} "
              f"{dense:>21,d}")
    per_step = dense_macs(net)
    print(f"dense clock-driven reference: {per_step:,d} MACs per step; 1 s at 1 ms = {per_step * 1000:.3g} MACs, "
          f"at 0.1 ms = {per_step * 10000:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
