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
