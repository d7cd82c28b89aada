"""Project errors.

Every error raised for bad input or an impossible run is one of these, so callers can catch
sgevent's complaints separately from bugs. Messages name the file, sample, field and what was
expected.
"""

from __future__ import annotations

__all__ = [
    "SgeventError",
    "ConfigError",
    "InputError",
    "DataError",
    "BurstLimitError",
    "EngineError",
    "TrainingError",
    "ClusterError",
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
]


class SgeventError(Exception):
    """Base class of all sgevent errors."""


class ConfigError(SgeventError, ValueError):
    """An invalid network or run configuration (shapes, taus, thresholds, options)."""


class InputError(SgeventError, ValueError):
    """Invalid input spikes or simulation arguments (times, units, dt, t_end)."""


class DataError(SgeventError, ValueError):
    """A dataset file is missing, truncated or malformed (names file, sample and field)."""


class BurstLimitError(SgeventError, RuntimeError):
    """A neuron would emit more than ``max_burst`` spikes at one instant."""


class EngineError(SgeventError, RuntimeError):
    """The event engine could not complete (e.g. the crossing search did not converge)."""


class TrainingError(SgeventError, RuntimeError):
    """Training cannot continue (e.g. non-finite loss or weights)."""


class ClusterError(SgeventError, RuntimeError):
    """A Dask cluster cannot be reached, or keeps losing the workers that run a step."""


# ---------------------------------------------------------------------- field checks
# Small validators of configuration fields. Each returns the value in its canonical type or
# raises ConfigError naming the field, the value and what was expected. bool is not a number
# here, and None passes only where the field allows it (``none_ok``).
def _is_int(value: object) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    import numpy as np

    return _is_int(value) or (isinstance(value, (float, np.floating)) and not isinstance(value, np.bool_))


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


def _in_range(x: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (x <= lo if lo_open else x < lo):
        return False
    return not (hi is not None and (x >= hi if hi_open else x > hi))


def _fail(field: str, value: object, expected: str, none_ok: bool) -> ConfigError:
    also = " (or null)" if none_ok else ""
    return ConfigError(f"config field '{field}': got {value!r} ({type(value).__name__}); expected {expected}{also}")


def check_int(field: str, value: object, *, lo: int | None = None, hi: int | None = None,
              none_ok: bool = False) -> int | None:
    """``value`` as an ``int`` in ``[lo, hi]`` (None if allowed); ConfigError otherwise."""
    if value is None and none_ok:
        return None
    if not _is_int(value) or not _in_range(int(value), lo, hi, False, False):
        rng = _bounds(lo, hi, False, False)
        raise _fail(field, value, "an integer" + (f" {rng}" if rng else ""), none_ok)
    return int(value)


def check_float(field: str, value: object, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False, none_ok: bool = False) -> float | None:
    """``value`` as a finite ``float`` within the bounds (None if allowed); ConfigError otherwise."""
    import math

    if value is None and none_ok:
        return None
    ok = _is_real(value) and math.isfinite(float(value)) and _in_range(float(value), lo, hi, lo_open, hi_open)
    if not ok:
        rng = _bounds(lo, hi, lo_open, hi_open)
        raise _fail(field, value, "a finite number" + (f" {rng}" if rng else ""), none_ok)
    return float(value)


def check_bool(field: str, value: object) -> bool:
    """``value`` if it is a bool (true/false in JSON); ConfigError otherwise."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise _fail(field, value, "true or false", False)
    return bool(value)


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``choices``; ConfigError otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(field, value, "one of " + ", ".join(repr(c) for c in choices), False)
    return value
