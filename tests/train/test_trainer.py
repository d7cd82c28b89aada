"""The trainer: it learns, resumes exactly (also after a crash inside a checkpoint write),
stops on non-finite values keeping the last good checkpoint, and does not depend on threads."""

import numpy as np
import pytest

import sgevent.train.checkpoint as ckpt
from sgevent.data.dataset import SpikeDataset
from sgevent.errors import TrainingError
from sgevent.learn.spec import LearnSpec
from sgevent.train.checkpoint import load_checkpoint
from sgevent.train.config import NetConfig, TrainConfig
from sgevent.train.optim import OptimConfig
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer


def toy_data(n=36, seed=0):
    """3 classes: which of three channel groups fires, early or late."""
    rng = np.random.default_rng(seed)
    times, units, labels, speakers = [], [], [], []
    for i in range(n):
        y = i % 3
        t = rng.uniform(0.0, 0.05, 30)
        u = rng.integers(4 * y, 4 * y + 4, 30)
        noise_t, noise_u = rng.uniform(0, 0.05, 10), rng.integers(0, 12, 10)
        times.append(np.concatenate([t, noise_t]))
        units.append(np.concatenate([u, noise_u]))
        labels.append(y)
        speakers.append((i // 3) % 6)  # every speaker utters every class
    return SpikeDataset.from_lists(times, units, labels, speakers, n_channels=12, n_classes=3, name="toy")


def config(**kw):
    base = dict(epochs=2, batch_size=6, window=0.06, val_fraction=0.2, seed=3, threads=1, checkpoint_every=2,
                net=NetConfig(hidden=(10,), n_buckets=3, theta_0=0.05, weight_gain=2.0),
                learn=LearnSpec(learn_period=5e-3), optim=OptimConfig(name="adam", lr=0.02))
    base.update(kw)
    return TrainConfig(**base)


def _run(tmp_path, name, cfg, data):
    run = RunDir.create(tmp_path, name, config=cfg.to_dict(), seed=cfg.seed)
    return Trainer(cfg, data, run, progress=False), run


def _weights(t):
    return [a.copy() for l in range(t.net.n_layers) for a in (t.net.w[l], t.net.v[l], t.net.b[l])]


def test_training_lowers_the_loss(tmp_path):
    data = toy_data()
    t, run = _run(tmp_path, "a", config(epochs=4), data)
    t.fit()
    m = run.read_metrics()
    assert len(m) == 4
    assert m[-1]["train_loss"] < 0.8 * m[0]["train_loss"]
    assert m[-1]["val_accuracy"] > 0.5  # chance is 1/3
    assert run.checkpoint_best.exists() and run.results_path.exists()


def test_resume_is_exact_even_after_a_crash_inside_a_checkpoint_write(tmp_path, monkeypatch):
    data = toy_data()
    full, _ = _run(tmp_path, "full", config(), data)
    full.fit()
    # interrupted run: stop after 3 steps (mid-epoch), then crash while writing a checkpoint
    part, run = _run(tmp_path, "part", config(), data)
    part.fit(stop_after_steps=3)
    before = load_checkpoint(run.checkpoint_last)  # written at step 2
    real = ckpt._write_node
    calls = {"n": 0}

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(*a, **k)

    monkeypatch.setattr(ckpt, "_write_node", failing)
    with pytest.raises(OSError, match="simulated"):
        part.save(run.checkpoint_last)
    monkeypatch.setattr(ckpt, "_write_node", real)
    after = load_checkpoint(run.checkpoint_last)  # still the previous, intact checkpoint
    assert after["position"]["step"] == before["position"]["step"] == 2
    resumed = Trainer.resume(RunDir.open(run.path), data, progress=False)
    assert resumed.step == 2 and resumed.batch_pos == 2
    resumed.fit()
    for a, b in zip(_weights(full), _weights(resumed)):
        assert np.array_equal(a, b)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    data = toy_data()
    t, run = _run(tmp_path, "nan", config(), data)
    t.fit(stop_after_steps=2)
    t.save(run.checkpoint_last)
    good = load_checkpoint(run.checkpoint_last)
    t.net.w[-1][0, 0] = np.inf  # a corrupted weight makes the readout, hence the loss, non-finite
    with pytest.raises(TrainingError, match="last good checkpoint"):
        t.fit()
    kept = load_checkpoint(run.checkpoint_last)
    assert kept["position"]["step"] == good["position"]["step"]
    assert np.array_equal(kept["net"]["w"][-1], good["net"]["w"][-1])


def test_threads_do_not_change_the_result(tmp_path):
    data = toy_data()
    a, _ = _run(tmp_path, "w1", config(epochs=1, threads=1), data)
    b, _ = _run(tmp_path, "w2", config(epochs=1, threads=2), data)
    a.fit()
    b.fit()
    for x, y in zip(_weights(a), _weights(b)):
        assert np.array_equal(x, y)


def test_online_schedule_learns_and_resumes_exactly(tmp_path):
    data = toy_data()
    cfg = config(schedule="online", update_every=4, optim=OptimConfig(name="adam", lr=0.005), epochs=2)
    full, run_f = _run(tmp_path, "on_full", cfg, data)
    full.fit()
    m = run_f.read_metrics()
    assert m[-1]["train_loss"] < m[0]["train_loss"]
    assert full.optimizer.n_steps >= 2 * len(full.train_idx) * 3  # >= 3 updates inside every sample
    part, run = _run(tmp_path, "on_part", cfg, data)
    part.fit(stop_after_steps=3)
    resumed = Trainer.resume(RunDir.open(run.path), data, progress=False)
    resumed.fit()
    for a, b in zip(_weights(full), _weights(resumed)):
        assert np.array_equal(a, b)
