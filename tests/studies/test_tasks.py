"""Toy timing tasks: the generators are exact and deterministic, short trainings clearly learn,
and the CLI commands write their JSON and figure."""

import argparse
import json

import numpy as np
import pytest

from sgevent.errors import ConfigError
from sgevent.studies.toy import (
    DelayConfig,
    ItdConfig,
    add_task_commands,
    delay_network,
    delay_onsets,
    delay_target,
    delay_timing,
    itd_dataset,
    itd_network,
    peak_time,
    train_delay,
    train_itd,
)
from sgevent.train.batch import evaluate


# ---------------------------------------------------------------------- generators
def test_delay_onsets_and_target():
    a = delay_onsets(50, 5e-3, 50e-3, np.random.default_rng(3))
    b = delay_onsets(50, 5e-3, 50e-3, np.random.default_rng(3))
    assert a.shape == (50,) and np.array_equal(a, b)
    assert a.min() >= 5e-3 and a.max() <= 50e-3
    t = np.arange(1, 101) * 1e-3
    T = delay_target(0.01, 0.03, t, 3e-3)
    assert T.shape == (100, 1)
    assert t[np.argmax(T[:, 0])] == pytest.approx(0.04)
    assert T.max() == pytest.approx(1.0)
    assert T[np.argmin(np.abs(t - 0.043)), 0] == pytest.approx(np.exp(-0.5))  # one sigma away


def test_peak_time_parabolic_refinement_is_exact_for_a_parabola():
    t = np.arange(0, 50) * 1e-3
    o = -((t - 0.02137) ** 2)
    assert peak_time(t, o) == pytest.approx(0.02137, abs=1e-12)
    assert peak_time(t, t) == pytest.approx(t[-1])  # maximum at the edge: no refinement


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
    with pytest.raises(ConfigError):
        DelayConfig(delay=-1.0)


def test_networks_have_the_documented_shapes():
    net = delay_network(DelayConfig(n_hidden=5))
    assert net.sizes == (1, 5, 1) and net.per_synapse and np.all(net.w[0] >= 0)
    np.testing.assert_allclose(net.taus[0], [5e-3] + [15e-3] * 7)
    inet = itd_network(ItdConfig(n_hidden=6))
    assert inet.sizes == (2, 6, 5) and inet.per_synapse and inet.bias[0]


# ---------------------------------------------------------------------- learning
def test_delay_training_improves_timing():
    cfg = DelayConfig(delay=20e-3, n_hidden=8, steps=100, batch_size=2, val_every=20, n_val=2, n_test=4, seed=0)
    onsets = [0.01, 0.025, 0.04, 0.05]
    before = delay_timing(delay_network(cfg), cfg, onsets, None)
    net, hist = train_delay(cfg)
    after = delay_timing(net, cfg, onsets, None)
    assert min(hist["val_loss"]) < 0.7 * hist["val_loss"][0]
    assert before["mean_abs_error_ms"] > 8.0          # untrained: the readout peaks far from t0 + d
    assert after["mean_abs_error_ms"] < 3.0           # measured 0.23 ms (untrained: 14 ms)
    assert after["peak_height"] > 2 * before["peak_height"]


def test_itd_training_beats_chance():
    cfg = ItdConfig(n_train=150, n_test=60, n_hidden=16, epochs=6, batch_size=10, lr=2e-2, seed=0)
    train = itd_dataset(cfg, cfg.n_train, 1)
    test = itd_dataset(cfg, cfg.n_test, 2)
    net, hist = train_itd(cfg, train)
    acc = evaluate(net, test, dt=None, window=cfg.window)["accuracy"]
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert acc > 0.45  # chance is 0.2; measured 0.67


# ---------------------------------------------------------------------- CLI
def _parse(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    add_task_commands(sub)
    return p.parse_args(argv)


def test_cli_toy_delay_writes_json_and_figure(tmp_path):
    out = tmp_path / "delay"
    args = _parse(["toy", "delay", "--delay-ms", "10", "--steps", "3", "--hidden", "4", "--n-test", "2",
                   "--train-grid-ms", "1", "--grid-delay-ms", "10", "--out", str(out), "--quiet"])
    assert args.func(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "delay" and len(res["runs"]) == 2
    assert set(res["runs"][0]["eval"]) == {"continuous", "grid_1ms", "grid_0.1ms"}
    assert set(res["runs"][1]["eval"]) == {"continuous", "grid_1ms"}
    assert (out / "toy_delay.png").stat().st_size > 1000


def test_cli_toy_itd_writes_json_and_figure(tmp_path):
    out = tmp_path / "itd"
    args = _parse(["toy", "itd", "--n-train", "10", "--n-test", "10", "--epochs", "1", "--hidden", "4",
                   "--batch-size", "5", "--out", str(out), "--quiet"])
    assert args.func(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "itd" and len(res["runs"]) == 2
    assert set(res["runs"][0]["eval"]) == {"continuous", "grid_1ms", "grid_0.1ms"}
    assert 0.0 <= res["runs"][0]["eval"]["continuous"]["accuracy"] <= 1.0
    assert (out / "toy_itd.png").stat().st_size > 1000
