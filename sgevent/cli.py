"""Command line: parses, loads, calls the library, writes files; no logic of its own.

    sgevent data stats DIR_OR_FILE        dataset statistics of SHD-layout files
    sgevent data synth-digits --out DIR   generate the synthetic spoken digits
    sgevent data synth-gestures --out DIR [--quick]   generate the synthetic DVS gestures
    sgevent baseline --data-dir DIR       logistic regression on binned spike counts
    sgevent train --data-dir DIR [--config FILE.json] [options]   train (or --resume RUN_DIR)
                  [--threads N | --workers N | --scheduler tcp://HOST:8786]   in-process / Dask
    sgevent eval --checkpoint PATH --data-dir DIR [--split test]    evaluate a saved model
    sgevent resolution-study --data-dir DIR [--quick]    train/evaluate across time models
    sgevent sparsity-sweep --data-dir DIR [--quick]      accuracy against spikes and energy
    sgevent toy delay|itd [--out DIR]                    the toy timing tasks
    sgevent run-shd [--data auto|shd|synth] [--quick]    the main job (what make run-shd runs)
    sgevent run-gesture [--data auto|dvs|synth] [--quick]   conv network on DVS gestures (make run-gesture)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sgevent.errors import SgeventError

__all__ = ["main", "build_parser", "add_backend_arguments", "start_backend_from_args", "add_synth_arguments",
           "run_synth", "add_runshd_command"]


def _split_files(path: str) -> dict[str, Path]:
    from sgevent.data.shd import split_files

    return split_files(path)


def _cmd_data_stats(args: argparse.Namespace) -> int:
    from sgevent.data import load_h5

    for split, p in _split_files(args.path).items():
        ds = load_h5(p, n_channels=args.channels)
        print(f"[{split}] {p}")
        print(ds.format_stats())
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """``sgevent data synth-digits``: :func:`sgevent.data.synth.generate_synthetic_digits`."""
    from sgevent.data.synth import generate_synthetic_digits

    stats = generate_synthetic_digits(args.out, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
                                      n_workers=args.workers, progress=True, preset=args.preset)
    print(f"wrote {', '.join(stats['files'])} in {stats['wall_time_s']:.1f} s")
    return 0


def _cmd_synth_gestures(args: argparse.Namespace) -> int:
    """``sgevent data synth-gestures``: :func:`sgevent.data.gestures.generate_gestures`."""
    from sgevent.data.gestures import QUICK_SIZES, generate_gestures

    n_train, n_test = QUICK_SIZES if args.quick else (1100, 440)
    stats = generate_gestures(args.out, n_train=n_train if args.n_train is None else args.n_train,
                              n_test=n_test if args.n_test is None else args.n_test, seed=args.seed, size=args.size,
                              progress=True)
    print(f"wrote {', '.join(stats['files'])} (input shape {stats['input_shape']}, events per sample "
          f"min/median/max {stats['events_per_sample']}) in {stats['wall_time_s']:.1f} s")
    return 0


def _add_synth_gestures(dsub) -> None:
    sg = dsub.add_parser("synth-gestures", help="generate the synthetic DVS gestures (SHD layout, 2 x H x W units)")
    sg.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. datasets/synth/DVSGesture")
    sg.add_argument("--n-train", type=int, default=None, metavar="N", help="training samples (default 1100)")
    sg.add_argument("--n-test", type=int, default=None, metavar="M", help="test samples (default 440)")
    sg.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    sg.add_argument("--size", type=int, default=32, metavar="PX", help="sensor height and width (default 32)")
    sg.add_argument("--quick", action="store_true", help="a small set (110 + 44 samples) for smoke tests")
    sg.set_defaults(func=_cmd_synth_gestures)


def _train_test_files(data_dir: str) -> tuple[Path, Path]:
    files = _split_files(data_dir)
    if "train" not in files or "test" not in files:
        raise SgeventError(f"{data_dir}: need *_train.h5 and *_test.h5, found {sorted(files)}")
    return files["train"], files["test"]


def _cmd_baseline(args: argparse.Namespace) -> int:
    from sgevent.data import load_h5
    from sgevent.studies.baseline import logistic_baseline

    train_file, test_file = _train_test_files(args.data_dir)
    train, test = load_h5(train_file), load_h5(test_file)
    res = logistic_baseline(train, test, n_time_bins=args.time_bins, n_channel_groups=args.channel_groups,
                            seed=args.seed)
    print(f"logistic baseline ({args.time_bins} time bins x {args.channel_groups} channel groups): "
          f"train {res['train_accuracy']:.3f}  test {res['test_accuracy']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=float))
    return 0


_OVERRIDES = ("epochs", "batch_size", "seed", "threads", "window", "max_train_samples", "max_eval_samples", "dt",
              "lr")


def start_backend_from_args(args: argparse.Namespace, config=None):
    """The Dask backend asked for by ``--workers`` / ``--scheduler`` (None without them)."""
    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is None and scheduler is None:
        return None
    from sgevent.train.distributed import start_backend

    return start_backend(workers, scheduler, config=config)


def _cmd_train(args: argparse.Namespace) -> int:
    from sgevent.data import load_h5
    from sgevent.train.config import TrainConfig, load_config, resume_config, with_overrides
    from sgevent.train.rundir import RunDir
    from sgevent.train.session import resume_run, start_run

    files = _split_files(args.data_dir)
    if "train" not in files:
        raise SgeventError(f"{args.data_dir}: no *_train.h5 file")
    flags = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None}
    given = load_config(args.config) if args.config else None
    if args.resume:  # checked before any data is read or a cluster started
        cfg = resume_config(TrainConfig.from_dict(RunDir.open(args.resume).read_config()), given, **flags)[0]
    else:
        cfg = with_overrides(given or TrainConfig(), **flags)
    train = load_h5(files["train"])
    test = load_h5(files["test"]) if "test" in files else None
    print(train.format_stats())
    backend = start_backend_from_args(args, cfg)  # None without --workers / --scheduler
    extra = None if backend is None else {"backend": backend.describe()}
    common = dict(test=test, argv=sys.argv, progress=not args.quiet, backend=backend, extra_provenance=extra)
    try:
        if args.resume:
            trainer = resume_run(args.resume, train, overrides=flags, config=given, **common)
        else:
            trainer = start_run(cfg, train, runs=args.runs, name=args.name, **common)
        print(f"run directory: {trainer.run.path}" + ("" if backend is None else
              f"  (Dask scheduler {backend.address}, {backend.n_shards} shards per mini-batch)"))
        res = trainer.fit()
    finally:
        if backend is not None:
            backend.close()
    if "test_accuracy" in res:
        print(f"test accuracy {res['test_accuracy']:.4f}, "
              f"hidden spikes per sample {res['test_hidden_spikes_per_sample']}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from sgevent.data import load_h5
    from sgevent.train.session import evaluate_checkpoint

    files = _split_files(args.data_dir)
    if args.split not in files:
        raise SgeventError(f"{args.data_dir}: no file for split {args.split!r}; found {sorted(files)}")
    res = evaluate_checkpoint(args.checkpoint, load_h5(files[args.split]), dt_override=args.dt,
                              threads=args.threads or (os.cpu_count() or 1))
    out = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in res.items()}
    out.update({"checkpoint": str(args.checkpoint), "data": str(files[args.split])})
    dt = res["dt"]
    print(f"{files[args.split]}: accuracy {res['accuracy']:.4f} on {res['n_samples']} samples, "
          f"hidden spikes per sample {res['hidden_spikes_per_sample']}, dt={'continuous' if dt is None else dt}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--scheduler ADDRESS`` (one or the other)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N",
                   help="Dask: start a local cluster of N single-threaded worker processes on this machine")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask: join the cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.1:8786)")


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sgevent data synth-digits`` arguments."""
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. datasets/synth/SHD")
    parser.add_argument("--n-train", type=int, default=2000, metavar="N", help="training samples (default 2000)")
    parser.add_argument("--n-test", type=int, default=500, metavar="M", help="test samples (default 500)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="worker processes (default: all cores)")
    from sgevent.data.presets import DEFAULT_PRESET, PRESETS

    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET,
                        help=f"speakers and recording conditions (default {DEFAULT_PRESET}; see sgevent.data.presets)")


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    st = dsub.add_parser("stats", help="statistics of SHD-layout files")
    st.add_argument("path", help="an .h5 file or a folder holding *_train.h5 / *_test.h5")
    st.add_argument("--channels", type=int, default=None, help="channels (default: from the file, else 700)")
    st.set_defaults(func=_cmd_data_stats)
    sy = dsub.add_parser("synth-digits", help="generate the synthetic spoken digits (SHD layout)")
    add_synth_arguments(sy)
    sy.set_defaults(func=run_synth)
    _add_synth_gestures(dsub)

    bl = sub.add_parser("baseline", help="logistic regression on binned spike counts")
    bl.add_argument("--data-dir", required=True)
    bl.add_argument("--time-bins", type=int, default=10)
    bl.add_argument("--channel-groups", type=int, default=35)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--out", help="write the result as JSON here")
    bl.set_defaults(func=_cmd_baseline)


