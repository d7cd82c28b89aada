"""A dynamic vision sensor (DVS) pixel model: log-intensity frames in, ON/OFF events out.

Every pixel of a DVS reports changes of its own log intensity ``L = log I`` asynchronously. This
module runs the standard model (Lichtsteiner et al. 2008; as in ESIM and v2e) on log-intensity
frames sampled at a fine internal step ``dt``, for a batch of independent recordings at once:

* a pixel keeps a reference level ``L_ref`` (at ``t = 0`` the frame's level: the sensor starts
  adapted to the scene, so a static scene gives no events);
* when ``L - L_ref >= C_on`` it emits an ON event (polarity 1), when ``L - L_ref <= -C_off`` an
  OFF event (polarity 0); the thresholds ``C_on``, ``C_off`` differ from pixel to pixel
  (*threshold mismatch*, fixed per sensor);
* the event time is the crossing of ``L_ref +- C`` by ``L`` interpolated linearly inside the
  step, or the end of the pixel's refractory period ``t_ref`` when that is later (a pixel fires
  at most once per ``t_ref``; ``t_ref >= dt`` means at most one event per pixel per step);
* after an event the reference moves by the whole number of thresholds crossed,
  ``L_ref += sign * floor(|L - L_ref| / C) * C``: crossings inside one refractory period are
  lost (as in a real pixel, which holds its reset during that time) and the sub-threshold rest
  is kept;
* temporal noise: ``L`` is read with additive Gaussian noise of standard deviation
  ``sigma_l`` per step (photon and read-out noise), which jitters event times near a
  threshold.

Events of sensor noise that do not come from the scene (background shot noise, hot pixels) are
added by :func:`noise_events`.

Channel index of an event at pixel ``(y, x)`` of an ``H x W`` sensor with polarity ``p``:
``p * H * W + y * W + x`` (tonic's ``(p, y, x)`` order; :func:`sgevent.data.tonic_adapter.events_to_channels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgevent.errors import ConfigError

__all__ = ["SensorParams", "make_sensor", "DVSPixels", "dvs_from_frames", "noise_events"]


@dataclass(frozen=True, eq=False)
class SensorParams:
    """The fixed properties of one DVS sensor.

    Parameters
    ----------
    height, width : int
        Pixel grid ``H x W``.
    c_on, c_off : ndarray of float64, shape (H * W,)
        Per-pixel ON and OFF contrast thresholds (log-intensity units, > 0).
    t_ref : float
        Refractory period in seconds.
    bg_rate_hz : float
        Background shot-noise rate per pixel (both polarities together), events per second.
    hot_idx : ndarray of int64, shape (n_hot,)
        Flat pixel index ``y * W + x`` of each hot pixel.
    hot_rate_hz : ndarray of float64, shape (n_hot,)
        Event rate of each hot pixel (events per second).
    hot_pol : ndarray of int64, shape (n_hot,)
        Polarity (0 OFF, 1 ON) each hot pixel reports.
    """

    height: int
    width: int
    c_on: np.ndarray
    c_off: np.ndarray
    t_ref: float
    bg_rate_hz: float
    hot_idx: np.ndarray
    hot_rate_hz: np.ndarray
    hot_pol: np.ndarray

    @property
    def n_pixels(self) -> int:
        """``H * W``."""
        return self.height * self.width


def make_sensor(rng: np.random.Generator, height: int, width: int, *, c_nominal: float = 0.2,
                c_mismatch: float = 0.1, t_ref: float = 1e-3, bg_rate_hz: float = 0.5, n_hot: int = 3,
                hot_rate_hz: tuple[float, float] = (20.0, 80.0)) -> SensorParams:
    """Draw one sensor: threshold mismatch and hot pixels.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    height, width : int
        Pixel grid.
    c_nominal : float
        Nominal contrast threshold ``C`` (log units; 0.2 is ~22 % intensity change).
    c_mismatch : float
        Relative standard deviation of the per-pixel thresholds, drawn independently for ON
        and OFF and clipped to ``[0.5 C, 1.5 C]``.
    t_ref : float
        Refractory period (s).
    bg_rate_hz : float
        Background shot-noise rate per pixel (events/s).
    n_hot : int
        Number of hot pixels (distinct, uniformly placed).
    hot_rate_hz : (float, float)
        Range of the hot pixels' rates (log-uniform).

    Returns
    -------
    SensorParams
    """
    if height < 1 or width < 1:
        raise ConfigError(f"sensor size must be positive, got {height} x {width}")
    n = height * width
    lo, hi = 0.5 * c_nominal, 1.5 * c_nominal
    c_on = np.clip(c_nominal * (1.0 + c_mismatch * rng.standard_normal(n)), lo, hi)
    c_off = np.clip(c_nominal * (1.0 + c_mismatch * rng.standard_normal(n)), lo, hi)
    n_hot = min(int(n_hot), n)
    hot_idx = np.sort(rng.choice(n, size=n_hot, replace=False)).astype(np.int64)
    rates = np.exp(rng.uniform(np.log(hot_rate_hz[0]), np.log(hot_rate_hz[1]), size=n_hot))
    hot_pol = rng.integers(0, 2, size=n_hot).astype(np.int64)
    return SensorParams(int(height), int(width), c_on, c_off, float(t_ref), float(bg_rate_hz), hot_idx, rates,
                        hot_pol)


class DVSPixels:
    """State of a batch of DVS recordings through one sensor, advanced frame by frame.

    Parameters
    ----------
    sensor : SensorParams
        Thresholds and refractory period.
    log_frame0 : ndarray of float64, shape (B, H * W)
        Log intensity of each recording at ``t = 0`` (the initial reference levels).

    Notes
    -----
    State (written by :meth:`step`): ``l_ref`` (B, N) reference levels, ``l_prev`` (B, N) the
    last frame read, ``t_free`` (B, N) the time each pixel leaves its refractory period.
    """

    def __init__(self, sensor: SensorParams, log_frame0: np.ndarray) -> None:
        self.sensor = sensor
        self.l_ref = np.array(log_frame0, dtype=np.float64)
        self.l_prev = self.l_ref.copy()
        self.t_free = np.zeros_like(self.l_ref)

    def step(self, log_frame: np.ndarray, t0: float, t1: float,
             active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Read the frame of time ``t1`` (the previous one was at ``t0``) and emit events.

        Parameters
        ----------
        log_frame : ndarray of float64, shape (B, N)
            Log intensity at ``t1`` (noise included).
        t0, t1 : float
            Times of the previous and of this frame (s), ``t0 < t1``.
        active : ndarray of bool, shape (B,), optional
            Recordings that still run; events of the others are dropped (their state still
            advances).

        Returns
        -------
        rec_idx, pix_idx, pol : ndarray of int64, shape (n_events,)
            Recording, flat pixel index ``y * W + x`` and polarity (1 ON, 0 OFF) of each event.
        t : ndarray of float64, shape (n_events,)
            Event times (s), in ``(t0, t1]``.
        """
        s = self.sensor
        d = log_frame - self.l_ref
        on = d >= s.c_on
        fire = on | (d <= -s.c_off)
        fire &= self.t_free <= t1
        if active is not None:
            fire &= active[:, None]
        rec_idx, pix_idx = np.nonzero(fire)
        l_now = log_frame[rec_idx, pix_idx]
        l_old = self.l_prev[rec_idx, pix_idx]
        ref = self.l_ref[rec_idx, pix_idx]
        pol = on[rec_idx, pix_idx]
        c = np.where(pol, s.c_on[pix_idx], s.c_off[pix_idx])
        sign = np.where(pol, 1.0, -1.0)
        # Crossing of ref + sign * c between the frames, linear in time.
        slope = l_now - l_old
        safe = np.where(np.abs(slope) > 1e-12, slope, 1.0)
        frac = np.where(np.abs(slope) > 1e-12, np.clip((ref + sign * c - l_old) / safe, 0.0, 1.0), 1.0)
        t = np.maximum(t0 + frac * (t1 - t0), self.t_free[rec_idx, pix_idx])
        n_cross = np.floor(np.abs(l_now - ref) / c)
        self.l_ref[rec_idx, pix_idx] = ref + sign * n_cross * c
        self.t_free[rec_idx, pix_idx] = t + s.t_ref
        self.l_prev = np.array(log_frame, dtype=np.float64)
        return rec_idx.astype(np.int64), pix_idx.astype(np.int64), pol.astype(np.int64), t


