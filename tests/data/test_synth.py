"""Synthetic spoken digits: eSpeak isolation, cochlea maths, SHD layout, determinism, readers."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

pytest.importorskip("espeakng_loader")
h5py = pytest.importorskip("h5py")

from sgevent.data import cochlea, synth  # noqa: E402
from sgevent.errors import ConfigError, DataError  # noqa: E402

N_TRAIN, N_TEST = 12, 6


def _md5(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The same small dataset made with 1 and 2 workers, and once with another seed."""
    base = tmp_path_factory.mktemp("synth")
    out = {}
    for key, seed, workers in (("w1", 0, 1), ("w2", 0, 2), ("seed1", 1, 1)):
        d = base / key / "SHD"
        stats = synth.generate_synthetic_digits(
            d, n_train=N_TRAIN, n_test=N_TEST, seed=seed, n_workers=workers, progress=False
        )
        out[key] = (d, stats)
    return out


# ----------------------------------------------------------------------------- eSpeak
def test_espeak_is_history_independent():
    kw = dict(rate_wpm=120, pitch=45, pitch_range=55, espeak_seed=7)
    first = synth.synthesize_word("four", "en+f2", **kw)
    synth.synthesize_word("acht", "de+m1", rate_wpm=300, pitch=90, pitch_range=10, espeak_seed=3)
    synth.synthesize_word("seven", "en+klatt", rate_wpm=250, pitch=80, pitch_range=90, espeak_seed=5)
    again = synth.synthesize_word("four", "en+f2", **kw)
    assert first.dtype == np.int16 and first.size > 0.2 * synth.FS_ESPEAK
    np.testing.assert_array_equal(first, again)


def test_espeak_parameters_change_the_sound():
    kw = dict(rate_wpm=120, pitch=45, pitch_range=55, espeak_seed=7)
    base = synth.synthesize_word("zwei", "de+m3", **kw)
    slow = synth.synthesize_word("zwei", "de+m3", **{**kw, "rate_wpm": 90})
    high = synth.synthesize_word("zwei", "de+m3", **{**kw, "pitch": 80})
    assert slow.size > base.size
    assert not np.array_equal(base[: high.size], high[: base.size])


def test_espeak_errors_are_for_people():
    with pytest.raises(DataError, match="voice"):
        synth.synthesize_word("one", "en+nosuchvariant", rate_wpm=120, pitch=50, pitch_range=50, espeak_seed=1)
    with pytest.raises(DataError, match="voice"):
        synth.synthesize_word("one", "xx-nolang+m1", rate_wpm=120, pitch=50, pitch_range=50, espeak_seed=1)
    with pytest.raises(ConfigError, match="rate"):
        synth.synthesize_word("one", "en", rate_wpm=20, pitch=50, pitch_range=50, espeak_seed=1)


def test_speaker_variants_exist_and_some_are_held_out():
    synth.check_voice_variants()
    held = [s for s in synth.SPEAKERS if s.test_only]
    seen = {s.variant for s in synth.SPEAKERS if not s.test_only}
    assert len(synth.SPEAKERS) == 24 and len(held) >= 2
    assert not {s.variant for s in held} & seen


# ----------------------------------------------------------------------------- cochlea
def test_erb_space_is_uniform_on_the_erb_scale():
    cf = cochlea.erb_space(50.0, 8000.0, 700)
    e = 21.4 * np.log10(1 + 0.00437 * cf)
    assert cf[0] == 50.0 and cf[-1] == 8000.0 and np.all(np.diff(cf) > 0)
    np.testing.assert_allclose(np.diff(e), np.diff(e)[0], rtol=1e-9)


