"""Benchmark: sgevent against Brian2 on the same SpikingGamma network (issue 13, item 1).

Run (from the repository root; ``make bench-brian2`` does both steps and passes ``ARGS=...``)::

    python3 -m venv .venv-brian && .venv-brian/bin/pip install 'brian2==2.9.0' 'numpy<2.4'   # once
    NUMBA_NUM_THREADS=1 .venv/bin/python bench/vs_brian2.py --brian-python .venv-brian/bin/python \\
        [--repeats 5] [--quick] [--modes sgevent:cont sgevent:1 brian2:1 ...] [--json OUT]

Brian2 lives in its own environment because ``import brian2`` 2.9 needs numpy < 2.4 while the
project's ``.venv`` may hold a newer numpy. The optional extra ``.[bench]`` holds the same pins
(``.venv-brian/bin/pip install -e '.[bench]'`` also works, and installs sgevent and its
dependencies beside Brian2, which the Brian2 worker does not need: it imports only numpy and
brian2). Brian2's ``cpp_standalone`` device
needs a C++ compiler (``g++``). ``.venv-*/`` is git-ignored. Brian2 is never imported by
``make test``.

The network (built once, from fixed seeds, saved to an .npz that every worker process loads)
----------------------------------------------------------------------------------------------
700 input channels -> 256 hidden LNL-SD neurons -> 20 readout units, K = 8 buckets, per-neuron
bucket weights (post-synaptic aggregated buckets, DESIGN.md 2.1), theta = 0.05 fixed (no
adaptation), spike height 2 theta, no biases, input spike height 1. Cascades: input channels
``tau = (5 ms, tau_1..7)``, hidden neurons ``tau = (20 ms, tau_1..7)``, ``tau_1..7 =
geomspace(2 ms, 40 ms, 7)``. Weights (``numpy.random.default_rng(0)``, drawn in this order):
``w_in ~ 2 N(0, 1/700)`` (std ``2/sqrt(700)``), ``v_in ~ U(0, 1)/8``, ``w_out ~ N(0, 1/256)``,
``v_out ~ U(0, 1)/8``. Input (``default_rng(1)``): 7,000 spikes over 1 s, uniform over the 700 x
1,000 (channel, 1 ms step) cells without replacement, so at most one per channel per 1 ms step,
each on a 10 us grid uniformly inside its step: ``t = ticks * 10 us``, ``ticks`` in
``(100 m, 100 (m + 1)]`` for step m (steps are ``(t_{n-1}, t_n]``, sgevent's convention,
DESIGN.md 1.4). Readout every 10 ms (t = 10, 20, ..., 1000 ms). ``--quick``: the first 0.2 s of
the same input (t <= 0.2 s) and 2 repeats (a smoke run, not a measurement).

The Brian2 model (the same equations, DESIGN.md 1.1-1.4, ``method='exact'``)
---------------------------------------------------------------------------
Hidden neuron j holds its K aggregated input buckets ``z_j[k] = sum_i w_in[j,i] yhat_i[k]`` and its
own reconstruction ``y0_j = yhat_j[0]``::

    dz0/dt = -z0 / tau_in[0]                 an input spike of channel i: z0_j += w_in[j, i]
    dzk/dt = (z{k-1} - zk) / tau_in[k]       k = 1..7 (every stage has DC gain 1, as sgevent's
                                             propagator: A[k,k] = -1/tau[k], A[k,k-1] = 1/tau[k])
    dy0/dt = -y0 / tau_hid[0]
    x = sum_k v_in[j,k] zk,  y = relu(x)
    spike when y - y0 >= theta; a burst of nb = floor((y - y0 - theta) / (2 theta)) + 1 spikes,
    y0 += 2 theta nb  (the closed form of sgevent's loop "while y - y0 >= theta: y0 += 2 theta")

The readout unit c holds ``a_c[k] = sum_j w_out[c,j] yhat_j[k]`` with the hidden cascade
(``tau_hid``); a hidden event of nb spikes adds ``w_out[c,j] 2 theta nb`` to ``a_c[0]``, and
``o_c = sum_k v_out[c,k] a_c[k]`` is recorded every 10 ms (``StateMonitor``). This mirrors what
sgevent computes for its readout (aggregated readout buckets, evaluated at the readout times), so
both timings include a readout; it costs Brian2 a 20 x 8 cascade per step and 5,120 synapses.

Within a step sgevent's order is: propagate, apply the inputs of the step, check and fire the
hidden layer, deliver its spikes to the readout (zero delay across layers). Brian2's default
schedule checks thresholds *before* the synapses act, which would delay every input by one step,
so the hidden thresholder and the hidden->readout pathway run in the ``after_synapses`` slot
(orders 0 and 1) and the hidden reset stays in ``resets`` (after both: the pathway reads the burst
size ``nb`` before the reset). Brian2 gives a spike generator's spike to the step that *starts* at
or before it (``[t_n, t_{n+1})``, applied after the state update to ``t_{n+1}``), while sgevent's
step n is ``(t_{n-1}, t_n]``: each input spike is therefore handed to Brian2 at ``t_{n-1}`` where
n is its sgevent step at that dt, so that both simulators apply it at ``t_n``. Readout: Brian2's
monitor in the ``start`` slot of step n sees the state at ``t_n``; it records t = 0..990 ms, and the
99 common times 10..990 ms are compared. Hidden spike counts are a per-neuron counter
(``n_spk += nb`` in the reset; no SpikeMonitor).

The cascade time constants are written into the equations as numbers: with them as named
constants sympy's symbolic matrix exponential ran for more than 8 CPU-minutes without finishing;
with numbers it takes about 15 s per group. Brian2 evaluates the exact solution of the linear
system as a sum of exponentials; its step coefficients agree with sgevent's propagator to about
1e-15 absolute (relative error up to 2e-3 on the smallest entries, of size 4e-11, at 1 ms).

Note on the grids: sgevent's grid model is the paper's discrete recursion
(``yhat[k][n] = alpha yhat[k][n-1] + (1 - alpha) yhat[k-1][n-1]``), while Brian2 at step dt samples
the exact solution of the ODEs; the two agree to first order in dt, and both converge to sgevent's
continuous model. Their per-neuron agreement at one dt is therefore not expected to be exact.

Protocol and timers
-------------------
Every mode runs in its own subprocess (``sgevent:cont``, ``sgevent:1``, ``sgevent:0.1``,
``sgevent:0.01`` and ``brian2:1``, ``brian2:0.1``, ``brian2:0.01``; steps in ms), single-threaded
(``NUMBA_NUM_THREADS``, ``OPENBLAS/OMP/MKL_NUM_THREADS = 1``; Brian2
``devices.cpp_standalone.openmp_threads = 0``), warm, best and median of ``--repeats`` runs:

- sgevent: one warm-up ``simulate`` on 20 spikes (Numba compilation / cache load), then
  ``simulate(net, times, units, dt, t_end=1 s, readout_times=every 10 ms)`` timed by
  ``time.perf_counter`` (wall time of the whole call: validation, lowering, loop, packaging).
- Brian2: ``device.build(compile=True, run=True)`` once (code generation, compilation and one
  run, not timed), then ``--repeats`` runs of the compiled binary (``device.run``), each timed by
  Brian2's own network-loop timer ``device._last_run_time`` (``Network::run`` in the generated C++:
  ``std::clock()`` around the loop over time steps, i.e. CPU time of the loop, without start-up,
  array loading or writing results). The wall time of the binary (``device.timers['run_binary']``)
  is recorded beside it.

Printed: versions (python, numpy, numba, sgevent git revision, brian2 and its numpy, g++), the load
average before and after, the table ``step | sgevent best/median ms | Brian2 best/median ms |
sgevent/Brian2`` (ratio of the medians; the continuous row against Brian2's 1 ms loop), and the
per-neuron hidden spike-count agreement (totals, neurons that differ, max |difference|; and the
max |readout difference|) of sgevent continuous against Brian2 at each dt and of sgevent's grid
against Brian2 at the same dt. Speed is never asserted in tests (STYLE.md rule 12).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # sgevent is imported only by its own worker (the Brian2 env need not have it)

# ---------------------------------------------------------------------- the network
N_IN, N_HIDDEN, N_OUT, K = 700, 256, 20, 8
THETA, SPIKE_GAIN, H_IN = 0.05, 2.0, 1.0
TAU_IN0, TAU_HID0 = 5e-3, 20e-3
TAU_STAGES = (2e-3, 40e-3)  # tau_1..7 = geomspace(2 ms, 40 ms, 7)
N_SPIKES, T_END, TICK = 7000, 1.0, 1e-5  # 7,000 input spikes over 1 s on a 10 us grid
TICKS_PER_MS = 100
QUICK_T_END = 0.2
READOUT_PERIOD = 10e-3
NET_SEED, INPUT_SEED = 0, 1

STEPS_MS = {"cont": None, "1": 1e-3, "0.1": 1e-4, "0.01": 1e-5}
DEFAULT_MODES = ("sgevent:cont", "sgevent:1", "sgevent:0.1", "sgevent:0.01", "brian2:1", "brian2:0.1", "brian2:0.01")
THREAD_ENV = {v: "1" for v in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def cascade_taus() -> tuple[np.ndarray, np.ndarray]:
    """The input channels' and the hidden neurons' cascades (s), each shape (K,)."""
    stages = np.geomspace(TAU_STAGES[0], TAU_STAGES[1], K - 1)
    return np.concatenate([[TAU_IN0], stages]), np.concatenate([[TAU_HID0], stages])


def uniform_grid_input(n_spikes: int, t_end: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform input spikes on the 10 us grid, at most one per channel per 1 ms step.

    ``n_spikes`` distinct (channel, 1 ms step) cells are drawn uniformly without replacement;
    each spike sits on a uniformly drawn 10 us tick inside its step ``(m ms, (m + 1) ms]``.
    Returns ``(ticks, units)`` (int64, sorted by tick then channel); ``times = ticks * 10 us``.
    """
    rng = np.random.default_rng(seed)
    n_ms = int(round(t_end * 1e3))
    cells = rng.choice(N_IN * n_ms, size=n_spikes, replace=False)
    units, step = cells % N_IN, cells // N_IN
    ticks = step * TICKS_PER_MS + rng.integers(1, TICKS_PER_MS + 1, size=n_spikes)
    order = np.lexsort((units, ticks))
    return ticks[order].astype(np.int64), units[order].astype(np.int64)


