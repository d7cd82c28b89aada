"""Readers of the Spiking Heidelberg Datasets (SHD and SSC) from the Zenke lab.

The official files (https://zenkelab.org/datasets/) are HDF5 files with this layout::

    spikes/times    vlen float16, one array per sample, seconds
    spikes/units    vlen uint16, one array per sample, channels 0..699
    labels          (n_samples,) integer class
    extra/speaker   (n_samples,) integer speaker id
    extra/keys      (n_classes,) bytes, class names
    extra/meta_info optional group (speaker gender, age, ...), not read here

Event-camera sets in this layout (:mod:`sgevent.data.gestures`, DVS Gesture converted by
:mod:`sgevent.data.tonic_adapter`) add the file attribute ``input_shape = (P, H, W)`` with
``unit = p * H * W + y * W + x``; :func:`load_h5` then returns it as ``SpikeDataset.input_shape``
and takes the number of channels from it.

:func:`load_h5` reads such a file with h5py directly: the variable-length arrays are read in bulk,
float16 times are cast to float64 before any arithmetic (float16 has an 11-bit mantissa and
overflows at 65504, so even ``t * 1e6`` would be ``inf``), every sample is validated and the file
handle is always closed. ``tonic.datasets.SHD/SSC`` are used only to download the archives.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from sgevent.data.dataset import INPUT_SHAPE_ATTR, SpikeDataset, check_input_shape, sample_of_event, sort_within_samples
from sgevent.data.splits import speaker_split
from sgevent.errors import ConfigError, DataError

__all__ = [
    "HSDMeta",
    "SHD",
    "SSC",
    "load_h5",
    "load_split",
    "find_or_download",
    "speaker_split",
    "clear_cache",
    "split_files",
]

BASE_URL = "https://zenkelab.org/datasets/"
#: Default largest spike time :func:`load_h5` accepts (s). SHD/SSC samples last under 1.5 s; a
#: time past this is taken as a unit error (microseconds stored as seconds), not as data.
MAX_TIME_S = 1000.0


@dataclass(frozen=True)
class HSDMeta:
    """Class-level description of one Heidelberg spiking dataset (SHD or SSC).

    Parameters
    ----------
    name : str
        ``"SHD"`` or ``"SSC"``; also the sub-folder of the data root (tonic's layout).
    n_channels : int
        Number of input channels (700 cochlea-model fibres).
    n_classes : int
        Number of classes.
    files : mapping of str to str
        Split name -> HDF5 file name, e.g. ``{"train": "shd_train.h5"}``.
    n_samples : mapping of str to int
        Split name -> number of samples of the official file.
    urls : mapping of str to str
        Split name -> URL of the zip archive holding the HDF5 file.
    md5 : mapping of str to str
        Split name -> md5 sum of the zip archive.
    """

    name: str
    n_channels: int
    n_classes: int
    files: Mapping[str, str] = field(hash=False)
    n_samples: Mapping[str, int] = field(hash=False)
    urls: Mapping[str, str] = field(hash=False)
    md5: Mapping[str, str] = field(hash=False)

    def __post_init__(self) -> None:
        for name in ("files", "n_samples", "urls", "md5"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def splits(self) -> tuple[str, ...]:
        """Names of the splits, e.g. ``("train", "test")``."""
        return tuple(self.files)

    def check_split(self, split: str) -> None:
        """Raise :class:`~sgevent.errors.ConfigError` unless ``split`` is one of :attr:`splits`."""
        if split not in self.files:
            raise ConfigError(
                f"{self.name} has no split {split!r}; expected one of {', '.join(self.splits)}"
            )


def _meta(name: str, n_classes: int, n_samples: dict[str, int], md5: dict[str, str]) -> HSDMeta:
    files = {split: f"{name.lower()}_{split}.h5" for split in n_samples}
    urls = {split: f"{BASE_URL}{files[split]}.zip" for split in n_samples}
    return HSDMeta(name, 700, n_classes, files, n_samples, urls, md5)


# The md5 sums of the zip archives are those tonic 1.7.0 holds in tonic/datasets/hsd.py
# (classes SHD and SSC, attributes train_md5 / test_md5 / valid_md5).
SHD = _meta(
    "SHD",
    20,
    {"train": 8156, "test": 2264},
    {"train": "f3252aeb598ac776c1b526422d90eecb", "test": "1503a5064faa34311c398fb0a1ed0a6f"},
)
SSC = _meta(
    "SSC",
    35,
    {"train": 75466, "valid": 9981, "test": 20382},
    {
        "train": "d102be95e7144fcc0553d1f45ba94170",
        "valid": "b4eee3516a4a90dd0c71a6ac23a8ae43",
        "test": "a35ff1e9cffdd02a20eb850c17c37748",
    },
)

_CACHE: dict[tuple[Any, ...], SpikeDataset] = {}


def clear_cache() -> None:
    """Forget every dataset kept by :func:`load_h5`."""
    _CACHE.clear()


# ---------------------------------------------------------------------- reading
def _read_field(f: Any, path: str, key: str, n_expected: int | None) -> np.ndarray:
    """Read one dataset of an open file, turning h5py failures into DataError."""
    if key not in f:
        group = key.rsplit("/", 1)[0] if "/" in key else None
        what = (
            f"group '{group}'" if group is not None and group not in f else f"dataset '{key}'"
        )
        raise DataError(
            f"{path}: sample index: none (whole file), field '{key}': the file has no {what}; "
            "expected the SHD/SSC layout spikes/times, spikes/units, labels, extra/keys "
            "(and optionally extra/speaker)"
        )
    dset = f[key]
    try:
        return dset[()]
    except (OSError, RuntimeError, ValueError) as exc:
        # Find the first sample that cannot be read, so the message can name it.
        bad = "unknown"
        n = dset.shape[0] if dset.shape else 0
        for i in range(n if n_expected is None else min(n, n_expected)):
            try:
                dset[i]
            except (OSError, RuntimeError, ValueError):
                bad = str(i)
                break
        raise DataError(
            f"{path}: sample {bad}, field '{key}': cannot be read ({exc}); the file is "
            "truncated or corrupt, expected a complete SHD/SSC HDF5 file (download it again)"
        ) from exc


def _where_event(path: str, offsets: np.ndarray, event_idx: int) -> tuple[int, int]:
    i = int(sample_of_event(offsets, event_idx))
    return i, int(event_idx - offsets[i])


def _read_raw(path: str) -> dict[str, Any]:
    """The raw fields of an SHD-layout file (the file is always closed)."""
    import h5py  # kept local: importing sgevent.data must not pull in h5py

    try:
        f = h5py.File(path, "r")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found; expected an SHD/SSC HDF5 file") from exc
    except OSError as exc:
        raise DataError(
            f"{path}: sample index: none (file could not be opened), field: none: cannot open "
            f"as HDF5 ({exc}); the file is truncated or corrupt, expected a complete SHD/SSC "
            "HDF5 file (download it again)"
        ) from exc
    with f:
        labels = _read_field(f, path, "labels", None)
        if np.ndim(labels) != 1:
            raise DataError(f"{path}: field 'labels': expected a 1-D array, got shape {np.shape(labels)}")
        n = int(np.shape(labels)[0])
        return {
            "n": n,
            "labels": labels,
            "spikes/times": _read_field(f, path, "spikes/times", n),
            "spikes/units": _read_field(f, path, "spikes/units", n),
            "extra/keys": _read_field(f, path, "extra/keys", None),
            "extra/speaker": _read_field(f, path, "extra/speaker", n) if "extra/speaker" in f else None,
            INPUT_SHAPE_ATTR: f.attrs.get(INPUT_SHAPE_ATTR),
        }


def _check_shapes(path: str, raw: dict[str, Any]) -> None:
    n = raw["n"]
    for key in ("spikes/times", "spikes/units"):
        arr = raw[key]
        if np.ndim(arr) != 1 or arr.shape[0] != n:
            raise DataError(
                f"{path}: sample index: none, field '{key}': has shape {np.shape(arr)}; "
                f"expected one variable-length array per sample ({n} samples, as in 'labels')"
            )
    spk = raw["extra/speaker"]
    if spk is not None and (np.ndim(spk) != 1 or spk.shape[0] != n):
        raise DataError(
            f"{path}: sample index: none, field 'extra/speaker': has shape "
            f"{np.shape(spk)}; expected one speaker id per sample ({n})"
        )


def _class_names(path: str, keys_raw: Any, n_classes: int | None) -> tuple[tuple[str, ...], int]:
    keys = tuple(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in np.ravel(keys_raw))
    if n_classes is None:
        n_classes = len(keys)
    elif len(keys) != n_classes:
        raise DataError(f"{path}: field 'extra/keys': holds {len(keys)} class names; expected {n_classes}")
    if n_classes < 1:
        raise DataError(f"{path}: field 'extra/keys': is empty; expected the class names")
    return keys, n_classes


def _offsets(path: str, raw: dict[str, Any]) -> np.ndarray:
    n = raw["n"]
    n_t = np.fromiter((np.size(a) for a in raw["spikes/times"]), dtype=np.int64, count=n)
    n_u = np.fromiter((np.size(a) for a in raw["spikes/units"]), dtype=np.int64, count=n)
    bad = np.flatnonzero(n_t != n_u)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: sample {i}, field 'spikes/units': has {n_u[i]} units for {n_t[i]} times "
            "in 'spikes/times'; expected one unit per spike time"
        )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_t, out=offsets[1:])
    return offsets


def _event_dtypes(path: str, raw: dict[str, Any], offsets: np.ndarray) -> None:
    """Float seconds and integer channels; integer times are refused (usually microseconds)."""
    i = int(np.flatnonzero(np.diff(offsets))[0])  # first sample with events
    t_dtype = np.asarray(raw["spikes/times"][i]).dtype
    u_dtype = np.asarray(raw["spikes/units"][i]).dtype
    if t_dtype.kind in "iu":
        raise DataError(
            f"{path}: sample {i}, field 'spikes/times': integer dtype {t_dtype}; expected float seconds "
            "(integer times are usually microseconds, tonic's convention: store t / 1e6 as float)"
        )
    if t_dtype.kind != "f":
        raise DataError(f"{path}: sample {i}, field 'spikes/times': dtype {t_dtype}; expected float seconds")
    if u_dtype.kind not in "iu":
        raise DataError(f"{path}: sample {i}, field 'spikes/units': dtype {u_dtype}; expected integer channels")


def _bad_event(path: str, offsets: np.ndarray, bad: np.ndarray, field: str, value: Any, expected: str) -> DataError:
    i, k = _where_event(path, offsets, bad[0])
    return DataError(f"{path}: sample {i}, field '{field}': event {k} is {value}; expected {expected}")


def _events(path: str, raw: dict[str, Any], offsets: np.ndarray, n_channels: int,
            max_time_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 times and int64 units, checked (finite, 0 <= t <= max_time_s, channel range)."""
    if not (raw["n"] and offsets[-1]):
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
    _event_dtypes(path, raw, offsets)
    # concatenating float16 arrays is exact (no arithmetic); cast to float64 before anything else
    times = np.concatenate(list(raw["spikes/times"])).astype(np.float64)
    units = np.concatenate(list(raw["spikes/units"])).astype(np.int64)
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise _bad_event(path, offsets, bad, "spikes/times", float(times[bad[0]]), "a finite time in seconds")
    bad = np.flatnonzero(times < 0)
    if bad.size:
        raise _bad_event(path, offsets, bad, "spikes/times", f"{float(times[bad[0]])} s", "a time >= 0 s")
    bad = np.flatnonzero(times > max_time_s)
    if bad.size:
        raise _bad_event(path, offsets, bad, "spikes/times", f"{float(times[bad[0]])} s",
                         f"a time in seconds of at most max_time_s = {max_time_s:g} s (microseconds or "
                         "milliseconds stored as seconds?)")
    bad = np.flatnonzero((units < 0) | (units >= n_channels))
    if bad.size:
        raise _bad_event(path, offsets, bad, "spikes/units", units[bad[0]],
                         f"a channel in 0..{n_channels - 1} (n_channels={n_channels})")
    return times, units


def _labels(path: str, labels_raw: np.ndarray, n_classes: int, n_keys: int) -> np.ndarray:
    if labels_raw.size and labels_raw.dtype.kind not in "iu":
        raise DataError(
            f"{path}: sample index: none, field 'labels': dtype {labels_raw.dtype}; expected integer classes"
        )
    labels = labels_raw.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: sample {i}, field 'labels': got {labels[i]}; expected a class in "
            f"0..{n_classes - 1} ({n_keys} names in 'extra/keys', n_classes={n_classes})"
        )
    return labels


