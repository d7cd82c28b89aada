"""Auditory front end: gammatone filterbank, envelope, compression and spike generator.

This module turns a mono waveform into spike trains on ``n_ch`` frequency channels, the way the
Spiking Heidelberg Digits (SHD) were made from recordings (cochlea model, hair cells, bushy
cells), in three steps:

1. **Filterbank and envelope** (:func:`filterbank_envelope`). Centre frequencies are equally
   spaced on the ERB-rate scale of Glasberg & Moore (:func:`erb_space`). Each channel is the
   4th-order IIR gammatone of ``scipy.signal.gammatone`` (Slaney's design, unit gain at the
   centre frequency). Its transfer function is ``B(z) / (1 - 2 r cos(w) z^-1 + r^2 z^-2)^4``,
   so it is run as a 5-tap FIR followed by four identical all-pole biquads: the expanded 8th-order
   denominator that ``lfilter`` would use is numerically useless at low centre frequencies (at
   50 Hz and 22.05 kHz its output is off by ~100 %), the cascade is exact to rounding.
   The filter output is half-wave rectified (inner hair cell) and smoothed by two cascaded
   one-pole low-pass filters of time constant ``tau_smooth`` (loss of phase locking), then
   sampled every ``decim`` audio samples.
2. **Compression** (:func:`compress`): ``c = (env / env_ref) ** exponent``; an exponent of 1/3
   is the cube-root loudness law (Stevens), which maps the ~60 dB range of speech onto a range
   of drives a spike generator can express.
3. **Spike generator** (:func:`lif_spikes`): one noisy leaky integrate-and-fire unit per
   channel, driven by the compressed envelope, with an absolute refractory period.

All loops over samples run in the ``@njit(cache=True)`` kernels ``_filterbank_kernel`` and
``_lif_kernel``; the public functions validate their input and allocate outputs. Randomness is
explicit: the spike generator takes a ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
from numba import njit

from sgevent.errors import ConfigError, InputError

__all__ = [
    "erb_space",
    "gammatone_coefficients",
    "GammatoneBank",
    "make_filterbank",
    "filterbank_envelope",
    "compress",
    "lif_spikes",
]


def erb_space(f_lo: float, f_hi: float, n_ch: int) -> np.ndarray:
    """Centre frequencies equally spaced on the ERB-rate scale.

    Parameters
    ----------
    f_lo, f_hi : float
        Lowest and highest centre frequency in Hz, ``0 < f_lo < f_hi``.
    n_ch : int
        Number of channels, >= 2.

    Returns
    -------
    ndarray of float64, shape (n_ch,)
        Centre frequencies in Hz, increasing, first ``f_lo`` and last ``f_hi``.

    Notes
    -----
    ERB-rate (Glasberg & Moore 1990): :math:`E(f) = 21.4 \\log_{10}(1 + 0.00437 f)`; the
    channels sit at equal steps of :math:`E`, i.e. one step is a fixed fraction of the auditory
    filter bandwidth at every frequency.
    """
    if not (0.0 < f_lo < f_hi):
        raise ConfigError(f"erb_space: need 0 < f_lo < f_hi in Hz, got f_lo={f_lo}, f_hi={f_hi}")
    if int(n_ch) != n_ch or n_ch < 2:
        raise ConfigError(f"erb_space: n_ch must be an integer >= 2, got {n_ch}")
    e_lo = 21.4 * np.log10(1.0 + 0.00437 * f_lo)
    e_hi = 21.4 * np.log10(1.0 + 0.00437 * f_hi)
    e = np.linspace(e_lo, e_hi, int(n_ch))
    cf = (10.0 ** (e / 21.4) - 1.0) / 0.00437
    cf[0], cf[-1] = f_lo, f_hi
    return cf


def gammatone_coefficients(cf, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gammatone filters of ``scipy.signal.gammatone`` as FIR + four identical biquads.

    Parameters
    ----------
    cf : array_like, shape (n_ch,)
        Centre frequencies in Hz, each in ``(0, fs / 2)``.
    fs : float
        Sample rate in Hz.

    Returns
    -------
    b : ndarray of float64, shape (n_ch, 5)
        Numerator (FIR) coefficients, exactly scipy's ``b``.
    a1, a2 : ndarray of float64, shape (n_ch,)
        Each channel's biquad denominator ``1 + a1 z^-1 + a2 z^-2``; scipy's ``a`` equals this
        polynomial to the 4th power.

    Raises
    ------
    ConfigError
        If a frequency is out of range or scipy's denominator is not a 4th power of a biquad
        (which would mean scipy changed its design).
    """
    cf = np.asarray(cf, dtype=np.float64)
    if cf.ndim != 1 or cf.size == 0:
        raise ConfigError(f"gammatone_coefficients: cf must be a non-empty 1-D array, got shape {cf.shape}")
    if not (fs > 0):
        raise ConfigError(f"gammatone_coefficients: fs must be > 0 Hz, got {fs}")
    bad = np.nonzero(~((cf > 0) & (cf < fs / 2)))[0]
    if bad.size:
        raise ConfigError(
            f"gammatone_coefficients: centre frequency {cf[bad[0]]} Hz (channel {bad[0]}) is not "
            f"inside (0, fs/2) = (0, {fs / 2}) Hz"
        )
    n_ch = cf.size
    b = np.empty((n_ch, 5))
    a1 = np.empty(n_ch)
    a2 = np.empty(n_ch)
    for c in range(n_ch):
        bc, ac = scipy.signal.gammatone(float(cf[c]), "iir", fs=fs)
        bc = np.asarray(bc, dtype=np.float64)
        ac = np.asarray(ac, dtype=np.float64)
        # a = (1 + a1 z^-1 + a2 z^-2)^4: the z^-1 coefficient is 4 a1, the z^-8 one is a2^4.
        b[c] = bc
        a1[c] = ac[1] / 4.0
        a2[c] = ac[8] ** 0.25
        quad = np.array([1.0, a1[c], a2[c]])
        expanded = np.convolve(np.convolve(quad, quad), np.convolve(quad, quad))
        if not np.allclose(expanded, ac, rtol=1e-9, atol=1e-9 * np.abs(ac).max()):
            raise ConfigError(
                f"gammatone_coefficients: scipy's gammatone denominator at {cf[c]} Hz is not the "
                "4th power of a biquad; the cascade form assumed here does not apply"
            )
    return b, a1, a2


