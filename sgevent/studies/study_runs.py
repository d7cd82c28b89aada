"""What the resolution study and the sparsity sweep share: configuration, data, one trained model.

Both studies (:mod:`sgevent.studies.resolution`, :mod:`sgevent.studies.sparsity`) train many
models from one base :class:`sgevent.train.config.TrainConfig` and evaluate them on the same
test samples:

- the command-line studies' configuration (:data:`STUDY_CONFIG`, :data:`QUICK_OVERRIDES`,
  :func:`study_config`) and sizes (:data:`STUDY_SIZES`);
- the data: :func:`load_study_splits` reads an SHD-layout folder, :func:`prepare` checks that
  the splits match and fixes one window for every model and evaluation, :func:`eval_indices`
  draws the evaluated test samples (the first ``n`` of a seeded permutation, sorted);
- one trained model: :func:`train_one` trains in ``study/train_<label>/`` (a normal
  :class:`sgevent.train.trainer.Trainer` run directory) and returns the best checkpoint's network;
- a cluster: :func:`on_cluster` runs one independent Dask task per model;
- the study's JSON file (:func:`write_json`).

Run directory (``runs_root/name/``): ``config.json`` (base configuration and study options),
one sub-run per trained model (``train_<label>/``), ``study.json`` / ``study.md`` and figures
(resolution study) or ``sweep.json`` / ``sweep.md`` and a figure (sparsity sweep).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError, SgeventError
from sgevent.model.network import Network
from sgevent.train.checkpoint import load_checkpoint, payload_to_network
from sgevent.train.config import TrainConfig, load_config
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer, default_window

__all__ = [
    "DEFAULT_DTS", "STUDY_CONFIG", "QUICK_OVERRIDES", "STUDY_SIZES", "time_model_label", "study_config",
    "load_study_splits", "prepare", "eval_indices", "train_one", "threads_of", "create_study_dir", "as_backend",
    "on_cluster", "write_json",
]

#: Time models of the resolution study: continuous, then grid steps (s).
DEFAULT_DTS: tuple[float | None, ...] = (None, 1e-3, 5e-4, 1e-4, 5e-5, 1e-5)

#: Training configuration of the command-line studies: the run-shd model (``configs/run_shd.json``:
#: 700 -> 128 -> 20, K = 8, adaptive threshold m_f = 0.5, a learning event every 10 ms, Adam 1e-2
#: with a cosine schedule, channel shift and event dropout) on a smaller budget: 1,200 training
#: samples x 2 epochs = 150 optimiser steps of 16 per model, 0.07-0.28 s of wall time per sample
#: pass (1 ms grid to 0.01 ms). Measured on 2 cores beside the sparsity sweep: 40 min of training
#: for the six time models, 62 min for the whole resolution study, 41 min for the sweep. The
#: sparsity sweep trains on the 1 ms grid (``dt``; the studies' cheapest time model). The run-shd
#: budget itself (all 2,000 samples, 8 epochs) reaches 86.6%.
STUDY_CONFIG: dict[str, Any] = {
    "epochs": 2, "batch_size": 16, "dt": 1e-3, "val_fraction": 0.1, "seed": 0,
    "checkpoint_every": 1000, "max_train_samples": 1200, "max_eval_samples": 100,
    "net": {"hidden": [128], "n_buckets": 8, "tau_0": 5e-3, "tau_delay": 15e-3, "theta_0": 0.1, "m_f": 0.5,
            "tau_theta": 0.1},
    "learn": {"loss": "mean", "backward": "instant", "learn_period": 1e-2},
    "optim": {"name": "adam", "lr": 1e-2, "schedule": "cosine", "warmup_steps": 10, "total_steps": 150},
    "augment": {"channel_shift": 5, "event_dropout": 0.1},
}
#: ``--quick``: a smoke run of a minute or two (one epoch on 32 samples per model).
QUICK_OVERRIDES: dict[str, Any] = {"epochs": 1, "batch_size": 8, "max_train_samples": 32, "max_eval_samples": 8}
#: Study sizes (test samples evaluated, reference samples and budget, dts, thresholds).
STUDY_SIZES: dict[str, dict[str, Any]] = {
    "full": {"eval_samples": 500, "ref_samples": 10, "ref_budget_s": 240.0, "dts": DEFAULT_DTS,
             "theta_0s": (0.05, 0.1, 0.2, 0.4), "m_fs": (0.0, 0.5)},
    "quick": {"eval_samples": 24, "ref_samples": 6, "ref_budget_s": 20.0, "dts": (None, 1e-3, 1e-4),
              "theta_0s": (0.1, 0.4), "m_fs": (0.0,)},
}


def time_model_label(dt: float | None) -> str:
    """``"continuous"`` or ``"dt=<step>"`` (e.g. ``"dt=0.0001"``)."""
    return "continuous" if dt is None else f"dt={dt:g}"


def study_config(config_path: str | None, quick: bool) -> TrainConfig:
    """The studies' training configuration: ``config_path`` or :data:`STUDY_CONFIG`, then
    :data:`QUICK_OVERRIDES` with ``quick``."""
    cfg = load_config(config_path) if config_path else TrainConfig.from_dict(json.loads(json.dumps(STUDY_CONFIG)))
    return replace(cfg, **QUICK_OVERRIDES) if quick else cfg


def load_study_splits(data_dir: str | os.PathLike) -> tuple[SpikeDataset, SpikeDataset]:
    """The training and test splits of an SHD-layout folder (its first ``*_train.h5``, ``*_test.h5``)."""
    from sgevent.data import load_h5

    d = Path(data_dir)
    train, test = sorted(d.glob("*_train.h5")), sorted(d.glob("*_test.h5"))
    if not train or not test:
        raise SgeventError(f"{d}: need one *_train.h5 and one *_test.h5 (SHD layout), found "
                           f"{sorted(p.name for p in d.glob('*.h5')) or 'no .h5 files'}")
    return load_h5(train[0]), load_h5(test[0])


def prepare(config: TrainConfig, train: SpikeDataset, test: SpikeDataset) -> TrainConfig:
    """Check the base configuration and the splits; fix the window (``config.window`` or the default)."""
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a sgevent TrainConfig, got {type(config).__name__}")
    if train.n_channels != test.n_channels or train.n_classes != test.n_classes:
        raise ConfigError(
            f"train ({train.source}: {train.n_channels} channels, {train.n_classes} classes) and test "
            f"({test.source}: {test.n_channels} channels, {test.n_classes} classes) do not match"
        )
    window = config.window or default_window(train, config.learn.learn_period)
    return replace(config, window=window)  # one window for every model and evaluation


def eval_indices(test: SpikeDataset, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the evaluated test samples: the first ``n`` (default all) of a seeded permutation.

    Raises :class:`ConfigError` if there are none.
    """
    idx = np.random.default_rng([seed, 7]).permutation(len(test))
    idx = np.sort(idx[:n] if n is not None else idx)
    if idx.size == 0:
        raise ConfigError(f"{test.source}: no test samples to evaluate (eval_samples={n})")
    return idx


