"""Synthetic DVS gestures, the DVS pixel model, the spatial input shape and the DVS Gesture adapter."""

from __future__ import annotations

import numpy as np
import pytest

from sgevent.data import load_h5
from sgevent.data.dataset import SpikeDataset
from sgevent.data.dvs_sensor import DVSPixels, SensorParams, dvs_from_frames, make_sensor, noise_events
from sgevent.data.gestures import CLASS_KEYS, HELD_OUT, N_SUBJECTS, generate_gestures, plan_split
from sgevent.data.shd_writer import write_shd_h5
from sgevent.data.tonic_adapter import from_dvs_gesture, from_tonic
from sgevent.errors import ConfigError, DataError

SIZE = 16
N_TRAIN, N_TEST = 11, 11


@pytest.fixture(scope="module")
def gesture_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gestures")
    stats = generate_gestures(out, n_train=N_TRAIN, n_test=N_TEST, seed=3, size=SIZE)
    return out, stats


def _ideal_sensor(h, w, c=0.2, t_ref=1e-3, c_off=None):
    """No mismatch, no noise sources."""
    n = h * w
    empty = np.zeros(0, dtype=np.int64)
    c_off = c if c_off is None else c_off
    return SensorParams(h, w, np.full(n, c), np.full(n, c_off), t_ref, 0.0, empty, np.zeros(0), empty)


# ---------------------------------------------------------------------- file format
def test_round_trip_shape_units_and_metadata(gesture_dir):
    out, stats = gesture_dir
    assert stats["input_shape"] == (2, SIZE, SIZE)
    train = load_h5(out / "gestures_train.h5", cache=False)
    test = load_h5(out / "gestures_test.h5", cache=False)
    for ds, n in ((train, N_TRAIN), (test, N_TEST)):
        assert ds.input_shape == (2, SIZE, SIZE)
        assert ds.n_channels == 2 * SIZE * SIZE and len(ds) == n
        assert ds.units.min() >= 0 and ds.units.max() < 2 * SIZE * SIZE
        assert ds.class_names == CLASS_KEYS and ds.n_classes == 11
        assert (ds.speakers >= 0).all() and (ds.speakers < N_SUBJECTS).all()
        assert ds.times.min() >= 0 and ds.durations().max() <= 1.5 + 1e-3
        # both polarities occur, and every sample has scene events (far more than the noise alone)
        assert 0.2 < np.mean(ds.units >= SIZE * SIZE) < 0.8
        assert ds.counts().min() > 200
    assert sorted(train.labels.tolist()) == list(range(11))  # balanced: one per class
    assert train.subset([0, 2]).input_shape == (2, SIZE, SIZE)
    # the explicit number of channels must agree with the file's shape
    assert load_h5(out / "gestures_train.h5", n_channels=2 * SIZE * SIZE, cache=False).input_shape == (2, SIZE, SIZE)
    with pytest.raises(DataError, match=r"gestures_train\.h5: field 'input_shape'.*n_channels = 700"):
        load_h5(out / "gestures_train.h5", n_channels=700, cache=False)


def test_cli_is_deterministic_for_a_seed(gesture_dir, tmp_path):
    from sgevent.cli import main

    out, _ = gesture_dir
    assert main(["data", "synth-gestures", "--out", str(tmp_path), "--n-train", str(N_TRAIN), "--n-test",
                 str(N_TEST), "--seed", "3", "--size", str(SIZE)]) == 0
    for split in ("train", "test"):
        assert (tmp_path / f"gestures_{split}.h5").read_bytes() == (out / f"gestures_{split}.h5").read_bytes()


def test_shd_files_have_no_input_shape(tmp_path):
    path = write_shd_h5(tmp_path / "x_train.h5", [np.array([0.1, 0.2])], [np.array([3, 699])], [0], [0], ["a"])
    assert load_h5(path, cache=False).input_shape is None
    assert load_h5(path, cache=False).n_channels == 700


def test_bad_input_shape_raises_naming_file_and_field(tmp_path):
    with pytest.raises(DataError, match=r"g_train\.h5: field 'input_shape'.*18 channels.*n_channels = 20"):
        write_shd_h5(tmp_path / "g_train.h5", [np.array([0.1])], [np.array([3])], [0], [0], ["a"], n_channels=20,
                     input_shape=(2, 3, 3))
    with pytest.raises(DataError, match=r"toy: field 'input_shape'"):
        SpikeDataset.from_lists([np.array([0.1])], [np.array([1])], [0], n_channels=10, n_classes=1,
                                source="toy", input_shape=(2, 3, 3))
    path = write_shd_h5(tmp_path / "h_train.h5", [np.array([0.1])], [np.array([17])], [0], [0], ["a"],
                        n_channels=18, input_shape=(2, 3, 3))
    assert load_h5(path, cache=False).input_shape == (2, 3, 3)
    # a unit outside the shape is refused by the reader, naming the sample and the field
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["input_shape"] = np.array([2, 3, 2])
    with pytest.raises(DataError, match=r"h_train\.h5: sample 0, field 'spikes/units': event 0 is 17"):
        load_h5(path, cache=False)
    with h5py.File(path, "a") as f:
        f.attrs["input_shape"] = np.array([2.0, 3.0, 3.0])
    with pytest.raises(DataError, match=r"h_train\.h5: field 'input_shape'"):
        load_h5(path, cache=False)


