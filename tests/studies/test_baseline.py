"""Tests of the logistic-regression baseline on small synthetic datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import check_grad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgevent.data.dataset import SpikeDataset  # noqa: E402
from sgevent.errors import DataError  # noqa: E402
from sgevent.studies.baseline import (  # noqa: E402
    _loss_grad,
    binned_counts,
    fit_logistic,
    logistic_baseline,
)

N_CHANNELS = 140
N_CLASSES = 4


def _easy_dataset(n_samples: int, speaker_offset: int, seed: int) -> SpikeDataset:
    """Class c fires mostly in channel block c (35 channels each) plus uniform noise."""
    rng = np.random.default_rng(seed)
    times, units, labels, speakers = [], [], [], []
    for i in range(n_samples):
        c = i % N_CLASSES
        n_signal = int(rng.poisson(12))
        n_noise = int(rng.poisson(30))
        u = np.concatenate([
            rng.integers(35 * c, 35 * (c + 1), n_signal),
            rng.integers(0, N_CHANNELS, n_noise),
        ])
        times.append(rng.uniform(0.0, 1.0, u.size))
        units.append(u)
        labels.append(c)
        speakers.append(speaker_offset + i % 5)
    return SpikeDataset.from_lists(
        times, units, labels, speakers, n_channels=N_CHANNELS, n_classes=N_CLASSES,
        name="easy", source=f"synthetic seed {seed}",
    )


def test_binned_counts_places_spikes():
    ds = SpikeDataset.from_lists(
        [[0.0, 0.49, 0.5, 1.0, 1.2], [0.99]],
        [[0, 19, 20, 139, 5], [100]],
        [0, 1],
        n_channels=140, n_classes=2,
    )
    counts = binned_counts(ds, t_max=1.0, n_time_bins=2, n_channel_groups=7)
    assert counts.shape == (2, 2, 7)
    expected0 = np.zeros((2, 7))
    expected0[0, 0] = 2  # t 0.0 and 0.49, channels 0 and 19 -> group 0
    expected0[1, 1] = 1  # t 0.5, channel 20 -> group 1
    expected0[1, 6] = 1  # t 1.0 == t_max goes to the last bin; t 1.2 is dropped
    np.testing.assert_array_equal(counts[0], expected0)
    assert counts[1, 1, 5] == 1 and counts[1].sum() == 1


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5))
    y = rng.integers(0, 3, 20)
    p0 = rng.normal(size=5 * 3 + 3) * 0.1
    err = check_grad(lambda p: _loss_grad(p, x, y, 3, 0.1)[0],
                     lambda p: _loss_grad(p, x, y, 3, 0.1)[1], p0)
    assert err < 1e-5


def test_fit_separable_data():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 3)) * 0.3 + np.eye(3)[y] * 3
    w, b = fit_logistic(x, y, 3, 1e-3)
    assert w.shape == (3, 3) and b.shape == (3,)
    assert np.mean(np.argmax(x @ w + b, axis=1) == y) == 1.0


def test_baseline_beats_chance_and_is_deterministic():
    train = _easy_dataset(160, speaker_offset=0, seed=0)
    test = _easy_dataset(80, speaker_offset=100, seed=1)  # unseen speakers
    res = logistic_baseline(train, test, n_time_bins=4, n_channel_groups=28, seed=0)
    assert res["chance"] == 0.25
    assert res["test_accuracy"] > 0.8
    assert res["val_accuracy"] > 0.7
    assert res["train_accuracy"] >= res["test_accuracy"] - 0.05
    assert res["feature_shape"] == (4, 28) and res["n_features"] == 112
    assert res["l2"] in res["l2_grid"]
    assert res["n_train"] == 160 and res["n_fit"] + res["n_val"] == 160 and res["n_test"] == 80
    # speaker-aware validation: 5 speakers of 32 samples, >= 20% -> 1 speaker held out
    assert res["n_val"] == 32
    assert 0.9 < res["t_max_s"] <= 1.0
    again = logistic_baseline(train, test, n_time_bins=4, n_channel_groups=28, seed=0)
    assert again == res


def test_baseline_defaults_on_700_channels():
    rng = np.random.default_rng(2)

    def make(n, seed_off):
        times, units, labels = [], [], []
        for i in range(n):
            c = i % 2
            u = np.concatenate([rng.integers(350 * c, 350 * c + 100, 20),
                                rng.integers(0, 700, 20)])
            times.append(rng.uniform(0, 0.8, u.size))
            units.append(u)
            labels.append(c)
        return SpikeDataset.from_lists(times, units, labels, n_channels=700, n_classes=2,
                                       source=f"toy {seed_off}")

    res = logistic_baseline(make(60, 0), make(30, 1))
    assert res["feature_shape"] == (10, 35)  # 35 groups of 20 channels
    assert res["test_accuracy"] >= 0.9
    assert res["n_val"] == 12  # no speakers: stratified fallback, round(0.2 * 30) per class


def test_baseline_rejects_mismatched_sets():
    a = _easy_dataset(8, 0, 0)
    b = SpikeDataset.from_lists([[0.1]], [[0]], [0], n_channels=10, n_classes=4, source="b")
    with pytest.raises(DataError, match="b: has 10 channels and 4 classes; expected the same"):
        logistic_baseline(a, b)
