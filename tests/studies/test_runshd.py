"""run-shd: the data selection (real set, download, synthetic fallback) and the report writer."""

import json

import numpy as np
import pytest
from shd_files import make_samples, write_shd_file

import sgevent.studies.lif_peer as lif_peer
import sgevent.studies.run_shd as runshd
from sgevent.data import clear_cache, load_h5
from sgevent.errors import DataError
from sgevent.learn.spec import LearnSpec
from sgevent.report.report import FIGURES, kernel_curves, layer_activity, per_class_accuracy, write_report
from sgevent.train.config import NetConfig, TrainConfig
from sgevent.train.optim import OptimConfig
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer


def _tiny_set(folder, n_train=16, n_test=8, seed=0, n_classes=4):
    """shd_train.h5 / shd_test.h5 whose classes fire in different channels (learnable)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        d = make_samples(n_samples=n, n_classes=n_classes, n_speakers=4, seed=s)
        # class c fires in channels 30c..30c+20, early: a signal the tiny net can pick up
        rng = np.random.default_rng(s)
        for i, c in enumerate(d["labels"].astype(int)):
            d["times"][i] = rng.uniform(0, 0.05, 30).astype(np.float16)
            d["units"][i] = rng.integers(30 * c, 30 * c + 20, 30).astype(np.uint16)
        write_shd_file(folder / f"shd_{split}.h5", d)
    clear_cache()


def _tiny_config(**kw):
    base = dict(epochs=2, batch_size=4, window=0.06, val_fraction=0.25, seed=1, threads=1, checkpoint_every=50,
                net=NetConfig(hidden=(12,), n_buckets=3, theta_0=0.05, weight_gain=2.0),
                learn=LearnSpec(learn_period=5e-3), optim=OptimConfig(name="adam", lr=0.02))
    base.update(kw)
    return TrainConfig(**base)


# ---------------------------------------------------------------------- data selection
def test_auto_uses_the_real_files_when_present(tmp_path, monkeypatch):
    _tiny_set(tmp_path / "SHD", n_train=20, n_test=20, n_classes=20)  # SHD has 20 classes

    def no_download(*a, **k):
        raise AssertionError("must not download when the files are there")

    monkeypatch.setattr(runshd, "find_or_download", no_download)
    train, test, info = runshd.select_data("auto", root=tmp_path)
    assert info["kind"] == "shd" and info["fallback_reason"] is None
    assert info["train_file"].endswith("SHD/shd_train.h5")
    assert len(train) == 20 and len(test) == 20 and train.name == "SHD train"


def test_auto_falls_back_to_synth_offline(tmp_path, monkeypatch, capsys):
    calls = []

    def offline(meta, split, root, download=True):
        raise DataError(f"{meta.name} {split}: not there and the download failed (URLError: no network). Download ...")

    def fake_generator(out_dir, n_train, n_test, seed, progress=True, n_workers=None, preset="hard"):
        calls.append((str(out_dir), n_train, n_test, seed, preset))
        _tiny_set(out_dir)
        return {}

    import sgevent.data.synth as synth

    monkeypatch.setattr(runshd, "find_or_download", offline)
    monkeypatch.setattr(synth, "generate_synthetic_digits", fake_generator)
    train, test, info = runshd.select_data("auto", quick=True, root=tmp_path, progress=False)
    out = capsys.readouterr().out
    assert "SHD is not available" in out and "synthetic" in out
    assert info["kind"] == "synth" and "no network" in info["fallback_reason"]
    assert calls == [(str(tmp_path / "synth_hard_quick" / "SHD"), 300, 100, 0, "hard")]
    assert info["synth"]["generated_now"] is True
    # second use: the generated files are reused
    train2, _, info2 = runshd.select_data("synth", quick=True, root=tmp_path, progress=False)
    assert len(calls) == 1 and info2["synth"]["generated_now"] is False and len(train2) == len(train)


def test_shd_without_files_is_a_clear_error(tmp_path, monkeypatch):
    def offline(meta, split, root, download=True):
        raise DataError(f"{meta.name} {split}: {root}/SHD/shd_{split}.h5 is not there and the download failed")

    monkeypatch.setattr(runshd, "find_or_download", offline)
    with pytest.raises(DataError, match="--data shd needs the real Spiking Heidelberg Digits"):
        runshd.select_data("shd", root=tmp_path)


def test_bad_choice_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="data must be one of"):
        runshd.select_data("mnist", root=tmp_path)


# ---------------------------------------------------------------------- report numbers
def test_per_class_accuracy_and_activity():
    acc, n = per_class_accuracy([0, 1, 1, 2], [0, 1, 2, 2], 4)
    assert n.tolist() == [1, 1, 2, 0]
    assert acc[:3].tolist() == [1.0, 1.0, 0.5] and np.isnan(acc[3])
    rows = layer_activity([np.array([4, 0, 0, 2])], [np.array([2, 1])], 2, 0.5, np.array([10.0, 6.0]), 7.0)
    assert rows[0]["layer"] == "input" and rows[0]["synaptic_ops_per_sample"] == 10.0
    h = rows[1]
    assert h["spikes_per_sample"] == 3.0
    assert h["spikes_per_neuron_per_s"] == pytest.approx(3.0 / (4 * 0.5))
    assert h["silent_fraction_all"] == 0.5
    assert h["silent_fraction_per_sample"] == pytest.approx(1 - 1.5 / 4)
    assert h["synaptic_ops_per_sample"] == 6.0


def test_kernel_of_one_hot_bucket_weights_is_the_bucket_response():
    from sgevent.model.network import Network

    net = Network.create(3, 2, 2, n_buckets=3, seed=0)
    net.v[0][0] = [0.0, 0.0, 1.0]
    d = np.array([0.0, 0.01, 0.03])
    k = kernel_curves(net, 0, [0], d)
    # bucket 2 of the cascade is empty right after the spike, then fills
    assert k[0, 0] == 0.0 and k[0, 1] > 0 and k[0, 2] > 0
    # the mixture is linear in v: all-ones weights give the sum of the bucket responses
    net.v[0][1] = [1.0, 1.0, 1.0]
    k1 = kernel_curves(net, 0, [1], np.array([0.0]))
    assert k1[0, 0] == pytest.approx(1.0)  # P(0) = I: only bucket 0 holds the spike at d = 0
    # the grid model's kernel tends to the continuous one as dt -> 0 (error O(dt / tau))
    kg = kernel_curves(net, 0, [0], d, dt=1e-5)
    np.testing.assert_allclose(kg, k, rtol=2e-2, atol=1e-6)


# ---------------------------------------------------------------------- the report of a tiny run
def test_report_of_a_tiny_run(tmp_path):
    _tiny_set(tmp_path / "data")
    train, test = load_h5(tmp_path / "data" / "shd_train.h5"), load_h5(tmp_path / "data" / "shd_test.h5")
    cfg = _tiny_config()
    run = RunDir.create(tmp_path / "runs", "tiny", config=cfg.to_dict(), seed=cfg.seed)
    res = Trainer(cfg, train, run, test_data=test, progress=False).fit()
    res.update({"dataset": {"kind": "synth", "name": "tiny test set", "fallback_reason": "offline",
                            "train_file": "a", "test_file": "b"},
                "dataset_stats": {"train": train.stats(), "test": test.stats()},
                "baseline": {"test_accuracy": 0.5, "train_accuracy": 0.9, "feature_shape": [10, 35],
                             "n_train": 16, "n_test": 8}})
    run.write_results(res)

    path = write_report(run, test, threads=1)
    text = path.read_text()
    for section in ("## Result", "## Data", "## Per-class test accuracy", "## Sparsity and operations",
                    "## Reference figures", "## Learning curves", "## One test sample",
                    "## Learned temporal kernels"):
        assert section in text, section
    assert "logistic regression" in text and "synthetic" in text and "96.3" in text and "83.2" in text
    for name in FIGURES.values():
        assert (run.path / name).stat().st_size > 1000, name
        assert f"]({name})" in text
    act = json.loads(run.results_path.read_text())["test_activity"]
    assert act["n_samples"] == len(test)
    assert act["accuracy_recomputed"] == pytest.approx(res["test_accuracy"])  # same network, same samples
    hidden = act["layers"][1]
    assert hidden["n_neurons"] == 12 and 0 <= hidden["silent_fraction_all"] <= 1


# ---------------------------------------------------------------------- the whole job, offline
def test_run_shd_offline_records_the_stand_in(tmp_path, monkeypatch):
    import sgevent.data.synth as synth

    def offline(meta, split, root, download=True):
        raise DataError(f"{meta.name} {split}: not there and the download failed (URLError: offline)")

    def fake_generator(out_dir, n_train, n_test, seed, progress=True, n_workers=None, preset="hard"):
        _tiny_set(out_dir, n_train=20, n_test=8)
        return {}

    monkeypatch.setattr(runshd, "find_or_download", offline)
    monkeypatch.setattr(synth, "generate_synthetic_digits", fake_generator)
    monkeypatch.setattr(lif_peer, "find_peer_python", lambda explicit=None: None)  # as where the extra is absent
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(_tiny_config(epochs=1).to_dict()))
    path = runshd.run_shd("auto", quick=True, root=tmp_path / "data", runs=tmp_path / "runs", name="e2e",
                          config_path=cfg_path, progress=False)
    res = json.loads((path / "results.json").read_text())
    assert res["dataset"]["kind"] == "synth" and res["dataset"]["requested"] == "auto"
    assert res["dataset"]["train_file"].endswith("synth_hard_quick/SHD/shd_train.h5")
    assert 0 <= res["baseline"]["test_accuracy"] <= 1 and "test_accuracy" in res
    assert res["dataset_stats"]["test"]["n_samples"] == 8
    text = (path / "report.md").read_text()
    assert "synthetic" in text and "logistic regression" in text
    assert res["peer"]["status"] == "skipped" and "The snnTorch LIF peer was not run" in text


_FAKE_PEER = """#!/bin/sh
# A stand-in interpreter with the peers extra: answers the import probe, and for
# `-m sgevent.studies.lif_peer DATA OUT KWARGS` records its arguments and writes a result file.
if [ "$1" = "-c" ]; then exit 0; fi
printf '%s\\n' "$@" > "$(dirname "$0")/argv.txt"
cat > "$4" <<JSON
{"test_accuracy": 0.625, "best_val_accuracy": 0.5, "s_per_epoch": 1.5, "epochs": 3, "dt": 0.01,
 "test_hidden_spikes_per_sample": 42.0, "config": {"hidden": 256}, "versions": {"torch": "T", "snntorch": "S"}}