@pytest.mark.parametrize("cf_hz", [1000.0, 4000.0])
def test_cascade_matches_scipy_gammatone(cf_hz):
    # At mid/high frequencies scipy's expanded 8th-order filter is well conditioned, so both
    # forms must agree to rounding; the envelope then equals smoothed max(y, 0).
    fs = synth.FS_ESPEAK
    x = np.random.default_rng(0).standard_normal(4000)
    bank = cochlea.GammatoneBank(fs, np.array([cf_hz]), *cochlea.gammatone_coefficients([cf_hz], fs))
    b, a = scipy.signal.gammatone(cf_hz, "iir", fs=fs)
    y = np.maximum(scipy.signal.lfilter(b, a, x), 0.0)
    alpha = 1 - np.exp(-1 / (fs * 1e-3))
    e1 = scipy.signal.lfilter([alpha], [1, alpha - 1], y)
    e2 = scipy.signal.lfilter([alpha], [1, alpha - 1], e1)
    env = cochlea.filterbank_envelope(x, bank, tau_smooth=1e-3, decim=4)
    np.testing.assert_allclose(env[0], e2[3::4][: env.shape[1]], rtol=1e-5, atol=1e-7)  # float32 out


def test_low_channel_is_stable_and_unit_gain():
    # A 50 Hz tone through the 50 Hz channel: rectified sine mean is amplitude / pi.
    fs = synth.FS_ESPEAK
    bank = cochlea.make_filterbank(fs, 50.0, 8000.0, 700)
    t = np.arange(int(1.5 * fs)) / fs
    env = cochlea.filterbank_envelope(np.sin(2 * np.pi * 50.0 * t), bank, tau_smooth=20e-3, decim=11)
    tail = env[0, -500:]
    assert np.all(np.isfinite(env))
    assert abs(tail.mean() - 1 / np.pi) < 0.03


def test_lif_rate_matches_closed_form():
    # Constant drive I > 1, no noise: rate = 1 / (t_ref + tau ln(I / (I - 1))), up to one step.
    dt, tau, t_ref, drive = 1e-4, 5e-3, 2e-3, 1.5
    times, units = cochlea.lif_spikes(
        np.full((3, 20000), drive), dt, np.random.default_rng(0), tau_m=tau, t_ref=t_ref, sigma=0.0
    )
    isi = np.diff(times[units == 1])
    expected = t_ref + tau * np.log(drive / (drive - 1))
    assert np.all(np.diff(times) >= 0) and units.dtype == np.uint16
    np.testing.assert_allclose(isi.mean(), expected, atol=dt)
    sub = cochlea.lif_spikes(np.full((2, 5000), 0.8), dt, np.random.default_rng(0), sigma=0.0)
    assert sub[0].size == 0


def _naive_lif(drive, noise, dt, tau, t_ref, sigma):
    """Slow twin of cochlea._lif_kernel: one spike list per channel, plain Python floats."""
    decay = np.exp(-dt / tau)
    n_ref = int(round(t_ref / dt))
    out = []
    for c in range(drive.shape[0]):
        v, ref = 0.0, 0
        for j in range(drive.shape[1]):
            if ref:
                ref -= 1
                continue
            v_new = drive[c, j] + (v - drive[c, j]) * decay + sigma * np.sqrt(1 - decay**2) * noise[c, j]
            if v_new >= 1.0:
                out.append(((j + max(0.0, (1.0 - v) / (v_new - v))) * dt, c))
                v, ref = 0.0, n_ref
            else:
                v = v_new
    out.sort()
    return np.array([t for t, _ in out]), np.array([c for _, c in out])


def test_lif_kernel_matches_naive_twin():
    rng = np.random.default_rng(3)
    drive = (1.6 * rng.random((5, 400))).astype(np.float32)
    noise = np.random.default_rng(9).standard_normal(drive.shape, dtype=np.float32)
    times, units = cochlea.lif_spikes(drive, 5e-4, np.random.default_rng(9), tau_m=5e-3, t_ref=2e-3, sigma=0.1)
    t_ref, u_ref = _naive_lif(drive.astype(np.float64), noise.astype(np.float64), 5e-4, 5e-3, 2e-3, 0.1)
    np.testing.assert_array_equal(units, u_ref)
    np.testing.assert_allclose(times, t_ref, rtol=1e-12, atol=1e-15)  # same float64 operations