def dvs_from_frames(sensor: SensorParams, log_frames: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Events of one recording given as log-intensity frames (no noise is added).

    Parameters
    ----------
    sensor : SensorParams
        The sensor (its ``height``, ``width`` must match the frames).
    log_frames : ndarray of float64, shape (n_frames, H, W)
        Log intensity at ``t = k * dt``, ``k = 0 .. n_frames - 1``.
    dt : float
        Frame step (s).

    Returns
    -------
    times : ndarray of float64, shape (n_events,)
        Event times (s), sorted.
    channels : ndarray of int64, shape (n_events,)
        ``p * H * W + y * W + x``.
    """
    frames = np.asarray(log_frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[1:] != (sensor.height, sensor.width):
        raise ConfigError(f"log_frames must have shape (n_frames, {sensor.height}, {sensor.width}), "
                          f"got {frames.shape}")
    n = sensor.n_pixels
    pixels = DVSPixels(sensor, frames[0].reshape(1, n))
    t_parts, ch_parts = [], []
    for k in range(1, frames.shape[0]):
        _, pix, pol, t = pixels.step(frames[k].reshape(1, n), (k - 1) * dt, k * dt)
        t_parts.append(t)
        ch_parts.append(pol * n + pix)
    times = np.concatenate(t_parts) if t_parts else np.zeros(0)
    channels = np.concatenate(ch_parts) if ch_parts else np.zeros(0, np.int64)
    order = np.argsort(times, kind="stable")
    return times[order], channels[order]


def noise_events(rng: np.random.Generator, sensor: SensorParams, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Sensor noise of one recording: background shot noise and hot pixels.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    sensor : SensorParams
        Rates and hot pixels.
    duration_s : float
        Length of the recording (s).

    Returns
    -------
    times : ndarray of float64, shape (n_events,)
        Uniform in ``[0, duration_s)`` (Poisson processes), unsorted.
    channels : ndarray of int64, shape (n_events,)
        ``p * H * W + y * W + x``.

    Notes
    -----
    Shot noise: a Poisson process of rate ``bg_rate_hz`` per pixel, polarity ON or OFF with
    equal probability, at uniformly chosen pixels. Hot pixel ``j``: a Poisson process of rate
    ``hot_rate_hz[j]`` with its fixed polarity.
    """
    n = sensor.n_pixels
    n_bg = rng.poisson(sensor.bg_rate_hz * n * duration_s)
    bg_ch = rng.integers(0, 2, size=n_bg) * n + rng.integers(0, n, size=n_bg)
    n_hot = rng.poisson(sensor.hot_rate_hz * duration_s)
    hot_ch = np.repeat(sensor.hot_pol * n + sensor.hot_idx, n_hot)
    channels = np.concatenate([bg_ch, hot_ch]).astype(np.int64)
    times = rng.uniform(0.0, duration_s, size=channels.shape[0])
    return times, channels
