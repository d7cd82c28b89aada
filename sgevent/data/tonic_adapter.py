"""Convert any tonic dataset to a :class:`SpikeDataset`, once.

tonic datasets return ``(events, target)`` where ``events`` is a numpy structured array with a
time field ``t`` in microseconds and some of the address fields ``x``, ``y``, ``p``, and declare
``sensor_size = (W, H, P)`` at class level. sgevent wants one flat channel index per event and
float64 seconds, so the conversion is done here for a whole dataset and the result is reused.

DVS128 Gesture (``tonic.datasets.DVSGesture``: 128 x 128 x 2 sensor, 11 classes, 29 users,
events ``(x, y, p, t)`` with ``t`` in microseconds) goes through :func:`from_dvs_gesture`, which
applies tonic's own transforms to every sample (:func:`dvs_gesture_transform`): ``TimeAlignment``
(first event at t = 0), ``CropTime(max=t_max)`` (default the first 1.5 s, as long as the synthetic
gestures of :mod:`sgevent.data.gestures`) and ``Downsample(spatial_factor=size / 128)`` (default
32 x 32: tonic multiplies x and y by 0.25 and stores them back as integers, i.e. ``x // 4``, so each
output pixel pools 4 x 4 sensor pixels; no event is dropped). Polarity ``p`` (bool) becomes 1 = ON,
0 = OFF, the channel ``p * H * W + y * W + x`` and the result carries ``input_shape = (2, H, W)``;
``users`` becomes the speaker (subject) id. :func:`convert_dvs_gesture` does this once for both
splits and writes ``<out>/gestures_train.h5`` and ``gestures_test.h5`` in the layout of the synthetic
set, so everything downstream reads either with :func:`sgevent.data.shd.load_h5`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError, DataError

__all__ = ["from_tonic", "events_to_channels", "dvs_gesture_transform", "from_dvs_gesture", "convert_dvs_gesture",
           "DVS_GESTURE_SENSOR"]

US_PER_S = 1e6
#: ``tonic.datasets.DVSGesture.sensor_size``: (W, H, P).
DVS_GESTURE_SENSOR = (128, 128, 2)


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
    spatial: bool = False,
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
    spatial : bool
        Record the spatial shape ``input_shape = (P, H', W')`` of the channels (event cameras);
        False (default) leaves ``input_shape`` None, as for SHD.

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
        input_shape=(out_size[2], out_size[1], out_size[0]) if spatial else None,
    )


# ---------------------------------------------------------------------- DVS128 Gesture
def dvs_gesture_transform(size: int = 32, t_max_s: float | None = 1.5) -> Callable[[np.ndarray], np.ndarray]:
    """tonic's transforms for DVS Gesture: align to t = 0, crop to ``t_max_s``, downsample to ``size``.

    Parameters
    ----------
    size : int
        Output height = width in pixels, ``1 <= size <= 128``; the spatial factor is ``size / 128``.
    t_max_s : float or None
        Keep events with ``t <= t_max_s`` after alignment; None keeps the whole recording (note that
        the file layout stores float16 seconds: 2 ms resolution from 2 to 4 s, 4 ms from 4 to 8 s).

    Returns
    -------
    callable
        ``tonic.transforms.Compose`` of ``TimeAlignment``, ``CropTime`` (when ``t_max_s`` is set) and
        ``Downsample``, mapping a structured event array to a new one.
    """
    import tonic.transforms as tt

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= DVS_GESTURE_SENSOR[0]:
        raise ConfigError(f"size must be an int in 1..{DVS_GESTURE_SENSOR[0]}, got {size!r}")
    steps: list[Any] = [tt.TimeAlignment()]
    if t_max_s is not None:
        if not np.isfinite(t_max_s) or t_max_s <= 0:
            raise ConfigError(f"t_max_s must be a positive number of seconds or None, got {t_max_s!r}")
        steps.append(tt.CropTime(min=0, max=int(round(t_max_s * US_PER_S))))
    steps.append(tt.Downsample(spatial_factor=size / DVS_GESTURE_SENSOR[0]))
    return tt.Compose(steps)


class _Transformed:
    """A tonic dataset seen through a transform (empty samples pass unchanged), with the output sensor size."""

    def __init__(self, dataset: Any, transform: Callable[[np.ndarray], np.ndarray], size: int) -> None:
        self.dataset, self.transform = dataset, transform
        self.sensor_size = (size, size, DVS_GESTURE_SENSOR[2])
        self.classes = getattr(dataset, "classes", None)
        users = getattr(dataset, "users", None)
        self.speaker = None if users is None else np.asarray(users)
        self.location_on_system = getattr(dataset, "location_on_system", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any]:
        events, target = self.dataset[i]
        # Check the raw addresses on the full sensor first: tonic's Downsample would turn x = -1 into 0.
        events_to_channels(events, DVS_GESTURE_SENSOR, where=f"{type(self.dataset).__name__}: sample {i}")
        if events.shape[0]:
            events = self.transform(events)
        return events, target


def from_dvs_gesture(dataset: Any, *, size: int = 32, t_max_s: float | None = 1.5,
                     name: str | None = None) -> SpikeDataset:
    """Convert ``tonic.datasets.DVSGesture`` (or anything with its protocol) to a spatial :class:`SpikeDataset`.

    Parameters
    ----------
    dataset : tonic dataset
        ``dataset[i] -> (events, target)`` with events in ``DVSGesture.dtype`` (x, y int16; p bool;
        t int64 microseconds) on the 128 x 128 sensor; no transform set on it. ``dataset.users``
        (one id per sample), when present, becomes the speaker id.
    size : int
        Output height = width (default 32).
    t_max_s : float or None
        Crop after aligning the first event to 0 (default 1.5 s; None keeps everything).
    name : str, optional
        Name of the result (default ``"DVSGesture"``).

    Returns
    -------
    SpikeDataset
        ``2 * size**2`` channels ``p * size**2 + y * size + x``, ``input_shape = (2, size, size)``.

    Raises
    ------
    DataError
        As :func:`from_tonic`: a sample that is not a structured array, an address outside the
        128 x 128 sensor, a bad time or target (the message names the sample and field).
    """
    sensor = tuple(int(v) for v in getattr(dataset, "sensor_size", DVS_GESTURE_SENSOR))
    if sensor != DVS_GESTURE_SENSOR:
        raise ConfigError(f"{type(dataset).__name__}: sensor_size {sensor}; expected {DVS_GESTURE_SENSOR}")
    view = _Transformed(dataset, dvs_gesture_transform(size, t_max_s), size)
    return from_tonic(view, sensor_size=view.sensor_size, name=name or "DVSGesture", spatial=True)


def convert_dvs_gesture(root: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None, *,
                        size: int = 32, t_max_s: float | None = 1.5, download: bool = False) -> dict[str, Path]:
    """Read DVS Gesture with tonic once and write ``gestures_train.h5`` / ``gestures_test.h5``.

    Parameters
    ----------
    root : str or path-like
        tonic's ``save_to``: the recordings are under ``<root>/DVSGesture/ibmGestureTrain`` and
        ``ibmGestureTest``.
    out_dir : str or path-like, optional
        Where to write the files (default ``<root>/DVSGesture``).
    size, t_max_s : see :func:`from_dvs_gesture`.
    download : bool
        Let tonic download the archives (about 2.4 GB) when they are absent.

    Returns
    -------
    dict
        ``{"train": path, "test": path}``.

    Raises
    ------
    DataError
        If the recordings are absent and ``download`` is False, or tonic fails.
    """
    from sgevent.data.shd_writer import write_shd_h5

    root = Path(root).expanduser()
    out = root / "DVSGesture" if out_dir is None else Path(out_dir)
    paths = {}
    for split in ("train", "test"):
        ds = from_dvs_gesture(_open_dvs_gesture(root, split == "train", download), size=size, t_max_s=t_max_s,
                              name=f"DVSGesture {split}")
        out.mkdir(parents=True, exist_ok=True)
        paths[split] = out / f"gestures_{split}.h5"
        samples = [ds.sample(i)[:2] for i in range(len(ds))]
        speakers = np.maximum(ds.speakers, 0)
        write_shd_h5(paths[split], [s[0] for s in samples], [s[1] for s in samples], ds.labels, speakers,
                     ds.class_names, n_channels=ds.n_channels, input_shape=ds.input_shape,
                     attrs={"source": "tonic.datasets.DVSGesture", "size": int(size),
                            "t_max_s": -1.0 if t_max_s is None else float(t_max_s)})
    return paths


def _open_dvs_gesture(root: Path, train: bool, download: bool) -> Any:
    import tonic.datasets as tds

    folder = root / "DVSGesture" / ("ibmGestureTrain" if train else "ibmGestureTest")
    if not download and not folder.is_dir():
        raise DataError(f"{folder}: DVS Gesture recordings not found and download=False; download "
                        f"{tds.DVSGesture.train_url if train else tds.DVSGesture.test_url} and unpack it there")
    try:
        return tds.DVSGesture(save_to=str(root), train=train)
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{folder}: tonic could not open or download DVS Gesture "
                        f"({type(exc).__name__}: {exc})") from exc