def _add_train_command(sub) -> None:
    tr = sub.add_parser("train", help="train on SHD-layout files (a config file plus flags)")
    tr.add_argument("--data-dir", required=True, help="folder with *_train.h5 (and *_test.h5)")
    tr.add_argument("--config", help="JSON file with TrainConfig fields")
    tr.add_argument("--resume", help="continue the run in this run directory (only --epochs may change)")
    tr.add_argument("--runs", default="runs", help="parent of run directories")
    tr.add_argument("--name", help="run name (default: timestamp)")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--batch-size", dest="batch_size", type=int)
    tr.add_argument("--lr", type=float)
    tr.add_argument("--dt", type=float, help="grid step in s (0: continuous)")
    tr.add_argument("--window", type=float)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--threads", type=int, help="threads running a mini-batch's samples in this process (0: all)")
    add_backend_arguments(tr)
    tr.add_argument("--max-train-samples", dest="max_train_samples", type=int)
    tr.add_argument("--max-eval-samples", dest="max_eval_samples", type=int)
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint on SHD-layout files (with its training settings)")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data-dir", required=True)
    ev.add_argument("--split", default="test")
    ev.add_argument("--dt", type=float, help="override the time model on purpose (0: continuous)")
    ev.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    ev.add_argument("--out", help="write the result as JSON here")
    ev.set_defaults(func=_cmd_eval)


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _cmd_runshd(args: argparse.Namespace) -> int:
    from sgevent.studies.run_shd import run_shd

    run_shd(args.data, quick=args.quick, root=args.root, runs=args.runs, name=args.name, config_path=args.config,
            progress=not args.quiet, peer=args.peer, peer_python=args.peer_python, peer_epochs=args.peer_epochs)
    return 0