def test_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="n_train"):
        generate_gestures(tmp_path, n_train=0)
    with pytest.raises(ConfigError, match="size"):
        generate_gestures(tmp_path, size=4)


# ---------------------------------------------------------------------- subjects and splits
def test_held_out_subjects_only_in_test(gesture_dir):
    labels, subjects = plan_split(0, "train", 1100)
    assert not np.isin(subjects, HELD_OUT).any()
    assert np.bincount(labels).tolist() == [100] * 11
    _, test_subjects = plan_split(0, "test", 440)
    assert np.mean(np.isin(test_subjects, HELD_OUT)) >= 0.2
    assert len(HELD_OUT) >= 3 and N_SUBJECTS - len(HELD_OUT) >= 12
    out, _ = gesture_dir
    assert not np.isin(load_h5(out / "gestures_train.h5").speakers, HELD_OUT).any()


# ---------------------------------------------------------------------- the pixel model
def _moving_disc(n_frames, dt, speed, h=12, w=24, r=3.0, log_contrast=1.1):
    y, x = np.mgrid[0:h, 0:w]
    frames = np.empty((n_frames, h, w))
    centres = 4.0 + speed * dt * np.arange(n_frames)
    for k, cx in enumerate(centres):
        cov = np.clip(0.5 - (np.hypot(x - cx, y - (h - 1) / 2) - r), 0, 1)
        frames[k] = np.log1p(np.expm1(log_contrast) * cov)
    return frames, centres


def test_bright_disc_gives_on_events_at_its_leading_edge():
    dt, speed = 1e-3, 20.0  # px/s, to the right
    frames, _ = _moving_disc(600, dt, speed)
    sensor = _ideal_sensor(12, 24, c=0.2, c_off=0.3)
    t, ch = dvs_from_frames(sensor, frames, dt)
    n = 12 * 24
    pol, x = ch // n, (ch % n) % 24
    centre_at_event = 4.0 + speed * t
    on, off = pol == 1, pol == 0
    assert on.sum() > 50 and off.sum() > 50
    # ON where the bright disc arrives (ahead of its centre), OFF where it leaves (behind)
    assert np.mean(x[on] > centre_at_event[on]) > 0.95
    assert np.mean(x[off] < centre_at_event[off]) > 0.95
    # a pixel the disc passes completely (log contrast 1.1): floor(1.1 / 0.2) = 5 ON events, the
    # reference then at 1.0, and floor(1.0 / 0.3) = 3 OFF events on the way back to 0
    row = (12 - 1) // 2
    pixel = row * 24 + 10
    assert np.sum(ch == n + pixel) == 5 and np.sum(ch == pixel) == 3


def test_static_scene_is_silent_and_refractory_period_holds():
    sensor = _ideal_sensor(2, 2, c=0.2, t_ref=5e-3)
    still = np.zeros((50, 2, 2))
    assert dvs_from_frames(sensor, still, 1e-3)[0].size == 0
    # a fast ramp of 2.0 log units within 10 ms: a pixel fires at most once per 5 ms
    ramp = np.linspace(0, 2.0, 11)[:, None, None] * np.ones((1, 2, 2))
    ramp = np.concatenate([ramp, np.full((40, 2, 2), 2.0)])
    t, ch = dvs_from_frames(sensor, ramp, 1e-3)
    for c in np.unique(ch):
        assert np.all(np.diff(t[ch == c]) >= 5e-3 - 1e-12)
    assert (ch >= 4).all()  # brightening: ON only
    pixels = DVSPixels(sensor, np.zeros((1, 4)))
    assert pixels.step(np.full((1, 4), 0.1), 0.0, 1e-3)[0].size == 0  # below threshold


def test_sensor_noise_rates():
    rng = np.random.default_rng(0)
    sensor = make_sensor(rng, 32, 32, bg_rate_hz=0.5, n_hot=3)
    t, ch = noise_events(np.random.default_rng(1), sensor, 10.0)
    pix = ch % 1024
    hot = np.isin(pix, sensor.hot_idx)
    assert abs((~hot).sum() / (1024 * 10.0) - 0.5) < 0.05
    for j, p in enumerate(sensor.hot_idx):
        assert abs(np.sum(pix == p) / 10.0 - sensor.hot_rate_hz[j]) < 5 * np.sqrt(sensor.hot_rate_hz[j] / 10.0) + 1
    assert t.min() >= 0 and t.max() < 10.0


