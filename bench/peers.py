"""Peer benchmark: an snnTorch LIF network beside sgevent's default, on the same SHD-layout files.

The peer is what a user would pick instead of sgevent (issue 11, item 4): a feed-forward LIF
network 700-256-20 in snnTorch, trained by surrogate-gradient backpropagation through time on
dense frames at a fixed step ``dt`` (10 ms and 1 ms by default), with a mean-over-time readout.

Run (from the repository root, in the peers environment)::

    .venv-peers/bin/python bench/peers.py --data-dir DIR [--epochs N] [--peer-epochs N[,N]]
        [--dts 0.01,0.001] [--sgevent-config configs/run_shd.json | --sgevent-run RUN_DIR]
        [--threads 1] [--quick] [--out results.json]

``DIR`` holds ``shd_train.h5`` and ``shd_test.h5``. Each peer (one per ``dt``) and sgevent's
default (``python -m sgevent train --data-dir DIR --config CONFIG``) train in their own subprocess,
one after the other in this one invocation, so the peak RSS (``ru_maxrss`` of that child, from
``os.wait4``) is per model. Printed: one table (model, dt, test accuracy, best validation accuracy,
s/epoch, peak RSS in MB), the versions (python, torch, snntorch, numpy, sgevent) and the load
average before and after. Every child is single-threaded by default (``torch.set_num_threads``,
sgevent's ``--threads``, and ``OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS`` in its environment); ``--threads N``
changes all of them. ``--peer-epochs`` gives the peers their own epochs (per ``dt``), and
``--sgevent-run`` takes sgevent's row from a finished run on the same files (its training is
then not part of this invocation, and the table says so). ``--quick``: 200 training and 100
validation/test samples, 1 epoch (a smoke run, not a measurement).

Peers environment (torch and snntorch are the optional extra ``.[peers]``; never part of
``make test``). Install a CPU build of torch first, explicitly (a bare ``torch`` requirement may
pull a multi-GB CUDA build; ``torch==2.13.0`` is a CPU wheel on this machine), then the rest::

    python3 -m venv .venv-peers && .venv-peers/bin/pip install torch==2.13.0
    .venv-peers/bin/pip install -e '.[peers,test]'

The peer, exactly (network, data binning, training, validation split), is described in
:mod:`sgevent.studies.lif_peer`, which holds its code; ``make run-shd`` trains it too (at 10 ms)
when the extra is installed.

- s/epoch: wall time of one epoch (training pass plus validation), averaged over the epochs, as
  sgevent's ``epoch_seconds`` in ``metrics.jsonl``. Both include warm-up in their first epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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

# The peer itself lives in the package (run_shd trains it too); re-exported here for the tests.
from sgevent.studies.lif_peer import (  # noqa: E402,F401
    THREAD_VARS,
    _data_files,
    bin_frames,
    build_lif_peer,
    n_steps_for,
    peer_forward,
    peer_loss,
    peer_train_step,
    run_peer_subprocess,
    train_lif_peer,
    versions,
)

QUICK_TRAIN, QUICK_EVAL = 200, 100
RESULT_KEYS = ("test_accuracy", "best_val_accuracy", "s_per_epoch", "peak_rss_mb", "epochs", "dt", "versions")


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
    return read_sgevent_run(run, peak_rss_mb=rss, wall_s=wall)


def read_sgevent_run(run: Path, *, peak_rss_mb: float | None = None, wall_s: float | None = None) -> dict[str, Any]:
    """The sgevent row from a finished run directory (``results.json``, ``config.json``, ``metrics.jsonl``)."""
    if not (run / "results.json").is_file() or "test_accuracy" not in json.loads((run / "results.json").read_text()):
        raise SystemExit(f"peers.py: {run}/results.json is missing or has no test_accuracy (not a finished run)")
    res = json.loads((run / "results.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    prov = json.loads((run / "provenance.json").read_text()) if (run / "provenance.json").is_file() else {}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seconds = [m["epoch_seconds"] for m in metrics]
    keep = ("test_accuracy", "best_val_accuracy", "epochs", "test_hidden_spikes_per_sample", "test_loss")
    return {"model": "sgevent", **{k: res.get(k) for k in keep}, "dt": cfg.get("dt"),
            "s_per_epoch": float(np.mean(seconds)) if seconds else None, "epoch_seconds": seconds,
            "peak_rss_mb": peak_rss_mb, "wall_s": wall_s, "config": cfg, "versions": prov.get("versions")}


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _fmt_dt(dt: float | None) -> str:
    return "continuous" if dt is None else f"{dt * 1e3:g} ms"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The side-by-side table: model, dt, epochs, test accuracy, best val, s/epoch, peak RSS (MB)."""
    lines = [f"{'model':<14} {'dt':>10} {'epochs':>6} {'test acc':>9} {'best val':>9} {'s/epoch':>9} "
             f"{'peak RSS (MB)':>14}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<14} {_fmt_dt(r.get('dt')):>10}  failed: {r['error']}")
            continue
        lines.append(f"{r['model']:<14} {_fmt_dt(r['dt']):>10} {_fmt(r.get('epochs'), 'd'):>6} "
                     f"{_fmt(r['test_accuracy'], '.4f'):>9} "
                     f"{_fmt(r['best_val_accuracy'], '.4f'):>9} {_fmt(r['s_per_epoch'], '.2f'):>9} "
                     f"{_fmt(r['peak_rss_mb'], '.0f'):>14}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="folder with shd_train.h5 and shd_test.h5")
    ap.add_argument("--epochs", type=int, help="epochs of every model (default: the sgevent config's; 1 with --quick)")
    ap.add_argument("--peer-epochs", help="epochs of the peers only, one number or one per --dts entry "
                                        "(e.g. 30,8; default: --epochs)")
    ap.add_argument("--dts", default="0.01,0.001", help="the peer's frame lengths in s, comma-separated")
    ap.add_argument("--sgevent-config", default=str(REPO / "configs" / "run_shd.json"),
                    help="sgevent TrainConfig JSON (its default run)")
    ap.add_argument("--sgevent-python", default=sys.executable,
                    help="python that runs `-m sgevent train` (default: this one)")
    ap.add_argument("--sgevent-run", help="take sgevent's row from this finished run directory instead of training "
                                         "it again (e.g. a make run-shd run on the same files; its peak RSS is "
                                         "then not known)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each child (torch, BLAS, sgevent)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--binary", action="store_true", help="clip the peer's input counts per frame to 0/1")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK_TRAIN} train / {QUICK_EVAL} val and test samples, 1 epoch")
    ap.add_argument("--out", help="write every model's results as JSON here")
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
    per_dt = [peer_epochs] * len(dts)
    if args.peer_epochs:
        per_dt = [int(s) for s in args.peer_epochs.split(",") if s.strip()]
        per_dt = per_dt * len(dts) if len(per_dt) == 1 else per_dt
        if len(per_dt) != len(dts) or min(per_dt) < 1:
            build_parser().error(f"--peer-epochs: one positive number or one per --dts entry, got {args.peer_epochs!r}")
    cut = {"max_train_samples": QUICK_TRAIN, "max_eval_samples": QUICK_EVAL} if args.quick else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sgevent-peers-") as tmp:
        work = Path(tmp)
        for i, dt in enumerate(dts):
            kwargs = {"dt": dt, "epochs": per_dt[i], "hidden": args.hidden, "seed": args.seed,
                      "batch_size": args.batch_size, "lr": args.lr, "binary": args.binary,
                      "threads": args.threads, **cut}
            rows.append(run_peer_subprocess(sys.executable, data_dir, work / f"peer_{i}.json", kwargs))
        if args.sgevent_run:
            rows.append(read_sgevent_run(Path(args.sgevent_run)))
        else:
            rows.append(run_sgevent_child(data_dir, Path(args.sgevent_config).resolve(), work,
                                          python=args.sgevent_python, threads=args.threads, epochs=sg_epochs,
                                          quick=args.quick))
    load_end = os.getloadavg()
    print(f"data: {data_dir}  epochs: peer {','.join(map(str, per_dt))}, sgevent {rows[-1].get('epochs')}  "
          f"threads per model: {args.threads}" + ("  (--quick: a smoke run, not a measurement)" if args.quick else ""))
    print(format_table(rows))
    if args.sgevent_run:
        print(f"sgevent's row: read from {args.sgevent_run} (trained earlier on these files, not in this run)")
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
