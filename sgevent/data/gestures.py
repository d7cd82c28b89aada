"""Synthetic DVS gestures: an offline stand-in for DVS128 Gesture (Amir et al. 2017).

:func:`generate_gestures` writes ``gestures_train.h5`` and ``gestures_test.h5`` in the SHD HDF5
layout (:mod:`sgevent.data.shd_writer`) with ``units = p * H * W + y * W + x`` (polarity 1 = ON,
0 = OFF) and the file attribute ``input_shape = (2, H, W)``, which :func:`sgevent.data.shd.load_h5`
returns as :attr:`SpikeDataset.input_shape`. ``extra/speaker`` holds the subject id and
``extra/keys`` the class names. The real DVS Gesture converted by
:func:`sgevent.data.tonic_adapter.convert_dvs_gesture` has the same layout.

Classes (11, as DVS Gesture; all centred on the subject's centre, so they differ in motion and
shape, not in where the events fall on average)::

    0 bar-cw        a bar (capsule) rotating clockwise about the centre     0.8 rev/s
    1 bar-ccw       the same, counter-clockwise
    2 orbit-cw      a disc on a circular path, clockwise                     0.9 rev/s
    3 orbit-ccw     the same, counter-clockwise
    4 ripple-out    concentric rings moving outwards in a soft aperture     14 px/s
    5 ripple-in     the same, inwards
    6 wave-h        a disc swinging left and right (sinusoid)                1.1 Hz
    7 wave-v        the same, up and down
    8 swipe-right   a cross moving to the right, re-entering on the left    30 px/s
    9 swipe-left    the same, to the left
    10 clap         two discs meeting and parting horizontally                1.2 Hz

"Clockwise" is as seen on the sensor with y pointing down. Lengths below are for a 32 x 32
sensor and scale with ``size / 32``; each sample starts at a random phase of its motion.

Scene
-----
Log intensity of pixel centre ``(x, y)`` at time ``t``:
``L = tex(x, y) + log(1 + (exp(c) - 1) * cov(x, y, t))`` with ``cov`` the area of the pixel
covered by the bright object (signed distance ``d`` of the shape, ``cov = clip(0.5 - d, 0, 1)``,
an anti-aliased edge one pixel wide), ``c`` the object's log contrast and ``tex`` a static
smooth background texture (three random cosine gratings, amplitude 0.1 each). The DVS model
(:mod:`sgevent.data.dvs_sensor`) reads ``L`` plus Gaussian noise every ``dt = 1 ms``.

Sensor (one per seed, shared by every sample, like the single camera of DVS Gesture):
contrast threshold 0.2 with 10 % per-pixel mismatch, refractory 1 ms, background shot noise
0.5 Hz per pixel, 3 hot pixels at 20-80 Hz. Temporal noise: ``sigma_l = 0.012 / sqrt(light)``
per step.

Subjects
--------
16 subjects, ids 0-15; ids 12-15 appear only in the test split, which takes 30 % of its samples
from them. A subject is drawn once per seed: speed factor log-uniform in [0.7, 1.4], size factor
uniform in [0.8, 1.25], centre offset uniform in +-3.5 px on each axis, log contrast uniform in
[0.7, 1.5] (intensity ratio 2.0-4.5), lighting uniform in [0.3, 1.0] (scales the temporal noise).
Each sample jitters them: speed x U(0.9, 1.1), size x U(0.93, 1.07), centre +-1.5 px, log
contrast +-0.1; duration U(1.0, 1.5) s.

These numbers were fixed once, before any model saw the data, to give DVS-like recordings; they
are never to be tuned to a model. Measured once on the default set (seed 0, 1,100 + 440 samples,
32 x 32; about 100 s of one core to generate): 899 to 17,678 events per sample (median 4,504;
the clap and swipe classes have the fewest, the ripples the most); the logistic baseline on binned
counts (``sgevent baseline``: 10 time bins x 2 x 4 x 4 spatial blocks) reaches 53.4 % on the test
split (93.3 % on train, 50.0 % on the held-out subjects). It confuses the members of each
motion-sense pair (cw/ccw, out/in, right/left), which differ only in how ON and OFF edges are
arranged along the motion, and separates the shapes and paths.

Files
-----
``sgevent data synth-gestures --out DIR`` writes ``DIR/gestures_train.h5`` and
``DIR/gestures_test.h5`` (suggested ``datasets/synth/DVSGesture/``; the real set converted by
:func:`sgevent.data.tonic_adapter.convert_dvs_gesture` goes to ``<root>/DVSGesture/`` under the same
names, beside tonic's own folders). Times are float16 seconds as in SHD (about 1 ms resolution
from 1 to 2 s).

Determinism
-----------
Subjects, sensor and background textures come from ``SeedSequence([seed, 99])``, the split plan
(labels, subjects) from ``[seed, split, 0]``, each sample's parameters and sensor-noise events from
``[seed, split, 1, index]`` and the temporal noise of a batch of ``BATCH`` consecutive samples
from ``[seed, split, 2, batch]``. The files are byte-identical for equal arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.errors import ConfigError

from .dvs_sensor import DVSPixels, SensorParams, make_sensor, noise_events
from .shd_writer import write_shd_h5

__all__ = ["CLASS_KEYS", "N_SUBJECTS", "HELD_OUT", "QUICK_SIZES", "Subject", "make_subjects", "plan_split",
           "render_samples", "generate_gestures"]

CLASS_KEYS: tuple[str, ...] = ("bar-cw", "bar-ccw", "orbit-cw", "orbit-ccw", "ripple-out", "ripple-in", "wave-h",
                               "wave-v", "swipe-right", "swipe-left", "clap")
N_SUBJECTS = 16
HELD_OUT: tuple[int, ...] = (12, 13, 14, 15)
TEST_HELD_OUT_FRACTION = 0.3
DT_S = 1e-3
BATCH = 128
DURATION_S = (1.0, 1.5)
#: ``(n_train, n_test)`` of ``sgevent data synth-gestures --quick``.
QUICK_SIZES = (110, 44)
FILE_STEM = "gestures"
_SPLIT_CODE = {"train": 0, "test": 1}
_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Subject:
    """One performer: speed, size, position, contrast and lighting (see the module docstring)."""

    speed: float
    size: float
    dx: float
    dy: float
    log_contrast: float
    light: float


def make_subjects(rng: np.random.Generator, n: int = N_SUBJECTS) -> tuple[Subject, ...]:
    """Draw ``n`` subjects from the fixed ranges of the module docstring."""
    speed = np.exp(rng.uniform(np.log(0.7), np.log(1.4), n))
    size = rng.uniform(0.8, 1.25, n)
    dx, dy = rng.uniform(-3.5, 3.5, (2, n))
    contrast = rng.uniform(0.7, 1.5, n)
    light = rng.uniform(0.3, 1.0, n)
    return tuple(Subject(*(float(a[i]) for a in (speed, size, dx, dy, contrast, light))) for i in range(n))


def plan_split(seed: int, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and subjects of a split: classes balanced (shuffled), held-out subjects only in test.

    Returns
    -------
    labels, subjects : ndarray of int64, shape (n,)
    """
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], 0])
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(CLASS_KEYS))
    seen = np.array([s for s in range(N_SUBJECTS) if s not in HELD_OUT])
    subjects = seen[rng.integers(0, seen.size, n)]
    if split == "test":
        held = rng.permutation(n)[: int(round(TEST_HELD_OUT_FRACTION * n))]
        subjects[held] = np.asarray(HELD_OUT)[rng.integers(0, len(HELD_OUT), held.size)]
    return labels, subjects.astype(np.int64)


