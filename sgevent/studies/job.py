"""The steps the main jobs share (:mod:`sgevent.studies.run_shd`, :mod:`sgevent.studies.run_gesture`):
load the configuration, train and test, fit the baseline, record everything, write the report."""

from __future__ import annotations

import datetime as _dt
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError

__all__ = ["run_name", "load_job_config", "print_data", "train_and_test", "fit_baseline", "record_and_report"]

_BASELINE_KEYS = ("test_accuracy", "train_accuracy", "val_accuracy", "chance", "l2", "feature_shape", "n_train",
                  "n_test")


def run_name(job: str, kind: str, quick: bool, runs: Path) -> str:
    """``<job>-<kind>[-quick]-<timestamp>``, with ``-2``, ``-3``, ... if that run directory exists."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{job}-{kind}{'-quick' if quick else ''}-{stamp}"
    name, n = base, 1
    while (runs / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def load_job_config(config_path: str | Path | None, default: Path):
    """``(path, TrainConfig)`` of the job; ConfigError when the file is missing."""
    from sgevent.train.config import load_config

    cfg_path = Path(config_path) if config_path is not None else default
    if not cfg_path.is_file():
        raise ConfigError(f"{cfg_path}: configuration file not found; pass one with --config FILE")
    return cfg_path, load_config(cfg_path)


def print_data(info: dict[str, Any], train: SpikeDataset, test: SpikeDataset) -> None:
    print(f"dataset: {info['name']}")
    print(train.format_stats())
    print(test.format_stats(), flush=True)


def train_and_test(cfg, train: SpikeDataset, test: SpikeDataset, *, runs: Path, name: str, argv, progress: bool,
                   cfg_path: Path):
    """Create the run directory, train, evaluate the best checkpoint on ``test``.
    Returns ``(run, results, seconds)``."""
    from sgevent.train.session import start_run

    t0 = time.perf_counter()
    trainer = start_run(cfg, train, test=test, runs=runs, name=name, argv=sys.argv if argv is None else argv,
                        progress=progress)
    run = trainer.run
    print(f"run directory: {run.path}  (config {cfg_path})", flush=True)
    results = trainer.fit()
    return run, results, time.perf_counter() - t0


def fit_baseline(cfg, train: SpikeDataset, test: SpikeDataset, results: dict[str, Any]):
    """The logistic baseline on binned counts, on the test samples the run was scored on; prints
    both accuracies. Returns ``(record, seconds)``."""
    from sgevent.studies.baseline import logistic_baseline

    t0 = time.perf_counter()
    n_eval = len(test) if cfg.max_eval_samples is None else min(len(test), cfg.max_eval_samples)
    base = logistic_baseline(train, test if n_eval == len(test) else test.subset(np.arange(n_eval)), seed=cfg.seed)
    print(f"test accuracy: SpikingGamma {results['test_accuracy']:.4f}   logistic baseline "
          f"{base['test_accuracy']:.4f}   (chance {1 / test.n_classes:.3f}, {n_eval} test samples)", flush=True)
    return {k: base[k] for k in _BASELINE_KEYS}, time.perf_counter() - t0


def record_and_report(run, results: dict[str, Any], extra: dict[str, Any], test: SpikeDataset, threads: int,
                      t_start: float) -> Path:
    """Write ``results.json`` (``results`` updated with ``extra``), then ``report.md``; adds the
    report's and the whole job's wall times. Returns the run directory."""
    from sgevent.report.report import write_report

    results.update(extra)
    run.write_results(results)
    t0 = time.perf_counter()
    report = write_report(run, test, threads=threads)
    results = run.read_results()
    results["wall_seconds"].update(report=time.perf_counter() - t0, total=time.perf_counter() - t_start)
    run.write_results(results)
    print(f"report: {report}   (total {results['wall_seconds']['total']:.0f} s)")
    return run.path
