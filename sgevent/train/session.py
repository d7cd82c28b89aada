"""What the ``train`` and ``eval`` commands do: start, resume and evaluate runs safely.

The command line only parses, loads and calls these (STYLE.md rule 9). They make sure that

* a run that cannot start (bad data, a shape mismatch) leaves no run directory behind, so the
  retry does not fail with "already exists";
* a resume refuses changed settings, data or network shapes (:meth:`Trainer.resume`);
* ``evaluate_checkpoint`` takes every setting that changes results (window, time model, learning
  period, evaluated samples, spike budget) from the checkpoint's recorded configuration, so the
  test split of a run reproduces its ``results.json`` exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import DataError, SgeventError
from sgevent.train.batch import evaluate
from sgevent.train.checkpoint import load_checkpoint
from sgevent.train.config import TrainConfig
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer, check_data_fits, checkpoint_network, default_window

__all__ = ["start_run", "resume_run", "evaluate_checkpoint"]


def start_run(config: TrainConfig, train: SpikeDataset, *, test: SpikeDataset | None = None,
              runs: str | Path = "runs", name: str | None = None, argv: Sequence[str] | None = None,
              progress: bool = True, backend=None, extra_provenance: dict[str, Any] | None = None) -> Trainer:
    """Create the run directory and its trainer; remove the directory again if the start fails."""
    run = RunDir.create(runs, name, config=config.to_dict(), seed=config.seed, argv=argv,
                        extra_provenance=extra_provenance)
    try:
        return Trainer(config, train, run, test_data=test, progress=progress, backend=backend)
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)
        raise


def resume_run(path: str | Path, train: SpikeDataset, *, test: SpikeDataset | None = None,
               overrides: dict[str, Any] | None = None, config: TrainConfig | None = None,
               argv: Sequence[str] | None = None, progress: bool = True, backend=None,
               extra_provenance: dict[str, Any] | None = None) -> Trainer:
    """:meth:`Trainer.resume` of the run directory ``path`` (``overrides``: the command's flags;
    ``config``: a configuration file given again, compared with the recorded one)."""
    return Trainer.resume(RunDir.open(path), train, test_data=test, progress=progress, backend=backend,
                          overrides=overrides, config=config, argv=argv, extra_provenance=extra_provenance)


def evaluate_checkpoint(path: str | Path, data: SpikeDataset, *, dt_override: float | None = None,
                        threads: int = 1) -> dict[str, Any]:
    """Evaluate a checkpoint on ``data`` with the settings it was trained with.

    Parameters
    ----------
    path : path-like
        A checkpoint written by :class:`Trainer`.
    data : SpikeDataset
        Must have the network's input channels and classes (DataError naming its file).
    dt_override : float, optional
        Evaluate in another time model on purpose (0: continuous; the result then differs from
        the run's). None: the checkpoint's.
    threads : int
        Threads running samples (results do not depend on it).

    Returns
    -------
    dict
        :func:`sgevent.train.batch.evaluate`'s dict plus ``dt`` and ``window_source``.
    """
    d = load_checkpoint(path)
    net = checkpoint_network(d, path)
    try:
        cfg = TrainConfig.from_dict(d["config"])
    except (KeyError, TypeError, SgeventError) as e:
        raise DataError(f"{path}: the checkpoint's recorded configuration is missing or invalid ({e})") from None
    check_data_fits(net, data, "evaluated", f"the checkpoint {path}")
    window, source = cfg.window, "checkpoint"
    if window is None:  # checkpoints written before the resolved window was recorded
        window, source = default_window(data, cfg.learn.learn_period), "evaluated data (checkpoint predates it)"
    dt = cfg.dt
    if dt_override is not None:
        dt = None if dt_override == 0 else float(dt_override)
        TrainConfig(dt=dt)  # the same check as the config field (a negative dt is an error)
    idx = np.arange(len(data))
    if cfg.max_eval_samples is not None:
        idx = idx[: cfg.max_eval_samples]
    res = evaluate(net, data, idx, dt=dt, window=window, learn_period=cfg.learn.learn_period, threads=threads,
                   spike_budget=cfg.spike_budget)
    res.update(dt=dt, window_source=source)
    return res