def build_problem(quick: bool = False) -> dict[str, np.ndarray]:
    """The benchmark's network and input as plain arrays (see the module docstring)."""
    rng = np.random.default_rng(NET_SEED)
    w_in = 2.0 * rng.normal(0.0, 1.0 / np.sqrt(N_IN), size=(N_HIDDEN, N_IN))
    v_in = rng.uniform(0.0, 1.0, size=(N_HIDDEN, K)) / K
    w_out = rng.normal(0.0, 1.0 / np.sqrt(N_HIDDEN), size=(N_OUT, N_HIDDEN))
    v_out = rng.uniform(0.0, 1.0, size=(N_OUT, K)) / K
    taus_in, taus_hid = cascade_taus()
    ticks, units = uniform_grid_input(N_SPIKES, T_END, INPUT_SEED)
    t_end = T_END
    if quick:
        keep = ticks <= int(round(QUICK_T_END / TICK))
        ticks, units, t_end = ticks[keep], units[keep], QUICK_T_END
    n_ro = int(round(t_end / READOUT_PERIOD))
    return dict(
        w_in=w_in, v_in=v_in, w_out=w_out, v_out=v_out, taus_in=taus_in, taus_hid=taus_hid,
        ticks=ticks, units=units, times=ticks / 1e5, t_end=np.float64(t_end),
        readout_times=np.arange(1, n_ro + 1) * READOUT_PERIOD,
        theta=np.float64(THETA), spike_gain=np.float64(SPIKE_GAIN), h_in=np.float64(H_IN),
    )


