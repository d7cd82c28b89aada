"""Proof that a refactoring changed nothing: every output of the event engine, bit for bit.

Run::

    python bench/identity.py run --repo /work/wt/base --out base.npz   # the baseline checkout
    python bench/identity.py run --repo . --out new.npz                # this checkout
    python bench/identity.py compare base.npz new.npz

``run`` imports ``sgevent`` from ``--repo`` (put first on ``sys.path``), runs a fixed set of
cases through :func:`sgevent.simulate` and saves every output array to one ``.npz``: per
hidden layer the spike times, neurons, heights and counts; the readout; the loss and every
gradient; the stats (instants, inputs, predictions, heap pushes and compactions, gate switches,
synaptic operations and state updates per layer); the weights after online or batch updates;
and, for a case that raises, the error's class and message. The cases cover continuous time
and the grid at 1 ms and 0.1 ms; one and two hidden layers; per-neuron and per-synapse bucket
weights; distinct and repeated taus; adaptation on and off; hidden biases; bursts; learning
with ``instant``, ``steady`` and ``traces``; the losses mean, last, max and mse; the batch
schedule (SGD and Adam over summed per-sample gradients) and the online schedule (SGD and Adam
inside the sample); explicit readout times.

``compare`` checks every array with ``np.array_equal(..., equal_nan=True)`` on identical
dtypes and shapes (bitwise, NaN-aware) and prints one row per case; it exits 1 if any case
differs or is missing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

DTS = (None, 1e-3, 1e-4)
T_END = 0.08
N_IN = 12


def _inputs(seed: int, n: int = 120, n_in: int = N_IN, t_end: float = T_END):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, t_end, n), rng.integers(0, n_in, n)


def _net(sg, hidden, per_synapse, taus_kind, adapt, bias, burst, seed, max_burst=1000):
    K = 4
    taus = [4e-3, 6e-3, 9e-3, 13e-3] if taus_kind == "distinct" else [5e-3] * K
    return sg.Network.create(
        N_IN, hidden, 3, n_buckets=K, seed=seed, taus=taus,
        theta_0=0.01 if burst else 0.05, m_f=0.3 if adapt else 0.0, tau_theta=0.03,
        per_synapse=per_synapse, hidden_bias=bias, weight_gain=4.0 if burst else 1.5, max_burst=max_burst,
    )


def _forward_cases():
    for dt, hidden, ps, taus, adapt, bias in itertools.product(
        DTS, [(10,), (8, 6)], [False, True], ["distinct", "repeated"], [False, True], [False, True]
    ):
        yield dict(kind="forward", dt=dt, hidden=hidden, ps=ps, taus=taus, adapt=adapt, bias=bias, burst=False)
    for dt, hidden, ps in itertools.product(DTS, [(10,), (8, 6)], [False, True]):
        yield dict(kind="forward", dt=dt, hidden=hidden, ps=ps, taus="distinct", adapt=False, bias=True, burst=True)
        yield dict(kind="readouts", dt=dt, hidden=hidden, ps=ps, taus="repeated", adapt=True, bias=False, burst=False)
    for dt in DTS:  # a burst past max_burst: the error message must not change either
        yield dict(kind="burstlimit", dt=dt, hidden=(8, 6), ps=False, taus="distinct", adapt=False, bias=True,
                   burst=True)


def _learn_cases():
    for dt, hidden, ps, backward, loss in itertools.product(
        DTS, [(10,), (8, 6)], [False, True], ["instant", "steady", "traces"], ["mean", "last", "max", "mse"]
    ):
        if backward == "traces" and loss == "max":
            continue
        yield dict(kind="learn", dt=dt, hidden=hidden, ps=ps, taus="distinct", adapt=True, bias=True, burst=False,
                   backward=backward, loss=loss)
    for dt, backward, opt, ps in itertools.product(DTS, ["instant", "traces"], ["sgd", "adam"], [False, True]):
        for kind in ("online", "batch"):
            yield dict(kind=kind, dt=dt, hidden=(8, 6), ps=ps, taus="repeated", adapt=False, bias=True, burst=False,
                       backward=backward, loss="mean" if opt == "sgd" else "mse", opt=opt)


def _compaction_cases():
    # biased layer-0 neurons fire all along a long silent window and re-predict 60 slowly rising
    # layer-1 neurons at each spike: stale predictions fill the heap, which compacts
    for dt in DTS:
        yield dict(kind="compaction", dt=dt, hidden=(6, 60), ps=False, taus="distinct", adapt=False, bias=True,
                   burst=False)
    for backward in ("instant", "traces"):
        yield dict(kind="compaction", dt=None, hidden=(6, 60), ps=False, taus="distinct", adapt=False, bias=True,
                   burst=False, backward=backward, loss="mean")


def _compaction_net(sg, seed):
    net = sg.Network.create(N_IN, (6, 60), 3, n_buckets=4, seed=seed, theta_0=[0.05, 0.3], hidden_bias=True,
                            weight_gain=1.5)
    net.b[0][:] = 0.2
    net.b[1][:] = np.linspace(0.2, 0.33, 60)
    net.w[1][:] = np.abs(net.w[1]) * 0.01
    return net


def cases():
    return list(_forward_cases()) + list(_learn_cases()) + list(_compaction_cases())


def _name(c) -> str:
    parts = [c["kind"], "cont" if c["dt"] is None else f"dt={c['dt']:g}", "h" + "x".join(map(str, c["hidden"])),
             "syn" if c["ps"] else "neu", c["taus"][:4], "adapt" if c["adapt"] else "fixed",
             "bias" if c["bias"] else "nobias"]
    if c["burst"]:
        parts.append("burst")
    for key in ("backward", "loss", "opt"):
        if key in c:
            parts.append(c[key])
    return " ".join(parts)


def _save_result(out, p, r):
    for l, ls in enumerate(r.layers):
        for f in ("times", "neurons", "heights", "counts"):
            out[f"{p}/layer{l}/{f}"] = getattr(ls, f)
    out[f"{p}/readout"] = r.readout
    out[f"{p}/readout_times"] = r.readout_times
    for key, val in r.stats.items():
        out[f"{p}/stats/{key}"] = np.asarray(val)
    if r.loss is not None:
        out[f"{p}/loss"] = np.float64(r.loss)
    if r.grads is not None:
        for l, g in enumerate(r.grads):
            for key, a in g.items():
                out[f"{p}/grad{l}/{key}"] = a


def _save_weights(out, p, net):
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            out[f"{p}/weights{l}/{key}"] = getattr(net, key)[l].copy()


def _optimizer(net, name):
    from sgevent.train.optim import OptimConfig, make_optimizer

    params = [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
    return make_optimizer(OptimConfig(name=name, lr=0.02), params)


def _run_case(sg, c, i, out):
    from sgevent.learn.spec import LearnSpec, learning_times

    p = f"case{i:03d}"
    net = _net(sg, c["hidden"], c["ps"], c["taus"], c["adapt"], c["bias"], c["burst"], seed=i,
               max_burst=3 if c["kind"] == "burstlimit" else 1000)
    t, u = _inputs(seed=1000 + i)
    kw = dict(dt=c["dt"], t_end=T_END)
    if c["kind"] == "compaction":
        net = _compaction_net(sg, seed=i)
        t, u = _inputs(seed=1000 + i, n=30, t_end=0.01)
        kw["t_end"] = 0.3
    if c["kind"] == "readouts":
        kw["readout_times"] = np.sort(np.random.default_rng(i).uniform(0, T_END, 37))
    if "loss" in c:
        spec = LearnSpec(loss=c["loss"], backward=c["backward"], learn_period=4e-3)
        n_e = learning_times(kw["t_end"], spec.learn_period).size
        kw.update(learn=spec, label=1)
        if c["loss"] == "mse":
            kw["target"] = np.random.default_rng(i).standard_normal((n_e, net.n_out))
    if c["kind"] == "online":
        kw.update(optimizer=_optimizer(net, c["opt"]), update_every=3)
    if c["kind"] == "batch":
        opt = _optimizer(net, c["opt"])
        for step in range(2):
            tot = None
            for s in range(3):
                ts, us = _inputs(seed=5000 + 10 * i + s)
                r = sg.simulate(net, ts, us, **kw)
                _save_result(out, f"{p}/step{step}/sample{s}", r)
                flat = [g[key] for g in r.grads for key in ("w", "v", "b")]
                tot = flat if tot is None else [a + b for a, b in zip(tot, flat)]
            mask = [key != "b" or net.bias[l] for l in range(net.n_layers) for key in ("w", "v", "b")]
            opt.step(tot, mask=mask)
        _save_weights(out, p, net)
        return
    r = sg.simulate(net, t, u, **kw)
    _save_result(out, p, r)
    if c["kind"] == "online":
        _save_weights(out, p, net)


def run(repo: str, out_path: str) -> None:
    sys.path.insert(0, os.path.abspath(repo))
    import sgevent as sg

    where = os.path.dirname(os.path.abspath(sg.__file__))
    if not where.startswith(os.path.abspath(repo)):
        raise SystemExit(f"sgevent was imported from {where}, not from {repo}")
    out = {}
    names = []
    t0 = time.perf_counter()
    for i, c in enumerate(cases()):
        names.append(_name(c))
        try:
            _run_case(sg, c, i, out)
        except sg.SgeventError as e:
            out[f"case{i:03d}/error"] = np.array(f"{type(e).__name__}: {e}")
    out["cases"] = np.array(json.dumps(names))
    np.savez_compressed(out_path, **out)
    print(f"{len(names)} cases, {len(out) - 1} arrays from {where} -> {out_path} "
          f"({time.perf_counter() - t0:.1f} s)")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare(path_a: str, path_b: str) -> int:
    A, B = np.load(path_a), np.load(path_b)
    names = json.loads(str(A["cases"]))
    if json.loads(str(B["cases"])) != names:
        print("the two files hold different case lists")
        return 1
    n_bad = 0
    print(f"{'case':>4}  {'arrays':>6}  {'result':<10}  description")
    for i, name in enumerate(names):
        p = f"case{i:03d}/"
        ka = sorted(k for k in A.files if k.startswith(p))
        kb = sorted(k for k in B.files if k.startswith(p))
        diff = sorted(set(ka) ^ set(kb)) + [k for k in ka if k in set(kb) and not _same(A[k], B[k])]
        ok = not diff
        n_bad += not ok
        err = " (raises)" if p + "error" in ka else ""
        print(f"{i:>4}  {len(ka):>6}  {'identical' if ok else 'DIFFERS':<10}  {name}{err}")
        for k in diff[:8]:
            print(f"{'':>24}{k}")
    print(f"{len(names) - n_bad} of {len(names)} cases identical ({sum(1 for k in A.files if k != 'cases')} arrays)")
    return 1 if n_bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run every case in a checkout and save the outputs")
    r.add_argument("--repo", required=True, help="checkout whose sgevent to import")
    r.add_argument("--out", required=True, help=".npz to write")
    c = sub.add_parser("compare", help="compare two .npz files bitwise")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    if args.cmd == "run":
        run(args.repo, args.out)
    else:
        sys.exit(compare(args.a, args.b))


if __name__ == "__main__":
    main()
