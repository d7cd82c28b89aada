"""The resolution study (:mod:`sgevent.studies.resolution`) on a tiny in-memory dataset
(structure, files, the reference's budget and its agreement with the grid engine, state sizes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sgevent.cli import main
from sgevent.errors import ConfigError
from sgevent.model.network import Network
from sgevent.studies.resolution import engine_state_bytes, reference_state_bytes, resolution_study

N_CH, N_CLASSES = 12, 3  # the tiny dataset of conftest.py


def test_resolution_study_reference_skipped_on_tiny_budget(data, tiny_config, tmp_path):
    train, test = data
    res = resolution_study(tiny_config(), train, test, dts=(None, 1e-3), runs_root=tmp_path, name="res",
                           ref_budget_s=1e-9, eval_samples=6)
    assert res["labels"] == ["continuous", "dt=0.001"]
    A = np.asarray(res["cross_accuracy"])
    assert A.shape == (2, 2)
    assert np.all((A >= 0) & (A <= 1))
    assert res["eval_samples"] == 6
    for m in res["models"]:
        for key in ("test_accuracy", "hidden_spikes_per_sample", "synaptic_ops_per_sample", "engine_s_per_sample",
                    "engine_state_bytes", "reference_state_bytes", "train_s_per_sample_pass", "run_dir"):
            assert key in m, key
        assert m["engine_s_per_sample"] > 0 and m["engine_state_bytes"] > 0
        assert m["test_accuracy"] == A[res["models"].index(m)][res["models"].index(m)]
    assert res["models"][0]["reference"] is None  # continuous: no clock reference
    ref = res["models"][1]["reference"]
    assert ref["status"] == "skipped" and ref["projected_s"] > 0 and ref["s_per_sample"] is None
    d = tmp_path / "res"
    for f in ("study.json", "study.md", "resolution_accuracy.png", "resolution_cost.png", "config.json"):
        assert (d / f).is_file(), f
    assert (d / "train_continuous" / "checkpoint_best.h5").is_file()
    assert "skipped (projected" in (d / "study.md").read_text()
    saved = json.loads((d / "study.json").read_text())
    assert saved["cross_accuracy"] == res["cross_accuracy"]


def test_resolution_study_reference_runs_and_agrees_with_the_grid_engine(data, tiny_config, tmp_path):
    train, test = data
    res = resolution_study(tiny_config(), train, test, dts=(None, 1e-3), runs_root=tmp_path, name="res",
                           ref_budget_s=1e6, eval_samples=6, ref_samples=3)
    ref = res["models"][1]["reference"]
    assert ref["status"] == "ran" and ref["n_samples"] == 3 and ref["s_per_sample"] > 0
    # the grid engine reproduces the clock reference spike for spike (DESIGN.md 1.3)
    assert ref["prediction_agreement"] == 1.0
    assert ref["spike_count_agreement"] == 1.0
    assert "skipped" not in (tmp_path / "res" / "study.md").read_text()


def test_state_bytes_do_not_depend_on_dt_or_duration():
    net = Network.create(N_CH, (6,), N_CLASSES, n_buckets=3, seed=0)
    a = engine_state_bytes(net, None, 10)
    b = engine_state_bytes(net, 1e-5, 1000)
    assert a["state"] == b["state"] > 0
    assert b["readout_buffer"] == 1000 * N_CLASSES * 8
    assert reference_state_bytes(net) == 8 * ((N_CH + 6) * 3 + 6 + 6 + N_CLASSES)


def test_invalid_options_are_refused(data, tiny_config, tmp_path):
    train, test = data
    with pytest.raises(ConfigError, match="listed twice"):
        resolution_study(tiny_config(), train, test, dts=(1e-3, 1e-3), runs_root=tmp_path)
    with pytest.raises(ConfigError, match="grid step > 0"):
        resolution_study(tiny_config(), train, test, dts=(None, -1.0), runs_root=tmp_path)


def test_command_line_resolution_study(study_cli_args, tmp_path, capsys):
    common = study_cli_args
    assert main(["resolution-study", *common, "--name", "r", "--dts", "continuous", "0.01", "--ref-budget", "0"]) == 0
    out = capsys.readouterr().out
    assert "trained \\ evaluated" in out and "skipped (projected" in out
    assert main(["resolution-study", "--data-dir", str(tmp_path / "nowhere"), "--quick"]) == 2
