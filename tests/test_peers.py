"""bench/peers.py, the snnTorch LIF peer (issue 11, item 4), on a tiny SHD-layout set.

Runs only where the optional extra ``.[peers]`` (torch, snntorch) is installed; in the project's
test environment the whole module is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("snntorch")

import torch  # noqa: E402
from shd_files import make_samples, write_shd_file  # noqa: E402

from sgevent.data import load_h5  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "peers.py"


def _load_peers():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


peers = _load_peers()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny_shd")
    write_shd_file(d / "shd_train.h5", make_samples(n_samples=24, n_classes=4, n_speakers=4, seed=1))
    write_shd_file(d / "shd_test.h5", make_samples(n_samples=12, n_classes=4, n_speakers=2, seed=2))
    return d


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_h5(tiny_dir / "shd_train.h5", n_channels=700), load_h5(tiny_dir / "shd_test.h5", n_channels=700)


def test_bin_frames_shape_and_placement(tiny):
    train, _ = tiny
    dt = 0.01
    n_steps = peers.n_steps_for(train, dt)
    assert n_steps == math.ceil(float(train.durations().max()) / dt - 1e-9)
    idx = np.array([3, 0, 7])
    x = peers.bin_frames(train, idx, dt, n_steps)
    assert x.shape == (n_steps, 3, 700) and x.dtype == np.float32
    # naive twin: spike at t in (n-1, n] * dt goes to frame n - 1 (t = 0 to frame 0), counts add up
    want = np.zeros_like(x)
    for b, i in enumerate(idx):
        times, units, _ = train.sample(i)
        for t, u in zip(times, units):
            want[max(math.ceil(t / dt - 1e-9) - 1, 0), b, u] += 1
    np.testing.assert_array_equal(x, want)  # small integer counts: exact
    assert x.sum() == sum(train.counts()[i] for i in idx)
    xb = peers.bin_frames(train, idx, dt, n_steps, binary=True)
    np.testing.assert_array_equal(xb, np.minimum(want, 1))


def test_bin_frames_grid_point_and_overflow(tiny):
    train, _ = tiny
    dt = 0.01
    # a spike exactly on t_n = n * dt belongs to step n, i.e. frame n - 1; past the last frame: the last
    from sgevent.data.dataset import SpikeDataset

    ds = SpikeDataset.from_lists([np.array([0.0, 0.02, 0.025, 0.5])], [np.array([1, 2, 3, 4])], [0], n_channels=700,
                                 n_classes=1)
    x = peers.bin_frames(ds, np.array([0]), dt, 3)
    assert x[0, 0, 1] == 1 and x[1, 0, 2] == 1 and x[2, 0, 3] == 1 and x[2, 0, 4] == 1 and x.sum() == 4


def test_train_step_decreases_loss_on_fixed_batch(tiny):
    train, _ = tiny
    dt = 0.01
    beta = math.exp(-dt / 0.02)
    idx = np.arange(8)
    x = torch.from_numpy(peers.bin_frames(train, idx, dt, peers.n_steps_for(train, dt)))
    y = torch.from_numpy(train.labels[idx].astype(np.int64))
    model = peers.build_lif_peer(700, train.n_classes, hidden=32, beta=beta, seed=0)
    scores, n_spk = peers.peer_forward(model, x, beta)
    assert scores.shape == (8, train.n_classes) and n_spk.shape == (8,)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    before = peers.peer_loss(model, x, y, beta)
    assert peers.peer_train_step(model, opt, x, y, beta) == pytest.approx(before, rel=1e-6)
    after = peers.peer_loss(model, x, y, beta)
    assert after < before


def test_train_lif_peer_one_epoch_at_10ms(tiny):
    train, test = tiny
    res = peers.train_lif_peer(train, test, dt=0.01, epochs=1, hidden=32, seed=0, batch_size=8)
    assert set(peers.RESULT_KEYS) <= set(res)
    assert 0.0 <= res["test_accuracy"] <= 1.0 and 0.0 <= res["best_val_accuracy"] <= 1.0
    assert res["epochs"] == 1 and res["dt"] == 0.01 and res["best_epoch"] == 1
    assert res["s_per_epoch"] > 0 and res["peak_rss_mb"] > 0
    assert res["n_train"] + res["n_val"] == len(train) and res["n_val"] > 0 and res["n_test"] == len(test)
    assert res["n_steps"] == peers.n_steps_for(train, 0.01)
    assert {"python", "torch", "snntorch", "numpy", "sgevent"} <= set(res["versions"])
    assert res["versions"]["torch"] != "-" and res["versions"]["snntorch"] != "-"
    json.dumps(res)  # the child hands it over as JSON


def test_train_lif_peer_is_seeded(tiny):
    train, test = tiny
    a = peers.train_lif_peer(train, test, dt=0.01, epochs=1, hidden=16, seed=3, batch_size=8, surrogate="atan")
    b = peers.train_lif_peer(train, test, dt=0.01, epochs=1, hidden=16, seed=3, batch_size=8, surrogate="atan")
    assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"]


def test_cli_side_by_side(tiny_dir, tmp_path):
    """The script end to end: one peer (10 ms) and sgevent (a tiny config), each in its own subprocess."""
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"epochs": 1, "batch_size": 4, "dt": 0.01, "seed": 0, "threads": 1,
                               "net": {"hidden": [8], "n_buckets": 2}, "learn": {"learn_period": 0.02}}))
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir), "--dts", "0.01", "--hidden", "16",
           "--batch-size", "8", "--sgevent-config", str(cfg), "--out", str(out), "--peer-epochs", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "snnTorch LIF" in r.stdout and "sgevent" in r.stdout and "load average" in r.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [row["model"] for row in rows] == ["snnTorch LIF", "sgevent"]
    for row in rows:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["peak_rss_mb"] > 0
    assert rows[0]["epochs"] == 2 and rows[1]["epochs"] == 1  # --peer-epochs is the peers' alone
    assert rows[0]["config"]["threads"] == 1 and rows[1]["dt"] == 0.01


def test_run_shd_trains_the_real_peer(tiny_dir, tmp_path):
    """run-shd's peer step with this interpreter (it has the extra): the same files, the run's seed and split."""
    from sgevent.studies.run_shd import run_peer
    from sgevent.train.config import TrainConfig

    cfg = TrainConfig(seed=2, val_fraction=0.25, threads=1)
    info = {"train_file": str(tiny_dir / "shd_train.h5")}
    res = run_peer("on", info, cfg, python=sys.executable, epochs=1, work=tmp_path)
    assert res["status"] == "ran" and res["python"] == sys.executable, res
    assert res["epochs"] == 1 and res["dt"] == 0.01 and res["config"]["seed"] == 2
    assert 0.0 <= res["test_accuracy"] <= 1.0 and res["child_peak_rss_mb"] > 0


def test_cli_reads_sgevent_from_a_finished_run(tiny_dir, tmp_path):
    """--sgevent-run: sgevent's row comes from a finished run directory, and the output says so."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"test_accuracy": 0.75, "best_val_accuracy": 0.5, "epochs": 2}))
    (run / "config.json").write_text(json.dumps({"dt": 0.001}))
    (run / "metrics.jsonl").write_text('{"epoch_seconds": 3.0}\n{"epoch_seconds": 5.0}\n')
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(SCRIPT), "--data-dir", str(tiny_dir), "--dts", "0.01", "--hidden", "8",
           "--batch-size", "8", "--epochs", "1", "--sgevent-run", str(run), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"sgevent's row: read from {run}" in r.stdout
    sg = json.loads(out.read_text())["rows"][1]
    assert (sg["model"], sg["test_accuracy"], sg["s_per_epoch"], sg["peak_rss_mb"]) == ("sgevent", 0.75, 4.0, None)
    bad = subprocess.run(cmd[:-4] + ["--sgevent-run", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "not a finished run" in bad.stderr