def _speakers(path: str, speakers_raw: np.ndarray | None, n: int) -> np.ndarray:
    if speakers_raw is None:
        return np.full(n, -1, dtype=np.int64)
    if speakers_raw.size and speakers_raw.dtype.kind not in "iu":
        raise DataError(
            f"{path}: sample index: none, field 'extra/speaker': dtype {speakers_raw.dtype}; expected integer "
            "speaker ids"
        )
    speakers = speakers_raw.astype(np.int64)
    bad = np.flatnonzero(speakers < -1)
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: sample {i}, field 'extra/speaker': got {speakers[i]}; expected a speaker id >= 0")
    return speakers


def _channels(path: str, shape_raw: Any, n_channels: int | None) -> tuple[int, tuple[int, ...] | None]:
    """Number of channels and spatial shape: from the file's ``input_shape`` attribute when present."""
    if shape_raw is None:
        return (700 if n_channels is None else n_channels), None
    arr = np.ravel(np.asarray(shape_raw))
    if arr.dtype.kind not in "iu":
        raise DataError(f"{path}: field '{INPUT_SHAPE_ATTR}' (file attribute): got {shape_raw!r}; expected "
                        "positive integers (P, H, W)")
    shape = check_input_shape(path, arr, int(np.prod(arr)))
    total = int(np.prod(shape))
    if n_channels is not None and n_channels != total:
        raise DataError(f"{path}: field '{INPUT_SHAPE_ATTR}' (file attribute): the file's input shape {shape} holds "
                        f"{total} channels; expected n_channels = {n_channels} (pass n_channels={total} or None)")
    return total, shape


