"""Shared fixtures of the studies' tests: a tiny in-memory dataset and a tiny training configuration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sgevent.data.dataset import SpikeDataset
from sgevent.learn.spec import LearnSpec
from sgevent.train.config import NetConfig, TrainConfig

N_CH, N_CLASSES, WINDOW = 12, 3, 0.06


def _tiny(n_per_class: int, seed: int) -> SpikeDataset:
    """Class c fires mostly on channels 4c..4c+3, early for even c, late for odd c."""
    rng = np.random.default_rng(seed)
    times, units, labels = [], [], []
    for c in range(N_CLASSES):
        for _ in range(n_per_class):
            n = int(rng.integers(15, 30))
            u = np.where(rng.random(n) < 0.8, 4 * c + rng.integers(0, 4, n), rng.integers(0, N_CH, n))
            t = rng.uniform(0.0, WINDOW, n)
            times.append(t)
            units.append(u)
            labels.append(c)
    return SpikeDataset.from_lists(times, units, labels, n_channels=N_CH, n_classes=N_CLASSES, name="tiny")


@pytest.fixture(scope="module")
def data():
    return _tiny(12, 0), _tiny(4, 1)


@pytest.fixture
def tiny_config():
    """``tiny_config(**over)``: a one-epoch configuration of a 12 -> 6 -> 3 network, fields replaced by ``over``."""

    def make(**over) -> TrainConfig:
        base = TrainConfig(
            epochs=1, batch_size=6, val_fraction=0.2, seed=0, threads=1, window=WINDOW,
            net=NetConfig(hidden=(6,), n_buckets=3, tau_0=3e-3, tau_delay=6e-3),
            learn=LearnSpec(learn_period=5e-3),
        )
        return replace(base, **over)

    return make


@pytest.fixture
def study_cli_args(tmp_path):
    """The arguments both studies' command-line tests share: tiny SHD-layout files, a tiny config, quick mode."""
    import json

    from shd_files import write_shd_file

    for split, seed in (("train", 0), ("test", 1)):
        write_shd_file(tmp_path / f"shd_{split}.h5", n_samples=12, n_classes=3, seed=seed)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"batch_size": 6, "threads": 1, "window": 0.1, "net": {"hidden": [4], "n_buckets": 2},
                               "learn": {"learn_period": 0.01}}))
    return ["--data-dir", str(tmp_path), "--config", str(cfg), "--quick", "--runs", str(tmp_path / "runs"),
            "--quiet", "--eval-samples", "4"]
