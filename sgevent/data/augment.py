"""Augmentation of input events (DESIGN.md 3: what SHD practice relies on to generalise).

Pure functions of ``(times, units, rng)``; :class:`Augment` composes them from a config. Each
sample gets its own generator seeded from ``(seed, epoch, sample index)``, so augmentation is
identical for any number of workers and after a resume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from sgevent.errors import check_float, check_int

__all__ = ["AugmentConfig", "Augment", "channel_shift", "time_jitter", "time_stretch", "event_dropout"]


def channel_shift(times, units, rng, max_shift: int, n_channels: int):
    """Shift all channels by one random integer in ``[-max_shift, max_shift]``; drop those that leave."""
    s = int(rng.integers(-max_shift, max_shift + 1))
    u = units + s
    keep = (u >= 0) & (u < n_channels)
    return times[keep], u[keep]


def time_jitter(times, units, rng, sigma_s: float):
    """Add independent Gaussian noise of ``sigma_s`` seconds to every event (clipped at 0)."""
    t = np.maximum(times + rng.normal(0.0, sigma_s, times.shape), 0.0)
    return t, units


def time_stretch(times, units, rng, max_rel: float):
    """Scale all times by one random factor in ``[1 - max_rel, 1 + max_rel]``."""
    return times * rng.uniform(1.0 - max_rel, 1.0 + max_rel), units


def event_dropout(times, units, rng, p: float):
    """Drop each event independently with probability ``p``."""
    keep = rng.random(times.shape) >= p
    return times[keep], units[keep]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation options (all off by default).

    Attributes
    ----------
    channel_shift : int
        Largest random channel shift.
    time_jitter : float
        Standard deviation of per-event time noise (s).
    time_stretch : float
        Largest relative change of the time axis.
    event_dropout : float
        Probability of dropping an event.
    """

    channel_shift: int = 0
    time_jitter: float = 0.0
    time_stretch: float = 0.0
    event_dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_shift", check_int("augment.channel_shift", self.channel_shift, lo=0))
        object.__setattr__(self, "time_jitter", check_float("augment.time_jitter", self.time_jitter, lo=0.0))
        for name in ("time_stretch", "event_dropout"):
            value = check_float(f"augment.{name}", getattr(self, name), lo=0.0, hi=1.0, hi_open=True)
            object.__setattr__(self, name, value)

    @property
    def active(self) -> bool:
        return bool(self.channel_shift or self.time_jitter or self.time_stretch or self.event_dropout)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        return cls(**d)


class Augment:
    """Callable ``(times, units, rng) -> (times, units)`` applying the configured transforms.

    Events are first sorted by (time, unit), so the result does not depend on the order of
    events that share a time.
    """

    def __init__(self, config: AugmentConfig, n_channels: int) -> None:
        self.config = config
        self.n_channels = int(n_channels)

    def __call__(self, times, units, rng):
        c = self.config
        t, u = np.asarray(times, dtype=np.float64), np.asarray(units, dtype=np.int64)
        # Events sharing a time come in file order; sort by (time, unit) so that the random draws
        # (one per event) do not depend on how the file happened to order them.
        order = np.lexsort((u, t))
        t, u = t[order], u[order]
        if c.event_dropout:
            t, u = event_dropout(t, u, rng, c.event_dropout)
        if c.channel_shift:
            t, u = channel_shift(t, u, rng, c.channel_shift, self.n_channels)
        if c.time_stretch:
            t, u = time_stretch(t, u, rng, c.time_stretch)
        if c.time_jitter:
            t, u = time_jitter(t, u, rng, c.time_jitter)
        return t, u