def _read_h5(path: str, n_channels: int | None, n_classes: int | None, name: str,
             max_time_s: float = MAX_TIME_S) -> SpikeDataset:
    raw = _read_raw(path)
    n_channels, input_shape = _channels(path, raw[INPUT_SHAPE_ATTR], n_channels)
    _check_shapes(path, raw)
    keys, n_classes = _class_names(path, raw["extra/keys"], n_classes)
    offsets = _offsets(path, raw)
    times, units = _events(path, raw, offsets, n_channels, max_time_s)
    labels = _labels(path, raw["labels"], n_classes, len(keys))
    speakers = _speakers(path, raw["extra/speaker"], raw["n"])
    del raw
    times, units = sort_within_samples(times, units, offsets)
    return SpikeDataset(times=times, units=units.astype(np.int32), offsets=offsets, labels=labels,
                        speakers=speakers, n_channels=n_channels, n_classes=n_classes, class_names=keys,
                        name=name, source=path, input_shape=input_shape)


def load_h5(
    path: str | os.PathLike[str],
    *,
    n_channels: int | None = None,
    n_classes: int | None = None,
    name: str | None = None,
    cache: bool = True,
    max_time_s: float = MAX_TIME_S,
) -> SpikeDataset:
    """Read an SHD/SSC HDF5 file into a :class:`SpikeDataset`.

    Parameters
    ----------
    path : str or path-like
        The ``.h5`` file (e.g. ``<root>/SHD/shd_train.h5``).
    n_channels : int, optional
        Number of input channels; every unit must be below it. Default: the product of the
        file's ``input_shape`` attribute when it has one, else 700 (SHD/SSC). When given and the
        file has ``input_shape``, the two must agree.
    n_classes : int, optional
        Number of classes; by default the number of names in ``extra/keys``. When given, it must
        equal that number.
    name : str, optional
        Name used in summaries (default: the file's stem, e.g. ``"shd_train"``).
    cache : bool
        Keep the result in memory, keyed by the resolved path, modification time and size of
        the file (so a rewritten file is read again). The arrays are read-only, so sharing is
        safe; :func:`clear_cache` empties the cache.
    max_time_s : float
        Largest spike time accepted (s), default :data:`MAX_TIME_S`. Integer times (e.g. tonic's
        uint32 microseconds) are refused whatever their values: the layout stores float seconds.

    Returns
    -------
    SpikeDataset
        Times in float64 seconds (cast from float16 before any arithmetic), each sample sorted
        by time with a stable sort; speakers ``-1`` when the file has no ``extra/speaker``;
        ``input_shape`` the file's attribute of that name, None when absent.

    Raises
    ------
    DataError
        If the file is missing, truncated or corrupt (h5py raises ``OSError``), lacks a group or
        dataset, or a sample has mismatched times/units lengths, a unit ``>= n_channels``, a
        non-finite or negative time, or a label outside ``0..n_classes-1``. The message names
        the file, the sample index and the field, and says what was expected.
    """
    p = Path(path).expanduser()
    try:
        resolved = p.resolve(strict=True)
        st = resolved.stat()
    except (FileNotFoundError, OSError) as exc:
        raise DataError(
            f"{p}: file not found; expected an SHD/SSC HDF5 file (see find_or_download)"
        ) from exc
    name = p.stem if name is None else name
    n_channels = None if n_channels is None else int(n_channels)
    key = (str(resolved), st.st_mtime_ns, st.st_size, n_channels, n_classes, name, float(max_time_s))
    if cache and key in _CACHE:
        return _CACHE[key]
    ds = _read_h5(str(resolved), n_channels, n_classes, name, float(max_time_s))
    if cache:
        _CACHE[key] = ds
    return ds


