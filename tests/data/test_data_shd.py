"""Tests of SpikeDataset and the SHD/SSC HDF5 readers on small generated files."""

from __future__ import annotations

import dataclasses
import sys
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shd_files import make_samples, write_shd_file  # noqa: E402

from sgevent.data.dataset import SpikeDataset  # noqa: E402
from sgevent.data.shd import (  # noqa: E402
    SHD,
    SSC,
    clear_cache,
    find_or_download,
    load_h5,
    load_split,
    speaker_split,
)
from sgevent.errors import ConfigError, DataError  # noqa: E402


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_cache()
    yield
    clear_cache()


def _expected_sample(data, i):
    """Written sample i as float64 times sorted stably, with units in the same order."""
    t = data["times"][i].astype(np.float64)
    order = np.argsort(t, kind="stable")
    return t[order], data["units"][i].astype(np.int64)[order]


# ---------------------------------------------------------------------- reading
def test_load_h5_events_labels_speakers(tmp_path):
    path = tmp_path / "shd_train.h5"
    data = write_shd_file(path, n_samples=12, n_classes=4, seed=3)
    ds = load_h5(path)
    assert len(ds) == 12
    assert ds.n_channels == 700 and ds.n_classes == 4
    assert ds.class_names == ("class_0", "class_1", "class_2", "class_3")
    assert ds.name == "shd_train" and ds.source == str(path.resolve())
    assert ds.times.dtype == np.float64 and ds.units.dtype == np.int32
    assert ds.offsets.dtype == np.int64 and ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.labels, data["labels"].astype(np.int64))
    np.testing.assert_array_equal(ds.speakers, data["speakers"].astype(np.int64))
    for i in range(12):
        times, units, label = ds.sample(i)
        t_exp, u_exp = _expected_sample(data, i)
        np.testing.assert_array_equal(times, t_exp)  # exact: float16 -> float64 is exact
        np.testing.assert_array_equal(units, u_exp)
        assert label == data["labels"][i]
        assert np.all(np.diff(times) >= 0)
    assert int(ds.offsets[-1]) == sum(len(t) for t in data["times"])


def test_float16_times_are_cast_before_arithmetic(tmp_path):
    n_many = 4000
    data = {
        "times": [
            np.array([1.5, 0.1, 0.0], dtype=np.float16),
            np.full(n_many, 1.0, dtype=np.float16),
        ],
        "units": [np.array([1, 2, 3], np.uint16), np.arange(n_many, dtype=np.uint16) % 700],
        "labels": [0, 1],
        "speakers": [0, 1],
        "keys": [b"a", b"b"],
    }
    path = tmp_path / "f16.h5"
    write_shd_file(path, data)
    ds = load_h5(path)
    t0, u0, _ = ds.sample(0)
    assert t0.dtype == np.float64
    # 0.1 is not representable in float16; the stored value is 0.0999755859375 exactly.
    np.testing.assert_array_equal(t0, [0.0, 0.0999755859375, 1.5])
    np.testing.assert_array_equal(u0, [3, 2, 1])
    # In float16, 1e6 is already inf and 2048 + 1 rounds back to 2048: any arithmetic done
    # before the cast would be wrong. After the cast both are exact.
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(1e6))
    assert np.float16(2048) + np.float16(1) == np.float16(2048)
    assert t0[-1] * 1e6 == 1.5e6
    t1, _, _ = ds.sample(1)
    assert t1.dtype == np.float64
    assert np.cumsum(t1)[-1] == float(n_many)
    assert t1.sum() == float(n_many)


def test_stable_sort_within_samples(tmp_path):
    data = {
        "times": [np.array([0.5, 0.25, 0.5, 0.25], np.float16), np.array([0.75], np.float16)],
        "units": [np.array([1, 2, 3, 4], np.uint16), np.array([9], np.uint16)],
        "labels": [1, 0],
        "speakers": [0, 0],
        "keys": [b"a", b"b"],
    }
    path = tmp_path / "ties.h5"
    write_shd_file(path, data)
    ds = load_h5(path)
    t, u, label = ds.sample(0)
    np.testing.assert_array_equal(t, [0.25, 0.25, 0.5, 0.5])
    np.testing.assert_array_equal(u, [2, 4, 1, 3])  # equal times keep the file's order
    assert label == 1
    t, u, label = ds.sample(-1)
    np.testing.assert_array_equal(t, [0.75])
    np.testing.assert_array_equal(u, [9])
    assert label == 0


