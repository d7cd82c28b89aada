"""Checkpoints: round trips of every saved type, atomic replacement, damaged files."""

import os

import h5py
import numpy as np
import pytest

import sgevent.train.checkpoint as ckpt
from sgevent import Network
from sgevent.errors import DataError
from sgevent.train.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    network_to_payload,
    payload_to_network,
    rng_from_state,
    rng_state,
    save_checkpoint,
)
from sgevent.train.optim import OptimConfig, make_optimizer


def assert_tree_equal(a, b, where="root"):
    """Exact equality of nested payloads, including array dtypes and numpy scalar types."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_tree_equal(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_tree_equal(x, y, f"{where}/{i}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, np.generic):
        assert type(a) is type(b) and (a == b or (np.isnan(a) and np.isnan(b))), where
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, where


def _nets_equal(a: Network, b: Network):
    assert_tree_equal(a.to_dict(), b.to_dict())


def test_round_trip_of_plain_types(tmp_path):
    payload = {
        "f64": np.linspace(0, 1, 7),
        "f32_2d": np.arange(6, dtype=np.float32).reshape(2, 3),
        "i64": np.array([-(2**62), 0, 5]),
        "u16": np.arange(4, dtype=np.uint16),
        "bool_arr": np.array([True, False]),
        "complex": np.array([1 + 2j]),
        "empty": np.zeros((0, 3)),
        "zero_d": np.array(2.5),
        "str_arr": np.array(["alpha", "beta", "\u03b3"]),
        "np_scalar": np.float32(1.5),
        "np_int": np.int64(7),
        "py_int": 3,
        "big_int": 2**130 + 17,
        "py_float": 0.1,
        "nan": float("nan"),
        "inf": float("-inf"),
        "flag": True,
        "none": None,
        "text": "hello / world",
        "json_meta": {"a": [1, 2.5, "x", None], "b": {"c": False}},
        "empty_list": [],
        "empty_dict": {},
        "list_of_arrays": [np.ones(2), np.zeros((2, 2)), np.array([1], dtype=np.int8)],
        "mixed_list": [np.ones(1), 3, "s", {"k": np.arange(2)}],
        "nested": {"deeper": {"arr": np.eye(2), "n": 1}},
        "tuple_of_arrays": (np.ones(1), np.zeros(1)),
        "long_json": list(range(20000)),
    }
    p = tmp_path / "c.h5"
    assert save_checkpoint(p, payload) == p
    got = load_checkpoint(p)
    expect = dict(payload)
    expect["tuple_of_arrays"] = list(payload["tuple_of_arrays"])  # tuples come back as lists
    assert_tree_equal(expect, got)
    with h5py.File(p, "r") as f:
        assert f.attrs["__format_version__"] == FORMAT_VERSION


@pytest.mark.parametrize("per_synapse", [False, True])
def test_round_trip_network(tmp_path, per_synapse):
    net = Network.create(6, 5, 3, n_buckets=3, seed=0, per_synapse=per_synapse)
    p = tmp_path / "net.h5"
    save_checkpoint(p, {"network": network_to_payload(net)})
    back = payload_to_network(load_checkpoint(p)["network"])
    assert back.per_synapse == per_synapse
    assert back.v[0].shape == ((5, 6, 3) if per_synapse else (5, 3))
    _nets_equal(net, back)


def test_round_trip_deep_network(tmp_path):
    net = Network.create(4, [3, 2], 2, n_buckets=2, seed=1, hidden_bias=True, theta_0=[0.2, 0.3], m_f=0.5)
    p = tmp_path / "net.h5"
    save_checkpoint(p, {"network": network_to_payload(net)})
    _nets_equal(net, payload_to_network(load_checkpoint(p)["network"]))


def test_invalid_stored_network_is_data_error(tmp_path):
    d = network_to_payload(Network.create(6, 5, 3, n_buckets=3, seed=0))
    del d["w"]
    with pytest.raises(DataError, match="stored network"):
        payload_to_network(d)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_round_trip_optimizer_state_gives_identical_updates(tmp_path, name):
    net = Network.create(6, 5, 3, n_buckets=3, seed=0)
    cfg = OptimConfig(name=name, lr=0.01, momentum=0.9 if name == "sgd" else 0.0)
    opt = make_optimizer(cfg, net.w + net.v + net.b)
    mask = [True] * (2 * net.n_layers) + list(net.bias)  # disabled biases stay 0
    rng = np.random.default_rng(0)
    for _ in range(3):
        opt.step([rng.normal(size=a.shape) for a in opt.params], mask=mask)
    p = tmp_path / "opt.h5"
    save_checkpoint(p, {"network": network_to_payload(net), "optim_config": cfg.to_dict(),
                        "optimizer": opt.state_dict()})
    d = load_checkpoint(p)
    assert_tree_equal(opt.state_dict(), d["optimizer"])
    net2 = payload_to_network(d["network"])
    opt2 = make_optimizer(OptimConfig.from_dict(d["optim_config"]), net2.w + net2.v + net2.b)
    opt2.load_state_dict(d["optimizer"])
    g = [rng.normal(size=a.shape) for a in opt.params]
    assert opt.step(g, mask=mask) == opt2.step(g, mask=mask)
    _nets_equal(net, net2)


@pytest.mark.parametrize("bitgen", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_round_trip_rng_state_gives_identical_numbers(tmp_path, bitgen):
    rng = np.random.Generator(getattr(np.random, bitgen)(12345))
    rng.normal(size=3)
    rng.integers(0, 10, size=1)  # leaves a buffered uint32 behind in some generators
    state = rng_state(rng)
    p = tmp_path / "rng.h5"
    save_checkpoint(p, {"rng": state})
    back = rng_from_state(load_checkpoint(p)["rng"])
    np.testing.assert_array_equal(rng.random(50), back.random(50))
    np.testing.assert_array_equal(rng.integers(0, 2**40, size=20), back.integers(0, 2**40, size=20))


def test_pcg64_state_integers_are_strings():
    st = rng_state(np.random.default_rng(0))
    assert st["bit_generator"] == "PCG64"
    assert isinstance(st["state"]["state"], str) and int(st["state"]["state"]) > 2**64
    with pytest.raises(DataError, match="unknown bit generator"):
        rng_from_state({**st, "bit_generator": "Nope"})


def test_atomic_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "checkpoint_last.h5"
    first = {"epoch": 1, "w": [np.ones((2, 2)), np.zeros(3)]}
    save_checkpoint(p, first)
    before = p.read_bytes()

    real = ckpt._write_node
    calls = {"n": 0}

    def failing(group, key, value, where):
        calls["n"] += 1
        if calls["n"] == 3:  # after part of the new file is written
            raise RuntimeError("disk on fire")
        return real(group, key, value, where)

    monkeypatch.setattr(ckpt, "_write_node", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_checkpoint(p, {"epoch": 2, "w": [np.full((2, 2), 5.0), np.ones(3)], "extra": np.ones(4)})
    assert calls["n"] == 3
    assert p.read_bytes() == before
    assert_tree_equal(first, load_checkpoint(p))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_last.h5"]  # no temp file left


def test_unsupported_value_leaves_previous_file(tmp_path):
    p = tmp_path / "c.h5"
    save_checkpoint(p, {"a": 1})
    with pytest.raises(DataError, match="'bad/obj'"):
        save_checkpoint(p, {"a": 2, "bad": {"obj": object()}})
    with pytest.raises(DataError, match="dtype object"):
        save_checkpoint(p, {"a": np.array([None, 1], dtype=object)})
    with pytest.raises(DataError, match="reserved"):
        save_checkpoint(p, {"__kind__": np.ones(1)})
    with pytest.raises(DataError, match="strings"):
        save_checkpoint(p, {1: np.ones(1)})
    assert load_checkpoint(p) == {"a": 1}
    assert os.listdir(tmp_path) == ["c.h5"]


def test_truncated_file_is_data_error_naming_file(tmp_path):
    p = tmp_path / "trunc.h5"
    save_checkpoint(p, {"w": [np.random.default_rng(0).normal(size=(50, 50))], "epoch": 3})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="trunc.h5"):
        load_checkpoint(p)


def test_missing_and_foreign_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="nothere.h5.*does not exist"):
        load_checkpoint(tmp_path / "nothere.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="junk.h5"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.ones(2)
    with pytest.raises(DataError, match="plain.h5.*not an sgevent checkpoint"):
        load_checkpoint(plain)


def test_wrong_version_is_data_error(tmp_path):
    p = tmp_path / "v.h5"
    save_checkpoint(p, {"a": np.ones(2)})
    with h5py.File(p, "r+") as f:
        f.attrs["__format_version__"] = FORMAT_VERSION + 1
    with pytest.raises(DataError, match=rf"v.h5.*version {FORMAT_VERSION + 1}"):
        load_checkpoint(p)


def test_missing_key_is_data_error_naming_key(tmp_path):
    p = tmp_path / "k.h5"
    save_checkpoint(p, {"net": {"w": [np.ones(2), np.ones(3)], "n": 4}})
    with h5py.File(p, "r+") as f:
        del f["net/w/1"]
        del f["net"].attrs["n"]
    with pytest.raises(DataError, match=r"k.h5.*'net/w/1'"):
        load_checkpoint(p)
    with h5py.File(p, "r+") as f:
        f["net/w"].create_dataset("1", data=np.ones(3)).attrs["__kind__"] = "array"
    with pytest.raises(DataError, match=r"k.h5.*'net/n'"):
        load_checkpoint(p)


def test_missing_directory_is_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "c.h5", {"a": 1})