# ---------------------------------------------------------------------- locating files
def split_files(path: str | os.PathLike[str]) -> dict[str, Path]:
    """SHD-layout files under ``path``: one file (keyed by its stem), or a folder's ``*_<split>.h5``.

    Raises
    ------
    DataError
        The folder holds no ``.h5`` file, or two files of the same split (e.g. ``shd_train.h5``
        and ``ssc_train.h5``): which one is meant is then not guessed.
    """
    path = Path(path)
    if path.is_file():
        return {path.stem: path}
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder; expected an .h5 file or a folder with *_train.h5")
    found: dict[str, list[Path]] = {}
    for p in sorted(path.glob("*.h5")):
        found.setdefault(p.stem.rsplit("_", 1)[-1], []).append(p)
    if not found:
        raise DataError(f"{path}: no .h5 files found (expected e.g. shd_train.h5, shd_test.h5)")
    for split, files in found.items():
        if len(files) > 1:
            raise DataError(f"{path}: {len(files)} files for split {split!r} ({', '.join(p.name for p in files)}); "
                            "expected one: move the others to another folder")
    return {split: files[0] for split, files in found.items()}


def _missing_message(meta: HSDMeta, split: str, root: Path, reason: str) -> str:
    folder = root / meta.name
    h5 = meta.files[split]
    return (
        f"{meta.name} {split}: {folder / h5} is not there and {reason}. Download "
        f"{meta.urls[split]} (md5 {meta.md5[split]}) by hand, unzip it and put both "
        f"{h5} and {h5}.zip in {folder}/ (that is also where tonic.datasets.{meta.name} "
        "looks), then run again."
    )