def test_file_closed_and_cache(tmp_path):
    path = tmp_path / "c.h5"
    write_shd_file(path, n_samples=6)
    ds = load_h5(path)
    assert load_h5(path) is ds  # cached: same resolved path, mtime and size
    assert load_h5(path, cache=False) is not ds
    # The handle was closed: the file can be reopened for writing (HDF5 locks open files).
    with h5py.File(path, "a") as f:
        assert f["labels"].shape == (6,)
    write_shd_file(path, n_samples=9)  # rewritten: new size and mtime -> read again
    ds2 = load_h5(path)
    assert ds2 is not ds and len(ds2) == 9
    with pytest.raises(ValueError):
        ds2.times[0] = 1.0  # shared cached arrays are read-only


def test_file_closed_after_error(tmp_path):
    path = tmp_path / "bad.h5"
    write_shd_file(path, defect="label_out_of_range")
    with pytest.raises(DataError):
        load_h5(path)
    with h5py.File(path, "a") as f:
        assert "labels" in f


@pytest.mark.parametrize(
    ("defect", "field", "expected"),
    [
        ("length_mismatch", "spikes/units", "one unit per spike time"),
        ("unit_out_of_range", "spikes/units", "expected a channel in 0..699"),
        ("nan_time", "spikes/times", "expected a finite time"),
        ("inf_time", "spikes/times", "expected a finite time"),
        ("negative_time", "spikes/times", "expected a time >= 0 s"),
        ("label_out_of_range", "labels", "expected a class in 0..3"),
    ],
)
def test_sample_defects_raise_clear_errors(tmp_path, defect, field, expected):
    path = tmp_path / f"{defect}.h5"
    write_shd_file(path, n_samples=10, n_classes=4, defect=defect, defect_sample=5)
    with pytest.raises(DataError) as info:
        load_h5(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "sample 5," in msg
    assert f"field '{field}'" in msg
    assert expected in msg


def test_unit_error_names_event_and_value(tmp_path):
    path = tmp_path / "u.h5"
    write_shd_file(path, n_samples=8, defect="unit_out_of_range", defect_sample=6)
    with pytest.raises(DataError, match=r"sample 6, field 'spikes/units': event 2 is 700"):
        load_h5(path)
    # The same file is fine with more channels.
    assert load_h5(path, n_channels=701).units.max() == 700


@pytest.mark.parametrize(
    ("defect", "field", "what"),
    [
        ("missing_spikes_group", "spikes/times", "group 'spikes'"),
        ("missing_labels", "labels", "dataset 'labels'"),
        ("missing_keys", "extra/keys", "dataset 'extra/keys'"),
    ],
)
def test_missing_group_or_dataset(tmp_path, defect, field, what):
    path = tmp_path / f"{defect}.h5"
    write_shd_file(path, defect=defect)
    with pytest.raises(DataError) as info:
        load_h5(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "sample index: none" in msg
    assert f"field '{field}'" in msg and what in msg


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.h5"
    write_shd_file(path, n_samples=30, defect="truncated")
    with pytest.raises(DataError) as info:
        load_h5(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "sample index: none (file could not be opened)" in msg
    assert "truncated or corrupt" in msg
    assert isinstance(info.value.__cause__, OSError)


def test_missing_file_and_wrong_n_classes(tmp_path):
    with pytest.raises(DataError, match="nope.h5: file not found"):
        load_h5(tmp_path / "nope.h5")
    path = tmp_path / "k.h5"
    write_shd_file(path, n_classes=4)
    with pytest.raises(DataError, match=r"field 'extra/keys': holds 4 class names; expected 20"):
        load_h5(path, n_classes=20)


# ---------------------------------------------------------------------- metadata and locating
def test_metadata_matches_tonic():
    import tonic.datasets as tds

    assert (SHD.n_classes, SHD.n_channels) == (20, 700)
    assert dict(SHD.n_samples) == {"train": 8156, "test": 2264}
    assert dict(SSC.n_samples) == {"train": 75466, "valid": 9981, "test": 20382}
    assert SSC.n_classes == 35
    assert SHD.urls["train"] == tds.SHD.base_url + tds.SHD.train_zip
    assert SHD.md5 == {"train": tds.SHD.train_md5, "test": tds.SHD.test_md5}
    assert SSC.md5 == {
        "train": tds.SSC.train_md5, "valid": tds.SSC.valid_md5, "test": tds.SSC.test_md5,
    }
    assert SSC.urls["valid"] == "https://zenkelab.org/datasets/ssc_valid.h5.zip"
    assert SHD.files["test"] == "shd_test.h5"
    assert hash(SHD) == hash(SHD)  # frozen and hashable
    with pytest.raises(ConfigError, match="expected one of train, test"):
        SHD.check_split("valid")


def test_find_and_load_split(tmp_path):
    folder = tmp_path / "SHD"
    folder.mkdir()
    data = write_shd_file(folder / "shd_test.h5", n_samples=7, n_classes=20)
    assert find_or_download(SHD, "test", tmp_path, download=False) == folder / "shd_test.h5"
    with pytest.raises(DataError, match=r"has 7 samples; expected 2264 for SHD test"):
        load_split(SHD, "test", tmp_path, download=False)
    small = dataclasses.replace(SHD, n_samples={"train": 8156, "test": 7})
    ds = load_split(small, "test", tmp_path, download=False)
    assert ds.name == "SHD test" and len(ds) == 7 and ds.n_classes == 20
    np.testing.assert_array_equal(ds.labels, data["labels"])


def test_find_without_download_says_where(tmp_path):
    with pytest.raises(DataError) as info:
        find_or_download(SSC, "valid", tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path / "SSC" / "ssc_valid.h5") in msg
    assert "https://zenkelab.org/datasets/ssc_valid.h5.zip" in msg
    assert "ssc_valid.h5.zip" in msg and "download=False" in msg


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    import tonic.dataset

    def no_network(self):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(tonic.dataset.Dataset, "download", no_network)
    with pytest.raises(DataError) as info:
        find_or_download(SHD, "train", tmp_path)
    msg = str(info.value)
    assert "the download failed (URLError" in msg
    assert str(tmp_path / "SHD" / "shd_train.h5") in msg
    assert "https://zenkelab.org/datasets/shd_train.h5.zip" in msg


# ---------------------------------------------------------------------- speaker split
def test_speaker_split_disjoint_and_deterministic(tmp_path):
    data = make_samples(n_samples=60, n_classes=4, n_speakers=6, seed=1)
    path = tmp_path / "spk.h5"
    write_shd_file(path, data)
    ds = load_h5(path)
    train_idx, val_idx = speaker_split(ds, 0.3, seed=4)
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(60))
    assert not set(ds.speakers[train_idx]) & set(ds.speakers[val_idx])
    assert val_idx.size >= 0.3 * 60  # whole speakers until the fraction is reached
    assert set(ds.speakers[train_idx])  # at least one speaker left for training
    again = speaker_split(ds, 0.3, seed=4)
    np.testing.assert_array_equal(again[0], train_idx)
    np.testing.assert_array_equal(again[1], val_idx)
    choices = {tuple(speaker_split(ds, 0.3, seed=s)[1]) for s in range(8)}
    assert len(choices) > 1  # the seed matters


def test_speaker_split_falls_back_to_stratified():
    n = 40
    ds = SpikeDataset.from_lists(
        [np.array([0.1])] * n, [np.array([0])] * n, np.arange(n) % 4,
        n_channels=2, n_classes=4, name="toy",
    )
    assert np.all(ds.speakers == -1)
    train_idx, val_idx = speaker_split(ds, 0.25, seed=0)
    assert np.intersect1d(train_idx, val_idx).size == 0
    assert train_idx.size + val_idx.size == n
    # 10 samples per class, round(0.25 * 10) = 2 (round half to even) -> 2 per class
    np.testing.assert_array_equal(np.bincount(ds.labels[val_idx], minlength=4), [2, 2, 2, 2])
    np.testing.assert_array_equal(speaker_split(ds, 0.25, seed=0)[1], val_idx)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        speaker_split(ds, 1.0, seed=0)


# ---------------------------------------------------------------------- SpikeDataset
def _toy() -> SpikeDataset:
    return SpikeDataset.from_lists(
        [[0.3, 0.1], [], [0.2, 0.2, 0.05]],
        [[4, 5], np.array([], np.int64), [1, 2, 3]],
        [0, 2, 1],
        [7, 7, 8],
        n_channels=6, n_classes=3, class_names=["a", "b", "c"], name="toy", source="toy.h5",
    )


def test_spike_dataset_from_lists_subset_stats():
    ds = _toy()
    np.testing.assert_array_equal(ds.offsets, [0, 2, 2, 5])
    np.testing.assert_array_equal(ds.times, [0.1, 0.3, 0.05, 0.2, 0.2])
    np.testing.assert_array_equal(ds.units, [5, 4, 3, 1, 2])
    sub = ds.subset([2, 0, 2])
    np.testing.assert_array_equal(sub.offsets, [0, 3, 5, 8])
    np.testing.assert_array_equal(sub.units, [3, 1, 2, 5, 4, 3, 1, 2])
    np.testing.assert_array_equal(sub.labels, [1, 0, 1])
    np.testing.assert_array_equal(sub.speakers, [8, 7, 8])
    assert len(ds.subset(np.array([False, True, False]))) == 1
    assert len(ds.subset([])) == 0
    s = ds.stats()
    assert s["n_samples"] == 3 and s["n_events"] == 5 and s["n_speakers"] == 2
    assert s["spikes_mean"] == pytest.approx(5 / 3) and s["spikes_median"] == 2.0
    assert s["spikes_max"] == 3
    assert s["duration_mean_s"] == pytest.approx((0.3 + 0.0 + 0.2) / 3)
    assert s["duration_max_s"] == pytest.approx(0.3)
    text = ds.format_stats()
    assert text.startswith("toy (toy.h5): 3 samples, 3 classes, 6 channels, 2 speakers")
    assert "max 0.300 s" in text and len(text.splitlines()) == 3


def test_spike_dataset_validation_messages():
    ds = _toy()
    with pytest.raises(DataError, match=r"toy.h5: sample 1, field 'units': event 1 is 6"):
        SpikeDataset.from_lists([[0.1], [0.2, 0.3]], [[0], [1, 6]], [0, 0], n_channels=6,
                                n_classes=1, source="toy.h5")
    with pytest.raises(DataError, match=r"sample 1, field 'units': 1 units for 2 times"):
        SpikeDataset.from_lists([[0.1], [0.2, 0.3]], [[0], [1]], [0, 0], n_channels=6,
                                n_classes=1, source="toy.h5")
    with pytest.raises(DataError, match=r"sample 0, field 'times': event 0 is -0.5"):
        SpikeDataset.from_lists([[-0.5]], [[0]], [0], n_channels=1, n_classes=1)
    with pytest.raises(DataError, match=r"sample 1, field 'labels': got 3"):
        SpikeDataset.from_lists([[0.1], [0.1]], [[0], [0]], [0, 3], n_channels=1, n_classes=3)
    with pytest.raises(DataError, match=r"sample 2, field 'times': times must be sorted"):
        dataclasses.replace(ds, times=ds.times[::-1].copy())
    with pytest.raises(DataError, match=r"field 'offsets' has 3 entries; expected"):
        dataclasses.replace(ds, offsets=ds.offsets[:3])


# ---------------------------------------------------------------------- issue 12
def _write_times(path, times, dtype):
    """An SHD-layout file whose spikes/times have ``dtype`` (e.g. tonic's uint32 microseconds)."""
    n = len(times)
    with h5py.File(path, "w") as f:
        t_ds = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.dtype(dtype)))
        u_ds = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, t in enumerate(times):
            t_ds[i] = np.asarray(t, dtype=dtype)
            u_ds[i] = np.arange(len(t), dtype=np.uint16)
        f.create_dataset("labels", data=np.zeros(n, dtype=np.uint8))
        f.create_dataset("extra/keys", data=np.array([b"a"]))


