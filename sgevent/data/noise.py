"""Background noises and recording effects of the synthetic spoken digits (:mod:`sgevent.data.synth`).

Each noise is a pure function of a length, a sample rate and a ``numpy.random.Generator``; it
returns a zero-mean signal of unit RMS, which the recorder scales to the sample's SNR. The kinds:

- ``white``: Gaussian of unit variance (not renormalised), flat spectrum.
- ``pink``: power spectral density :math:`\\propto 1/f` (amplitude :math:`f^{-1/2}`), shaped in the
  frequency domain, with the shaping held flat below 20 Hz so that no DC drift dominates.
- ``brown``: PSD :math:`\\propto 1/f^2` (amplitude :math:`f^{-1}`), likewise floored at 20 Hz:
  rumble, traffic, wind.
- ``babble``: speech-shaped noise (the long-term spectrum of speech, :math:`\\approx` flat to
  500 Hz and falling 12 dB per octave above, :func:`speech_shaped`) from 4-8 "talkers", each
  amplitude-modulated at a syllabic rate of 2-6 Hz and summed, so that it has the temporal
  fluctuations of a crowd without being intelligible.
- ``hum``: mains hum, a 50 or 60 Hz fundamental with its harmonics up to 1 kHz at amplitude
  :math:`1/k`, random phases, plus a little white noise (-30 dB) so that it is not a pure tone.

:func:`vtl_warp` changes a voice's vocal-tract length: resampling the waveform by a factor
``a`` scales every frequency (formants and pitch) by ``a`` and durations by ``1/a``. Human
vocal-tract lengths span about 13-18 cm, i.e. formant scale factors of about 0.85-1.15.
"""

from __future__ import annotations

import numpy as np

from sgevent.errors import ConfigError

__all__ = ["NOISE_KINDS", "make_noise", "speech_shaped", "vtl_warp"]

NOISE_KINDS: tuple[str, ...] = ("white", "pink", "brown", "babble", "hum")
"""The background-noise kinds :func:`make_noise` knows."""

_F_FLOOR = 20.0  # Hz: the 1/f shapes are held flat below this


def _unit_rms(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 0 else x


def _shaped(n: int, fs: float, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``max(f, 20 Hz) ** -exponent``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= np.maximum(f, _F_FLOOR) ** -exponent
    return np.fft.irfft(spec, n)


def speech_shaped(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with the long-term average spectrum of speech (unit RMS).

    Amplitude response :math:`1 / (1 + (f / 500\\,\\mathrm{Hz})^2)`: flat below 500 Hz,
    -12 dB per octave above, a common approximation of the long-term spectrum of speech.
    """
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec *= 1.0 / (1.0 + (f / 500.0) ** 2)
    return _unit_rms(np.fft.irfft(spec, n))


def _babble(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / fs
    out = np.zeros(n)
    for _ in range(int(rng.integers(4, 9))):
        rate = rng.uniform(2.0, 6.0)
        env = np.maximum(0.0, np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))) ** 2
        out += env * speech_shaped(n, fs, rng)
    return out


def _hum(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / fs
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    out = np.zeros(n)
    for k in range(1, int(1000.0 // f0) + 1):
        out += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k
    out = _unit_rms(out)
    return out + 10.0 ** (-30.0 / 20.0) * rng.standard_normal(n)


def make_noise(kind: str, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """A background noise of ``n`` samples at ``fs`` Hz, zero mean and unit RMS.

    Parameters
    ----------
    kind : str
        One of :data:`NOISE_KINDS`.
    n : int
        Number of samples, >= 2.
    fs : float
        Sample rate in Hz, > 0.
    rng : numpy.random.Generator
        Source of every random number.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    if kind not in NOISE_KINDS:
        raise ConfigError(f"make_noise: kind must be one of {list(NOISE_KINDS)}, got {kind!r}")
    if int(n) != n or n < 2 or not (fs > 0):
        raise ConfigError(f"make_noise: need an integer n >= 2 and fs > 0, got n={n!r}, fs={fs!r}")
    n = int(n)
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        x = _shaped(n, fs, rng, 0.5)
    elif kind == "brown":
        x = _shaped(n, fs, rng, 1.0)
    elif kind == "babble":
        x = _babble(n, fs, rng)
    else:
        x = _hum(n, fs, rng)
    return _unit_rms(x)


def vtl_warp(x: np.ndarray, factor: float) -> np.ndarray:
    """Scale every frequency of ``x`` by ``factor`` (a vocal-tract-length change).

    Parameters
    ----------
    x : ndarray of float64, shape (n,)
        Waveform.
    factor : float
        Frequency scale, 0.5-2; > 1 is a shorter vocal tract (higher formants).

    Returns
    -------
    ndarray of float64, shape (round(n / factor),)
        ``y(t) = x(factor * t)`` by linear interpolation, so durations scale by ``1/factor``.
        For ``factor > 1`` the input is first low-passed (FFT, at ``fs / (2 factor)``) so that no
        energy folds back.
    """
    if not (0.5 <= factor <= 2.0):
        raise ConfigError(f"vtl_warp: factor must be within 0.5-2, got {factor!r}")
    if factor == 1.0 or x.size < 2:
        return np.array(x, dtype=np.float64)
    if factor > 1.0:
        spec = np.fft.rfft(x)
        spec[int(spec.size / factor) :] = 0.0
        x = np.fft.irfft(spec, x.size)
    n_out = max(2, int(round(x.size / factor)))
    return np.interp(np.arange(n_out) * factor, np.arange(x.size), x)