def find_or_download(
    meta: HSDMeta, split: str, root: str | os.PathLike[str], download: bool = True
) -> Path:
    """Return the path of a split's HDF5 file, downloading it through tonic when absent.

    Parameters
    ----------
    meta : HSDMeta
        :data:`SHD` or :data:`SSC`.
    split : str
        One of ``meta.splits``.
    root : str or path-like
        Data root; the file is ``<root>/<meta.name>/<file>``, e.g. ``<root>/SHD/shd_train.h5``
        (the folder tonic uses).
    download : bool
        When the file is absent, download it with ``tonic.datasets.SHD(save_to=root,
        train=...)`` or ``tonic.datasets.SSC(save_to=root, split=...)``; tonic checks the zip's
        md5 after downloading and unzips it beside the ``.h5``.

    Returns
    -------
    pathlib.Path
        The ``.h5`` file.

    Raises
    ------
    ConfigError
        If ``split`` is not a split of ``meta``.
    DataError
        If the file is absent and ``download`` is False, or the download fails (no network,
        bad checksum); the message says which files to put where.
    """
    meta.check_split(split)
    root = Path(root).expanduser()
    h5 = root / meta.name / meta.files[split]
    if h5.is_file():
        return h5
    if not download:
        raise DataError(_missing_message(meta, split, root, "download=False"))
    try:
        import tonic.datasets as tds

        if meta.name == "SHD":
            tds.SHD(save_to=str(root), train=(split == "train"))
        elif meta.name == "SSC":
            tds.SSC(save_to=str(root), split=split)
        else:
            raise DataError(_missing_message(meta, split, root, "tonic cannot download it"))
    except DataError:
        raise
    except (OSError, RuntimeError, ValueError, zipfile.BadZipFile, ImportError) as exc:
        reason = f"the download failed ({type(exc).__name__}: {exc})"
        raise DataError(_missing_message(meta, split, root, reason)) from exc
    if not h5.is_file():
        raise DataError(_missing_message(meta, split, root, "tonic did not produce it"))
    return h5