# ---------------------------------------------------------------------- shapes (signed distances, pixels)
def _capsule(px, py, cx, cy, ang, half_len, half_w):
    """Signed distance to a capsule (segment of half length ``half_len``, radius ``half_w``)."""
    ux, uy = px - cx, py - cy
    c, s = np.cos(ang), np.sin(ang)
    along = np.abs(ux * c + uy * s) - half_len
    across = -ux * s + uy * c
    return np.hypot(np.maximum(along, 0.0), across) - half_w


def _disc(px, py, cx, cy, r):
    return np.hypot(px - cx, py - cy) - r


def _cover(d):
    """Covered fraction of a pixel from the signed distance of its centre (one-pixel ramp)."""
    return np.clip(0.5 - d, 0.0, 1.0)


# Each scene maps (pixel x, pixel y, t, per-row params) -> coverage, shape (rows, N).
# Params: cx, cy (centre), s (size factor * H / 32), v (speed factor), ph (phase in [0, 1)), k (field
# scale H / 32), all shape (rows, 1).
def _bar(sense):
    def scene(px, py, t, p):
        ang = _TWO_PI * (p["ph"] + sense * 0.8 * p["v"] * t)
        return _cover(_capsule(px, py, p["cx"], p["cy"], ang, 9.0 * p["s"], 1.6 * p["s"]))
    return scene


