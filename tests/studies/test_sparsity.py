"""The sparsity sweep (:mod:`sgevent.studies.sparsity`) on a tiny in-memory dataset (structure, files)."""

from __future__ import annotations

import pytest

from sgevent.cli import main
from sgevent.errors import ConfigError
from sgevent.studies.sparsity import sparsity_sweep


def test_sparsity_sweep(data, tiny_config, tmp_path):
    train, test = data
    res = sparsity_sweep(tiny_config(), train, test, theta_0s=(0.05, 0.4), m_fs=(0.0, 0.5), runs_root=tmp_path,
                         name="sw", eval_samples=6)
    pts = res["points"]
    assert len(pts) == 4
    assert {(p["theta_0"], p["m_f"]) for p in pts} == {(0.05, 0.0), (0.4, 0.0), (0.05, 0.5), (0.4, 0.5)}
    for p in pts:
        for key in ("test_accuracy", "hidden_spikes_per_sample", "synaptic_ops_per_sample", "energy_pj",
                    "dense_energy_pj", "activation_sparsity", "frontier_spikes", "frontier_energy"):
            assert key in p, key
        assert p["energy_pj"] > 0
    assert any(p["frontier_spikes"] for p in pts) and any(p["frontier_energy"] for p in pts)
    d = tmp_path / "sw"
    for f in ("sweep.json", "sweep.md", "sparsity_frontier.png"):
        assert (d / f).is_file(), f
    assert len((d / "sweep.md").read_text().strip().splitlines()) >= 4 + len(pts)


def test_invalid_options_are_refused(data, tiny_config, tmp_path):
    train, test = data
    with pytest.raises(ConfigError, match="theta_0 must be > 0"):
        sparsity_sweep(tiny_config(), train, test, theta_0s=(0.0,), runs_root=tmp_path)


def test_command_line_sparsity_sweep(study_cli_args, capsys):
    common = study_cli_args
    assert main(["sparsity-sweep", *common, "--name", "s", "--theta-0s", "0.1", "0.3", "--m-fs", "0"]) == 0
    assert "frontier" in capsys.readouterr().out