JSON
"""


def _fake_peer_python(folder):
    folder.mkdir(parents=True, exist_ok=True)
    py = folder / "python"
    py.write_text(_FAKE_PEER)
    py.chmod(0o755)
    return py


def test_run_shd_puts_the_peer_beside_spikinggamma(tmp_path):
    """With the extra (here a stand-in interpreter), run-shd trains the peer on the run's own files with
    the run's seed and split, and the report shows the three models side by side."""
    _tiny_set(tmp_path / "data" / "SHD", n_train=20, n_test=20, n_classes=20)  # the real set's 20 classes
    py = _fake_peer_python(tmp_path / "peerenv")
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(_tiny_config(epochs=1).to_dict()))
    path = runshd.run_shd("shd", root=tmp_path / "data", runs=tmp_path / "runs", name="peer", config_path=cfg_path,
                          progress=False, peer="on", peer_python=str(py), peer_epochs=3)
    argv = (tmp_path / "peerenv" / "argv.txt").read_text().splitlines()
    assert argv[:2] == ["-m", "sgevent.studies.lif_peer"] and argv[2] == str(tmp_path / "data" / "SHD")
    kwargs = json.loads(argv[4])
    assert kwargs["dt"] == runshd.PEER_DT and kwargs["epochs"] == 3
    assert kwargs["seed"] == 1 and kwargs["val_fraction"] == 0.25  # the SpikingGamma run's own split
    res = json.loads((path / "results.json").read_text())
    assert res["peer"]["status"] == "ran" and res["peer"]["test_accuracy"] == 0.625
    text = (path / "report.md").read_text()
    side = text.split("### Side by side", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in side.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [r.split(" | ")[0] for r in rows] == ["| SpikingGamma (this run)", "| logistic regression on binned counts",
                                                  "| snnTorch LIF, 10 ms frames, 3 epochs"]
    assert " 62.5 " in rows[2] and "torch T, snntorch S" in text


def test_peer_choices_and_a_missing_extra_are_clear_errors(tmp_path, monkeypatch):
    from sgevent.errors import ConfigError

    monkeypatch.setattr(lif_peer, "find_peer_python", lambda explicit=None: None)
    cfg = _tiny_config()
    info = {"train_file": str(tmp_path / "shd_train.h5")}
    with pytest.raises(ConfigError, match="peer must be one of"):
        runshd.run_peer("maybe", info, cfg, work=tmp_path)
    with pytest.raises(ConfigError, match=r"--peer on: the optional extra \.\[peers\]"):
        runshd.run_peer("on", info, cfg, work=tmp_path)
    assert runshd.run_peer("auto", info, cfg, work=tmp_path)["status"] == "skipped"
    assert runshd.run_peer("off", info, cfg, work=tmp_path)["status"] == "skipped"
    # run-shd asks before it trains: --peer on without the extra fails before any data or training
    with pytest.raises(ConfigError, match="--peer on"):
        runshd.run_shd("synth", root=tmp_path / "nodata", runs=tmp_path / "runs", peer="on", progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "nodata").exists()


def test_an_explicit_peer_python_without_the_extra_is_named(tmp_path, monkeypatch):
    import sys

    monkeypatch.delenv("SGEVENT_PEER_PYTHON", raising=False)
    bad = tmp_path / "nopython"
    with pytest.raises(ValueError, match=f"--peer-python={bad}: torch and snntorch do not import"):
        lif_peer.find_peer_python(str(bad))
    if not lif_peer.peer_available(None):
        monkeypatch.setenv("SGEVENT_PEER_PYTHON", sys.executable)
        with pytest.raises(ValueError, match="SGEVENT_PEER_PYTHON="):
            lif_peer.find_peer_python()


def test_command_line_arguments():
    import argparse

    from sgevent import cli

    p = argparse.ArgumentParser()
    cli.add_runshd_command(p.add_subparsers(dest="command"))
    a = p.parse_args(["run-shd", "--data", "synth", "--quick", "--name", "x"])
    assert (a.data, a.quick, a.name, a.config) == ("synth", True, "x", None) and callable(a.func)
    assert (a.peer, a.peer_python, a.peer_epochs) == ("auto", None, None)
    a = p.parse_args(["run-shd", "--peer", "off", "--peer-epochs", "5"])
    assert (a.peer, a.peer_epochs) == ("off", 5)
    with pytest.raises(SystemExit):
        p.parse_args(["run-shd", "--peer-epochs", "0"])
    with pytest.raises(SystemExit):
        p.parse_args(["run-shd", "--data", "mnist"])


def test_default_configs_are_the_source_trees_and_load():
    """``make run-shd`` finds configs/run_shd*.json whatever the package layout (a moved module once
    looked for them inside the package)."""
    from sgevent.train.config import load_config

    for quick in (False, True):
        path = runshd.default_config_path(quick)
        assert path.is_file() and path.parent.name == "configs" and (path.parent.parent / "setup.cfg").is_file()
        load_config(path)


def test_another_environments_python_is_probed_in_its_own_process(tmp_path, monkeypatch):
    """A venv's python is a symlink to the same binary as ours: it must be asked, not taken for this one."""
    import os
    import subprocess
    import sys

    link = tmp_path / "bin" / "python"
    link.parent.mkdir()
    os.symlink(os.path.realpath(sys.executable), link)
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(lif_peer.subprocess, "run", fake_run)
    assert lif_peer.peer_available(link) and calls == [[str(link), "-c", "import torch, snntorch"]]
