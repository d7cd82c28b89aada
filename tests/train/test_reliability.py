"""What a hostile new user found (issue 12): each defect has a test that failed before its fix."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from shd_files import make_samples, write_shd_file
from test_trainer import config, toy_data

from sgevent.cli import main
from sgevent.data.augment import Augment, AugmentConfig
from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError, DataError, EngineError, TrainingError
from sgevent.train.checkpoint import load_checkpoint
from sgevent.train.config import TrainConfig
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer


# ---------------------------------------------------------------------- 2: config types
@pytest.mark.parametrize("over, field", [
    ({"net": {"hidden": "16"}}, "net.hidden"),
    ({"net": {"hidden": [16.7]}}, "net.hidden[0]"),
    ({"net": {"hidden": "abc"}}, "net.hidden"),
    ({"net": {"hidden": [0]}}, "net.hidden[0]"),
    ({"net": {"hidden": [-5]}}, "net.hidden[0]"),
    ({"net": {"hidden": []}}, "net.hidden"),
    ({"net": {"hidden": [True]}}, "net.hidden[0]"),
    ({"net": {"n_buckets": "8"}}, "net.n_buckets"),
    ({"net": {"per_synapse": 1}}, "net.per_synapse"),
    ({"net": {"theta_0": None}}, "net.theta_0"),
    ({"epochs": "2"}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"dt": "0.001"}, "dt"),
    ({"dt": -1e-3}, "dt"),
    ({"seed": 1.5}, "seed"),
    ({"seed": -1}, "seed"),
    ({"batch_size": None}, "batch_size"),
    ({"window": float("nan")}, "window"),
    ({"max_train_samples": 0}, "max_train_samples"),
    ({"max_eval_samples": -3}, "max_eval_samples"),
    ({"spike_budget": 0}, "spike_budget"),
    ({"schedule": 1}, "schedule"),
    ({"learn": {"learn_period": "0.001"}}, "learn.learn_period"),
    ({"learn": {"loss": 3}}, "learn.loss"),
    ({"optim": {"lr": "0.1"}}, "optim.lr"),
    ({"optim": {"lr": True}}, "optim.lr"),
    ({"optim": {"betas": [0.9]}}, "optim.betas"),
    ({"augment": {"channel_shift": 1.5}}, "augment.channel_shift"),
    ({"augment": {"event_dropout": "0.1"}}, "augment.event_dropout"),
    ({"net": [16]}, "net"),
])
def test_every_config_field_is_type_and_range_checked(over, field):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(over)
    msg = str(e.value)
    assert f"'{field}'" in msg and "expected" in msg
    value = over[next(iter(over))]
    value = value[next(iter(value))] if isinstance(value, dict) else value
    assert repr(value) in msg or field == "net.hidden[0]"


def test_valid_config_round_trips_in_canonical_types():
    cfg = TrainConfig.from_dict({"dt": 1, "net": {"hidden": 16}, "window": None, "optim": {"lr": 1}})
    assert cfg.net.hidden == (16,) and cfg.dt == 1.0 and isinstance(cfg.dt, float)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert np.isclose(cfg.optim.lr, 1.0)


# ---------------------------------------------------------------------- helpers
CFG = {"batch_size": 8, "net": {"hidden": [6], "n_buckets": 2}, "learn": {"learn_period": 0.05}}


def _files(folder, *, test_classes=3, test_scale=1.0, train_seed=1):
    folder.mkdir(parents=True, exist_ok=True)
    write_shd_file(folder / "shd_train.h5", n_samples=24, n_classes=3, n_speakers=4, seed=train_seed)
    d = make_samples(n_samples=9, n_classes=test_classes, n_speakers=2, seed=2)
    d["times"] = [(t.astype(np.float64) * test_scale).astype(np.float16) for t in d["times"]]
    write_shd_file(folder / "shd_test.h5", d)
    return folder


def _train(tmp_path, *extra, name="r", cfg=None, data=None):
    p = tmp_path / f"cfg_{name}.json"
    p.write_text(json.dumps(CFG if cfg is None else cfg))
    return main(["train", "--data-dir", str(data or tmp_path), "--config", str(p), "--runs", str(tmp_path / "runs"),
                 "--name", name, "--threads", "1", "--quiet", *extra])


def _resume(tmp_path, *extra, name="r", data=None):
    return main(["train", "--data-dir", str(data or tmp_path), "--resume", str(tmp_path / "runs" / name),
                 "--threads", "1", "--quiet", *extra])


def _good_checkpoint(err):
    m = re.search(r"last good checkpoint is (\S+\.h5) \(step (\d+)\)", err)
    assert m, err
    return Path(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------- 1: eval = results.json
def test_eval_of_a_runs_checkpoint_reproduces_its_results(tmp_path, capsys):
    _files(tmp_path, test_scale=0.6)  # test samples end earlier: their own window would differ
    assert _train(tmp_path, "--epochs", "1") == 0
    run = tmp_path / "runs" / "r"
    results = json.loads((run / "results.json").read_text())
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(run / "checkpoint_best.h5"), "--data-dir", str(tmp_path),
                 "--threads", "1", "--out", str(out)]) == 0
    ev = json.loads(out.read_text())
    assert ev["window_s"] == results["window_s"]
    assert ev["accuracy"] == results["test_accuracy"] and ev["loss"] == results["test_loss"]
    assert ev["predictions"] == results["test_predictions"]


# ---------------------------------------------------------------------- 5: divergence
@pytest.mark.parametrize("lr", ["1e6", "1e308"])
def test_a_diverged_run_fails_naming_an_existing_good_checkpoint(tmp_path, capsys, lr):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "2", "--lr", lr) != 0
    err = capsys.readouterr().err
    assert "diverged" in err
    path, step = _good_checkpoint(err)
    assert path.exists()
    d = load_checkpoint(path)  # verifies; and its weights are finite and from before the failure
    assert d["position"]["step"] == step
    assert all(np.all(np.isfinite(a)) for a in d["net"]["w"])
    assert not (tmp_path / "runs" / "r" / "results.json").exists()


# ---------------------------------------------------------------------- 9, 10: shapes up front
def test_class_count_mismatch_stops_before_training_and_leaves_no_run(tmp_path, capsys):
    _files(tmp_path, test_classes=4)
    assert _train(tmp_path, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "shd_test.h5" in err and "4 classes" in err and "3 outputs" in err
    assert not (tmp_path / "runs" / "r").exists()  # the retry is not told "already exists"


def test_eval_refuses_data_of_other_classes_or_channels(tmp_path, capsys):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1") == 0
    other = _files(tmp_path / "other", test_classes=4)
    ckpt_path = tmp_path / "runs" / "r" / "checkpoint_best.h5"
    assert main(["eval", "--checkpoint", str(ckpt_path), "--data-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other/shd_test.h5" in err and "classes" in err
    # a wider checkpoint (n_in 1000) must not accept 700-channel data
    wide = toy_data()
    wide = SpikeDataset(wide.times, wide.units, wide.offsets, wide.labels, wide.speakers, n_channels=1000,
                        n_classes=3, source="wide")
    t = Trainer(config(epochs=1), wide, RunDir.create(tmp_path, "wide"), progress=False)
    t.save(tmp_path / "wide.h5")
    assert main(["eval", "--checkpoint", str(tmp_path / "wide.h5"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "shd_test.h5" in err and "700 input channels" in err and "n_in = 1000" in err


def test_test_data_with_other_channels_is_refused_naming_the_file(tmp_path):
    data = toy_data()
    test = SpikeDataset(data.times, data.units, data.offsets, data.labels, data.speakers, n_channels=13,
                        n_classes=3, source="elsewhere.h5")
    with pytest.raises(DataError, match="elsewhere.h5.*13 input channels"):
        Trainer(config(), data, RunDir.create(tmp_path, "x"), test_data=test, progress=False)


# ---------------------------------------------------------------------- 3: kills
def test_kill_at_the_end_of_an_epoch_then_resume_gives_one_metrics_line_per_epoch(tmp_path):
    _files(tmp_path)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**CFG, "checkpoint_every": 1}))
    script = (
        "import os, sys\n"
        "from sgevent.train.rundir import RunDir\n"
        "real = RunDir.log_metrics\n"
        "def log_then_die(self, rec):\n"
        "    real(self, rec)\n"
        "    os._exit(9)\n"
        "RunDir.log_metrics = log_then_die\n"
        "from sgevent.cli import main\n"
        f"sys.exit(main(['train', '--data-dir', {str(tmp_path)!r}, '--config', {str(cfg)!r}, '--epochs', '2',\n"
        f"           '--runs', {str(tmp_path / 'runs')!r}, '--name', 'r', '--threads', '1', '--quiet']))\n"
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert p.returncode == 9, p.stderr
    run = RunDir.open(tmp_path / "runs" / "r")
    assert [m["epoch"] for m in run.read_metrics()] == [1]
    assert _resume(tmp_path) == 0
    assert [m["epoch"] for m in run.read_metrics()] == [1, 2]
    assert run.provenance_path.exists()
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob(".*.tmp"))


def test_resume_repairs_lost_provenance_stale_temporaries_and_a_cut_metrics_line(tmp_path):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1") == 0
    run = RunDir.open(tmp_path / "runs" / "r")
    run.provenance_path.unlink()  # killed while writing it: only its temporary file is left
    (run.path / ".provenance.json.x1y2z3.tmp").write_text('{"git": ')
    with open(run.metrics_path, "a") as fh:
        fh.write('{"epoch": 2, "train_lo')  # killed mid-append
    assert _resume(tmp_path, "--epochs", "2") == 0
    assert run.read_provenance()["seed"] == 0
    assert not list(run.path.glob(".*.tmp"))
    assert [m["epoch"] for m in run.read_metrics()] == [1, 2]


# ---------------------------------------------------------------------- 4: resume and changes
def test_resume_refuses_changed_settings_and_accepts_more_epochs_explicitly(tmp_path, capsys):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1") == 0
    run = RunDir.open(tmp_path / "runs" / "r")
    assert _resume(tmp_path, "--lr", "0.5") == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "0.5" in err
    assert _resume(tmp_path, "--dt", "0.001") == 2
    assert _resume(tmp_path, "--epochs", "2") == 0
    assert run.read_config()["epochs"] == 2 and [m["epoch"] for m in run.read_metrics()] == [1, 2]
    legs = sorted(run.path.glob("provenance_resume_*.json"))
    assert json.loads(legs[-1].read_text())["resume_changes"] == {"epochs": [1, 2]}


def test_resume_refuses_other_data_and_a_checkpoint_of_another_shape(tmp_path, capsys):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1") == 0
    other = _files(tmp_path / "other", train_seed=7)
    assert _resume(tmp_path, "--epochs", "2", data=other) == 2
    assert "another data set" in capsys.readouterr().err
    assert _train(tmp_path, "--epochs", "1", name="small", cfg={**CFG, "net": {"hidden": [5], "n_buckets": 2}}) == 0
    run = tmp_path / "runs" / "r"
    shutil.copy(tmp_path / "runs" / "small" / "checkpoint_last.h5", run / "checkpoint_last.h5")
    (run / "checkpoint_prev.h5").unlink(missing_ok=True)
    assert _resume(tmp_path, "--epochs", "2") == 2
    assert "refusing" in capsys.readouterr().err.lower()


# ---------------------------------------------------------------------- 6: corrupt checkpoints
def _weights(t):
    return [a.copy() for l in range(t.net.n_layers) for a in (t.net.w[l], t.net.v[l], t.net.b[l])]


def _scribble(path, key, seed=0):
    """Overwrite the stored bytes of dataset ``key`` with random bytes, as a failing disk would."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        offset, size = ds.id.get_offset(), ds.id.get_storage_size()
    raw = bytearray(path.read_bytes())
    raw[offset:offset + min(size, 64)] = np.random.default_rng(seed).bytes(min(size, 64))
    path.write_bytes(bytes(raw))


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one_and_resumes_exactly(tmp_path, capsys):
    data = toy_data()
    full = Trainer(config(checkpoint_every=1), data, RunDir.create(tmp_path, "full"), progress=False)
    full.fit()
    part_run = RunDir.create(tmp_path, "part", config=config(checkpoint_every=1).to_dict())
    part = Trainer(config(checkpoint_every=1), data, part_run, progress=False)
    part.fit(stop_after_steps=3)
    _scribble(part_run.checkpoint_last, "optimizer/exp_avg.0")  # random bytes in the Adam moments
    with pytest.raises(DataError, match="checksum"):
        load_checkpoint(part_run.checkpoint_last)
    resumed = Trainer.resume(RunDir.open(part_run.path), data, progress=False)
    assert "previous checkpoint" in capsys.readouterr().err and resumed.step == 2
    resumed.fit()
    for a, b in zip(_weights(full), _weights(resumed)):
        assert np.array_equal(a, b)