# ---------------------------------------------------------------------- DVS Gesture through tonic
class FakeGesture:
    """tonic.datasets.DVSGesture's protocol and class attributes, without the download."""

    def __init__(self, samples, users):
        import tonic.datasets as tds

        self.sensor_size = tds.DVSGesture.sensor_size
        self.classes = tds.DVSGesture.classes
        self.dtype = tds.DVSGesture.dtype
        self.samples = [(np.array(rows, dtype=self.dtype), target) for rows, target in samples]
        self.users = users

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def test_tonic_dvs_gesture_constants():
    import tonic.datasets as tds

    assert tds.DVSGesture.sensor_size == (128, 128, 2)
    assert tds.DVSGesture.ordering == ("x", "y", "p", "t")
    assert tds.DVSGesture.dtype == np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")])
    assert len(tds.DVSGesture.classes) == 11


def test_dvs_gesture_adapter_on_a_fake_tonic_array():
    t0 = 2_000_000  # recordings need not start at 0: TimeAlignment shifts them
    s0 = [(127, 127, True, t0 + 10), (0, 0, False, t0), (5, 9, True, t0 + 1_499_000), (64, 3, True, t0 + 1_600_000)]
    s1 = [(8, 4, False, 0)]
    ds = from_dvs_gesture(FakeGesture([(s0, 3), (s1, 10)], users=[7, 21]), size=32, t_max_s=1.5)
    assert ds.input_shape == (2, 32, 32) and ds.n_channels == 2048 and ds.n_classes == 11
    assert ds.class_names[3] == "Right arm cw"
    np.testing.assert_array_equal(ds.speakers, [7, 21])
    t, u, label = ds.sample(0)
    assert label == 3
    np.testing.assert_allclose(t, [0.0, 10e-6, 1.499])  # aligned, and the event after 1.5 s cropped
    # (p, y // 4, x // 4) -> p * 1024 + y * 32 + x
    np.testing.assert_array_equal(u, [0, 1024 + 31 * 32 + 31, 1024 + 2 * 32 + 1])
    t, u, label = ds.sample(1)
    np.testing.assert_array_equal(u, [1 * 32 + 2])
    whole = from_dvs_gesture(FakeGesture([(s0, 3)], users=[7]), size=64, t_max_s=None)
    assert whole.input_shape == (2, 64, 64) and whole.counts()[0] == 4
    # plain from_tonic keeps input_shape None unless asked
    assert from_tonic(FakeGesture([(s1, 0)], users=[1]), downsample=4).input_shape is None


def test_dvs_gesture_adapter_errors_name_sample_and_field():
    bad_x = [(0, 0, True, 0), (128, 5, True, 10)]
    with pytest.raises(DataError, match=r"sample 1, field 'x': event 1 is 128; expected 0..127"):
        from_dvs_gesture(FakeGesture([([(1, 1, True, 0)], 0), (bad_x, 1)], users=[1, 2]))
    negative = [(-1, 5, True, 10)]
    with pytest.raises(DataError, match=r"sample 0, field 'x': event 0 is -1"):
        from_dvs_gesture(FakeGesture([(negative, 0)], users=[1]))
    with pytest.raises(ConfigError, match="size"):
        from_dvs_gesture(FakeGesture([(negative, 0)], users=[1]), size=0)


# ---------------------------------------------------------------------- the logistic baseline on spatial inputs
def test_baseline_pools_spatial_inputs_in_blocks(gesture_dir):
    from sgevent.studies.baseline import binned_counts, channel_groups, logistic_baseline

    # 2 x 8 x 8 input; 35 groups -> g = floor(sqrt(17.5)) = 4 blocks of 2 x 2 pixels per polarity
    units = [0 * 64 + 0 * 8 + 0, 0 * 64 + 1 * 8 + 1, 1 * 64 + 7 * 8 + 7, 1 * 64 + 0 * 8 + 6, 0 * 64 + 5 * 8 + 2]
    ds = SpikeDataset.from_lists([[0.1] * 5], [units], [0], n_channels=128, n_classes=1, input_shape=(2, 8, 8))
    group, n_groups = channel_groups(ds, 35)
    assert n_groups == 32 and group.shape == (128,)
    np.testing.assert_array_equal(group[units], [0, 0, 16 + 15, 16 + 3, 2 * 4 + 1])
    counts = binned_counts(ds, t_max=1.0, n_time_bins=1, n_channel_groups=35)
    assert counts.shape == (1, 1, 32) and counts[0, 0, 0] == 2 and counts.sum() == 5
    # flat inputs keep contiguous groups
    flat = SpikeDataset.from_lists([[0.1]], [[127]], [0], n_channels=128, n_classes=1)
    assert channel_groups(flat, 35)[1] == 35 and channel_groups(flat, 35)[0][127] == 34
    out, _ = gesture_dir
    res = logistic_baseline(load_h5(out / "gestures_train.h5"), load_h5(out / "gestures_test.h5"), max_iter=20)
    assert res["feature_shape"] == (10, 32) and res["n_features"] == 320