def add_runshd_command(sub) -> argparse.ArgumentParser:
    """Add ``run-shd`` to an argparse sub-command set (``sgevent run-shd ...``)."""
    from sgevent.studies.run_shd import DATA_CHOICES, PEER_CHOICES, PEER_DT, PEER_EPOCHS

    p = sub.add_parser("run-shd", help="train on SHD (or its synthetic stand-in), baseline, report")
    p.add_argument("--data", choices=DATA_CHOICES, default="auto",
                   help="auto: real SHD if present or downloadable, else the synthetic stand-in (default); "
                        "shd: the real set only; synth: the stand-in")
    p.add_argument("--quick", action="store_true", help="small data and configs/run_shd_quick.json (smoke run)")
    p.add_argument("--config", help="training configuration JSON (default configs/run_shd[_quick].json)")
    p.add_argument("--name", help="run name (default shd-<data>[-quick]-<timestamp>)")
    p.add_argument("--root", default="datasets", help="data root (default datasets)")
    p.add_argument("--runs", default="runs", help="parent of run directories (default runs)")
    p.add_argument("--peer", choices=PEER_CHOICES, default="auto",
                   help=f"the snnTorch LIF peer (700-256-20, BPTT at {PEER_DT * 1e3:g} ms) beside SpikingGamma: auto "
                        "(when the optional extra .[peers] is installed; default), on (insist), off")
    p.add_argument("--peer-python", help="interpreter with torch and snntorch (default: this one, .venv-peers, "
                                         "or $SGEVENT_PEER_PYTHON)")
    p.add_argument("--peer-epochs", type=_positive_int,
                   help=f"the peer's epochs (default {PEER_EPOCHS}; with --quick the run's own)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_runshd)
    return p


def _cmd_rungesture(args: argparse.Namespace) -> int:
    from sgevent.studies.run_gesture import run_gesture

    run_gesture(args.data, quick=args.quick, root=args.root, runs=args.runs, name=args.name,
                config_path=args.config, progress=not args.quiet)
    return 0


def _add_rungesture_command(sub) -> argparse.ArgumentParser:
    from sgevent.studies.run_gesture import GESTURE_DATA_CHOICES

    p = sub.add_parser("run-gesture", help="train a conv network on DVS Gesture (or synthetic gestures), "
                                           "baseline, report")
    p.add_argument("--data", choices=GESTURE_DATA_CHOICES, default="auto",
                   help="auto: DVS Gesture if converted or unpacked under <root>/DVSGesture, else the synthetic "
                        "gestures (default); dvs: the real set only; synth: the synthetic set")
    p.add_argument("--quick", action="store_true",
                   help="small data and configs/run_gesture_quick.json (smoke run)")
    p.add_argument("--config", help="training configuration JSON (default configs/run_gesture[_quick].json)")
    p.add_argument("--name", help="run name (default gesture-<data>[-quick]-<timestamp>)")
    p.add_argument("--root", default="datasets", help="data root (default datasets)")
    p.add_argument("--runs", default="runs", help="parent of run directories (default runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_rungesture)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sgevent", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_train_command(sub)
    add_runshd_command(sub)
    _add_rungesture_command(sub)
    _add_study_commands(sub)
    _add_toy_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgevent`` command."""
    args = build_parser().parse_args(argv)
    from sgevent.train.batch import one_blas_thread

    try:
        with one_blas_thread():  # sgevent's parallelism is over samples (sgevent.train.batch)
            return args.func(args)
    except SgeventError as e:
        print(f"sgevent: error: {e}", file=sys.stderr)
        return 2


# --- study commands (resolution-study, sparsity-sweep, toy) ---
def _parse_dt(text: str) -> float | None:
    """A time model on the command line: a grid step in s, or ``none`` / ``continuous`` / ``0``."""
    if text.lower() in ("none", "continuous", "0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a time model is a grid step in s or 'continuous', got {text!r}") from None


class _StudyBackend:
    """``with _StudyBackend(args) as backend``: the Dask backend of ``--workers`` / ``--scheduler``
    (None without them), closed on exit."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.backend = args, None

    def __enter__(self):
        self.backend = start_backend_from_args(self.args)
        return self.backend

    def __exit__(self, *exc) -> None:
        if self.backend is not None:
            self.backend.close()


def _cmd_resolution(args: argparse.Namespace) -> int:
    from sgevent.studies.resolution import format_resolution_table, resolution_study
    from sgevent.studies.study_runs import STUDY_SIZES, load_study_splits, study_config

    size = STUDY_SIZES["quick" if args.quick else "full"]
    train, test = load_study_splits(args.data_dir)
    with _StudyBackend(args) as backend:
        res = resolution_study(
            study_config(args.config, args.quick), train, test, dts=args.dts or size["dts"], runs_root=args.runs,
            name=args.name, ref_budget_s=size["ref_budget_s"] if args.ref_budget is None else args.ref_budget,
            eval_samples=args.eval_samples or size["eval_samples"], ref_samples=size["ref_samples"],
            progress=not args.quiet, backend=backend)
    print(format_resolution_table(res))
    print(f"study directory: {res['run_dir']}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sgevent.studies.sparsity import format_sweep_table, sparsity_sweep
    from sgevent.studies.study_runs import STUDY_SIZES, load_study_splits, study_config

    size = STUDY_SIZES["quick" if args.quick else "full"]
    train, test = load_study_splits(args.data_dir)
    with _StudyBackend(args) as backend:
        res = sparsity_sweep(
            study_config(args.config, args.quick), train, test, theta_0s=args.theta_0s or size["theta_0s"],
            m_fs=args.m_fs or size["m_fs"], runs_root=args.runs, name=args.name,
            eval_samples=args.eval_samples or size["eval_samples"], progress=not args.quiet, backend=backend)
    print(format_sweep_table(res))
    print(f"sweep directory: {res['run_dir']}")
    return 0


def _add_study_options(p: argparse.ArgumentParser) -> None:
    """The options both studies take."""
    p.add_argument("--data-dir", required=True, help="folder with *_train.h5 and *_test.h5 (SHD layout)")
    p.add_argument("--config", help="JSON TrainConfig (default: the studies' small configuration)")
    p.add_argument("--quick", action="store_true", help="smoke run of a minute or two")
    p.add_argument("--runs", default="runs", help="parent of the study directory")
    p.add_argument("--name", help="study directory name (default: timestamp)")
    p.add_argument("--eval-samples", dest="eval_samples", type=int, help="test samples evaluated")
    p.add_argument("--quiet", action="store_true")
    add_backend_arguments(p)  # --workers N | --scheduler ADDRESS: one Dask task per trained model


def _add_study_commands(sub) -> None:
    """``resolution-study`` and ``sparsity-sweep``."""
    rs = sub.add_parser("resolution-study", help="train/evaluate under continuous and grid time models")
    _add_study_options(rs)
    rs.add_argument("--dts", nargs="+", type=_parse_dt,
                    help="time models: grid steps in s, 'continuous' (default: continuous 1e-3 5e-4 1e-4 5e-5 1e-5)")
    rs.add_argument("--ref-budget", dest="ref_budget", type=float,
                    help="largest projected seconds of the clock reference per time model")
    rs.set_defaults(func=_cmd_resolution)
    sw = sub.add_parser("sparsity-sweep", help="accuracy against spikes and energy across thresholds")
    _add_study_options(sw)
    sw.add_argument("--theta-0s", dest="theta_0s", nargs="+", type=float)
    sw.add_argument("--m-fs", dest="m_fs", nargs="+", type=float)
    sw.set_defaults(func=_cmd_sweep)


def _grid_s(ms: float) -> float | None:
    """``--train-grid-ms``: a grid step in s, or None (skip) for a value <= 0."""
    return None if ms <= 0 else ms * 1e-3


def _cmd_toy_delay(args: argparse.Namespace) -> int:
    from sgevent.report.plots_tasks import plot_delay_task  # matplotlib only on the CLI path
    from sgevent.studies.toy import write_task_outputs
    from sgevent.studies.toy_delay import DelayConfig, format_delay_results, run_delay_task

    base = DelayConfig(n_hidden=args.hidden, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                       n_test=args.n_test, sigma=args.sigma_ms * 1e-3, seed=args.seed)
    res = run_delay_task([d * 1e-3 for d in args.delay_ms], base, grid_train_dt=_grid_s(args.train_grid_ms),
                         grid_train_delay=args.grid_delay_ms * 1e-3, progress=None if args.quiet else print)
    paths = write_task_outputs(res, Path(args.out), plot_delay_task)
    print(format_delay_results(res))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _cmd_toy_itd(args: argparse.Namespace) -> int:
    from sgevent.report.plots_tasks import plot_itd_task  # matplotlib only on the CLI path
    from sgevent.studies.toy import write_task_outputs
    from sgevent.studies.toy_itd import ItdConfig, format_itd_results, run_itd_task

    cfg = ItdConfig(itds=tuple(x * 1e-3 for x in args.itds_ms), jitter=args.jitter_ms * 1e-3, n_train=args.n_train,
                    n_test=args.n_test, n_hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, threads=args.threads, seed=args.seed)
    res = run_itd_task(cfg, grid_train_dt=_grid_s(args.train_grid_ms), progress=None if args.quiet else print)
    paths = write_task_outputs(res, Path(args.out), plot_itd_task)
    print(format_itd_results(res))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_toy_delay(tsub) -> None:
    from sgevent.studies.toy_delay import DelayConfig

    d = tsub.add_parser("delay", help="learn to fire a readout pulse d ms after an input spike")
    d.add_argument("--delay-ms", dest="delay_ms", type=float, nargs="+", default=[5.0, 20.0, 50.0, 100.0])
    d.add_argument("--hidden", type=int, default=DelayConfig.n_hidden)
    d.add_argument("--steps", type=int, default=DelayConfig.steps)
    d.add_argument("--batch-size", dest="batch_size", type=int, default=DelayConfig.batch_size)
    d.add_argument("--lr", type=float, default=DelayConfig.lr)
    d.add_argument("--sigma-ms", dest="sigma_ms", type=float, default=DelayConfig.sigma * 1e3)
    d.add_argument("--n-test", dest="n_test", type=int, default=DelayConfig.n_test)
    d.add_argument("--train-grid-ms", dest="train_grid_ms", type=float, default=1.0,
                   help="also train one network on this grid (0: skip)")
    d.add_argument("--grid-delay-ms", dest="grid_delay_ms", type=float, default=50.0,
                   help="delay of the grid-trained network")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="runs/toy_delay")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_toy_delay)


def _add_toy_itd(tsub) -> None:
    from sgevent.studies.toy_itd import ItdConfig

    i = tsub.add_parser("itd", help="classify the interaural time difference of two spike trains")
    i.add_argument("--itds-ms", dest="itds_ms", type=float, nargs="+", default=[x * 1e3 for x in ItdConfig.itds])
    i.add_argument("--jitter-ms", dest="jitter_ms", type=float, default=0.0)
    i.add_argument("--n-train", dest="n_train", type=int, default=ItdConfig.n_train)
    i.add_argument("--n-test", dest="n_test", type=int, default=ItdConfig.n_test)
    i.add_argument("--hidden", type=int, default=ItdConfig.n_hidden)
    i.add_argument("--epochs", type=int, default=ItdConfig.epochs)
    i.add_argument("--batch-size", dest="batch_size", type=int, default=ItdConfig.batch_size)
    i.add_argument("--lr", type=float, default=ItdConfig.lr)
    i.add_argument("--threads", type=int, default=1, help="threads running the samples of a mini-batch")
    i.add_argument("--train-grid-ms", dest="train_grid_ms", type=float, default=1.0,
                   help="also train one network on this grid (0: skip)")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--out", default="runs/toy_itd")
    i.add_argument("--quiet", action="store_true")
    i.set_defaults(func=_cmd_toy_itd)


def _add_toy_commands(sub) -> None:
    """``toy delay`` and ``toy itd``."""
    toy = sub.add_parser("toy", help="toy timing tasks (delay learning, ITD coincidence detection)")
    tsub = toy.add_subparsers(dest="toy_command", required=True)
    _add_toy_delay(tsub)
    _add_toy_itd(tsub)


if __name__ == "__main__":
    sys.exit(main())