def test_changed_or_scribbled_weights_and_a_broken_header_are_clear_errors(tmp_path):
    data = toy_data()
    run = RunDir.create(tmp_path, "c", config=config(checkpoint_every=1).to_dict())
    t = Trainer(config(checkpoint_every=1), data, run, progress=False)
    t.fit(stop_after_steps=2)
    with h5py.File(run.checkpoint_last, "r+") as f:  # a changed weight
        f["net/w/0"][0, 0] = f["net/w/0"][0, 0] + 1.0
    with pytest.raises(DataError, match=r"checkpoint_last.h5.*'net/w/0'.*checksum"):
        Trainer(config(), data, run, progress=False).load(run.checkpoint_last)
    _scribble(run.checkpoint_prev, "net/w/0")
    with pytest.raises(DataError, match="no usable checkpoint"):
        Trainer.resume(RunDir.open(run.path), data, progress=False)
    t.save(run.checkpoint_best)
    with h5py.File(run.checkpoint_best, "r+") as f:  # a header without the position
        f.attrs["__keys__"] = json.dumps([k for k in json.loads(f.attrs["__keys__"]) if k != "position"])
    with pytest.raises(DataError, match="checkpoint_best.h5.*position"):
        Trainer(config(), data, run, progress=False).load(run.checkpoint_best)