@njit(cache=True)
def _filterbank_kernel(x, b, a1, a2, alpha, decim, out):
    """Gammatone filterbank, half-wave rectification, 2-pole smoothing, decimation.

    Writes ``out`` (shape (n_ch, n_env)), ``out[c, j]`` = smoothed envelope of channel ``c``
    after audio sample ``(j + 1) * decim - 1``. Returns nothing. Channels are processed in
    blocks of 4: each channel's recursion is latency-bound, so interleaving
    independent channels runs ~1.4-2x faster with bit-identical results.
    """
    n_ch = b.shape[0]
    n = x.shape[0]
    n_env = out.shape[1]
    w = 4  # channels filtered side by side (a literal, so LLVM unrolls the block loop)
    for c0 in range(0, n_ch, w):
        m = min(w, n_ch - c0)
        bb = np.zeros((5, w))
        p1 = np.zeros(w)
        p2 = np.zeros(w)
        for q in range(m):
            for i in range(5):
                bb[i, q] = b[c0 + q, i]
            p1[q] = a1[c0 + q]
            p2[q] = a2[c0 + q]
        s = np.zeros((8, w))  # transposed direct form II states of the four biquads
        e1 = np.zeros(w)
        e2 = np.zeros(w)
        x1 = 0.0
        x2 = 0.0
        x3 = 0.0
        x4 = 0.0
        k = 0
        j = 0
        for t in range(n):
            x0 = x[t]
            for q in range(w):
                u = bb[0, q] * x0 + bb[1, q] * x1 + bb[2, q] * x2 + bb[3, q] * x3 + bb[4, q] * x4
                for st in range(4):
                    y = u + s[2 * st, q]
                    s[2 * st, q] = s[2 * st + 1, q] - p1[q] * y
                    s[2 * st + 1, q] = -p2[q] * y
                    u = y
                r = u if u > 0.0 else 0.0
                e1[q] += alpha * (r - e1[q])
                e2[q] += alpha * (e1[q] - e2[q])
            x4 = x3
            x3 = x2
            x2 = x1
            x1 = x0
            k += 1
            if k == decim:
                k = 0
                if j < n_env:
                    for q in range(m):
                        out[c0 + q, j] = e2[q]
                j += 1


