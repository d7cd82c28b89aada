"""Data-parallel training on Dask (sgevent.train.distributed): the same weights as in-process training
with 1 and 2 worker processes, a worker killed in the middle of a step costs nothing but time,
sweeps as independent tasks, and clear errors (online schedule, bad scheduler, dask missing).

Tolerance. With one shard per mini-batch the driver's sum is the in-process sum itself, so one
Dask worker gives bit-identical weights. With two shards the mini-batch sum is (S_1 + S_2), each
S_k summed in sample order: the same terms grouped differently, which changes the last bit of
some gradients (about 1e-16 relative). After the few Adam steps here that stays below 1e-15
(measured); we allow rtol 1e-12 (plus atol 1e-14 for entries near zero). The grid model (dt = 1
ms) is used so that a change in the last bit cannot move a spike to another instant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

from sgevent.cli import main  # noqa: E402
from sgevent.data import load_h5  # noqa: E402
from sgevent.data.augment import AugmentConfig  # noqa: E402
from sgevent.data.dataset import SpikeDataset  # noqa: E402
from sgevent.data.shd_writer import write_shd_h5  # noqa: E402
from sgevent.errors import ClusterError, ConfigError, DataError  # noqa: E402
from sgevent.learn.spec import LearnSpec  # noqa: E402
from sgevent.studies.resolution import resolution_study  # noqa: E402
from sgevent.studies.sparsity import sparsity_sweep  # noqa: E402
from sgevent.train.batch import evaluate  # noqa: E402
from sgevent.train.config import NetConfig, TrainConfig  # noqa: E402
from sgevent.train.distributed import DaskBackend, H5Ref, fingerprint, resolve_data, shard_bounds, start_backend  # noqa: E402
from sgevent.train.optim import OptimConfig  # noqa: E402
from sgevent.train.rundir import RunDir  # noqa: E402
from sgevent.train.trainer import Trainer  # noqa: E402

N_IN, N_CLASSES, WINDOW = 20, 3, 0.06
RTOL, ATOL = 1e-12, 1e-14  # see the module docstring


def _lists(n: int, seed: int):
    """Class c fires mostly on channels 6c..6c+5 (20 inputs, 3 classes), 6 speakers."""
    rng = np.random.default_rng(seed)
    times, units, labels, speakers = [], [], [], []
    for i in range(n):
        c = i % N_CLASSES
        k = int(rng.integers(20, 35))
        u = np.where(rng.random(k) < 0.8, 6 * c + rng.integers(0, 6, k), rng.integers(0, N_IN, k))
        times.append(rng.uniform(0.0, 0.05, k))
        units.append(u)
        labels.append(c)
        speakers.append((i // N_CLASSES) % 6)
    return times, units, labels, speakers


def tiny_data(n: int = 24, seed: int = 0) -> SpikeDataset:
    return SpikeDataset.from_lists(*_lists(n, seed), n_channels=N_IN, n_classes=N_CLASSES, name="tiny")


def tiny_h5(path, n: int = 24, seed: int = 0) -> SpikeDataset:
    """The same kind of data written in the SHD layout and read back (workers read the file)."""
    t, u, y, s = _lists(n, seed)
    write_shd_h5(path, t, u, y, s, keys=[f"c{c}" for c in range(N_CLASSES)], n_channels=N_IN)
    return load_h5(path, n_channels=N_IN)


def config(**kw) -> TrainConfig:
    base = dict(epochs=2, batch_size=6, dt=1e-3, window=WINDOW, val_fraction=0.25, seed=3, threads=1,
                checkpoint_every=100, net=NetConfig(hidden=(8,), n_buckets=3, theta_0=0.05, weight_gain=2.0),
                learn=LearnSpec(learn_period=5e-3), optim=OptimConfig(name="adam", lr=0.02),
                augment=AugmentConfig(channel_shift=2, event_dropout=0.1))
    base.update(kw)
    return TrainConfig(**base)


def weights(t: Trainer) -> list[np.ndarray]:
    n = t.net
    return [a.copy() for l in range(n.n_layers) for a in (n.w[l], n.v[l], n.b[l])]


def train(tmp_path, name, cfg, data, backend=None, steps=None, test=None) -> Trainer:
    run = RunDir.create(tmp_path, name, config=cfg.to_dict(), seed=cfg.seed)
    t = Trainer(cfg, data, run, progress=False, backend=backend, test_data=test)
    t.fit(stop_after_steps=steps)
    return t


def _cluster(n: int):
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    return cluster, client


@pytest.fixture(scope="module")
def dask2():
    cluster, client = _cluster(2)
    yield DaskBackend(client)
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def dask1():
    cluster, client = _cluster(1)
    yield DaskBackend(client)
    client.close()
    cluster.close()


def _same(a: Trainer, b: Trainer, exact: bool) -> None:
    for x, y in zip(weights(a), weights(b)):
        if exact:
            assert np.array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------- shards and data
def test_shards_are_contiguous_in_sample_order_and_depend_only_on_counts():
    for n in range(1, 20):
        for k in range(1, 6):
            b = shard_bounds(n, k)
            assert b[0][0] == 0 and b[-1][1] == n and len(b) == min(n, k)
            assert all(b[i][1] == b[i + 1][0] for i in range(len(b) - 1))
            sizes = [s - a for a, s in b]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
            assert b == shard_bounds(n, k)
    assert shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]  # as numpy.array_split


def test_h5_datasets_go_by_path_and_are_checked_on_the_worker(tmp_path, dask2):
    ds = tiny_h5(tmp_path / "tiny_train.h5")
    ref = dask2.data_ref(ds)
    assert isinstance(ref, H5Ref) and ref.path == str(ds.source)
    assert resolve_data(ref) is not None and fingerprint(resolve_data(ref)) == fingerprint(ds)
    mem = dask2.data_ref(tiny_data())
    assert not isinstance(mem, H5Ref)  # in-memory: scattered once (a future)
    with pytest.raises(DataError, match="differs from the driver"):
        resolve_data(replace(ref, fingerprint="24:0:00000000"))
    with pytest.raises(DataError, match="every worker"):
        resolve_data(replace(ref, path=str(tmp_path / "elsewhere.h5")))


# ---------------------------------------------------------------------------- same weights
def test_one_and_two_workers_train_the_same_weights_as_in_process(tmp_path, dask1, dask2):
    data = tiny_h5(tmp_path / "tiny_train.h5")
    test = tiny_data(9, seed=1)
    cfg = config()
    ref = train(tmp_path, "local", cfg, data, test=test)
    one = train(tmp_path, "dask1", cfg, data, dask1, test=test)
    two = train(tmp_path, "dask2", cfg, data, dask2, test=test)
    assert ref.step == one.step == two.step >= 6
    _same(ref, one, exact=True)   # one shard: the in-process sum itself
    _same(ref, two, exact=False)  # two shards: summation order only
    r0, r1, r2 = (t.run.read_results() for t in (ref, one, two))
    assert r0["test_predictions"] == r1["test_predictions"] == r2["test_predictions"]
    assert r0["test_loss"] == r1["test_loss"]
    assert [m["val_accuracy"] for m in ref.run.read_metrics()] == [m["val_accuracy"] for m in two.run.read_metrics()]
    # evaluation on the workers is the in-process evaluation, bit for bit
    e0 = evaluate(two.net, test, dt=cfg.dt, window=WINDOW, learn_period=5e-3)
    e2 = dask2.evaluate(two.net, test, dt=cfg.dt, window=WINDOW, learn_period=5e-3)
    assert e0["loss"] == e2["loss"] and np.array_equal(e0["predictions"], e2["predictions"])
    assert e0["hidden_spikes_per_sample"] == e2["hidden_spikes_per_sample"]


def test_resume_with_workers_ends_with_the_same_weights(tmp_path, dask2):
    data, cfg = tiny_data(), config()
    full = train(tmp_path, "full", cfg, data, dask2)
    part = train(tmp_path, "part", cfg, data, dask2, steps=4)
    part.save(part.run.checkpoint_last)
    resumed = Trainer.resume(RunDir.open(part.run.path), data, progress=False, backend=dask2)
    assert resumed.step == 4
    resumed.fit()
    _same(full, resumed, exact=True)  # same shards, same order


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("n_workers", [2, 1])
def test_worker_killed_mid_step_loses_nothing(tmp_path, n_workers, dask1, dask2):
    """The first shard to finish kills its worker process (os._exit) before returning: with 2
    workers the scheduler reruns it on the other one; with 1 the scattered network and dataset
    die too and the driver scatters and resubmits. Either way the weights equal an undisturbed run."""
    backend = dask2 if n_workers == 2 else dask1
    data, cfg = tiny_data(), config(epochs=1)
    calm = train(tmp_path, "calm", cfg, data, backend)
    marker = tmp_path / "crashed"
    backend._crash_marker = str(marker)
    try:
        hit = train(tmp_path, "hit", cfg, data, backend)
    finally:
        backend._crash_marker = None
    assert marker.exists()  # a worker really died
    assert int(marker.read_text()) != os.getpid()
    _same(calm, hit, exact=True)


def test_online_schedule_is_rejected(tmp_path, dask2, capsys):
    online = config(schedule="online")
    with pytest.raises(ConfigError, match="online"):
        start_backend(workers=2, config=online)  # before any cluster starts
    with pytest.raises(ConfigError, match="online"):
        Trainer(online, tiny_data(), RunDir.create(tmp_path, "o", config=online.to_dict()), backend=dask2)
    write = tmp_path / "cfg.json"
    write.write_text(json.dumps({"schedule": "online", "net": {"hidden": [4]}}))
    tiny_h5(tmp_path / "tiny_train.h5")
    assert main(["train", "--data-dir", str(tmp_path), "--config", str(write), "--workers", "2",
                 "--runs", str(tmp_path / "runs"), "--quiet"]) == 2
    assert "online" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # failed before creating a run directory


def test_bad_scheduler_address_is_a_clear_error():
    with pytest.raises(ClusterError, match="127.0.0.1:9"):
        start_backend(scheduler="tcp://127.0.0.1:9", timeout=1)
    with pytest.raises(ConfigError, match="either"):
        start_backend(workers=2, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ConfigError, match=">= 1"):
        start_backend(workers=0)


def test_dask_missing_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, globals=None, locals=None, fromlist=(), level=0):
        # only sgevent's own imports fail: the clients of the module's fixtures keep working
        if (level == 0 and name.split(".")[0] in ("dask", "distributed")
                and (globals or {}).get("__name__", "").startswith("sgevent")):
            raise ImportError(f"No module named {name!r} (test)")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ConfigError, match="pip install"):
        start_backend(workers=2)
    tiny_h5(tmp_path / "tiny_train.h5")
    assert main(["train", "--data-dir", str(tmp_path), "--workers", "2", "--runs", str(tmp_path / "r"),
                 "--quiet"]) == 2
    assert "sgevent[distributed]" in capsys.readouterr().err


def test_package_imports_and_explains_without_dask(tmp_path):
    tiny_h5(tmp_path / "tiny_train.h5")
    code = ("import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
            "import sgevent, sgevent.train.distributed, sgevent.train.trainer, sgevent.cli\n"
            "import sgevent.studies.resolution, sgevent.studies.sparsity\n"
            f"rc = sgevent.cli.main(['train', '--data-dir', {str(tmp_path)!r}, '--workers', '2', '--quiet'])\n"
            "sys.exit(10 + rc)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 12, p.stderr  # imported fine; the command failed with a clear error
    assert "not installed" in p.stderr and "sgevent[distributed]" in p.stderr


# ---------------------------------------------------------------------------- command line, sweeps
def test_cli_workers_records_the_backend_in_provenance_not_config(tmp_path):
    tiny_h5(tmp_path / "tiny_train.h5")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config(epochs=1).to_dict()))
    runs = tmp_path / "runs"
    common = ["train", "--data-dir", str(tmp_path), "--config", str(cfg), "--runs", str(runs), "--quiet"]
    assert main(common + ["--name", "local", "--threads", "2"]) == 0
    assert main(common + ["--name", "dask", "--workers", "2"]) == 0
    conf = json.loads((runs / "dask" / "config.json").read_text())
    assert "workers" not in conf and conf["threads"] == 1
    backend = json.loads((runs / "dask" / "provenance.json").read_text())["backend"]
    assert backend["kind"] == "dask" and backend["local_cluster"] and backend["n_shards"] == 2
    a, b = (load_checkpoint_net(runs / n / "checkpoint_last.h5") for n in ("local", "dask"))
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL)
    # resuming may name workers again (here: another count); the new leg's cluster is recorded
    assert main(["train", "--data-dir", str(tmp_path), "--resume", str(runs / "dask"), "--workers", "1",
                 "--quiet"]) == 0
    leg = json.loads((runs / "dask" / "provenance_resume_1.json").read_text())["backend"]
    assert leg["n_shards"] == 1 and json.loads((runs / "dask" / "config.json").read_text()) == conf


def load_checkpoint_net(path):
    from sgevent.train.checkpoint import load_checkpoint

    net = load_checkpoint(path)["net"]
    return [np.asarray(a) for key in ("w", "v", "b") for a in net[key]]


def test_sweeps_run_one_task_per_model_with_the_same_results(tmp_path, dask2):
    train_data, test_data = tiny_data(24, 0), tiny_data(9, 1)
    cfg = config(epochs=1, dt=None, augment=AugmentConfig())
    kw = dict(theta_0s=(0.05, 0.1), m_fs=(0.0,), eval_samples=6)
    local = sparsity_sweep(cfg, train_data, test_data, runs_root=tmp_path, name="sw0", **kw)
    remote = sparsity_sweep(cfg, train_data, test_data, runs_root=tmp_path, name="sw2", backend=dask2.client, **kw)
    keys = ("label", "test_accuracy", "hidden_spikes_per_sample", "synaptic_ops_per_sample", "energy_pj")
    assert [[p[k] for k in keys] for p in local["points"]] == [[p[k] for k in keys] for p in remote["points"]]
    assert json.loads((tmp_path / "sw2" / "provenance.json").read_text())["backend"]["kind"] == "dask"
    rs = dict(dts=(None, 1e-3), ref_budget_s=1e-9, eval_samples=6)
    r0 = resolution_study(cfg, train_data, test_data, runs_root=tmp_path, name="rs0", **rs)
    r2 = resolution_study(cfg, train_data, test_data, runs_root=tmp_path, name="rs2", backend=dask2, **rs)
    assert r0["cross_accuracy"] == r2["cross_accuracy"]
    spikes = [[m["hidden_spikes_per_sample"] for m in r["models"]] for r in (r0, r2)]
    assert spikes[0] == spikes[1]
    assert all((tmp_path / "rs2" / f"train_{lab}" / "checkpoint_best.h5").exists() for lab in r2["labels"])
