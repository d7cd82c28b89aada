"""The snnTorch LIF peer: what a user would pick instead of SpikingGamma (issue 11, items 4 and 5).

A feed-forward LIF network ``n_in -> hidden -> n_classes`` in snnTorch, trained by
surrogate-gradient backpropagation through time on dense frames at a fixed step ``dt``, with a
mean-over-time readout. ``bench/peers.py`` trains it beside sgevent's default at 10 ms and 1 ms;
:func:`sgevent.studies.run_shd.run_shd` trains it at 10 ms beside SpikingGamma and the logistic
baseline when the optional extra is installed (:func:`find_peer_python`) and puts it in the report.

torch and snntorch are imported only inside the functions that need them: they are the optional
extra ``.[peers]`` and never part of ``make test``. The peer, exactly:

- Data: each sample's spikes are binned into ``T`` dense frames of ``n_in`` channels, ``T =
  ceil(max duration / dt)`` over the split (shorter samples are zero-padded). A spike at ``t``
  belongs to frame ``ceil(t/dt - 1e-9) - 1`` (clipped at 0), the step convention of sgevent's grid
  model (DESIGN.md 1.4). Frames hold spike *counts* (``binary=True`` clips them to 0/1).
- Network: ``Linear(n_in, hidden)`` -> ``snn.Leaky`` (``beta = exp(-dt/tau_mem)``, ``tau_mem = 20 ms``,
  threshold 1, reset by subtraction, ``fast_sigmoid`` surrogate, slope 25) -> ``Linear(hidden, n_out)``
  -> non-spiking leaky integrator ``u[n] = beta u[n-1] + W s[n] + b``. Class scores are ``u`` averaged
  over all ``T`` frames; the loss is the cross-entropy of those scores.
- Training: Adam, lr 2e-3, batch 64, seeded (``torch.manual_seed``, a numpy ``Generator`` for the
  epoch order). Validation is sgevent's own split (``sgevent.data.speaker_split``, 10% of train,
  whole speakers, seeded), so both models see the same training and validation samples; the
  reported test accuracy is that of the best-validation epoch's weights.

Child entry (one peer in its own process, as ``bench/peers.py`` and ``run_shd`` start it)::

    python -m sgevent.studies.lif_peer DATA_DIR OUT_JSON KWARGS_JSON
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data import load_h5
from sgevent.data.dataset import SpikeDataset, gather_ranges
from sgevent.data.shd import speaker_split

__all__ = ["n_steps_for", "bin_frames", "build_lif_peer", "peer_forward", "peer_train_step", "peer_loss",
           "train_lif_peer", "versions", "peer_available", "find_peer_python", "run_peer_subprocess"]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_REPO = Path(__file__).resolve().parents[2]


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


# ---------------------------------------------------------------------- running it in its own process
def peer_available(python: str | os.PathLike[str] | None = None) -> bool:
    """Whether torch and snntorch import in ``python`` (default: this interpreter)."""
    # abspath, not resolve: two virtual environments' pythons are symlinks to the same binary
    if python is None or os.path.abspath(python) == os.path.abspath(sys.executable):
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "snntorch"))
    try:
        done = subprocess.run([str(python), "-c", "import torch, snntorch"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_peer_python(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """The interpreter that can train the peer, or None.

    In order: ``explicit``; ``$SGEVENT_PEER_PYTHON``; this interpreter when torch and snntorch
    import in it; ``<source tree>/.venv-peers/bin/python`` (the environment README "The main job"
    sets up). An explicit choice (argument or variable) that cannot import both is an error
    (``ValueError`` naming it), not a silent skip.
    """
    for chosen, what in ((explicit, "--peer-python"), (os.environ.get("SGEVENT_PEER_PYTHON"), "SGEVENT_PEER_PYTHON")):
        if chosen:
            if not peer_available(chosen):
                raise ValueError(f"{what}={chosen}: torch and snntorch do not import there (install the "
                                 "optional extra: pip install torch==2.13.0 && pip install -e '.[peers]')")
            return str(chosen)
    if peer_available(None):
        return sys.executable
    venv = _REPO / ".venv-peers" / "bin" / "python"
    if venv.is_file() and peer_available(venv):
        return str(venv)
    return None


def run_peer_subprocess(python: str, data_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                        kwargs: dict[str, Any]) -> dict[str, Any]:
    """Train one peer in a fresh ``python -m sgevent.studies.lif_peer`` process.

    Returns the result dict of :func:`train_lif_peer` plus ``wall_s`` and ``child_peak_rss_mb``
    (the child's own ``ru_maxrss``, from ``os.wait4``), or ``{"error": ...}`` when it failed. Thread
    variables of the child are set to ``kwargs["threads"]``; its output goes to this process's stderr.
    """
    threads = kwargs.get("threads") or 1
    env = {**os.environ, **{v: str(threads) for v in THREAD_VARS}}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH", "")) if p)
    cmd = [str(python), "-m", "sgevent.studies.lif_peer", str(data_dir), str(out), json.dumps(kwargs)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=2, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # already reaped: Popen must not wait again
    wall = time.perf_counter() - t0
    out = Path(out)
    if p.returncode != 0 or not out.is_file():
        return {"model": "snnTorch LIF", "dt": kwargs.get("dt"), "error": f"exit code {p.returncode}", "wall_s": wall}
    res = json.loads(out.read_text())
    res.update({"model": "snnTorch LIF", "wall_s": wall, "child_peak_rss_mb": usage.ru_maxrss / 1024})
    return res


def _data_files(data_dir: Path) -> tuple[Path, Path]:
    train, test = data_dir / "shd_train.h5", data_dir / "shd_test.h5"
    missing = [str(p) for p in (train, test) if not p.is_file()]
    if missing:
        raise SystemExit(f"lif_peer: missing {', '.join(missing)} (expected SHD-layout shd_train.h5 and shd_test.h5)")
    return train, test


def main(argv: list[str] | None = None) -> int:
    """Child entry: ``DATA_DIR OUT_JSON KWARGS_JSON``; trains one peer and writes its result dict."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise SystemExit("usage: python -m sgevent.studies.lif_peer DATA_DIR OUT_JSON KWARGS_JSON")
    data_dir, out, kwargs_json = args
    kwargs = json.loads(kwargs_json)
    train_path, test_path = _data_files(Path(data_dir))
    train, test = load_h5(train_path, n_channels=700), load_h5(test_path, n_channels=700)
    res = train_lif_peer(train, test, progress=True, **kwargs)
    Path(out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