def _orbit(sense):
    def scene(px, py, t, p):
        a = _TWO_PI * (p["ph"] + sense * 0.9 * p["v"] * t)
        r = 8.0 * p["s"]
        return _cover(_disc(px, py, p["cx"] + r * np.cos(a), p["cy"] + r * np.sin(a), 3.5 * p["s"]))
    return scene


def _ripple(sense):
    def scene(px, py, t, p):
        lam, s = 9.0 * p["s"], p["s"]
        r = np.hypot(px - p["cx"], py - p["cy"])
        phase = np.mod(p["ph"] * lam + sense * 14.0 * p["v"] * p["k"] * t, lam)
        off = np.mod(r - phase, lam)
        dist = np.minimum(off, lam - off)  # to the nearest ring radius phase + j * lam
        aperture = np.clip((13.0 * s - r) / (3.0 * s), 0.0, 1.0)
        return _cover(dist - 1.2 * s) * aperture
    return scene


def _wave(horizontal):
    def scene(px, py, t, p):
        a = 8.0 * p["s"] * np.sin(_TWO_PI * (p["ph"] + 1.1 * p["v"] * t))
        cx = p["cx"] + (a if horizontal else 0.0)
        cy = p["cy"] + (0.0 if horizontal else a)
        return _cover(_disc(px, py, cx, cy, 3.5 * p["s"]))
    return scene


def _swipe(sense):
    def scene(px, py, t, p):
        period = 56.0 * p["k"]
        x = p["cx"] + np.mod(p["ph"] * period + sense * 30.0 * p["v"] * p["k"] * t, period) - period / 2
        d = np.minimum(_capsule(px, py, x, p["cy"], 0.0, 4.5 * p["s"], 1.3 * p["s"]),
                       _capsule(px, py, x, p["cy"], np.pi / 2, 4.5 * p["s"], 1.3 * p["s"]))
        return _cover(d)
    return scene


def _clap(px, py, t, p):
    half_gap = p["s"] * (5.5 + 3.0 * np.cos(_TWO_PI * (p["ph"] + 1.2 * p["v"] * t)))
    r = 3.0 * p["s"]
    left = _disc(px, py, p["cx"] - half_gap, p["cy"], r)
    right = _disc(px, py, p["cx"] + half_gap, p["cy"], r)
    return _cover(np.minimum(left, right))


SCENES: tuple[Callable[..., np.ndarray], ...] = (_bar(1.0), _bar(-1.0), _orbit(1.0), _orbit(-1.0), _ripple(1.0),
                                                 _ripple(-1.0), _wave(True), _wave(False), _swipe(1.0), _swipe(-1.0),
                                                 _clap)