def load_split(
    meta: HSDMeta,
    split: str,
    root: str | os.PathLike[str],
    *,
    download: bool = True,
    check_count: bool = True,
) -> SpikeDataset:
    """Locate (or download) and read one split of SHD or SSC.

    Parameters
    ----------
    meta : HSDMeta
        :data:`SHD` or :data:`SSC`.
    split : str
        One of ``meta.splits``.
    root : str or path-like
        Data root holding ``<meta.name>/<file>``.
    download : bool
        Passed to :func:`find_or_download`.
    check_count : bool
        Check that the file has ``meta.n_samples[split]`` samples (catches partial files and
        files of the other dataset).

    Returns
    -------
    SpikeDataset
        Named ``"<meta.name> <split>"``, e.g. ``"SHD train"``.

    Raises
    ------
    DataError
        As :func:`find_or_download` and :func:`load_h5`, or when the sample count is wrong.
    """
    path = find_or_download(meta, split, root, download=download)
    ds = load_h5(path, n_channels=meta.n_channels, n_classes=meta.n_classes,
                 name=f"{meta.name} {split}")
    expected = meta.n_samples[split]
    if check_count and len(ds) != expected:
        raise DataError(
            f"{path}: sample index: none, field 'labels': the file has {len(ds)} samples; "
            f"expected {expected} for {meta.name} {split} (incomplete file or another dataset)"
        )
    return ds