def test_cochlea_rejects_bad_input():
    bank = cochlea.make_filterbank(16000, 50.0, 7000.0, 4)
    with pytest.raises(ConfigError):
        cochlea.make_filterbank(16000, 50.0, 9000.0, 4)
    with pytest.raises(Exception, match="1-D"):
        cochlea.filterbank_envelope(np.zeros((2, 10)), bank)
    with pytest.raises(ConfigError):
        cochlea.lif_spikes(np.zeros((2, 10)), 1e-3, np.random.default_rng(0), tau_m=-1.0)


# ----------------------------------------------------------------------------- the dataset
def test_deterministic_regardless_of_workers(generated):
    d1, s1 = generated["w1"]
    d2, s2 = generated["w2"]
    for name in ("shd_train.h5", "shd_test.h5", "shd_train.h5.zip", "shd_test.h5.zip"):
        assert _md5(d1 / name) == _md5(d2 / name), name
    assert s1["train"] == s2["train"] and s1["test"] == s2["test"]


def test_other_seed_gives_other_data(generated):
    d1, _ = generated["w1"]
    d3, _ = generated["seed1"]
    with h5py.File(d1 / "shd_train.h5", "r") as a, h5py.File(d3 / "shd_train.h5", "r") as b:
        ta, tb = a["spikes/times"][()], b["spikes/times"][()]
        assert any(x.size != y.size or not np.array_equal(x, y) for x, y in zip(ta, tb))


def test_exact_shd_layout(generated):
    d, _ = generated["w1"]
    for name, n in (("shd_train.h5", N_TRAIN), ("shd_test.h5", N_TEST)):
        with h5py.File(d / name, "r") as f:
            assert set(f.keys()) == {"spikes", "labels", "extra"}
            assert set(f["spikes"].keys()) == {"times", "units"}
            assert {"speaker", "keys"} <= set(f["extra"].keys())
            assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
            assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
            assert f["labels"].dtype == np.uint16 and f["labels"].shape == (n,)
            assert f["extra/speaker"].dtype == np.uint16 and f["extra/speaker"].shape == (n,)
            keys = list(f["extra/keys"][()])
            assert keys[0] == b"english-zero" and keys[15] == b"german-fuenf" and keys[19] == b"german-neun"
            assert len(keys) == 20
            for t, u in zip(f["spikes/times"][()], f["spikes/units"][()]):
                assert t.dtype == np.float16 and u.dtype == np.uint16 and t.size == u.size
                assert np.all(np.diff(t.astype(np.float64)) >= 0)
                assert t.min() >= 0 and t.max() <= synth._MAX_DURATION_S and u.max() <= 699
        with zipfile.ZipFile(d / (name + ".zip")) as z:
            assert z.namelist() == [name]
            assert z.read(name) == (d / name).read_bytes()


def test_spike_counts_classes_and_held_out_speakers(generated):
    d, stats = generated["w1"]
    for split in ("train", "test"):
        s = stats[split]
        # SHD-like: several thousand spikes per ~1 s sample (bounds far from the ~7,500 mean).
        assert 1000 < s["spikes_mean"] < 20000 and s["spikes_min"] > 100
        assert 0.3 < s["duration_mean_s"] <= synth._MAX_DURATION_S
    assert stats["train"]["classes"] == list(range(N_TRAIN))  # balanced: 12 distinct of 20
    assert len(stats["test"]["classes"]) == N_TEST
    train_spk, test_spk = set(stats["train"]["speakers"]), set(stats["test"]["speakers"])
    only_test = test_spk - train_spk
    assert only_test and only_test <= set(stats["held_out_speakers"])
    assert not train_spk & set(stats["held_out_speakers"])
    with h5py.File(d / "shd_test.h5", "r") as f:
        assert set(f["extra/speaker"][()].tolist()) == test_spk


