"""Peer benchmark: an snnTorch LIF network beside sgevent's default, on the same SHD-layout files.

The peer is what a user would pick instead of sgevent (issue 11, item 4): a feed-forward LIF
network 700-256-20 in snnTorch, trained by surrogate-gradient backpropagation through time on
dense frames at a fixed step ``dt`` (10 ms and 1 ms by default), with a mean-over-time readout.

Run (from the repository root, in the peers environment)::

    .venv-peers/bin/python bench/peers.py --data-dir DIR [--epochs N] [--dts 0.01,0.001]
        [--sgevent-config configs/run_shd.json] [--threads 1] [--quick] [--out results.json]

``DIR`` holds ``shd_train.h5`` and ``shd_test.h5``. Each peer (one per ``dt``) and sgevent's
default (``python -m sgevent train --data-dir DIR --config CONFIG``) train in their own subprocess,
one after the other in this one invocation, so the peak RSS (``ru_maxrss`` of that child, from
``os.wait4``) is per model. Printed: one table (model, dt, test accuracy, best validation accuracy,
s/epoch, peak RSS in MB), the versions (python, torch, snntorch, numpy, sgevent) and the load
average before and after. Every child is single-threaded by default (``torch.set_num_threads``,
sgevent's ``--threads``, and ``OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS`` in its environment); ``--threads N``
changes all of them. ``--quick``: 200 training and 100 validation/test samples, 1 epoch (a smoke
run, not a measurement).

Peers environment (torch and snntorch are the optional extra ``.[peers]``; never part of
``make test``). Install a CPU build of torch first, explicitly (a bare ``torch`` requirement may
pull a multi-GB CUDA build; ``torch==2.13.0`` is a CPU wheel on this machine), then the rest::

    python3 -m venv .venv-peers && .venv-peers/bin/pip install torch==2.13.0
    .venv-peers/bin/pip install -e '.[peers,test]'

The peer, exactly (the choices the issue left open are named here):

- Data: each sample's spikes are binned into ``T`` dense frames of 700 channels, ``T =
  ceil(max duration / dt)`` over the split (shorter samples are zero-padded). A spike at ``t``
  belongs to frame ``ceil(t/dt - 1e-9) - 1`` (clipped at 0), the step convention of sgevent's grid
  model (DESIGN.md 1.4). Frames hold spike *counts* (``binary=True`` clips them to 0/1; SHD practice
  uses either, about equivalently).
- Network: ``Linear(700, 256)`` -> ``snn.Leaky`` (``beta = exp(-dt/tau_mem)``, ``tau_mem = 20 ms``,
  threshold 1, reset by subtraction, ``fast_sigmoid`` surrogate, slope 25) -> ``Linear(256, 20)`` ->
  non-spiking leaky integrator ``u[n] = beta u[n-1] + W s[n] + b``. Class scores are ``u`` averaged
  over all ``T`` frames (mean-over-time readout); loss is cross-entropy of those scores.
- Training: Adam, lr 2e-3, batch 64, seeded (``torch.manual_seed``, a numpy ``Generator`` for the
  epoch order). Validation is sgevent's own split (``sgevent.data.speaker_split``, 10% of train,
  whole speakers, seeded), so both models see the same training and validation samples; the
  reported test accuracy is that of the best-validation epoch's weights.
- s/epoch: wall time of one epoch (training pass plus validation), averaged over the epochs, as
  sgevent's ``epoch_seconds`` in ``metrics.jsonl``. Both include warm-up in their first epoch.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from sgevent.data import load_h5  # noqa: E402
from sgevent.data.dataset import SpikeDataset, gather_ranges  # noqa: E402
from sgevent.data.shd import speaker_split  # noqa: E402

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
QUICK_TRAIN, QUICK_EVAL = 200, 100
RESULT_KEYS = ("test_accuracy", "best_val_accuracy", "s_per_epoch", "peak_rss_mb", "epochs", "dt", "versions")


# ---------------------------------------------------------------------- input frames
def n_steps_for(ds: SpikeDataset, dt: float) -> int:
    """Number of frames ``T = ceil(max duration / dt)`` (at least 1) that hold every sample of ``ds``."""
    t_max = float(ds.durations().max()) if len(ds) else 0.0
    return max(1, math.ceil(t_max / dt - 1e-9))


def bin_frames(ds: SpikeDataset, indices: np.ndarray, dt: float, n_steps: int, *, binary: bool = False) -> np.ndarray:
    """Dense input frames of the chosen samples, time-major.

    Parameters
    ----------
    ds : SpikeDataset
        The split.
    indices : ndarray of int, shape (n_batch,)
        Samples to bin.
    dt : float
        Frame length in seconds.
    n_steps : int
        Number of frames ``T``; spikes past the last frame go into it.
    binary : bool
        Clip counts to 1.

    Returns
    -------
    ndarray of float32, shape (n_steps, n_batch, ds.n_channels)
        Spike counts (or 0/1) per frame, sample and channel.

    Notes
    -----
    A spike at time ``t`` falls in frame ``n - 1`` with ``n = ceil(t/dt - 1e-9)`` (DESIGN.md 1.4's
    step of the grid model, frames counted from 0; ``t = 0`` goes to frame 0).
    """
    indices = np.asarray(indices, dtype=np.int64)
    event_idx, offsets = gather_ranges(ds.offsets, indices)
    sample = np.repeat(np.arange(indices.size), np.diff(offsets))
    frame = np.ceil(ds.times[event_idx] / dt - 1e-9).astype(np.int64) - 1
    np.clip(frame, 0, n_steps - 1, out=frame)
    out = np.zeros((n_steps, indices.size, ds.n_channels), dtype=np.float32)
    np.add.at(out, (frame, sample, ds.units[event_idx]), 1.0)
    if binary:
        np.minimum(out, 1.0, out=out)
    return out


# ---------------------------------------------------------------------- the network
def build_lif_peer(n_in: int, n_out: int, *, hidden: int = 256, beta: float, seed: int,
                   surrogate: str = "fast_sigmoid"):
    """The peer's layers: ``fc1`` (n_in -> hidden), ``lif1`` (snn.Leaky), ``fc2`` (hidden -> n_out).

    Returns a ``torch.nn.ModuleDict``; :func:`peer_forward` runs it. ``beta`` is the leak per
    frame, ``exp(-dt / tau_mem)``; ``surrogate`` is ``"fast_sigmoid"`` or ``"atan"``.
    """
    import snntorch as snn
    import torch
    from snntorch import surrogate as sg

    grads = {"fast_sigmoid": lambda: sg.fast_sigmoid(slope=25), "atan": lambda: sg.atan()}
    if surrogate not in grads:
        raise ValueError(f"surrogate must be one of {sorted(grads)}, got {surrogate!r}")
    torch.manual_seed(seed)
    return torch.nn.ModuleDict({
        "fc1": torch.nn.Linear(n_in, hidden),
        "lif1": snn.Leaky(beta=beta, spike_grad=grads[surrogate]()),
        "fc2": torch.nn.Linear(hidden, n_out),
    })


def peer_forward(model, x, beta: float):
    """Class scores and hidden spike counts of a batch.

    Parameters
    ----------
    model : torch.nn.ModuleDict
        From :func:`build_lif_peer`.
    x : torch.Tensor, shape (T, n_batch, n_in)
        Input frames.
    beta : float
        Leak of the readout integrator per frame.

    Returns
    -------
    scores : torch.Tensor, shape (n_batch, n_out)
        Mean over the T frames of the readout potential ``u``.
    n_spikes : torch.Tensor, shape (n_batch,)
        Hidden spikes of each sample.

    Notes
    -----
    ``mem[n] = beta mem[n-1] + fc1(x[n]) - s[n-1]`` (snnTorch's Leaky, reset by subtraction,
    ``s = H(mem - 1)``); ``u[n] = beta u[n-1] + fc2(s[n])``; ``scores = (1/T) sum_n u[n]``.
    """
    import torch

    # One matmul over all frames, split with unbind: indexing cur[n] instead would give every
    # frame its own backward node that writes a full (T, B, H) zero gradient, O(T^2) in the
    # backward pass (measured: 343 s instead of 12 s for a 1 ms epoch of 200 samples).
    cur = model["fc1"](x).unbind(0)
    mem = model["lif1"].init_leaky()
    spikes = []
    for cur_n in cur:
        s, mem = model["lif1"](cur_n, mem)
        spikes.append(s)
    s_all = torch.stack(spikes)
    drive = model["fc2"](s_all).unbind(0)
    u = torch.zeros_like(drive[0])
    total = torch.zeros_like(drive[0])
    for drive_n in drive:
        u = beta * u + drive_n
        total = total + u
    return total / x.shape[0], s_all.sum(dim=(0, 2))


def peer_train_step(model, optimizer, x, y, beta: float) -> float:
    """One Adam step on a batch (frames ``x`` (T, B, n_in), labels ``y`` (B,)); returns the loss before it."""
    import torch

    model.train()
    optimizer.zero_grad()
    scores, _ = peer_forward(model, x, beta)
    loss = torch.nn.functional.cross_entropy(scores, y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def peer_loss(model, x, y, beta: float) -> float:
    """Cross-entropy of the mean-over-time scores of a batch, without gradients."""
    import torch

    with torch.no_grad():
        scores, _ = peer_forward(model, x, beta)
        return float(torch.nn.functional.cross_entropy(scores, y))


# ---------------------------------------------------------------------- training
def _batches(idx: np.ndarray, batch_size: int):
    for i in range(0, idx.size, batch_size):
        yield idx[i:i + batch_size]


def _evaluate(model, ds: SpikeDataset, idx: np.ndarray, dt: float, n_steps: int, beta: float, binary: bool,
              batch_size: int) -> dict[str, float]:
    import torch

    model.eval()
    correct, spikes = 0, 0.0
    with torch.no_grad():
        for b in _batches(idx, batch_size):
            x = torch.from_numpy(bin_frames(ds, b, dt, n_steps, binary=binary))
            scores, n_spk = peer_forward(model, x, beta)
            correct += int((scores.argmax(1).numpy() == ds.labels[b]).sum())
            spikes += float(n_spk.sum())
    n = max(idx.size, 1)
    return {"accuracy": correct / n, "hidden_spikes_per_sample": spikes / n}


def _train_epoch(model, optimizer, ds: SpikeDataset, idx: np.ndarray, rng: np.random.Generator, dt: float,
                 n_steps: int, beta: float, binary: bool, batch_size: int) -> float:
    import torch

    losses = []
    for b in _batches(rng.permutation(idx), batch_size):
        x = torch.from_numpy(bin_frames(ds, b, dt, n_steps, binary=binary))
        y = torch.from_numpy(ds.labels[b].astype(np.int64))
        losses.append(peer_train_step(model, optimizer, x, y, beta) * b.size)
    return float(np.sum(losses) / max(idx.size, 1))


def versions() -> dict[str, str]:
    """Versions of python, torch, snntorch, numpy, numba and sgevent (``"-"`` for one not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("torch", "snntorch", "numpy", "numba", "sgevent"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def _split(train: SpikeDataset, test: SpikeDataset, val_fraction: float, seed: int,
           max_train_samples: int | None, max_eval_samples: int | None):
    """Training, validation and test indices, cut as sgevent's trainer cuts them."""
    tr, va = speaker_split(train, val_fraction, seed)
    te = np.arange(len(test), dtype=np.int64)
    if max_train_samples is not None:
        tr = tr[:max_train_samples]
    if max_eval_samples is not None:
        va, te = va[:max_eval_samples], te[:max_eval_samples]
    return tr, va, te


def train_lif_peer(train: SpikeDataset, test: SpikeDataset, *, dt: float, epochs: int, hidden: int = 256, seed: int,
                   batch_size: int = 64, lr: float = 2e-3, tau_mem: float = 0.02, surrogate: str = "fast_sigmoid",
                   binary: bool = False, val_fraction: float = 0.1, threads: int | None = 1,
                   max_train_samples: int | None = None, max_eval_samples: int | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Train the snnTorch LIF peer (700-hidden-n_classes) and evaluate its best-validation epoch on ``test``.

    Parameters
    ----------
    train, test : SpikeDataset
        Training split (10% of it, whole speakers, is held out for validation) and test split.
    dt : float
        Frame length in seconds (e.g. 0.01 or 0.001).
    epochs : int
        Passes over the training samples.
    hidden : int
        Hidden LIF neurons.
    seed : int
        Seeds the weights, the validation split and the epoch order.
    batch_size, lr : int, float
        Mini-batch size and Adam's learning rate.
    tau_mem : float
        Membrane time constant in seconds of the hidden and readout layers (``beta = exp(-dt/tau_mem)``).
    surrogate : str
        ``"fast_sigmoid"`` (slope 25) or ``"atan"``.
    binary : bool
        Clip the input counts per frame to 0/1.
    val_fraction : float
        Validation fraction, ``0 < val_fraction < 1``.
    threads : int or None
        ``torch.set_num_threads`` (None: leave torch's setting).
    max_train_samples, max_eval_samples : int or None
        Cut the training indices, and the validation and test indices, as sgevent's trainer does.
    progress : bool
        Print one line per epoch to stderr.

    Returns
    -------
    dict
        ``test_accuracy`` (of the best-validation epoch's weights), ``best_val_accuracy``,
        ``best_epoch``, ``s_per_epoch`` (mean wall seconds of an epoch: training plus validation),
        ``epoch_seconds``, ``train_loss`` (per epoch), ``peak_rss_mb`` (``ru_maxrss`` of this
        process), ``test_hidden_spikes_per_sample``, ``epochs``, ``dt``, ``n_steps`` (frames of the
        training split), ``n_train``, ``n_val``, ``n_test``, ``config`` and ``versions``.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    beta = math.exp(-dt / tau_mem)
    tr, va, te = _split(train, test, val_fraction, seed, max_train_samples, max_eval_samples)
    t_train, t_test = n_steps_for(train, dt), n_steps_for(test, dt)
    model = build_lif_peer(train.n_channels, train.n_classes, hidden=hidden, beta=beta, seed=seed, surrogate=surrogate)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    best_val, best_epoch, best_state, seconds, losses = -1.0, 0, copy.deepcopy(model.state_dict()), [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        losses.append(_train_epoch(model, optimizer, train, tr, rng, dt, t_train, beta, binary, batch_size))
        val = _evaluate(model, train, va, dt, t_train, beta, binary, batch_size)["accuracy"] if va.size else None
        seconds.append(time.perf_counter() - t0)
        score = val if val is not None else -losses[-1]
        if score > best_val:
            best_val, best_epoch, best_state = score, epoch + 1, copy.deepcopy(model.state_dict())
        if progress:
            print(f"peer dt={dt:g} epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} val {val} "
                  f"{seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    model.load_state_dict(best_state)
    test_res = _evaluate(model, test, te, dt, t_test, beta, binary, batch_size)
    return {
        "test_accuracy": test_res["accuracy"], "best_val_accuracy": best_val if va.size else None,
        "best_epoch": best_epoch, "s_per_epoch": float(np.mean(seconds)) if seconds else None,
        "epoch_seconds": seconds, "train_loss": losses,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test_hidden_spikes_per_sample": test_res["hidden_spikes_per_sample"],
        "epochs": epochs, "dt": dt, "n_steps": t_train, "n_train": int(tr.size), "n_val": int(va.size),
        "n_test": int(te.size), "versions": versions(),
        "config": {"hidden": hidden, "seed": seed, "batch_size": batch_size, "lr": lr, "tau_mem": tau_mem,
                   "beta": beta, "surrogate": surrogate, "binary": binary, "val_fraction": val_fraction,
                   "threads": threads},
    }


# ---------------------------------------------------------------------- the side-by-side run
def _child_env(threads: int) -> dict[str, str]:
    return {**os.environ, **{v: str(threads) for v in THREAD_VARS}}


def _run_child(cmd: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``cmd`` (its output on this process's stderr); return its exit code, wall seconds and peak RSS in MB.

    The peak RSS is the child's own ``ru_maxrss`` (``os.wait4``), not the maximum over all
    children that ``RUSAGE_CHILDREN`` would give.
    """
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=2, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # already reaped: Popen must not wait again
    return p.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024


def _data_files(data_dir: Path) -> tuple[Path, Path]:
    train, test = data_dir / "shd_train.h5", data_dir / "shd_test.h5"
    missing = [str(p) for p in (train, test) if not p.is_file()]
    if missing:
        raise SystemExit(f"peers.py: missing {', '.join(missing)} (expected SHD-layout shd_train.h5 and shd_test.h5)")
    return train, test


def run_peer_child(data_dir: Path, out: Path, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train one peer in a fresh subprocess (``--peer-child``); return its result dict (``error`` on failure)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--peer-child", str(data_dir), str(out), json.dumps(kwargs)]
    code, wall, rss = _run_child(cmd, _child_env(kwargs["threads"]))
    if code != 0 or not out.is_file():
        return {"model": "snnTorch LIF", "dt": kwargs["dt"], "error": f"exit code {code}", "wall_s": wall}
    res = json.loads(out.read_text())
    res.update({"model": "snnTorch LIF", "wall_s": wall, "child_peak_rss_mb": rss})
    return res


def run_sgevent_child(data_dir: Path, config: Path, work: Path, *, python: str, threads: int,
                      epochs: int | None, quick: bool) -> dict[str, Any]:
    """Train sgevent's default (``python -m sgevent train``) in a subprocess; return its results and costs."""
    cmd = [python, "-m", "sgevent", "train", "--data-dir", str(data_dir), "--config", str(config),
           "--runs", str(work), "--name", "sgevent", "--threads", str(threads), "--quiet"]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    if quick:
        cmd += ["--max-train-samples", str(QUICK_TRAIN), "--max-eval-samples", str(QUICK_EVAL)]
    code, wall, rss = _run_child(cmd, _child_env(threads))
    run = work / "sgevent"
    if code != 0 or not (run / "results.json").is_file():
        return {"model": "sgevent", "error": f"exit code {code}", "wall_s": wall}
    res = json.loads((run / "results.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    prov = json.loads((run / "provenance.json").read_text()) if (run / "provenance.json").is_file() else {}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seconds = [m["epoch_seconds"] for m in metrics]
    keep = ("test_accuracy", "best_val_accuracy", "epochs", "test_hidden_spikes_per_sample", "test_loss")
    return {"model": "sgevent", **{k: res.get(k) for k in keep}, "dt": cfg.get("dt"),
            "s_per_epoch": float(np.mean(seconds)) if seconds else None, "epoch_seconds": seconds,
            "peak_rss_mb": rss, "wall_s": wall, "config": cfg, "versions": prov.get("versions")}


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _fmt_dt(dt: float | None) -> str:
    return "continuous" if dt is None else f"{dt * 1e3:g} ms"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The side-by-side table: model, dt, test accuracy, best val, s/epoch, peak RSS (MB)."""
    lines = [f"{'model':<14} {'dt':>10} {'test acc':>9} {'best val':>9} {'s/epoch':>9} {'peak RSS (MB)':>14}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<14} {_fmt_dt(r.get('dt')):>10}  failed: {r['error']}")
            continue
        lines.append(f"{r['model']:<14} {_fmt_dt(r['dt']):>10} {_fmt(r['test_accuracy'], '.4f'):>9} "
                     f"{_fmt(r['best_val_accuracy'], '.4f'):>9} {_fmt(r['s_per_epoch'], '.2f'):>9} "
                     f"{_fmt(r['peak_rss_mb'], '.0f'):>14}")
    return "\n".join(lines)


def _peer_child_main(data_dir: str, out: str, kwargs_json: str) -> int:
    """Entry of a ``--peer-child`` subprocess: train one peer, write its result dict to ``out``."""
    kwargs = json.loads(kwargs_json)
    train_path, test_path = _data_files(Path(data_dir))
    train, test = load_h5(train_path, n_channels=700), load_h5(test_path, n_channels=700)
    res = train_lif_peer(train, test, progress=True, **kwargs)
    Path(out).write_text(json.dumps(res, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="folder with shd_train.h5 and shd_test.h5")
    ap.add_argument("--epochs", type=int, help="epochs of every model (default: the sgevent config's; 1 with --quick)")
    ap.add_argument("--dts", default="0.01,0.001", help="the peer's frame lengths in s, comma-separated")
    ap.add_argument("--sgevent-config", default=str(REPO / "configs" / "run_shd.json"),
                    help="sgevent TrainConfig JSON (its default run)")
    ap.add_argument("--sgevent-python", default=sys.executable,
                    help="python that runs `-m sgevent train` (default: this one)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each child (torch, BLAS, sgevent)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--binary", action="store_true", help="clip the peer's input counts per frame to 0/1")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK_TRAIN} train / {QUICK_EVAL} val and test samples, 1 epoch")
    ap.add_argument("--out", help="write every model's results as JSON here")
    ap.add_argument("--peer-child", nargs=3, metavar=("DATA_DIR", "OUT", "KWARGS"), help=argparse.SUPPRESS)
    return ap


def _epochs(args: argparse.Namespace) -> tuple[int, int | None]:
    """Epochs of the peer, and the ``--epochs`` override passed to sgevent (None: its config's)."""
    from sgevent.train.config import load_config

    if args.epochs is not None:
        return args.epochs, args.epochs
    if args.quick:
        return 1, 1
    return load_config(args.sgevent_config).epochs, None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.peer_child:
        return _peer_child_main(*args.peer_child)
    if not args.data_dir:
        build_parser().error("--data-dir is required")
    missing = [m for m in ("torch", "snntorch") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(f"peers.py: {', '.join(missing)} not installed in {sys.executable}; set up the peers "
                         "environment as this script's docstring says (.venv-peers, the `peers` extra)")
    data_dir = Path(args.data_dir).resolve()
    _data_files(data_dir)
    load_start = os.getloadavg()
    peer_epochs, sg_epochs = _epochs(args)
    dts = [float(s) for s in args.dts.split(",") if s.strip()]
    cut = {"max_train_samples": QUICK_TRAIN, "max_eval_samples": QUICK_EVAL} if args.quick else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sgevent-peers-") as tmp:
        work = Path(tmp)
        for i, dt in enumerate(dts):
            kwargs = {"dt": dt, "epochs": peer_epochs, "hidden": args.hidden, "seed": args.seed,
                      "batch_size": args.batch_size, "lr": args.lr, "binary": args.binary,
                      "threads": args.threads, **cut}
            rows.append(run_peer_child(data_dir, work / f"peer_{i}.json", kwargs))
        rows.append(run_sgevent_child(data_dir, Path(args.sgevent_config).resolve(), work,
                                      python=args.sgevent_python, threads=args.threads, epochs=sg_epochs,
                                      quick=args.quick))
    load_end = os.getloadavg()
    print(f"data: {data_dir}  epochs: peer {peer_epochs}, sgevent {rows[-1].get('epochs')}  threads per model: "
          f"{args.threads}" + ("  (--quick: a smoke run, not a measurement)" if args.quick else ""))
    print(format_table(rows))
    ver = versions()
    print("versions: " + "  ".join(f"{k} {v}" for k, v in ver.items()))
    sg_ver = rows[-1].get("versions")
    if args.sgevent_python != sys.executable and sg_ver:
        print(f"versions of {args.sgevent_python}: " + "  ".join(f"{k} {v}" for k, v in sg_ver.items()))
    print("load average (1, 5, 15 min): start " + " ".join(f"{x:.2f}" for x in load_start)
          + ", end " + " ".join(f"{x:.2f}" for x in load_end) + f"  ({os.cpu_count()} cores)")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "versions": ver, "load_start": load_start,
                                              "load_end": load_end, "argv": sys.argv}, indent=1))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
