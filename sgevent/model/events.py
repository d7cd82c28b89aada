"""Input spike trains: validation and normalisation.

sgevent's event format for one sample is a pair of 1-D arrays: ``times`` (float64 seconds) and
``units`` (integer channel indices in ``0..n_in-1``). Times need not be sorted: they are sorted
here with a *stable* sort, so events at the same time keep their given order (which never changes
a result: events at one instant are applied together).
"""

from __future__ import annotations

import numpy as np

from sgevent.errors import InputError

__all__ = ["check_spikes", "check_times", "check_dt", "check_positive_time", "resolve_window", "DEFAULT_READOUT_PERIOD",
           "STEP_TOL"]


def check_spikes(
    times, units, n_in: int, *, where: str = "input"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one sample's input spikes and return them sorted by time.

    Parameters
    ----------
    times : array_like, shape (n_spikes,)
        Spike times in seconds; finite and >= 0. Any float dtype (float16 is cast to float64
        before any arithmetic).
    units : array_like of int, shape (n_spikes,)
        Input channel of each spike, ``0 <= unit < n_in``.
    n_in : int
        Number of input channels.
    where : str
        Name of the sample, used in error messages (e.g. ``"shd_train.h5 sample 12"``).

    Returns
    -------
    times : ndarray of float64, shape (n_spikes,)
        Sorted (stable) spike times in seconds.
    units : ndarray of int64, shape (n_spikes,)
        Channels, in the same order as ``times``.

    Raises
    ------
    InputError
        If the arrays are not 1-D, differ in length, hold non-finite or negative times,
        non-integer units or units outside ``0..n_in-1``.
    """
    t = np.asarray(times)
    u = np.asarray(units)
    if t.ndim != 1 or u.ndim != 1:
        raise InputError(
            f"{where}: times and units must be 1-D arrays, got shapes {t.shape} and {u.shape}"
        )
    if t.shape[0] != u.shape[0]:
        raise InputError(
            f"{where}: times has {t.shape[0]} entries but units has {u.shape[0]}; "
            "each spike needs one time and one unit"
        )
    if t.size and not np.issubdtype(t.dtype, np.number):
        raise InputError(f"{where}: times must be numeric seconds, got dtype {t.dtype}")
    t = t.astype(np.float64, copy=False)
    bad = ~np.isfinite(t)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: field 'times' holds a non-finite value ({t[k]}) at spike {k}")
    if t.size and t.min() < 0.0:
        k = int(np.argmin(t))
        raise InputError(f"{where}: field 'times' holds a negative time ({t[k]} s) at spike {k}")
    if u.size:
        if not np.issubdtype(u.dtype, np.integer):
            if np.issubdtype(u.dtype, np.floating) and np.all(np.isfinite(u)) and np.all(u == np.round(u)):
                u = u.astype(np.int64)
            else:
                raise InputError(f"{where}: field 'units' must hold integer channel ids, got dtype {u.dtype}")
        u = u.astype(np.int64, copy=False)
        if u.min() < 0 or u.max() >= n_in:
            k = int(np.flatnonzero((u < 0) | (u >= n_in))[0])
            raise InputError(
                f"{where}: field 'units' holds channel {u[k]} at spike {k}; expected 0..{n_in - 1}"
            )
    else:
        u = u.astype(np.int64)
    order = np.argsort(t, kind="stable")
    return np.ascontiguousarray(t[order]), np.ascontiguousarray(u[order])


def check_times(values, name: str, *, allow_empty: bool = True) -> np.ndarray:
    """Validate a 1-D array of finite, non-negative times in seconds (e.g. readout times)."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of seconds, got shape {a.shape}")
    if not allow_empty and a.size == 0:
        raise InputError(f"{name} must not be empty")
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
        raise InputError(f"{name} must hold finite times >= 0 s")
    return a


#: Spacing of the default readout times (s).
DEFAULT_READOUT_PERIOD = 1e-3
#: Tolerance, in units of ``dt``, of every time-to-step mapping (DESIGN.md section 1.4).
STEP_TOL = 1e-9


def resolve_window(
    times: np.ndarray, dt: float | None, t_end, readout_times
) -> tuple[float, np.ndarray]:
    """Resolve the simulated window and readout times (shared by the engine and the reference).

    Parameters
    ----------
    times : ndarray of float64
        Validated, sorted input spike times (s).
    dt : float or None
        Grid step (s) or None (continuous).
    t_end : float or None
        End of the window (s). Default: the last input spike time, rounded *up* to the grid in
        grid mode so that the step holding the last spike is simulated (0 without spikes).
    readout_times : array_like or None
        Times (s) in ``[0, t_end]``. Default: every 1 ms, ``k * 1e-3`` for
        ``k = 1 .. floor(t_end / 1e-3 + 1e-9)`` (clipped to ``t_end`` against rounding).

    Returns
    -------
    t_end : float
    readout_times : ndarray of float64, in the order given
    """
    if t_end is None:
        t_end_f = float(times[-1]) if times.size else 0.0
        if dt is not None:
            t_end_f = float(np.ceil(t_end_f / dt - STEP_TOL)) * dt
    else:
        try:
            t_end_f = float(t_end)
        except (TypeError, ValueError):
            raise InputError(f"t_end must be a number of seconds, got {t_end!r}") from None
        if not (np.isfinite(t_end_f) and t_end_f >= 0.0):
            raise InputError(f"t_end must be a finite time >= 0 s, got {t_end!r}")
    if readout_times is None:
        n_ro = int(np.floor(t_end_f / DEFAULT_READOUT_PERIOD + STEP_TOL))
        ro = np.minimum(np.arange(1, n_ro + 1) * DEFAULT_READOUT_PERIOD, t_end_f)
    else:
        ro = check_times(readout_times, "readout_times")
        if ro.size and ro.max() > t_end_f:
            k = int(np.argmax(ro))
            raise InputError(
                f"readout_times[{k}] = {ro[k]} s is after t_end = {t_end_f} s; "
                "readout times must lie in [0, t_end]"
            )
    return t_end_f, ro


def check_positive_time(x, name: str) -> float:
    """Validate a duration ``name``: a finite number of seconds > 0 (InputError otherwise)."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of seconds, got {x!r}") from None
    if not (np.isfinite(xf) and xf > 0.0):
        raise InputError(f"{name} must be a finite number of seconds > 0, got {x!r}")
    return xf


def check_dt(dt) -> float:
    """Validate a grid step: a finite number of seconds > 0."""
    return check_positive_time(dt, "dt")
