"""Presets of the synthetic spoken digits (speakers, recording conditions) and the noise kinds."""

from __future__ import annotations

import numpy as np
import pytest

from sgevent.data import noise, presets, synth
from sgevent.errors import ConfigError

FS = 22050.0


def test_hard_preset_spread():
    """At least 40 speakers, each a distinct variant, with the documented spread; >= 20 % of the
    test samples come from held-out speakers."""
    cfg = presets.get_preset("hard")
    spk = cfg.speakers
    assert len(spk) >= 40 and len({s.variant for s in spk}) == len(spk)
    assert len(cfg.held_out) >= 8
    pitch = np.array([s.pitch for s in spk])
    rate = np.array([s.rate_wpm for s in spk])
    warp = np.array([s.vtl_warp for s in spk])
    assert pitch.min() >= 10 and pitch.max() <= 90 and np.ptp(pitch) >= 50
    assert rate.min() >= 95 and rate.max() <= 170 and np.ptp(rate) >= 40
    assert warp.min() >= 0.86 and warp.max() <= 1.16 and np.ptp(warp) >= 0.2
    assert len({s.english for s in spk}) >= 5
    assert cfg.snr_db == (10.0, 40.0) and set(cfg.noise_kinds) == set(noise.NOISE_KINDS)
    labels, speakers = synth._plan(0, "test", 500, cfg)
    held = np.isin(speakers, cfg.held_out)
    assert held.mean() >= 0.2
    assert np.bincount(labels, minlength=20).min() == 25
    _, train_speakers = synth._plan(0, "train", 2000, cfg)
    assert not np.isin(train_speakers, cfg.held_out).any()
    assert presets.DEFAULT_PRESET == "hard"


def test_hard_speakers_are_fixed():
    """The table is drawn once from a fixed seed: drawing again gives the same speakers."""
    assert presets._draw_speakers() == presets.HARD_SPEAKERS


def test_every_variant_and_accent_exists():
    pytest.importorskip("espeakng_loader")
    synth.check_voice_variants(presets.HARD_SPEAKERS)
    for accent in presets._ACCENTS:  # an unknown language fails in eSpeak
        audio = synth.synthesize_word("one", f"{accent}+m1", rate_wpm=130, pitch=50, pitch_range=50, espeak_seed=1)
        assert audio.size > 1000, accent


def test_easy_preset_is_the_old_stand_in():
    cfg = presets.get_preset("easy")
    assert cfg.speakers == synth.SPEAKERS and len(cfg.speakers) == 24
    assert cfg.noise_kinds == ("white",) and cfg.snr_db == (20.0, 40.0)
    with pytest.raises(ConfigError, match="unknown preset 'medium'"):
        presets.get_preset("medium")


@pytest.mark.parametrize("kind", noise.NOISE_KINDS)
def test_noise_is_zero_mean_unit_rms_and_seeded(kind):
    x = noise.make_noise(kind, 22050, FS, np.random.default_rng(3))
    y = noise.make_noise(kind, 22050, FS, np.random.default_rng(3))
    assert np.array_equal(x, y) and x.shape == (22050,)
    # white is a unit-variance Gaussian (sampling error of the RMS ~ 1/sqrt(2n) = 0.5 %)
    assert abs(np.sqrt(np.mean(x**2)) - 1.0) < 0.02 and abs(x.mean()) < 0.03


def _slope_db_per_octave(x: np.ndarray, f_lo: float, f_hi: float) -> float:
    """Least-squares slope of the power spectrum, in dB per octave, between f_lo and f_hi."""
    f = np.fft.rfftfreq(x.size, 1.0 / FS)
    p = np.abs(np.fft.rfft(x)) ** 2
    band = (f >= f_lo) & (f <= f_hi)
    return float(np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0])


@pytest.mark.parametrize("kind, slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noise_slopes(kind, slope):
    """PSD ~ f^0, f^-1, f^-2: 0, -3 and -6 dB per octave (fit over 100 Hz-8 kHz of 4 s)."""
    x = noise.make_noise(kind, int(4 * FS), FS, np.random.default_rng(0))
    assert abs(_slope_db_per_octave(x, 100.0, 8000.0) - slope) < 0.3


def test_hum_is_mains_and_babble_fluctuates():
    x = noise.make_noise("hum", int(FS), FS, np.random.default_rng(1))
    f = np.fft.rfftfreq(x.size, 1.0 / FS)
    assert f[np.argmax(np.abs(np.fft.rfft(x)))] in (50.0, 60.0)
    b = noise.make_noise("babble", int(2 * FS), FS, np.random.default_rng(2))
    frames = np.sqrt(np.mean(b[: int(2 * FS) // 441 * 441].reshape(-1, 441) ** 2, axis=1))  # 20 ms frames
    assert frames.std() / frames.mean() > 0.2  # syllabic modulation, unlike stationary noise
    assert _slope_db_per_octave(b, 1000.0, 8000.0) < -9.0  # speech-shaped: -12 dB/octave above 500 Hz


@pytest.mark.parametrize("factor", [0.87, 1.0, 1.15])
def test_vtl_warp_scales_frequencies(factor):
    t = np.arange(int(FS)) / FS
    y = noise.vtl_warp(np.sin(2 * np.pi * 1000.0 * t), factor)
    assert abs(y.size - round(t.size / factor)) <= 1
    f = np.fft.rfftfreq(y.size, 1.0 / FS)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(y)))] - 1000.0 * factor) <= 2.0
    with pytest.raises(ConfigError, match="factor"):
        noise.vtl_warp(t, 3.0)


def test_noise_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="kind"):
        noise.make_noise("purple", 100, FS, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="n >= 2"):
        noise.make_noise("white", 1, FS, np.random.default_rng(0))


def test_hard_utterance_renders():
    pytest.importorskip("espeakng_loader")
    t, u, d = synth.render_utterance(0, "test", 3, 7, presets.get_preset("hard").held_out[0], "hard")
    assert t.size > 100 and np.all(np.diff(t) >= 0) and 0.3 < d <= 1.4 and u.max() < 700
