"""Run directories: layout, config and provenance records, metrics log, atomic results."""

import json
import os
import subprocess

import numpy as np
import pytest

import sgevent.train.rundir as rundir_mod
from sgevent.errors import ConfigError, DataError
from sgevent.train.optim import OptimConfig
from sgevent.train.rundir import RunDir, git_info, provenance


def test_create_named_run_writes_config_and_provenance(tmp_path):
    cfg = {"optim": OptimConfig(lr=0.01), "seed": np.int64(3), "taus": np.array([1e-3, 2e-3]), "n": (1, 2)}
    run = RunDir.create(tmp_path / "runs", "exp1", config=cfg, seed=3, argv=["sgevent", "train"])
    assert run.path == tmp_path / "runs" / "exp1" and run.name == "exp1"
    assert run.read_config() == {
        "optim": OptimConfig(lr=0.01).to_dict(), "seed": 3, "taus": [1e-3, 2e-3], "n": [1, 2],
    }
    prov = run.read_provenance()
    assert prov["seed"] == 3 and prov["argv"] == ["sgevent", "train"]
    assert prov["versions"]["numpy"] == np.__version__
    for k in ("python", "numba", "h5py", "sgevent"):
        assert isinstance(prov["versions"][k], str)
    assert set(prov["git"]) == {"revision", "dirty"}
    assert prov["git"]["dirty"] in (True, False, "unknown")
    assert isinstance(prov["platform"]["machine"], str)
    assert "T" in prov["start_time"]
    assert run.checkpoint_last == run.path / "checkpoint_last.h5"
    assert run.checkpoint_best == run.path / "checkpoint_best.h5"
    assert sorted(os.listdir(run.path)) == ["config.json", "provenance.json"]


def test_unnamed_runs_are_unique(tmp_path):
    runs = [RunDir.create(tmp_path, seed=i) for i in range(5)]
    names = {r.name for r in runs}
    assert len(names) == 5
    for r in runs:
        assert r.path.is_dir() and r.name[:8].isdigit()


def test_existing_name_needs_exist_ok(tmp_path):
    run = RunDir.create(tmp_path, "a", config={"x": 1}, seed=1)
    run.log_metrics({"epoch": 0})
    with pytest.raises(ConfigError, match="already exists"):
        RunDir.create(tmp_path, "a")
    again = RunDir.create(tmp_path, "a", config={"x": 2}, seed=1, exist_ok=True)
    assert again.read_config() == {"x": 1}  # the original record is kept
    assert (again.path / "provenance_resume_1.json").is_file()
    assert again.read_metrics() == [{"epoch": 0}]
    with pytest.raises(ConfigError, match="plain directory name"):
        RunDir.create(tmp_path, "../escape")


def test_open_missing_run_is_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        RunDir.open(tmp_path / "nope")
    run = RunDir.create(tmp_path, "r")
    assert RunDir.open(run.path).path == run.path
    with pytest.raises(DataError, match="results.json"):
        run.read_results()


def test_metrics_log_round_trip(tmp_path):
    run = RunDir.create(tmp_path, "m")
    assert run.read_metrics() == []
    recs = [{"epoch": e, "loss": 1.0 / (e + 1), "acc": np.float32(0.5), "per_layer": np.array([1, 2])}
            for e in range(3)]
    for r in recs:
        run.log_metrics(r)
    run.log_metrics({"epoch": 3, "loss": float("nan")})
    got = run.read_metrics()
    assert [g["epoch"] for g in got] == [0, 1, 2, 3]
    assert got[1]["loss"] == 0.5 and got[0]["acc"] == 0.5 and got[2]["per_layer"] == [1, 2]
    assert np.isnan(got[3]["loss"])
    assert len(run.metrics_path.read_text().splitlines()) == 4
    with pytest.raises(ConfigError, match="metrics.bad"):
        run.log_metrics({"bad": object()})


def test_metrics_partial_last_line_ignored_bad_line_reported(tmp_path):
    run = RunDir.create(tmp_path, "m")
    run.log_metrics({"epoch": 0})
    with open(run.metrics_path, "a") as fh:
        fh.write('{"epoch": 1, "lo')  # append cut short by a crash
    assert run.read_metrics() == [{"epoch": 0}]
    with open(run.metrics_path, "a") as fh:
        fh.write("\n")
    run.log_metrics({"epoch": 2})
    with pytest.raises(DataError, match=r"metrics.jsonl, line 2"):
        run.read_metrics()


def test_results_written_atomically(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path, "r")
    run.write_results({"test_acc": 0.9, "n": np.int32(4)})
    assert run.read_results() == {"test_acc": 0.9, "n": 4}
    before = run.results_path.read_bytes()

    def broken_dumps(*a, **k):
        raise RuntimeError("interrupted")

    with pytest.raises(ConfigError):
        run.write_results({"x": object()})
    monkeypatch.setattr(rundir_mod.json, "dumps", broken_dumps)
    with pytest.raises(RuntimeError):
        run.write_results({"test_acc": 0.1})
    monkeypatch.undo()
    assert run.results_path.read_bytes() == before
    assert sorted(os.listdir(run.path)) == ["provenance.json", "results.json"]
    json.loads(before)


def test_results_write_failure_midway_removes_temp(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path, "r")
    run.write_results({"a": 1})
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError("no space left")

    monkeypatch.setattr(rundir_mod.os, "replace", failing_replace)
    with pytest.raises(OSError, match="no space"):
        run.write_results({"a": 2})
    monkeypatch.setattr(rundir_mod.os, "replace", real_replace)
    assert run.read_results() == {"a": 1}
    assert sorted(os.listdir(run.path)) == ["provenance.json", "results.json"]


def test_git_info_in_repo_and_without_git(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    try:
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        (repo / "f.txt").write_text("1")
        subprocess.run(["git", "-C", str(repo), "add", "f.txt"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "x"], check=True, env=env)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not usable here")
    info = git_info(repo)
    assert len(info["revision"]) == 40 and info["dirty"] is False
    (repo / "f.txt").write_text("2")
    assert git_info(repo)["dirty"] is True
    notrepo = tmp_path / "plain"
    notrepo.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_info(notrepo) == {"revision": "unknown", "dirty": "unknown"}

    def no_git(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(rundir_mod.subprocess, "run", no_git)
    assert git_info(repo) == {"revision": "unknown", "dirty": "unknown"}
    assert provenance(seed=1)["git"]["revision"] == "unknown"