# ---------------------------------------------------------------------- rendering
def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static smooth background in log units: three random gratings, shape (size * size,)."""
    y, x = np.mgrid[0:size, 0:size] / size
    tex = np.zeros((size, size))
    for _ in range(3):
        fx, fy = rng.uniform(-2.0, 2.0, 2)
        tex += 0.1 * np.cos(_TWO_PI * (fx * x + fy * y) + rng.uniform(0, _TWO_PI))
    return tex.ravel()


def _sample_params(seed: int, split: str, index: int, subject: Subject, size: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], 1, index])
    k = size / 32.0
    centre = (size - 1) / 2.0
    return {
        "cx": centre + k * (subject.dx + rng.uniform(-1.5, 1.5)),
        "cy": centre + k * (subject.dy + rng.uniform(-1.5, 1.5)),
        "s": k * subject.size * rng.uniform(0.93, 1.07),
        "v": subject.speed * rng.uniform(0.9, 1.1),
        "ph": rng.uniform(0.0, 1.0),
        "k": k,
        "c": subject.log_contrast + rng.uniform(-0.1, 0.1),
        "duration": rng.uniform(*DURATION_S),
        "noise_seed": int(rng.integers(0, 2**63 - 1)),
    }


def _frame(px, py, t: float, labels: np.ndarray, slices: list[tuple[int, int, int]], params: dict[str, np.ndarray],
           tex: np.ndarray) -> np.ndarray:
    """Noise-free log intensity of every row at time ``t``, shape (rows, N)."""
    cov = np.empty((labels.shape[0], px.shape[1]))
    for label, a, b in slices:
        cov[a:b] = SCENES[label](px, py, t, {name: arr[a:b] for name, arr in params.items()})
    return tex + np.log1p(np.expm1(params["c"]) * cov)


def _render_batch(sensor: SensorParams, tex: np.ndarray, labels: np.ndarray, params: list[dict[str, float]],
                  sigma_l: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Scene events of a batch of samples (rows sorted by label), one (times, channels) per row."""
    size, n_pix = sensor.height, sensor.n_pixels
    py, px = (a.reshape(1, -1).astype(np.float64) for a in np.mgrid[0:size, 0:size])
    cols = {name: np.array([p[name] for p in params]).reshape(-1, 1) for name in ("cx", "cy", "s", "v", "ph", "k", "c")}
    slices = [(int(c), int(np.searchsorted(labels, c)), int(np.searchsorted(labels, c, side="right")))
              for c in np.unique(labels)]
    durations = np.array([p["duration"] for p in params])
    pixels = DVSPixels(sensor, _frame(px, py, 0.0, labels, slices, cols, tex))
    parts = []
    for step in range(1, int(np.ceil(durations.max() / DT_S)) + 1):
        t0, t1 = (step - 1) * DT_S, step * DT_S
        frame = _frame(px, py, t1, labels, slices, cols, tex)
        frame += sigma_l[:, None] * rng.standard_normal(frame.shape)
        parts.append(pixels.step(frame, t0, t1, active=durations >= t1))
    rec, pix, pol, t = (np.concatenate([p[i] for p in parts]) for i in range(4))
    order = np.lexsort((t, rec))
    rec, t, ch = rec[order], t[order], (pol * n_pix + pix)[order]
    bounds = np.searchsorted(rec, np.arange(labels.shape[0] + 1))
    return [(t[bounds[i]:bounds[i + 1]], ch[bounds[i]:bounds[i + 1]]) for i in range(labels.shape[0])]


