"""The ITD toy task (:mod:`sgevent.studies.toy_itd`): the generator is exact and deterministic,
a short training beats chance, and ``sgevent toy itd`` writes its JSON and figure."""

import json

import numpy as np
import pytest

from sgevent.cli import main
from sgevent.errors import ConfigError
from sgevent.studies.toy_itd import ItdConfig, itd_dataset, itd_network, train_itd
from sgevent.train.batch import evaluate


# ---------------------------------------------------------------------- generators
def test_itd_dataset_shapes_labels_offsets_and_determinism():
    cfg = ItdConfig(n_train=10, n_test=10)
    ds = itd_dataset(cfg, 25, 7)
    again = itd_dataset(cfg, 25, 7)
    other = itd_dataset(cfg, 25, 8)
    assert len(ds) == 25 and ds.n_channels == 2 and ds.n_classes == 5
    assert np.array_equal(ds.times, again.times) and np.array_equal(ds.units, again.units)
    assert not np.array_equal(ds.times[:5], other.times[:5])
    lo, hi = cfg.span
    for i in range(len(ds)):
        t, u, y = ds.sample(i)
        assert y == i % 5
        p, q = np.sort(t[u == 0]), np.sort(t[u == 1])
        assert cfg.n_spikes_min <= p.size <= cfg.n_spikes_max and p.size == q.size
        assert np.all(p >= lo) and np.all(p <= hi)
        np.testing.assert_allclose(q - p, cfg.itds[y], rtol=0, atol=1e-15)  # exact shift (float rounding)
        assert t.min() >= 0 and t.max() <= cfg.duration


def test_itd_jitter_and_validation():
    cfg = ItdConfig(jitter=0.5e-3)
    ds = itd_dataset(cfg, 10, 0)
    t, u, y = ds.sample(0)
    d = np.sort(t[u == 1]) - np.sort(t[u == 0])
    assert not np.allclose(d, cfg.itds[y])
    with pytest.raises(ConfigError):
        ItdConfig(itds=(0.0, 0.0))
    with pytest.raises(ConfigError):
        ItdConfig(itds=(-60e-3, 60e-3))  # no room for the pattern


def test_itd_network_has_the_documented_shape():
    inet = itd_network(ItdConfig(n_hidden=6))
    assert inet.sizes == (2, 6, 5) and inet.per_synapse and inet.bias[0]


# ---------------------------------------------------------------------- learning
def test_itd_training_beats_chance():
    cfg = ItdConfig(n_train=150, n_test=60, n_hidden=16, epochs=6, batch_size=10, lr=2e-2, seed=0)
    train = itd_dataset(cfg, cfg.n_train, 1)
    test = itd_dataset(cfg, cfg.n_test, 2)
    net, hist = train_itd(cfg, train)
    acc = evaluate(net, test, dt=None, window=cfg.window)["accuracy"]
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert acc > 0.45  # chance is 0.2; measured 0.67


# ---------------------------------------------------------------------- CLI
def test_cli_toy_itd_writes_json_and_figure(tmp_path):
    out = tmp_path / "itd"
    argv = ["toy", "itd", "--n-train", "10", "--n-test", "10", "--epochs", "1", "--hidden", "4",
            "--batch-size", "5", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "itd" and len(res["runs"]) == 2
    assert set(res["runs"][0]["eval"]) == {"continuous", "grid_1ms", "grid_0.1ms"}
    assert 0.0 <= res["runs"][0]["eval"]["continuous"]["accuracy"] <= 1.0
    assert (out / "toy_itd.png").stat().st_size > 1000
