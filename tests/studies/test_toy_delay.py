"""The delay-learning toy task (:mod:`sgevent.studies.toy_delay`): the generator is exact and
deterministic, a short training clearly learns, and ``sgevent toy delay`` writes its JSON and figure."""

import json

import numpy as np
import pytest

from sgevent.cli import main
from sgevent.errors import ConfigError
from sgevent.studies.toy_delay import (
    DelayConfig,
    delay_network,
    delay_onsets,
    delay_target,
    delay_timing,
    peak_time,
    train_delay,
)


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


def test_delay_config_validation():
    with pytest.raises(ConfigError):
        DelayConfig(delay=-1.0)


def test_delay_network_has_the_documented_shape():
    net = delay_network(DelayConfig(n_hidden=5))
    assert net.sizes == (1, 5, 1) and net.per_synapse and np.all(net.w[0] >= 0)
    np.testing.assert_allclose(net.taus[0], [5e-3] + [15e-3] * 7)


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


# ---------------------------------------------------------------------- CLI
def test_cli_toy_delay_writes_json_and_figure(tmp_path):
    out = tmp_path / "delay"
    argv = ["toy", "delay", "--delay-ms", "10", "--steps", "3", "--hidden", "4", "--n-test", "2",
            "--train-grid-ms", "1", "--grid-delay-ms", "10", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "delay" and len(res["runs"]) == 2
    assert set(res["runs"][0]["eval"]) == {"continuous", "grid_1ms", "grid_0.1ms"}
    assert set(res["runs"][1]["eval"]) == {"continuous", "grid_1ms"}
    assert (out / "toy_delay.png").stat().st_size > 1000
