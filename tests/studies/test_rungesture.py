"""run-gesture: the data selection (converted DVS Gesture, the synthetic fallback) and the whole
job on a tiny conv network, offline."""

import json

import numpy as np
import pytest

import sgevent.studies.run_gesture as rungesture
from sgevent.data import clear_cache
from sgevent.data.shd_writer import write_shd_h5
from sgevent.errors import ConfigError, DataError

SIZE = 8


def _tiny_gestures(folder, n_train=24, n_test=12, seed=0, n_classes=3):
    """gestures_{train,test}.h5 on a 2 x 8 x 8 map: class c fires ON events in row block c (learnable)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        rng = np.random.default_rng(s)
        labels = np.arange(n) % n_classes
        times, units = [], []
        for c in labels:
            m = 40
            y = rng.integers(2 * c, 2 * c + 2, m)
            x = rng.integers(0, SIZE, m)
            times.append(np.sort(rng.uniform(0, 0.05, m)))
            units.append((1 * SIZE * SIZE + y * SIZE + x).astype(np.int64))
        write_shd_h5(folder / f"gestures_{split}.h5", times, units, labels, np.arange(n) % 4,
                     [f"g{c}" for c in range(n_classes)], n_channels=2 * SIZE * SIZE, input_shape=(2, SIZE, SIZE))
    clear_cache()


def _tiny_config(tmp_path, in_shape=(2, SIZE, SIZE)):
    cfg = {
        "epochs": 1, "batch_size": 6, "window": 0.06, "val_fraction": 0.25, "seed": 1, "threads": 1,
        "checkpoint_every": 50,
        "net": {"in_shape": list(in_shape), "conv": [{"out_channels": 2, "kernel": 3, "stride": 2}], "hidden": [],
                "n_buckets": 3, "theta_0": 0.05, "weight_gain": 2.0},
        "learn": {"learn_period": 0.005}, "optim": {"name": "adam", "lr": 0.02},
    }
    path = tmp_path / "tiny_gesture.json"
    path.write_text(json.dumps(cfg))
    return path


def test_dvs_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="--data dvs needs DVS Gesture.*gestures_train.h5"):
        rungesture.select_gesture_data("dvs", root=tmp_path)
    with pytest.raises(ConfigError, match="data must be one of"):
        rungesture.select_gesture_data("shd", root=tmp_path)


def test_auto_uses_converted_files_when_present(tmp_path):
    _tiny_gestures(tmp_path / "DVSGesture")
    train, test, info = rungesture.select_gesture_data("auto", root=tmp_path, progress=False)
    assert info["kind"] == "dvs" and info["fallback_reason"] is None
    assert train.input_shape == (2, SIZE, SIZE) and len(test) == 12


def test_auto_falls_back_to_the_synthetic_gestures(tmp_path, monkeypatch, capsys):
    import sgevent.data.gestures as gestures

    calls = []

    def fake_generate(out_dir, n_train, n_test, seed, progress=False):
        calls.append((n_train, n_test, seed))
        _tiny_gestures(out_dir)
        return {}

    monkeypatch.setattr(gestures, "generate_gestures", fake_generate)
    train, _, info = rungesture.select_gesture_data("auto", quick=True, root=tmp_path, progress=False)
    assert info["kind"] == "synth" and "neither" in info["fallback_reason"]
    assert calls == [rungesture.SYNTH_GESTURES_QUICK[1:]]
    assert info["train_file"].endswith("synth_gestures_quick/gestures_train.h5")
    assert "using the synthetic gestures" in capsys.readouterr().out
    rungesture.select_gesture_data("synth", quick=True, root=tmp_path, progress=False)
    assert len(calls) == 1  # generated on first use only


def test_a_config_for_another_map_is_refused(tmp_path):
    _tiny_gestures(tmp_path / "DVSGesture")
    with pytest.raises(ConfigError, match=r"net.in_shape \[2, 32, 32\] does not match"):
        rungesture.run_gesture("dvs", root=tmp_path, runs=tmp_path / "runs",
                               config_path=_tiny_config(tmp_path, in_shape=(2, 32, 32)), progress=False)


def test_run_gesture_end_to_end(tmp_path):
    _tiny_gestures(tmp_path / "DVSGesture")
    path = rungesture.run_gesture("auto", root=tmp_path, runs=tmp_path / "runs", name="g2e",
                                  config_path=_tiny_config(tmp_path), progress=False)
    res = json.loads((path / "results.json").read_text())
    assert res["dataset"]["kind"] == "dvs"
    assert 0 <= res["test_accuracy"] <= 1 and 0 <= res["baseline"]["test_accuracy"] <= 1
    text = (path / "report.md").read_text()
    assert "logistic regression" in text and "SpikingGamma on DVS128 Gesture" in text
    assert "Reference figures (SHD" not in text  # the SHD literature is not this task's
    # the energy table counts the conv fan-out and adds the time-stepped convolution
    assert "time-stepped convolution" in text and "energy ratio time-stepped conv / event-driven" in text
    assert res["test_activity"]["n_samples"] == 12