def render_samples(seed: int, split: str, labels: np.ndarray, subjects: np.ndarray, *, size: int = 32,
                   progress: Callable[[int], None] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Render the samples of one split.

    Parameters
    ----------
    seed : int
        Dataset seed.
    split : {"train", "test"}
        Split name (part of every sample's seed).
    labels, subjects : ndarray of int64, shape (n,)
        Class and subject of each sample (:func:`plan_split`).
    size : int
        Sensor height and width in pixels.
    progress : callable, optional
        Called with the number of samples done after each batch.

    Returns
    -------
    list of (times, channels)
        Per sample: float64 seconds sorted ascending, and int64 channels ``p * H * W + y * W + x``.
    """
    world = np.random.default_rng([seed, 99])
    subject_table = make_subjects(world)
    sensor = make_sensor(world, size, size)
    textures = [_texture(world, size) for _ in range(N_SUBJECTS)]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for b0 in range(0, labels.shape[0], BATCH):
        idx = np.arange(b0, min(b0 + BATCH, labels.shape[0]))
        order = idx[np.argsort(labels[idx], kind="stable")]
        params = [_sample_params(seed, split, int(i), subject_table[subjects[i]], size) for i in order]
        tex = np.stack([textures[subjects[i]] for i in order])
        sigma_l = np.array([0.012 / np.sqrt(subject_table[subjects[i]].light) for i in order])
        rng = np.random.default_rng([seed, _SPLIT_CODE[split], 2, b0 // BATCH])
        scene = _render_batch(sensor, tex, labels[order], params, sigma_l, rng)
        batch = {}
        for row, i in enumerate(order):
            nt, nc = noise_events(np.random.default_rng(params[row]["noise_seed"]), sensor, params[row]["duration"])
            t = np.concatenate([scene[row][0], nt])
            ch = np.concatenate([scene[row][1], nc])
            keep = np.argsort(t, kind="stable")
            batch[int(i)] = (t[keep], ch[keep])
        out.extend(batch[int(i)] for i in idx)
        if progress is not None:
            progress(len(out))
    return out


def _check_args(n_train: int, n_test: int, size: int) -> None:
    for name, v, lo in (("n_train", n_train, 1), ("n_test", n_test, 1), ("size", size, 8)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ConfigError(f"{name} must be an int >= {lo}, got {v!r}")


def generate_gestures(out_dir: str | Path, *, n_train: int = 1100, n_test: int = 440, seed: int = 0,
                      size: int = 32, progress: bool = False) -> dict[str, Any]:
    """Write the synthetic gesture set: ``<out_dir>/gestures_train.h5`` and ``gestures_test.h5``.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder (created).
    n_train, n_test : int
        Samples per split (classes balanced).
    seed : int
        Seed of everything (see the module docstring).
    size : int
        Sensor height = width in pixels (>= 8); 2 * size**2 input channels.
    progress : bool
        Print a line per batch.

    Returns
    -------
    dict
        ``files`` (paths), ``input_shape``, ``n_events`` per split, ``events_per_sample``
        (min, median, max over both splits) and ``wall_time_s``.
    """
    _check_args(n_train, n_test, size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files, n_events, counts = [], {}, []
    for split, n in (("train", n_train), ("test", n_test)):
        labels, subjects = plan_split(seed, split, n)
        report = (lambda k, s=split, n=n: print(f"  {s}: {k}/{n} samples", flush=True)) if progress else None
        samples = render_samples(seed, split, labels, subjects, size=size, progress=report)
        path = out / f"{FILE_STEM}_{split}.h5"
        attrs = {"generator": "sgevent.data.gestures", "seed": int(seed), "dt_s": DT_S}
        write_shd_h5(path, [s[0] for s in samples], [s[1] for s in samples], labels, subjects, CLASS_KEYS,
                     n_channels=2 * size * size, input_shape=(2, size, size), attrs=attrs)
        files.append(str(path))
        n_events[split] = int(sum(s[0].shape[0] for s in samples))
        counts.extend(s[0].shape[0] for s in samples)
    return {"files": files, "input_shape": (2, size, size), "n_events": n_events,
            "events_per_sample": (int(np.min(counts)), float(np.median(counts)), int(np.max(counts))),
            "wall_time_s": time.perf_counter() - start}
