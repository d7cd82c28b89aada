"""Convert any tonic dataset to a :class:`SpikeDataset`, once.

tonic datasets return ``(events, target)`` where ``events`` is a numpy structured array with a
time field ``t`` in microseconds and some of the address fields ``x``, ``y``, ``p``, and declare
``sensor_size = (W, H, P)`` at class level. sgevent wants one flat channel index per event and
float64 seconds, so the conversion is done here for a whole dataset and the result is reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError, DataError

__all__ = ["from_tonic", "events_to_channels"]

US_PER_S = 1e6


def _factors(downsample: int | Sequence[int] | None) -> tuple[int, int]:
    if downsample is None:
        return 1, 1
    if isinstance(downsample, (int, np.integer)) and not isinstance(downsample, bool):
        fx = fy = int(downsample)
    else:
        vals = tuple(downsample)
        if len(vals) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals
        ):
            raise ConfigError(
                f"downsample must be an int or a pair of ints (factor_x, factor_y), got "
                f"{downsample!r}"
            )
        fx, fy = int(vals[0]), int(vals[1])
    if fx < 1 or fy < 1:
        raise ConfigError(f"downsample factors must be >= 1, got ({fx}, {fy})")
    return fx, fy


def _address(events: np.ndarray, name: str, size: int, where: str, sensor_size) -> np.ndarray:
    """Integer address field ``name`` (0 when absent), checked to lie in ``0..size-1`` (not for p)."""
    if name not in events.dtype.names:
        return np.zeros(events.shape[0], dtype=np.int64)
    v = events[name]
    if v.dtype == bool:
        v = v.astype(np.int64)
    if v.size and not np.issubdtype(v.dtype, np.integer):
        if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
            raise DataError(
                f"{where}, field '{name}': has non-integer values; expected integer "
                "addresses"
            )
    v = v.astype(np.int64)
    if name == "p":
        return v
    bad = np.flatnonzero((v < 0) | (v >= size))
    if bad.size:
        raise DataError(
            f"{where}, field '{name}': event {bad[0]} is {v[bad[0]]}; expected 0..{size - 1} "
            f"(sensor_size={tuple(sensor_size)})"
        )
    return v


def _polarity(events: np.ndarray, n_pol: int, where: str, sensor_size) -> np.ndarray:
    """Polarity channel 0..P-1 (``{-1, 1}`` maps to ``{0, 1}`` when P == 2; ignored when P == 1)."""
    if n_pol == 1:
        return np.zeros(events.shape[0], dtype=np.int64)
    p = _address(events, "p", n_pol, where, sensor_size)
    if n_pol == 2 and p.size and p.min() == -1 and np.all((p == -1) | (p == 1)):
        p = (p > 0).astype(np.int64)
    bad = np.flatnonzero((p < 0) | (p >= n_pol))
    if bad.size:
        raise DataError(
            f"{where}, field 'p': event {bad[0]} is {p[bad[0]]}; expected 0..{n_pol - 1}"
        )
    return p


def events_to_channels(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    *,
    downsample: int | Sequence[int] | None = None,
    where: str = "events",
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Turn one tonic event array into sgevent times and flat channels.

    Parameters
    ----------
    events : structured ndarray, shape (n_events,)
        tonic events with field ``t`` (microseconds) and any of ``x``, ``y``, ``p``; an absent
        address field counts as 0.
    sensor_size : tuple of int
        tonic's ``(W, H, P)``: sizes of x, y and polarity.
    downsample : int or (int, int), optional
        Integer pooling factors ``(f_x, f_y)`` (an int means both): ``x // f_x`` and
        ``y // f_y``, so the grid becomes ``ceil(W / f_x) x ceil(H / f_y)``.
    where : str
        Name of the sample for error messages.

    Returns
    -------
    times : ndarray of float64, shape (n_events,)
        ``t / 1e6`` seconds (unsorted, as given).
    channels : ndarray of int64, shape (n_events,)
        ``channel = (p * H' + y') * W' + x'`` with the downsampled sizes ``W'``, ``H'``.
    out_size : tuple of int
        ``(W', H', P)``; the number of channels is ``W' * H' * P``.

    Notes
    -----
    Polarity: when ``P == 1`` the ``p`` field is ignored (tonic's SHD sets ``p = 1`` with
    ``sensor_size = (700, 1, 1)``). When ``P == 2`` and the values are in ``{-1, 1}``, ``-1``
    maps to 0 (OFF) and ``1`` to 1 (ON); otherwise ``p`` must be in ``0..P-1``.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise DataError(
            f"{where}, field 'events': got {type(events).__name__}; expected a numpy structured "
            "array with fields t (us) and x/y/p (remove frame/tensor transforms)"
        )
    if "t" not in events.dtype.names:
        raise DataError(
            f"{where}, field 't': missing; the events have fields {events.dtype.names}, expected "
            "a time field 't' in microseconds"
        )
    events = np.ravel(events)
    w, h, n_pol = (int(s) for s in sensor_size)
    fx, fy = _factors(downsample)
    w_out, h_out = -(-w // fx), -(-h // fy)

    x = _address(events, "x", w, where, sensor_size)
    y = _address(events, "y", h, where, sensor_size)
    p = _polarity(events, n_pol, where, sensor_size)
    t = events["t"].astype(np.float64) / US_PER_S
    channels = (p * h_out + y // fy) * w_out + x // fx
    return t, channels, (w_out, h_out, n_pol)


def _class_names(dataset: Any, n_classes: int) -> tuple[str, ...]:
    classes = getattr(dataset, "classes", None)
    if classes is None:
        return ()
    try:
        names = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                 for c in list(classes)]
    except TypeError:
        return ()
    return tuple(names) if len(names) == n_classes else ()


def _sensor_size(dataset: Any, sensor_size) -> tuple[int, int, int]:
    if sensor_size is None:
        sensor_size = getattr(dataset, "sensor_size", None)
        if sensor_size is None:
            raise ConfigError(
                f"{type(dataset).__name__} has no sensor_size; pass sensor_size=(W, H, P)"
            )
    sensor_size = tuple(int(s) for s in sensor_size)
    if len(sensor_size) != 3 or min(sensor_size) < 1:
        raise ConfigError(f"sensor_size must be three positive ints (W, H, P), got {sensor_size}")
    return sensor_size


def _n_classes(dataset: Any, labels: np.ndarray) -> int:
    classes = getattr(dataset, "classes", None)
    if classes is not None and len(classes) > 0:
        return len(classes)
    return int(labels.max()) + 1 if labels.size else 1


def _speakers(dataset: Any, n: int) -> np.ndarray | None:
    spk = getattr(dataset, "speaker", None)
    if spk is None:
        return None
    spk = np.asarray(spk)
    if spk.ndim == 1 and spk.shape[0] == n and np.issubdtype(spk.dtype, np.integer):
        return spk.astype(np.int64)
    return None


def from_tonic(
    dataset: Any,
    *,
    sensor_size: tuple[int, int, int] | None = None,
    downsample: int | Sequence[int] | None = None,
    n_classes: int | None = None,
    name: str | None = None,
) -> SpikeDataset:
    """Convert a tonic dataset to a :class:`SpikeDataset` (read every sample once).

    Parameters
    ----------
    dataset : tonic dataset
        Anything with ``len()`` and ``dataset[i] -> (events, target)``; ``events`` is a
        structured array with ``t`` in microseconds and fields among ``x``, ``y``, ``p``;
        ``target`` an integer class. Set no frame/tensor transform on it.
    sensor_size : (int, int, int), optional
        ``(W, H, P)``; default ``dataset.sensor_size``. Audio datasets are ``(n, 1, 1)``.
    downsample : int or (int, int), optional
        Integer spatial pooling factors on x and y (e.g. 4 turns DVS Gesture's 128 x 128 x 2
        into 32 x 32 x 2 = 2048 channels).
    n_classes : int, optional
        Number of classes; default ``len(dataset.classes)`` when present, else
        ``max(label) + 1``.
    name : str, optional
        Name of the result; default the dataset's class name.

    Returns
    -------
    SpikeDataset
        Times in float64 seconds (``t / 1e6``), each sample sorted by time (stable); channel
        ``(p * H' + y') * W' + x'`` (see :func:`events_to_channels`); speakers from
        ``dataset.speaker`` when it holds one id per sample (tonic's SHD/SSC), else -1.

    Raises
    ------
    DataError
        If a sample is not a structured array, an address is outside the sensor, a time is
        negative or non-finite, or a target is not one integer.

    Notes
    -----
    tonic's SHD/SSC compute ``t = float64(float16 seconds) * 1e6`` and store it in an integer
    field, which truncates towards zero: the times returned here are the file's times rounded
    *down* to whole microseconds, i.e. within 1 us (1e-6 s) of :func:`~sgevent.data.shd.load_h5`
    on the same file, never above them.
    """
    sensor_size = _sensor_size(dataset, sensor_size)
    name = type(dataset).__name__ if name is None else name
    source = f"{type(dataset).__module__}.{type(dataset).__name__}"
    location = getattr(dataset, "location_on_system", None)
    if location:
        source += f" at {location}"

    times_list, units_list, labels = [], [], []
    out_size = sensor_size
    for i in range(len(dataset)):
        events, target = dataset[i]
        where = f"{source}: sample {i}"
        t, ch, out_size = events_to_channels(
            events, sensor_size, downsample=downsample, where=where
        )
        tgt = np.asarray(target)
        if tgt.size != 1 or not np.issubdtype(tgt.dtype, np.integer):
            raise DataError(
                f"{where}, field 'target': got {target!r}; expected one integer class "
                "(remove one-hot target transforms)"
            )
        times_list.append(t)
        units_list.append(ch)
        labels.append(int(tgt.reshape(())))
    n_channels = out_size[0] * out_size[1] * out_size[2]
    labels_arr = np.asarray(labels, dtype=np.int64)
    if n_classes is None:
        n_classes = _n_classes(dataset, labels_arr)
    speakers = _speakers(dataset, len(labels))
    return SpikeDataset.from_lists(
        times_list,
        units_list,
        labels_arr,
        speakers,
        n_channels=n_channels,
        n_classes=int(n_classes),
        class_names=_class_names(dataset, int(n_classes)),
        name=name,
        source=source,
    )