@dataclass(frozen=True)
class GammatoneBank:
    """A built gammatone filterbank (see :func:`make_filterbank`).

    Attributes
    ----------
    fs : float
        Sample rate in Hz the coefficients are for.
    cf : ndarray of float64, shape (n_ch,)
        Centre frequencies in Hz.
    b : ndarray of float64, shape (n_ch, 5)
        FIR part of each channel.
    a1, a2 : ndarray of float64, shape (n_ch,)
        Biquad denominator ``1 + a1 z^-1 + a2 z^-2`` of each channel (applied four times).
    """

    fs: float
    cf: np.ndarray
    b: np.ndarray
    a1: np.ndarray
    a2: np.ndarray

    @property
    def n_ch(self) -> int:
        """Number of channels."""
        return int(self.cf.shape[0])


def make_filterbank(fs: float, f_lo: float, f_hi: float, n_ch: int) -> GammatoneBank:
    """Build an ERB-spaced gammatone filterbank once, to filter many waveforms.

    Parameters
    ----------
    fs : float
        Sample rate in Hz.
    f_lo, f_hi : float
        Lowest and highest centre frequency in Hz (``f_hi < fs / 2``).
    n_ch : int
        Number of channels.

    Returns
    -------
    GammatoneBank
    """
    cf = erb_space(f_lo, f_hi, n_ch)
    b, a1, a2 = gammatone_coefficients(cf, fs)
    return GammatoneBank(float(fs), cf, b, a1, a2)