def train_one(cfg: TrainConfig, train: SpikeDataset, study: RunDir, label: str,
              progress: bool) -> tuple[Network, dict]:
    """Train one model in ``study/train_<label>/``; the best checkpoint's network and facts."""
    run = RunDir.create(study.path, f"train_{label}", config=cfg.to_dict(), seed=cfg.seed)
    trainer = Trainer(cfg, train, run, progress=progress)
    t0 = time.perf_counter()
    res = trainer.fit()
    wall = time.perf_counter() - t0
    net = payload_to_network(load_checkpoint(run.checkpoint_best)["net"])
    passes = cfg.epochs * trainer.train_idx.size
    return net, {"run_dir": str(run.path), "train_wall_s": wall, "train_samples": int(trainer.train_idx.size),
                 "train_s_per_sample_pass": wall / max(passes, 1),
                 "best_val_accuracy": res.get("best_val_accuracy")}


def threads_of(cfg: TrainConfig) -> int:
    """Threads of an in-process evaluation: ``cfg.threads``, 0 meaning every core."""
    return cfg.threads or (os.cpu_count() or 1)


def create_study_dir(runs_root, name, config: TrainConfig, key: str, options: dict, backend) -> RunDir:
    """The study's run directory; ``config.json`` holds the base configuration and ``{key: options}``."""
    return RunDir.create(runs_root, name, config={"base": config.to_dict(), key: options}, seed=config.seed,
                         extra_provenance=None if backend is None else {"backend": backend.describe()})


def as_backend(backend):
    """A :class:`sgevent.train.distributed.DaskBackend` from a backend or a ``distributed.Client`` (None kept)."""
    if backend is None:
        return None
    from sgevent.train.distributed import as_backend

    return as_backend(backend)


def on_cluster(backend, task, items: list[tuple], train: SpikeDataset, test: SpikeDataset, what: str,
               progress: bool) -> list:
    """``task(train, test, *item)`` for every item as independent Dask tasks; results in item order.

    The datasets travel once (:meth:`sgevent.train.distributed.DaskBackend.data_ref`); each task trains
    one model in its own sub-run directory under the study's, so with workers on other machines
    the study's ``runs_root`` must be on a file system they share.
    """
    t0 = time.perf_counter()
    out = backend.run_tasks(task, items, datasets=[train, test], what="model")
    if progress:
        print(f"[{what}] {len(items)} models trained and evaluated on {backend.n_workers} Dask workers in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return out


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (arrays and numpy scalars converted; see :func:`sgevent.train.rundir.to_jsonable`)."""
    from sgevent.train.rundir import to_jsonable

    path.write_text(json.dumps(to_jsonable(data, path.name), indent=2) + "\n")
