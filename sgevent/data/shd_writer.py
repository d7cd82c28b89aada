"""Write spike datasets in the exact HDF5 layout of the Spiking Heidelberg Digits (SHD).

Layout written by :func:`write_shd_h5` (the one the official files and ``tonic.datasets.SHD``
use)::

    spikes/times     (n_samples,) vlen float16   spike times in seconds
    spikes/units     (n_samples,) vlen uint16    channel of each spike, 0..n_channels-1
    labels           (n_samples,) uint16         class index
    extra/speaker    (n_samples,) uint16         speaker id
    extra/keys       (n_classes,) vlen ASCII     class names as bytes, e.g. b"english-zero"
    extra/meta_info/ optional group of per-speaker arrays (name -> array)

File attributes (``attrs``) may record provenance; readers of SHD ignore them. Event-camera sets
(:mod:`sgevent.data.gestures`, DVS Gesture through :mod:`sgevent.data.tonic_adapter`) store
``units = p * H * W + y * W + x`` and the file attribute ``input_shape = (P, H, W)`` (int64), which
:func:`sgevent.data.shd.load_h5` returns as ``SpikeDataset.input_shape``. The files are
byte-for-byte reproducible for equal input: h5py does not record object modification times
(``track_times`` off) and nothing else time-dependent is written.

:func:`write_tonic_zip` writes ``<name>.h5.zip`` beside the ``.h5``: ``tonic.datasets.SHD``
only checks that the archive exists and that its folder holds an ``.h5`` file, then reads the
``.h5``. The archive holds the ``.h5`` itself (deflated, fixed timestamp, so it is reproducible
too), like the official download.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.dataset import INPUT_SHAPE_ATTR, check_input_shape
from sgevent.errors import DataError

__all__ = ["write_shd_h5", "write_tonic_zip", "INPUT_SHAPE_ATTR"]


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _check_sample(path: str, i: int, t: np.ndarray, u: np.ndarray, n_channels: int) -> None:
    if t.ndim != 1 or u.ndim != 1 or t.shape[0] != u.shape[0]:
        raise DataError(
            f"{path}: sample {i}: times and units must be 1-D arrays of equal length, got "
            f"shapes {t.shape} and {u.shape}"
        )
    if t.size and not (np.all(np.isfinite(t)) and t.min() >= 0 and t.max() <= 65504.0):
        raise DataError(
            f"{path}: sample {i}, field 'spikes/times': expected finite seconds in "
            "[0, 65504] (float16 range)"
        )
    if u.size and (u.min() < 0 or u.max() >= n_channels):
        raise DataError(
            f"{path}: sample {i}, field 'spikes/units': got channel range "
            f"{int(u.min())}..{int(u.max())}; expected 0..{n_channels - 1}"
        )


def write_shd_h5(
    path: str | os.PathLike[str],
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    speakers: Sequence[int] | np.ndarray,
    keys: Sequence[str],
    *,
    n_channels: int = 700,
    meta_info: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, Any] | None = None,
    input_shape: Sequence[int] | None = None,
) -> Path:
    """Write one split in the SHD HDF5 layout.

    Parameters
    ----------
    path : str or path-like
        Output ``.h5`` file (overwritten). Its folder must exist.
    times : sequence of array_like, length n_samples
        Per-sample spike times in seconds; stored as float16 (as in SHD: resolution 2**-11 s
        below 1 s, 2**-10 s from 1 to 2 s).
    units : sequence of array_like of int, length n_samples
        Per-sample channels, ``0 <= unit < n_channels``; stored as uint16.
    labels : array_like of int, shape (n_samples,)
        Class of each sample, ``0 <= label < len(keys)``.
    speakers : array_like of int, shape (n_samples,)
        Speaker id of each sample, ``0..65535``.
    keys : sequence of str
        Class names (ASCII), index = label.
    n_channels : int
        Number of channels (700 for SHD).
    meta_info : mapping of str to array_like, optional
        Arrays stored under ``extra/meta_info/<name>`` (str items are stored as ASCII bytes).
    attrs : mapping, optional
        File attributes (str, numbers or arrays), e.g. the generator's parameters.
    input_shape : sequence of int, optional
        Spatial shape ``(P, H, W)`` of the channels (``unit = p * H * W + y * W + x``), stored as
        the attribute :data:`INPUT_SHAPE_ATTR`; its product must equal ``n_channels``. None
        (SHD) writes no such attribute.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    DataError
        If lengths disagree or a value does not fit the layout (names the sample and field).
    """
    import h5py  # local: importing sgevent.data must not pull in h5py

    path = Path(path)
    where = str(path)
    n = len(times)
    if len(units) != n:
        raise DataError(f"{where}: got {n} time arrays but {len(units)} unit arrays")
    labels = _check_ids(where, "labels", labels, n, len(keys) - 1)
    speakers = _check_ids(where, "extra/speaker", speakers, n, 65535)
    try:
        keys_b = [k.encode("ascii") for k in keys]
    except UnicodeEncodeError as exc:
        raise DataError(f"{where}: field 'extra/keys': class names must be ASCII ({exc})") from exc
    shape = None if input_shape is None else check_input_shape(where, input_shape, n_channels)
    if shape is not None and n_channels > 65536:
        raise DataError(f"{where}: n_channels is {n_channels}; the layout stores units as uint16 (at most 65536)")
    t16, u16 = _samples(where, times, units, n_channels)

    ascii_dt = h5py.string_dtype(encoding="ascii")
    with h5py.File(path, "w", track_order=False) as f:
        g = f.create_group("spikes")
        _write_vlen(g, "times", t16, np.float16)
        _write_vlen(g, "units", u16, np.uint16)
        f.create_dataset("labels", data=labels.astype(np.uint16), track_times=False)
        e = f.create_group("extra")
        e.create_dataset("speaker", data=speakers.astype(np.uint16), track_times=False)
        e.create_dataset("keys", data=np.array(keys_b, dtype=object), dtype=ascii_dt, track_times=False)
        if meta_info:
            _write_meta(e.create_group("meta_info"), meta_info)
        for name, value in (attrs or {}).items():
            f.attrs[name] = value
        if shape is not None:
            f.attrs[INPUT_SHAPE_ATTR] = np.asarray(shape, dtype=np.int64)
    return path



def _check_ids(where: str, name: str, values: Any, n: int, hi: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise DataError(f"{where}: field '{name}': shape {arr.shape}, expected ({n},)")
    if n and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > hi):
        raise DataError(f"{where}: field '{name}': expected integers in 0..{hi}")
    return arr


def _samples(where: str, times: Sequence[np.ndarray], units: Sequence[np.ndarray],
             n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked per-sample float16 times and uint16 units, in object arrays filled element-wise
    (np.array(list) would make a 2-D array when all samples have the same length)."""
    n = len(times)
    t16 = np.empty(n, dtype=object)
    u16 = np.empty(n, dtype=object)
    for i in range(n):
        t = np.asarray(times[i], dtype=np.float64)
        u = np.asarray(units[i])
        _check_sample(where, i, t, u, n_channels)
        t16[i] = t.astype(np.float16)
        u16[i] = u.astype(np.uint16)
    return t16, u16