def filterbank_envelope(
    x, bank: GammatoneBank, *, tau_smooth: float = 1e-3, decim: int = 11
) -> np.ndarray:
    """Rectified, smoothed gammatone envelopes of a waveform.

    Parameters
    ----------
    x : array_like of float, shape (n_samples,)
        Waveform sampled at ``bank.fs`` (any unit; the envelope has the same unit).
    bank : GammatoneBank
        The filterbank, from :func:`make_filterbank`.
    tau_smooth : float
        Time constant in seconds of each of the two cascaded one-pole smoothing filters.
    decim : int
        Envelope sampling step in audio samples; the envelope rate is ``bank.fs / decim`` Hz.

    Returns
    -------
    ndarray of float32, shape (n_ch, n_samples // decim)
        ``env[c, j]`` is channel ``c``'s envelope at time ``((j + 1) * decim - 1) / fs`` s.

    Notes
    -----
    Per channel: :math:`y = g * x` (gammatone), :math:`r = \\max(y, 0)`, then
    :math:`e_1 \\leftarrow e_1 + \\alpha (r - e_1)`, :math:`e_2 \\leftarrow e_2 + \\alpha (e_1 - e_2)`
    with :math:`\\alpha = 1 - e^{-1/(f_s \\tau)}`.
    """
    if not isinstance(bank, GammatoneBank):
        raise ConfigError(
            f"filterbank_envelope: bank must be a GammatoneBank (make_filterbank), got {type(bank).__name__}"
        )
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"filterbank_envelope: x must be a 1-D waveform, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("filterbank_envelope: x holds non-finite samples")
    if not (tau_smooth > 0):
        raise ConfigError(f"filterbank_envelope: tau_smooth must be > 0 s, got {tau_smooth}")
    if int(decim) != decim or decim < 1:
        raise ConfigError(f"filterbank_envelope: decim must be an integer >= 1, got {decim}")
    alpha = 1.0 - np.exp(-1.0 / (bank.fs * tau_smooth))
    out = np.zeros((bank.n_ch, x.shape[0] // int(decim)), dtype=np.float32)
    _filterbank_kernel(x, bank.b, bank.a1, bank.a2, float(alpha), int(decim), out)
    return out


def compress(env, env_ref: float, exponent: float = 1.0 / 3.0) -> np.ndarray:
    """Power-law compression ``(env / env_ref) ** exponent``.

    Parameters
    ----------
    env : array_like, shape (n_ch, n_env)
        Non-negative envelopes.
    env_ref : float
        Reference envelope (same unit as ``env``) that maps to 1.
    exponent : float
        Compression exponent in (0, 1]; 1/3 is the cube-root law.

    Returns
    -------
    ndarray of float32, shape (n_ch, n_env)
    """
    if not (env_ref > 0):
        raise ConfigError(f"compress: env_ref must be > 0, got {env_ref}")
    if not (0 < exponent <= 1):
        raise ConfigError(f"compress: exponent must be in (0, 1], got {exponent}")
    env = np.asarray(env, dtype=np.float32)
    return np.power(np.maximum(env, 0.0) / np.float32(env_ref), np.float32(exponent))


@njit(cache=True)
def _lif_kernel(drive, noise, decay, noise_scale, n_ref, dt, out_times, out_units):
    """Noisy leaky integrate-and-fire units, one per row of ``drive``.

    Writes spikes into ``out_times`` / ``out_units`` (capacity must be enough: at most
    ``n_steps // (n_ref + 1) + 1`` spikes per channel) and returns the number written.
    Spikes come out grouped by channel, in time order within a channel.
    """
    n_ch, n_steps = drive.shape
    n = 0
    for c in range(n_ch):
        v = 0.0
        ref = 0
        for j in range(n_steps):
            if ref > 0:
                ref -= 1
                continue
            i_in = drive[c, j]
            v_new = i_in + (v - i_in) * decay + noise_scale * noise[c, j]
            if v_new >= 1.0:
                # Linear interpolation of the threshold crossing inside step j.
                frac = (1.0 - v) / (v_new - v) if v_new > v else 1.0
                if frac < 0.0:
                    frac = 0.0
                out_times[n] = (j + frac) * dt
                out_units[n] = c
                n += 1
                v = 0.0
                ref = n_ref
            else:
                v = v_new
    return n


def lif_spikes(
    drive,
    dt: float,
    rng: np.random.Generator,
    *,
    tau_m: float = 5e-3,
    t_ref: float = 2e-3,
    sigma: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike trains of noisy leaky integrate-and-fire units driven by ``drive``.

    Parameters
    ----------
    drive : array_like, shape (n_ch, n_steps)
        Input of each channel's unit in units of the threshold, sampled every ``dt``; step ``j``
        covers ``[j dt, (j + 1) dt)``.
    dt : float
        Step in seconds.
    rng : numpy.random.Generator
        Source of the membrane noise.
    tau_m : float
        Membrane time constant in seconds.
    t_ref : float
        Absolute refractory period in seconds (rounded to whole steps, at least 0).
    sigma : float
        Stationary standard deviation of the membrane noise, in units of the threshold.

    Returns
    -------
    times : ndarray of float64, shape (n_spikes,)
        Spike times in seconds, sorted (ties by unit).
    units : ndarray of uint16, shape (n_spikes,)
        Channel of each spike.

    Notes
    -----
    Exact Ornstein-Uhlenbeck step with drive :math:`I` held over the step:
    :math:`v \\leftarrow I + (v - I) e^{-dt/\\tau_m} + \\sigma \\sqrt{1 - e^{-2 dt/\\tau_m}}\\,\\xi`,
    :math:`\\xi \\sim N(0, 1)`. When :math:`v \\ge 1` the unit spikes (time linearly interpolated
    inside the step), resets to 0 and stays there for ``t_ref``. With constant drive
    :math:`I > 1` and no noise the rate is :math:`1 / (t_{ref} + \\tau_m \\ln(I / (I - 1)))`.
    """
    drive = np.ascontiguousarray(drive, dtype=np.float32)
    if drive.ndim != 2:
        raise InputError(f"lif_spikes: drive must be 2-D (n_ch, n_steps), got shape {drive.shape}")
    if drive.shape[0] > np.iinfo(np.uint16).max + 1:
        raise InputError(f"lif_spikes: at most 65536 channels fit uint16 units, got {drive.shape[0]}")
    if not np.all(np.isfinite(drive)):
        raise InputError("lif_spikes: drive holds non-finite values")
    if not (dt > 0 and tau_m > 0 and t_ref >= 0 and sigma >= 0):
        raise ConfigError(
            f"lif_spikes: need dt > 0, tau_m > 0, t_ref >= 0, sigma >= 0; got dt={dt}, "
            f"tau_m={tau_m}, t_ref={t_ref}, sigma={sigma}"
        )
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"lif_spikes: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n_ch, n_steps = drive.shape
    decay = float(np.exp(-dt / tau_m))
    noise_scale = float(sigma * np.sqrt(1.0 - decay * decay))
    n_ref = int(round(t_ref / dt))
    noise = rng.standard_normal((n_ch, n_steps), dtype=np.float32)
    capacity = n_ch * (n_steps // (n_ref + 1) + 1)
    out_times = np.empty(capacity, dtype=np.float64)
    out_units = np.empty(capacity, dtype=np.uint16)
    n = _lif_kernel(drive, noise, decay, noise_scale, n_ref, float(dt), out_times, out_units)
    times = out_times[:n]
    units = out_units[:n]
    order = np.lexsort((units, times))
    return times[order], units[order]
