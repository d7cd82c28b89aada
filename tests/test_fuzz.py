"""Fuzz tests (issue 12): malformed SHD-layout files and configurations give a project error or a
correct result, never another exception, a hang or a silent change of the data."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sgevent.data.shd import MAX_TIME_S, clear_cache, load_h5
from sgevent.errors import SgeventError
from sgevent.train.config import TrainConfig

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

TIME_DTYPES = ("float16", "float32", "float64", "int32", "uint32")
UNIT_DTYPES = ("uint16", "int16", "int64", "float32")
odd_floats = st.one_of(st.floats(0.0, 2.0), st.floats(allow_nan=True, allow_infinity=True, width=32),
                       st.sampled_from([-0.25, 65504.0, 710115.0, 1e-8]))


@st.composite
def shd_file(draw):
    """Contents of an SHD-layout file with some of its fields broken."""
    n = draw(st.integers(0, 5))
    n_keys = draw(st.integers(0, 4))
    samples = []
    for _ in range(n):
        k = draw(st.integers(0, 6))
        times = draw(st.lists(odd_floats, min_size=k, max_size=k))
        extra = draw(st.sampled_from([0, 0, 0, 1, -1]))  # units of another length
        units = draw(st.lists(st.integers(-3, 710), min_size=max(k + extra, 0), max_size=max(k + extra, 0)))
        samples.append((times, units))
    return {
        "samples": samples,
        "t_dtype": draw(st.sampled_from(TIME_DTYPES)),
        "u_dtype": draw(st.sampled_from(UNIT_DTYPES)),
        "labels": draw(st.lists(st.integers(-2, 5), min_size=n, max_size=n + draw(st.sampled_from([0, 0, 1])))),
        "label_dtype": draw(st.sampled_from(["uint8", "int8", "float32"])),
        "keys": [f"c{i}".encode() for i in range(n_keys)],
        "speakers": draw(st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=n, max_size=n))),
        "missing": draw(st.sampled_from([None, None, None, "spikes/times", "labels", "extra/keys"])),
        "truncate": draw(st.sampled_from([None, None, None, None, 0.5, 0.9])),
    }


def _cast(values, dtype):
    with np.errstate(all="ignore"):
        return np.asarray(np.asarray(values, dtype=np.float64) if np.dtype(dtype).kind == "f" else
                          np.nan_to_num(np.asarray(values, dtype=np.float64), posinf=0, neginf=0).astype(np.int64),
                          ).astype(dtype)


def _write(path: Path, c: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    written = []
    n = len(c["samples"])
    with h5py.File(path, "w") as f:
        if c["missing"] != "spikes/times":
            t_ds = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.dtype(c["t_dtype"])))
            u_ds = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.dtype(c["u_dtype"])))
            for i, (t, u) in enumerate(c["samples"]):
                t_arr, u_arr = _cast(t, c["t_dtype"]), _cast(u, c["u_dtype"])
                t_ds[i], u_ds[i] = t_arr, u_arr
                written.append((t_arr, u_arr))
        if c["missing"] != "labels":
            f.create_dataset("labels", data=_cast(c["labels"], c["label_dtype"]))
        if c["missing"] != "extra/keys":
            f.create_dataset("extra/keys", data=np.array(c["keys"], dtype="S") if c["keys"] else np.zeros(0, "S2"))
        if c["speakers"] is not None:
            f.create_dataset("extra/speaker", data=np.asarray(c["speakers"], dtype=np.uint16))
    if c["truncate"]:
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * c["truncate"])])
    return written


def _check_faithful(ds, written) -> None:
    """A file that loads must come back exactly as written (times cast to float64, sorted stably)."""
    assert len(ds) == len(written)
    for i, (t, u) in enumerate(written):
        t64 = t.astype(np.float64)
        order = np.argsort(t64, kind="stable")
        got_t, got_u, label = ds.sample(i)
        np.testing.assert_array_equal(got_t, t64[order])
        np.testing.assert_array_equal(got_u, u.astype(np.int64)[order])
        assert 0 <= label < ds.n_classes
    assert np.all(np.isfinite(ds.times)) and (ds.times.size == 0 or 0 <= ds.times.min() <= ds.times.max() <= MAX_TIME_S)
    assert ds.units.size == 0 or 0 <= ds.units.min() <= ds.units.max() < ds.n_channels


@settings(max_examples=300, **SETTINGS)
@given(shd_file())
def test_fuzzed_shd_files_load_faithfully_or_raise_a_project_error(contents):
    clear_cache()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz_train.h5"
        written = _write(path, contents)
        try:
            ds = load_h5(path, cache=False)
        except SgeventError as e:
            assert "fuzz_train.h5" in str(e)
            return
        _check_faithful(ds, written)


# ---------------------------------------------------------------------- configurations
junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=4), st.lists(st.integers(-2, 40), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = {
    "": ["epochs", "batch_size", "schedule", "update_every", "dt", "window", "val_fraction", "seed", "threads",
         "checkpoint_every", "max_train_samples", "max_eval_samples", "spike_budget", "max_loss", "workers"],
    "net": ["hidden", "n_buckets", "tau_0", "tau_delay", "theta_0", "m_f", "tau_theta", "spike_gain", "max_burst",
            "per_synapse", "hidden_bias", "readout_bias", "weight_gain"],
    "learn": ["loss", "backward", "learn_period"],
    "optim": ["name", "lr", "momentum", "betas", "eps", "weight_decay", "clip_norm", "schedule", "warmup_steps",
              "total_steps", "step_size", "gamma"],
    "augment": ["channel_shift", "time_jitter", "time_stretch", "event_dropout"],
}


@st.composite
def config_dict(draw):
    d: dict = {}
    for group, names in FIELDS.items():
        picked = draw(st.dictionaries(st.sampled_from(names), junk, max_size=4))
        if group:
            if picked or draw(st.booleans()):
                d[group] = picked if draw(st.integers(0, 9)) else draw(junk)
        else:
            d.update(picked)
    return d


def _canonical(cfg: TrainConfig) -> None:
    """A config that was accepted holds values of its declared types and ranges."""
    ints = ("epochs", "batch_size", "update_every", "seed", "threads", "checkpoint_every", "spike_budget")
    for name in ints:
        v = getattr(cfg, name)
        assert type(v) is int and v >= 0, name
    for name in ("dt", "window", "max_loss"):
        v = getattr(cfg, name)
        assert v is None or (type(v) is float and math.isfinite(v) and v > 0), name
    assert all(type(h) is int and h >= 1 for h in cfg.net.hidden) and cfg.net.hidden
    assert type(cfg.net.n_buckets) is int and type(cfg.optim.lr) is float and type(cfg.learn.learn_period) is float
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@settings(max_examples=400, **SETTINGS)
@given(config_dict())
def test_fuzzed_configs_are_accepted_in_canonical_types_or_raise_a_project_error(d):
    try:
        cfg = TrainConfig.from_dict(d)
    except SgeventError as e:
        assert len(str(e)) > 20  # a sentence for people, not a bare key
        return
    _canonical(cfg)


def toy_data(n=18, seed=0):
    """3 classes: which of three channel groups fires (as tests/train/test_trainer.py)."""
    from sgevent.data.dataset import SpikeDataset

    rng = np.random.default_rng(seed)
    times = [rng.uniform(0.0, 0.05, 30) for _ in range(n)]
    units = [rng.integers(4 * (i % 3), 4 * (i % 3) + 4, 30) for i in range(n)]
    return SpikeDataset.from_lists(times, units, [i % 3 for i in range(n)], [(i // 3) % 6 for i in range(n)],
                                   n_channels=12, n_classes=3, name="toy")


small_run = st.fixed_dictionaries({
    "epochs": st.integers(1, 2), "batch_size": st.integers(1, 40), "dt": st.sampled_from([None, 1e-3, 0.01]),
    "window": st.sampled_from([None, 0.02, 0.06]), "val_fraction": st.sampled_from([0.0, 0.2, 0.9]),
    "max_train_samples": st.sampled_from([None, 1, 5]), "schedule": st.sampled_from(["batch", "online"]),
    "net": st.fixed_dictionaries({"hidden": st.lists(st.integers(1, 6), min_size=1, max_size=2),
                                  "n_buckets": st.integers(1, 3), "theta_0": st.floats(0.01, 0.5),
                                  "weight_gain": st.floats(0.1, 3.0)}),
    "learn": st.fixed_dictionaries({"learn_period": st.sampled_from([5e-3, 0.02]),
                                    "loss": st.sampled_from(["mean", "last", "mse"])}),
    "optim": st.fixed_dictionaries({"lr": st.sampled_from([1e-3, 0.1, 1e6])}),
    "augment": st.fixed_dictionaries({"event_dropout": st.sampled_from([0.0, 0.5])}),
})


@settings(max_examples=12, **SETTINGS)
@given(small_run)
def test_fuzzed_small_runs_finish_correctly_or_raise_a_project_error(d):
    from sgevent.train.rundir import RunDir
    from sgevent.train.trainer import Trainer

    data = toy_data()
    with tempfile.TemporaryDirectory() as root:
        try:
            cfg = TrainConfig.from_dict({**d, "threads": 1})
            run = RunDir.create(root, "r", config=cfg.to_dict())
            res = Trainer(cfg, data, run, progress=False).fit()
        except SgeventError as e:
            event(f"project error: {type(e).__name__}")
            return
        event("finished")
        assert res["epochs"] == cfg.epochs and res["steps"] >= cfg.epochs
        metrics = run.read_metrics()
        assert [m["epoch"] for m in metrics] == list(range(1, cfg.epochs + 1))
        assert all(math.isfinite(m["train_loss"]) for m in metrics)


@pytest.mark.slow
@settings(max_examples=3000, **SETTINGS)
@given(config_dict())
def test_fuzzed_configs_many(d):
    test_fuzzed_configs_are_accepted_in_canonical_types_or_raise_a_project_error.hypothesis.inner_test(d)
