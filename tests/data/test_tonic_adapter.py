"""Tests of the tonic adapter: synthetic structured arrays and tonic's SHD on generated files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shd_files import write_shd_file  # noqa: E402

from sgevent.data.shd import SHD, clear_cache, find_or_download, load_h5  # noqa: E402
from sgevent.data.tonic_adapter import events_to_channels, from_tonic  # noqa: E402
from sgevent.errors import ConfigError, DataError  # noqa: E402

DVS_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])


class ToyDVS:
    """A stand-in for a tonic vision dataset (same protocol as tonic.datasets.DVSGesture)."""

    sensor_size = (8, 6, 2)
    classes = ["left", "right"]

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def _events(rows, dtype=DVS_DTYPE):
    return np.array(rows, dtype=dtype)


def test_channel_order_without_downsampling():
    ev = _events([(7, 5, True, 30), (0, 0, False, 10), (3, 2, True, 20)])
    t, ch, size = events_to_channels(ev, (8, 6, 2))
    assert size == (8, 6, 2)
    np.testing.assert_array_equal(t, [30e-6, 10e-6, 20e-6])
    # channel = (p * H + y) * W + x with W = 8, H = 6
    np.testing.assert_array_equal(ch, [(1 * 6 + 5) * 8 + 7, 0, (1 * 6 + 2) * 8 + 3])
    assert ch.max() < 8 * 6 * 2


def test_downsampling_pools_x_and_y():
    ev = _events([(7, 5, True, 30), (6, 4, True, 31), (1, 1, False, 5), (4, 3, False, 6)])
    t, ch, size = events_to_channels(ev, (8, 6, 2), downsample=2)
    assert size == (4, 3, 2)
    # x // 2, y // 2: (3, 2, p1), (3, 2, p1), (0, 0, p0), (2, 1, p0)
    np.testing.assert_array_equal(ch, [(1 * 3 + 2) * 4 + 3, (1 * 3 + 2) * 4 + 3, 0, 1 * 4 + 2])
    _, ch, size = events_to_channels(ev, (8, 6, 2), downsample=(4, 3))
    assert size == (2, 2, 2)
    np.testing.assert_array_equal(ch, [(1 * 2 + 1) * 2 + 1, (1 * 2 + 1) * 2 + 1, 0, 1 * 2 + 1])
    # DVS Gesture sized sensor: 128 x 128 x 2 -> 32 x 32 x 2 with factor 4
    big = _events([(127, 127, True, 1), (0, 0, False, 2)])
    _, ch, size = events_to_channels(big, (128, 128, 2), downsample=4)
    assert size == (32, 32, 2)
    np.testing.assert_array_equal(ch, [32 * 32 * 2 - 1, 0])
    # odd sizes round up: 7 // 2 -> 4 columns
    _, _, size = events_to_channels(big[1:], (7, 5, 2), downsample=2)
    assert size == (4, 3, 2)


def test_from_tonic_dvs_like_dataset():
    s0 = _events([(7, 5, True, 30), (6, 4, True, 10), (6, 4, False, 10)])
    s1 = _events([(1, 1, False, 1_500_000)])
    ds = from_tonic(ToyDVS([(s0, 1), (s1, np.int64(0))]), downsample=2, name="toy")
    assert ds.n_channels == 4 * 3 * 2 and ds.n_classes == 2
    assert ds.class_names == ("left", "right") and ds.name == "toy"
    t, u, label = ds.sample(0)
    np.testing.assert_array_equal(t, [10e-6, 10e-6, 30e-6])  # sorted, ties keep order
    np.testing.assert_array_equal(u, [(1 * 3 + 2) * 4 + 3, (0 * 3 + 2) * 4 + 3,
                                      (1 * 3 + 2) * 4 + 3])
    assert label == 1
    t, u, label = ds.sample(1)
    np.testing.assert_array_equal(t, [1.5])
    np.testing.assert_array_equal(u, [0])
    assert label == 0
    assert np.all(ds.speakers == -1)


def test_audio_style_and_signed_polarity():
    audio = np.array([(5, 2), (1, 1)], dtype=[("t", np.int64), ("x", np.int64)])
    t, ch, size = events_to_channels(audio, (700, 1, 1))
    np.testing.assert_array_equal(ch, [2, 1])
    assert size == (700, 1, 1)
    signed = np.array([(0, 0, -1, 1), (1, 0, 1, 2)],
                      dtype=[("x", int), ("y", int), ("p", int), ("t", int)])
    _, ch, _ = events_to_channels(signed, (2, 1, 2))
    np.testing.assert_array_equal(ch, [0, 1 * 2 + 1])  # -1 -> OFF (0), 1 -> ON (1)


def test_adapter_errors():
    with pytest.raises(DataError, match=r"ToyDVS: sample 0, field 'x': event 0 is 8; expected 0..7"):
        from_tonic(ToyDVS([(_events([(8, 0, True, 1)]), 0)]), name="toy")
    with pytest.raises(DataError, match=r"field 'events': got ndarray"):
        events_to_channels(np.zeros((3, 4)), (8, 6, 2))
    with pytest.raises(DataError, match=r"sample 0, field 'target'"):
        from_tonic(ToyDVS([(_events([(1, 0, True, 1)]), np.array([0, 1]))]))
    with pytest.raises(DataError, match=r"sample 0, field 'times': event 0 is -1e-06"):
        from_tonic(ToyDVS([(_events([(1, 0, True, -1)]), 0)]))
    with pytest.raises(ConfigError, match="downsample factors must be >= 1"):
        events_to_channels(_events([(1, 0, True, 1)]), (8, 6, 2), downsample=0)


def _make_tonic_root(root: Path, n_samples: int = 10):
    folder = root / "SHD"
    folder.mkdir(parents=True)
    data = write_shd_file(folder / "shd_train.h5", n_samples=n_samples, n_classes=20, seed=7)
    # tonic's HSD._check_exists only checks that shd_train.h5.zip exists (check_integrity with
    # md5=None: no hash) and that some .h5 is in <root>/SHD; with both present it never
    # downloads, so a dummy zip is enough and no md5 check needs patching.
    (folder / "shd_train.h5.zip").write_bytes(b"not a real zip")
    return data


def test_tonic_shd_matches_load_h5(tmp_path, monkeypatch):
    import tonic.dataset
    import tonic.datasets

    def fail(self):
        raise AssertionError("tonic tried to download in a test")

    monkeypatch.setattr(tonic.dataset.Dataset, "download", fail)
    clear_cache()
    data = _make_tonic_root(tmp_path)
    via_tonic = from_tonic(tonic.datasets.SHD(save_to=str(tmp_path), train=True))
    direct = load_h5(find_or_download(SHD, "train", tmp_path, download=False))
    assert len(via_tonic) == len(direct) == 10
    assert via_tonic.n_channels == direct.n_channels == 700
    assert via_tonic.n_classes == direct.n_classes == 20
    assert via_tonic.class_names == direct.class_names
    np.testing.assert_array_equal(via_tonic.labels, direct.labels)
    np.testing.assert_array_equal(via_tonic.speakers, direct.speakers)
    np.testing.assert_array_equal(via_tonic.speakers, data["speakers"])
    np.testing.assert_array_equal(via_tonic.offsets, direct.offsets)
    np.testing.assert_array_equal(via_tonic.units, direct.units)
    # tonic stores float64(float16 t) * 1e6 in an integer field, which truncates towards zero:
    # its times are the file's times rounded *down* to whole microseconds. So they are never
    # later than load_h5's exact float64 times and at most 1 us earlier (plus float64 rounding
    # of t * 1e6 / 1e6, ~1e-16 s).
    diff = direct.times - via_tonic.times
    assert np.all(diff >= -1e-12)
    assert np.all(diff < 1e-6 + 1e-12)
    np.testing.assert_array_equal(
        np.round(via_tonic.times * 1e6), np.floor(direct.times * 1e6)
    )