def _write_vlen(group: Any, name: str, items: np.ndarray, dtype: Any) -> None:
    """A (n,) variable-length dataset. h5py turns an object array of equal-length arrays into a
    2-D array and fails to broadcast it, so that case is written sample by sample."""
    import h5py

    ds = group.create_dataset(name, shape=(items.shape[0],), dtype=h5py.vlen_dtype(np.dtype(dtype)),
                              track_times=False)
    if not items.shape[0]:
        return
    if len({a.shape[0] for a in items}) > 1:
        ds[...] = items
    else:
        for i, a in enumerate(items):
            ds[i] = a


def _write_meta(group: Any, meta_info: Mapping[str, np.ndarray]) -> None:
    import h5py

    ascii_dt = h5py.string_dtype(encoding="ascii")
    for name, value in meta_info.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "U":
            arr = np.array([s.encode("ascii") for s in arr.ravel()], dtype=object)
            group.create_dataset(name, data=arr, dtype=ascii_dt, track_times=False)
        else:
            group.create_dataset(name, data=arr, track_times=False)


def write_tonic_zip(h5_path: str | os.PathLike[str]) -> Path:
    """Write ``<h5_path>.zip`` holding the ``.h5`` file, as ``tonic.datasets.SHD`` expects.

    Parameters
    ----------
    h5_path : str or path-like
        An existing ``.h5`` file, e.g. ``<root>/SHD/shd_train.h5``.

    Returns
    -------
    pathlib.Path
        The archive ``<h5_path>.zip`` (deflated, member timestamp 1980-01-01, reproducible).
    """
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise DataError(f"{h5_path}: file not found; write the .h5 before its tonic archive")
    zip_path = h5_path.with_name(h5_path.name + ".zip")
    info = zipfile.ZipInfo(h5_path.name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(zip_path, "w") as z, open(h5_path, "rb") as src:
        with z.open(info, "w") as dst:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                dst.write(chunk)
    return zip_path