def test_files_load_through_tonic(generated):
    tonic = pytest.importorskip("tonic")
    d, _ = generated["w1"]
    for train, name in ((True, "shd_train.h5"), (False, "shd_test.h5")):
        ds = tonic.datasets.SHD(save_to=str(d.parent), train=train)
        with h5py.File(d / name, "r") as f:
            times, labels = f["spikes/times"][()], f["labels"][()]
        assert len(ds) == labels.size
        for i in (0, labels.size - 1):
            events, target = ds[i]
            assert events.size == times[i].size and target == labels[i]
            np.testing.assert_allclose(events["t"], times[i].astype(np.float64) * 1e6, atol=1)


def test_files_load_through_sgevent_reader(generated):
    shd = pytest.importorskip("sgevent.data.shd")
    d, stats = generated["w1"]
    ds = shd.load_h5(d / "shd_train.h5", cache=False)
    assert len(ds) == N_TRAIN and ds.n_channels == 700 and ds.n_classes == 20
    assert ds.class_names[0] == "english-zero"
    with h5py.File(d / "shd_train.h5", "r") as f:
        counts = np.array([t.size for t in f["spikes/times"][()]])
        np.testing.assert_array_equal(ds.labels, f["labels"][()])
        np.testing.assert_array_equal(ds.speakers, f["extra/speaker"][()])
    np.testing.assert_array_equal(np.diff(ds.offsets), counts)
    assert np.isclose(counts.mean(), stats["train"]["spikes_mean"])


def test_generate_rejects_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="n_train"):
        synth.generate_synthetic_digits(tmp_path, n_train=0, n_test=1, progress=False)
    with pytest.raises(ConfigError, match="seed"):
        synth.generate_synthetic_digits(tmp_path, n_train=1, n_test=1, seed=-1, progress=False)


def test_cli_arguments(tmp_path):
    import argparse

    from sgevent import cli

    p = argparse.ArgumentParser()
    cli.add_synth_arguments(p)
    args = p.parse_args(["--out", str(tmp_path), "--n-train", "3", "--n-test", "2", "--seed", "4", "--workers", "1"])
    assert (args.out, args.n_train, args.n_test, args.seed, args.workers) == (str(tmp_path), 3, 2, 4, 1)
    assert cli.run_synth(args) == 0
    with h5py.File(tmp_path / "shd_test.h5", "r") as f:
        assert f["labels"].shape == (2,) and f.attrs["seed"] == 4


def test_private_library_copy_when_wheel_library_is_held():
    # If other code holds the wheel's libespeak-ng open, dlclose cannot reset eSpeak, so synth
    # switches to a private copy of the .so; the audio must be the same and history-independent.
    import subprocess
    import sys

    code = (
        "import ctypes, espeakng_loader, numpy as np\n"
        "held = ctypes.CDLL(espeakng_loader.get_library_path())\n"
        "from sgevent.data import synth\n"
        "kw = dict(rate_wpm=120, pitch=45, pitch_range=55, espeak_seed=7)\n"
        "a = synth.synthesize_word('four', 'en+f2', **kw)\n"
        "synth.synthesize_word('acht', 'de+m1', **kw)\n"
        "b = synth.synthesize_word('four', 'en+f2', **kw)\n"
        "assert synth._lib_state['lib'] != espeakng_loader.get_library_path()\n"
        "assert np.array_equal(a, b)\n"
        "print(a.astype(np.int64).sum(), a.size)\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert out.returncode == 0, out.stderr
    a = synth.synthesize_word("four", "en+f2", rate_wpm=120, pitch=45, pitch_range=55, espeak_seed=7)
    assert out.stdout.split() == [str(a.astype(np.int64).sum()), str(a.size)]