# ---------------------------------------------------------------------- 7: flags
def test_flags_are_never_reinterpreted(tmp_path, capsys):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1", "--dt", "-0.001") == 2
    assert "'dt'" in capsys.readouterr().err
    assert _train(tmp_path, "--epochs", "1", "--max-train-samples", "-1") == 2
    assert "max_train_samples" in capsys.readouterr().err
    assert _train(tmp_path, "--epochs", "1", cfg={**CFG, "max_train_samples": 0}) == 2
    assert "max_train_samples" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "r").exists()
    write_shd_file(tmp_path / "ssc_train.h5", n_samples=24, n_classes=3, seed=3)
    assert _train(tmp_path, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "shd_train.h5" in err and "ssc_train.h5" in err


def test_no_training_sample_left_is_an_error(tmp_path):
    empty = toy_data().subset(np.zeros(0, dtype=np.int64))
    with pytest.raises(ConfigError, match="no training samples"):
        Trainer(config(), empty, RunDir.create(tmp_path, "e"), progress=False)


# ---------------------------------------------------------------------- 8a: spike budget
def test_spike_budget_reaches_every_simulate_call(tmp_path, monkeypatch):
    import sgevent.train.batch as batch
    import sgevent.train.trainer as trainer

    seen = []

    def fake(*a, **k):
        seen.append(k.get("spike_budget"))
        raise EngineError("spike budget exhausted (fake)")

    monkeypatch.setattr(batch, "simulate", fake)
    monkeypatch.setattr(trainer, "simulate", fake)
    data = toy_data()
    for schedule in ("batch", "online"):
        t = Trainer(config(spike_budget=1234, schedule=schedule), data, RunDir.create(tmp_path, schedule),
                    progress=False)
        with pytest.raises(TrainingError, match="spike budget exhausted"):
            t.fit()
    with pytest.raises(EngineError):
        batch.evaluate(t.net, data, [0], dt=None, window=0.05, spike_budget=1234)
    assert seen == [1234, 1234, 1234]
    assert batch.budget_kwargs(None) == {"spike_budget": 10_000_000} and batch.budget_kwargs(5) == {"spike_budget": 5}


# ---------------------------------------------------------------------- 10: python -m sgevent
def test_python_m_sgevent_reports_errors_for_people(tmp_path):
    p = subprocess.run([sys.executable, "-m", "sgevent", "train", "--data-dir", str(tmp_path / "none")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "sgevent: error:" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------------- 11: augmentation
def test_event_dropout_does_not_depend_on_the_order_of_simultaneous_events():
    t = np.repeat(np.array([0.01, 0.02, 0.03]), 4)
    u = np.tile(np.array([3, 1, 2, 0]), 3)
    aug = Augment(AugmentConfig(event_dropout=0.5, time_jitter=1e-3), n_channels=4)
    perm = np.concatenate([np.arange(4)[::-1] + 4 * k for k in range(3)])  # same times, other tie order
    a = aug(t, u, np.random.default_rng(5))
    b = aug(t[perm], u[perm], np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_an_exploding_finite_loss_stops_naming_a_checkpoint_from_before_it(tmp_path):
    from dataclasses import replace

    t = Trainer(config(), toy_data(), RunDir.create(tmp_path, "x"), progress=False)
    t.fit(stop_after_steps=2)  # checkpoints of step 0 (initial) and step 2 (checkpoint_every=2)
    t.config = replace(t.config, max_loss=1e-9)  # any loss now counts as exploded
    with pytest.raises(TrainingError, match="exploded") as e:
        t.fit()
    path, step = _good_checkpoint(str(e.value))
    assert step == 0 and path == t.run.checkpoint_prev  # step 2's weights gave the bad loss
    assert not t.run.results_path.exists()


def test_resume_compares_a_config_file_given_again(tmp_path, capsys):
    _files(tmp_path)
    assert _train(tmp_path, "--epochs", "1") == 0
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    same.write_text(json.dumps({**CFG, "epochs": 1}))
    other.write_text(json.dumps({**CFG, "epochs": 1, "optim": {"lr": 0.05}}))
    assert _resume(tmp_path, "--config", str(other)) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert _resume(tmp_path, "--config", str(same)) == 0