def test_integer_microsecond_times_are_refused_naming_file_sample_and_field(tmp_path):
    p = tmp_path / "us_train.h5"
    _write_times(p, [[], [120_000, 710_115_000]], np.uint32)
    with pytest.raises(DataError, match=r"us_train.h5: sample 1, field 'spikes/times'.*integer.*microseconds"):
        load_h5(p)


def test_times_beyond_the_stated_maximum_are_refused(tmp_path):
    p = tmp_path / "far.h5"
    _write_times(p, [[0.1, 0.2], [0.3, 710_115.0]], np.float64)
    with pytest.raises(DataError, match=r"far.h5: sample 1, field 'spikes/times': event 1 is 710115.0 s.*max_time_s"):
        load_h5(p)
    assert load_h5(p, max_time_s=1e6).durations()[1] == 710_115.0


def test_writer_handles_samples_that_all_have_the_same_spike_count(tmp_path):
    from sgevent.data.shd_writer import write_shd_h5

    times = [np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5, 0.6])]
    units = [np.array([1, 2, 3]), np.array([4, 5, 6])]
    p = write_shd_h5(tmp_path / "eq.h5", times, units, [0, 1], [0, 1], ["a", "b"])
    ds = load_h5(p)
    assert ds.counts().tolist() == [3, 3] and ds.units.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(ds.times, np.concatenate(times), atol=1e-3)


def test_two_files_of_one_split_are_not_guessed_between(tmp_path):
    from sgevent.data.shd import split_files

    write_shd_file(tmp_path / "shd_train.h5")
    assert set(split_files(tmp_path)) == {"train"}
    write_shd_file(tmp_path / "ssc_train.h5")
    with pytest.raises(DataError, match=r"2 files for split 'train' \(shd_train.h5, ssc_train.h5\)"):
        split_files(tmp_path)