def load_problem(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def step_index(ticks: np.ndarray, dt: float) -> np.ndarray:
    """sgevent's step ``n = ceil(t / dt)`` of each input tick (exact integer arithmetic)."""
    per = int(round(dt / TICK))
    return -(-ticks // per)


# ---------------------------------------------------------------------- sgevent side
def sgevent_network(p: dict):
    """The problem as an ``sgevent.Network`` (per-neuron bucket weights, no biases)."""
    from sgevent import HiddenParams, Network

    hp = HiddenParams(theta_0=float(p["theta"]), m_f=0.0, spike_gain=float(p["spike_gain"]))
    return Network(
        n_in=N_IN, hidden=(N_HIDDEN,), n_out=N_OUT, taus=(p["taus_in"], p["taus_hid"]),
        w=[p["w_in"], p["w_out"]], v=[p["v_in"], p["v_out"]], b=[np.zeros(N_HIDDEN), np.zeros(N_OUT)],
        hidden_params=(hp,), bias=(False, False), h_in=float(p["h_in"]),
    )


def run_sgevent(p: dict, dt: float | None, repeats: int) -> dict:
    """Warm up, then time ``repeats`` calls of ``sgevent.simulate``; counts of the last run."""
    import sgevent

    net = sgevent_network(p)
    times, units, t_end, ro = p["times"], p["units"], float(p["t_end"]), p["readout_times"]
    sgevent.simulate(net, times[:20], units[:20], dt=dt, t_end=0.01, readout_times=[0.005])  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        res = sgevent.simulate(net, times, units, dt=dt, t_end=t_end, readout_times=ro)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    layer = res.layers[0]
    counts = np.bincount(layer.neurons, weights=layer.counts, minlength=N_HIDDEN).astype(np.int64)
    return dict(loop_s=wall, cpu_s=cpu, counts=counts.tolist(), readout=res.readout.tolist(),
                readout_times=np.asarray(ro).tolist(), instants=res.stats["instants"])


# ---------------------------------------------------------------------- Brian2 side
def _chain(var: str, taus: np.ndarray) -> list[str]:
    """The gamma cascade's equations with the time constants written as numbers (see docstring)."""
    eqs = [f"d{var}0/dt = -{var}0 / ({float(taus[0])!r} * second) : 1"]
    eqs += [f"d{var}{k}/dt = ({var}{k - 1} - {var}{k}) / ({float(taus[k])!r} * second) : 1" for k in range(1, K)]
    return eqs


def hidden_equations(taus_in: np.ndarray, taus_hid: np.ndarray) -> str:
    """Brian2 equations of a hidden neuron: input buckets z0..z7, own bucket 0 y0, burst size nb."""
    eqs = _chain("z", taus_in)
    eqs.append(f"dy0/dt = -y0 / ({float(taus_hid[0])!r} * second) : 1")
    eqs.append("x = " + " + ".join(f"v{k} * z{k}" for k in range(K)) + " : 1")
    eqs.append("y = clip(x, 0, inf) : 1")
    eqs.append("nb = floor((y - y0 - theta) / height) + 1 : 1")
    eqs += [f"v{k} : 1 (constant)" for k in range(K)]
    eqs.append("n_spk : 1")
    return "\n".join(eqs)


def readout_equations(taus_hid: np.ndarray) -> str:
    """Brian2 equations of a readout unit: aggregated hidden buckets a0..a7 and ``o``."""
    eqs = _chain("a", taus_hid)
    eqs.append("o = " + " + ".join(f"u{k} * a{k}" for k in range(K)) + " : 1")
    eqs += [f"u{k} : 1 (constant)" for k in range(K)]
    return "\n".join(eqs)


def brian2_network(b2, p: dict, dt: float):
    """Build the Brian2 objects (device already set). Returns ``(net, hidden, monitor)``."""
    second = b2.second
    ns = {"theta": float(p["theta"]), "height": float(p["spike_gain"] * p["theta"])}
    steps = step_index(p["ticks"], dt)
    inp = b2.SpikeGeneratorGroup(N_IN, p["units"], (steps - 1) * dt * second, name="inp")
    hid = b2.NeuronGroup(N_HIDDEN, hidden_equations(p["taus_in"], p["taus_hid"]), method="exact",
                         threshold="y - y0 >= theta", reset="n_spk += nb\ny0 += height * nb",
                         namespace=ns, name="hid")
    ro = b2.NeuronGroup(N_OUT, readout_equations(p["taus_hid"]), method="exact", namespace=ns, name="ro")
    for k in range(K):
        setattr(hid, f"v{k}", p["v_in"][:, k])
        setattr(ro, f"u{k}", p["v_out"][:, k])
    hid.thresholder["spike"].when, hid.thresholder["spike"].order = "after_synapses", 0
    s_in = b2.Synapses(inp, hid, "w : 1 (constant)", on_pre="z0_post += w * h_in", namespace={"h_in": float(p["h_in"])},
                       name="s_in")
    pre, post = np.repeat(np.arange(N_IN), N_HIDDEN), np.tile(np.arange(N_HIDDEN), N_IN)
    s_in.connect(i=pre, j=post)
    s_in.w = p["w_in"][post, pre]
    s_out = b2.Synapses(hid, ro, "w : 1 (constant)", on_pre="a0_post += w * height * nb_pre", namespace=ns,
                        name="s_out")
    pre, post = np.repeat(np.arange(N_HIDDEN), N_OUT), np.tile(np.arange(N_OUT), N_HIDDEN)
    s_out.connect(i=pre, j=post)
    s_out.w = p["w_out"][post, pre]
    s_out.pre.when, s_out.pre.order = "after_synapses", 1
    mon = b2.StateMonitor(ro, "o", record=True, dt=READOUT_PERIOD * second, when="start", name="mon")
    return b2.Network(inp, hid, ro, s_in, s_out, mon), hid, mon


def run_brian2(p: dict, dt: float, repeats: int, build_dir: str) -> dict:
    """Build the standalone project once, then time ``repeats`` runs of its binary."""
    import brian2 as b2

    b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.defaultclock.dt = dt * b2.second
    net, hid, mon = brian2_network(b2, p, dt)
    net.run(float(p["t_end"]) * b2.second)
    t0 = time.perf_counter()
    b2.device.build(directory=build_dir, compile=True, run=True, with_output=False)
    build_s = time.perf_counter() - t0
    loop, wall = [], []
    for _ in range(repeats):
        b2.device.run(directory=build_dir, with_output=False)
        loop.append(float(b2.device._last_run_time))
        wall.append(float(b2.device.timers["run_binary"]))
    counts = np.rint(np.asarray(hid.n_spk[:])).astype(np.int64)
    return dict(loop_s=loop, binary_wall_s=wall, build_s=build_s, counts=counts.tolist(),
                readout=np.asarray(mon.o[:]).T.tolist(), readout_times=np.asarray(mon.t[:]).tolist(),
                brian2=b2.__version__, numpy=np.__version__)


def worker(kind: str, step: str, problem: str, repeats: int, out: str) -> None:
    """One mode in this (fresh) process; writes its result as JSON to ``out``."""
    p = load_problem(problem)
    dt = STEPS_MS[step]
    if kind == "sgevent":
        res = run_sgevent(p, dt, repeats)
    else:
        with tempfile.TemporaryDirectory(prefix="vs_brian2_") as build_dir:
            res = run_brian2(p, dt, repeats, build_dir)
    Path(out).write_text(json.dumps(res))


# ---------------------------------------------------------------------- orchestration
def parse_mode(mode: str) -> tuple[str, str]:
    kind, _, step = mode.partition(":")
    if kind not in ("sgevent", "brian2") or step not in STEPS_MS or (kind == "brian2" and step == "cont"):
        raise SystemExit(f"bad mode {mode!r}: expected sgevent:cont|1|0.1|0.01 or brian2:1|0.1|0.01 (steps in ms)")
    return kind, step


def measure(kind: str, step: str, problem: str, repeats: int, python: str, tmp: str) -> dict:
    out = os.path.join(tmp, f"{kind}_{step}.json")
    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, step, problem, str(repeats), out]
    subprocess.run(cmd, check=True, env={**os.environ, **THREAD_ENV})
    return json.loads(Path(out).read_text())


def versions(brian: dict | None) -> dict:
    import numba

    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[0]
        except (OSError, subprocess.CalledProcessError, IndexError):
            return "unknown"

    rev = first_line(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    v = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__, "sgevent": rev}
    if brian:
        gcc = first_line(["g++", "--version"])
        v.update({"brian2": brian["brian2"], "numpy (brian2 env)": brian["numpy"], "g++": gcc})
    return v


def _ms(xs: list[float]) -> tuple[float, float]:
    return 1e3 * min(xs), 1e3 * statistics.median(xs)


def timing_table(results: dict) -> list[str]:
    """``step | sgevent best/median | Brian2 best/median | sgevent/Brian2`` (ratio of medians)."""
    lines = ["| step | sgevent best / median (ms) | Brian2 best / median (ms) | sgevent / Brian2 |",
             "|---|---|---|---|"]
    b1 = results.get(("brian2", "1"))
    for step in STEPS_MS:
        sg, b2 = results.get(("sgevent", step)), results.get(("brian2", step))
        if sg is None and b2 is None:
            continue
        sg_s = "%.1f / %.1f" % _ms(sg["loop_s"]) if sg else "-"
        b2_s = "%.1f / %.1f" % _ms(b2["loop_s"]) if b2 else "-"
        ratio = "-"
        if sg and b2:
            ratio = "%.2fx" % (_ms(sg["loop_s"])[1] / _ms(b2["loop_s"])[1])
        elif sg and step == "cont" and b1:
            ratio = "%.1fx Brian2 at 1 ms" % (_ms(sg["loop_s"])[1] / _ms(b1["loop_s"])[1])
        label = "continuous" if step == "cont" else f"{step} ms"
        lines.append(f"| {label} | {sg_s} | {b2_s} | {ratio} |")
    return lines


def readout_diff(sg: dict, b2: dict) -> float:
    """Max |o_sgevent - o_Brian2| over the readout times both recorded (Brian2: t = 0..990 ms)."""
    t_sg, t_b2 = np.asarray(sg["readout_times"]), np.asarray(b2["readout_times"])
    i_sg = {round(t * 1e6): i for i, t in enumerate(t_sg)}
    pairs = [(i_sg[round(t * 1e6)], j) for j, t in enumerate(t_b2) if round(t * 1e6) in i_sg]
    if not pairs:
        return float("nan")
    a, b = np.asarray(sg["readout"]), np.asarray(b2["readout"])
    ia, ib = zip(*pairs)
    return float(np.abs(a[list(ia)] - b[list(ib)]).max())


def agreement_rows(results: dict) -> list[dict]:
    """Per-neuron hidden spike-count agreement of each (sgevent, Brian2) pair the brief asks for."""
    pairs = [("cont", s) for s in ("1", "0.1", "0.01")] + [(s, s) for s in ("1", "0.1", "0.01")]
    rows = []
    for sg_step, b2_step in pairs:
        sg, b2 = results.get(("sgevent", sg_step)), results.get(("brian2", b2_step))
        if not (sg and b2):
            continue
        a, b = np.asarray(sg["counts"]), np.asarray(b2["counts"])
        d = np.abs(a - b)
        rows.append(dict(sgevent=sg_step, brian2=b2_step, sgevent_spikes=int(a.sum()), brian2_spikes=int(b.sum()),
                         neurons_differ=int((d > 0).sum()), max_abs_diff=int(d.max()),
                         max_readout_diff=readout_diff(sg, b2)))
    return rows


def agreement_table(rows: list[dict]) -> list[str]:
    lines = ["| sgevent | Brian2 | sgevent spikes | Brian2 spikes | neurons differing (of 256) | max abs diff | "
             "max abs readout diff |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        sg = "continuous" if r["sgevent"] == "cont" else f"{r['sgevent']} ms"
        lines.append(f"| {sg} | {r['brian2']} ms | {r['sgevent_spikes']} | {r['brian2_spikes']} | "
                     f"{r['neurons_differ']} | {r['max_abs_diff']} | {r['max_readout_diff']:.3g} |")
    return lines


def other_timers(results: dict) -> list[str]:
    lines = []
    for (kind, step), r in results.items():
        if kind == "sgevent":
            lines.append(f"  sgevent:{step}: CPU time best {1e3 * min(r['cpu_s']):.1f} ms; {r['instants']} instants")
        else:
            lines.append(f"  brian2:{step}: binary wall time best {1e3 * min(r['binary_wall_s']):.1f} ms "
                         f"(start-up, loading, loop, writing results); build {r['build_s']:.0f} s")
    return lines


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brian-python", default=None,
                    help="interpreter of an environment with brian2 (default: this one)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per mode (default 5; --quick: 2)")
    ap.add_argument("--quick", action="store_true", help="0.2 s of input, 2 repeats (a smoke run)")
    ap.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), help="KIND:STEP_MS, e.g. sgevent:cont brian2:1")
    ap.add_argument("--json", default=None, help="write the results to this file")
    ap.add_argument("--worker", nargs=5, metavar=("KIND", "STEP", "PROBLEM", "REPEATS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        kind, step, problem, repeats, out = args.worker
        worker(kind, step, problem, int(repeats), out)
        return {}
    modes = [parse_mode(m) for m in args.modes]
    repeats = args.repeats or (2 if args.quick else 5)
    brian_python = args.brian_python or sys.executable
    load_before = os.getloadavg()
    results: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory(prefix="vs_brian2_") as tmp:
        problem = os.path.join(tmp, "problem.npz")
        p = build_problem(args.quick)
        np.savez(problem, **p)
        for kind, step in modes:
            print(f"[vs_brian2] {kind} at {step} ... ", end="", flush=True)
            python = brian_python if kind == "brian2" else sys.executable
            results[(kind, step)] = measure(kind, step, problem, repeats, python, tmp)
            print("%.1f ms (best)" % _ms(results[(kind, step)]["loop_s"])[0], flush=True)
    load_after = os.getloadavg()
    brian = next((r for (k, _), r in results.items() if k == "brian2"), None)
    ver = versions(brian)
    rows = agreement_rows(results)
    print(f"\nversions: {', '.join(f'{k} {v}' for k, v in ver.items())}")
    print(f"input: {p['ticks'].size} spikes over {float(p['t_end']):g} s; repeats {repeats}; single thread")
    print("load average before: %.2f %.2f %.2f; after: %.2f %.2f %.2f" % (*load_before, *load_after))
    print("timers: sgevent = wall time of simulate(); Brian2 = its network-loop timer (std::clock CPU time)\n")
    print("\n".join(timing_table(results)))
    print("\nother timers:\n" + "\n".join(other_timers(results)))
    if rows:
        print("\nhidden spike counts per neuron:\n" + "\n".join(agreement_table(rows)))
    summary = {"versions": ver, "load_before": load_before, "load_after": load_after, "repeats": repeats,
               "quick": args.quick, "n_input": int(p["ticks"].size), "agreement": rows,
               "modes": {f"{k}:{s}": {key: r[key] for key in r if key not in ("readout", "readout_times")}
                         for (k, s), r in results.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
