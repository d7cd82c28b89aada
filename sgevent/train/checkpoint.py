"""Checkpoints: one generic HDF5 writer/reader for nested plain data, with a format version stamp.

A *payload* is a nested ``dict`` (string keys) whose leaves are numpy arrays, numpy scalars,
Python ``None``/``bool``/``int``/``float``/``str``, and lists or dicts of these. It maps to HDF5
as follows (one rule per type, applied recursively by :func:`write_tree` / :func:`read_tree`):

=====================================  =============================================================
value                                  stored as
=====================================  =============================================================
``dict``                               group, attribute ``__kind__ = "dict"`` and ``__keys__`` (the
                                       keys in order, JSON)
``list``/``tuple`` holding arrays,     group, ``__kind__ = "list"``, ``__length__``; item ``i``
numpy scalars or such containers       under the name ``"i"``
numpy array (bool, int, uint, float,   dataset, ``__kind__ = "array"`` (unicode arrays: UTF-8
complex, bytes, unicode)               strings, ``__kind__ = "str_array"``)
numpy scalar                           0-d dataset, ``__kind__ = "scalar"``
JSON-able value (``None``, ``bool``,   JSON string attribute of the parent group, named by its key
``int``, ``float``, ``str`` and        (a string dataset with ``__kind__ = "json"`` if longer than
lists/dicts of only these)             16,000 characters: HDF5 attributes are limited to 64 KiB)
=====================================  =============================================================

Round trip: arrays come back with their dtype and shape, numpy scalars as numpy scalars, JSON
values exactly (Python ints of any size, floats including NaN/inf); tuples come back as lists.
The root group carries ``__format__ = "sgevent-checkpoint"`` and ``__format_version__``; a file
with another version is refused rather than guessed at. Keys starting with ``"__"`` or holding
``"/"`` are reserved.

Integrity: every dataset carries the CRC-32 of its dtype, shape and bytes (``__crc32__``) and
every group the CRC-32 of each of its JSON attributes (``__json_crc32__``); :func:`load_checkpoint`
verifies them and raises DataError naming the key that fails, so random bytes on disk or a weight
edited after the fact never load silently. (Files written before the checksums load unverified.)

:func:`save_checkpoint` replaces the file atomically: a crash or an exception while writing
leaves the previous checkpoint intact. h5py is imported only when a file is written or read.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sgevent.errors import ConfigError, DataError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "save_checkpoint",
    "load_checkpoint",
    "write_tree",
    "read_tree",
    "atomic_path",
    "network_to_payload",
    "payload_to_network",
    "rng_state",
    "rng_from_state",
]

FORMAT_NAME = "sgevent-checkpoint"
FORMAT_VERSION = 1

_KIND = "__kind__"
_KEYS = "__keys__"
_LENGTH = "__length__"
_ARRAY_KINDS = "biufcS"
_MAX_ATTR_CHARS = 16_000
_CRC = "__crc32__"            # attribute of every dataset: CRC-32 of its dtype, shape and bytes
_JSON_CRC = "__json_crc32__"  # attribute of every group: {key: CRC-32} of its JSON attributes


def _crc_array(a: np.ndarray) -> int:
    """CRC-32 of an array's dtype, shape and contents (what a corrupt file changes)."""
    a = np.ascontiguousarray(a)
    head = f"{a.dtype.str}{a.shape}".encode()
    return zlib.crc32(memoryview(a).cast("B") if a.size else b"", zlib.crc32(head))


def _crc_text(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


# ---------------------------------------------------------------------- atomic replacement
@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and move it over ``path``.

    Parameters
    ----------
    path : path-like
        Final file. Its directory must exist.

    Yields
    ------
    pathlib.Path
        Temporary file in the same directory (so :func:`os.replace` is atomic). Write it
        completely and close it inside the ``with`` block.

    Notes
    -----
    If the block raises, the temporary file is removed and ``path`` is left as it was. After the
    replacement the directory is fsynced (where the OS allows it) so the rename survives a crash.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DataError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:  # some filesystems refuse fsync on directories; the data is safe anyway
            pass


# ---------------------------------------------------------------------- generic writer
def _is_json(x: Any) -> bool:
    """True for None/bool/int/float/str (exact Python types) and lists/dicts of only these."""
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return True
    if t in (list, tuple):
        return all(_is_json(a) for a in x)
    if t is dict:
        return all(type(k) is str and _is_json(a) for k, a in x.items())
    return False


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise DataError(f"cannot save key {key!r} at '{where or '/'}': keys must be strings")
    if not key or key.startswith("__") or "/" in key or key == ".":
        raise DataError(
            f"cannot save key {key!r} at '{where or '/'}': keys must be non-empty, must not start "
            "with '__' (reserved) and must not contain '/'"
        )
    return key


def _write_node(group: Any, key: str, value: Any, where: str) -> int | None:
    """Write ``value`` as ``group[key]`` (a group, a dataset or a JSON attribute of ``group``).

    Every dataset gets the CRC-32 of its contents as an attribute; for a JSON attribute the CRC
    is returned, and the caller records it in the group's ``__json_crc32__``.
    """
    import h5py

    path = f"{where}/{key}" if where else key
    if _is_json(value):
        text = json.dumps(value, allow_nan=True)
        if len(text) <= _MAX_ATTR_CHARS:
            group.attrs[key] = text
            return _crc_text(text)
        # HDF5 attributes are limited to 64 KiB: large JSON goes to a string dataset
        ds = group.create_dataset(key, data=text, dtype=h5py.string_dtype("utf-8"))
        ds.attrs[_KIND] = "json"
        ds.attrs[_CRC] = _crc_text(text)
    elif isinstance(value, dict):
        sub = group.create_group(key, track_order=True)
        write_tree(sub, value, path)
    elif isinstance(value, (list, tuple)):
        sub = group.create_group(key, track_order=True)
        sub.attrs[_KIND] = "list"
        sub.attrs[_LENGTH] = len(value)
        _write_items(sub, [(str(i), item) for i, item in enumerate(value)], path)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in _ARRAY_KINDS:
            ds = group.create_dataset(key, data=value)
            ds.attrs[_KIND] = "array"
            ds.attrs[_CRC] = _crc_array(value)
        elif value.dtype.kind == "U":
            ds = group.create_dataset(key, data=value.astype(object), dtype=h5py.string_dtype("utf-8"))
            ds.attrs[_KIND] = "str_array"
            ds.attrs[_CRC] = _crc_text("\x00".join(value.ravel().tolist()))
        else:
            raise DataError(
                f"cannot save '{path}': arrays of dtype {value.dtype} are not supported "
                "(expected bool, integer, float, complex, bytes or str)"
            )
    elif isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        ds = group.create_dataset(key, data=value)
        ds.attrs[_KIND] = "scalar"
        ds.attrs[_CRC] = _crc_array(np.asarray(value))
    else:
        raise DataError(
            f"cannot save '{path}': values of type {type(value).__name__} are not supported "
            "(expected dict, list, numpy array or scalar, None, bool, int, float or str)"
        )
    return None


def _write_items(group: Any, items: list[tuple[str, Any]], where: str) -> None:
    """Write ``items`` into ``group`` and record the CRCs of its JSON attributes."""
    crcs = {}
    for k, v in items:
        crc = _write_node(group, k, v, where)
        if crc is not None:
            crcs[k] = crc
    group.attrs[_JSON_CRC] = json.dumps(crcs)


def write_tree(group: Any, tree: dict[str, Any], where: str = "") -> None:
    """Write the nested dict ``tree`` into the open h5py group ``group`` (see module notes).

    Parameters
    ----------
    group : h5py.Group
        Empty group (or file) to fill.
    tree : dict
        Payload with string keys.
    where : str
        Path of ``group`` inside the payload, for error messages.
    """
    if not isinstance(tree, dict):
        raise DataError(f"cannot save '{where or '/'}': expected a dict, got {type(tree).__name__}")
    keys = [_check_key(k, where) for k in tree]
    group.attrs[_KIND] = "dict"
    group.attrs[_KEYS] = json.dumps(keys)
    _write_items(group, [(k, tree[k]) for k in keys], where)


# ---------------------------------------------------------------------- generic reader
def _read_entry(group: Any, key: str, file: str, where: str) -> Any:
    path = f"{where}/{key}" if where else key
    if key in group:
        return _read_object(group[key], file, path)
    if key in group.attrs:
        text = group.attrs[key]
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        _verify(_json_crcs(group, file, where).get(key), _crc_text(str(text)), file, path)
        try:
            return json.loads(text)
        except (TypeError, ValueError) as e:
            raise DataError(f"{file}: key '{path}' holds malformed JSON ({e})") from None
    raise DataError(f"{file}: key '{path}' is missing (the file is incomplete or corrupt)")


def _json_crcs(group: Any, file: str, where: str) -> dict[str, int]:
    """The group's recorded CRCs of its JSON attributes ({} for files written before them)."""
    text = group.attrs.get(_JSON_CRC)
    if text is None:
        return {}
    try:
        crcs = json.loads(text)
    except (TypeError, ValueError):
        crcs = None
    if not isinstance(crcs, dict):
        raise DataError(f"{file}: group '{where or '/'}' has a corrupt checksum list (attribute '{_JSON_CRC}')")
    return crcs


def _verify(recorded: Any, actual: int, file: str, path: str) -> None:
    """DataError unless ``recorded`` (None: not recorded, older file) equals ``actual``."""
    if recorded is None:
        return
    if isinstance(recorded, np.generic):
        recorded = recorded.item()
    if recorded != actual:
        raise DataError(f"{file}: key '{path}' fails its checksum (stored CRC-32 {recorded}, contents give "
                        f"{actual}): the file is corrupt or was changed after it was written")


def _read_dataset(obj: Any, kind: Any, file: str, path: str) -> Any:
    crc = obj.attrs.get(_CRC)
    if kind in ("array", "scalar"):
        value = obj[...] if kind == "array" else obj[()]
        _verify(crc, _crc_array(np.asarray(value)), file, path)
        return value
    if kind == "json":
        text = obj.asstr()[()]
        _verify(crc, _crc_text(text), file, path)
        try:
            return json.loads(text)
        except (TypeError, ValueError) as e:
            raise DataError(f"{file}: key '{path}' holds malformed JSON ({e})") from None
    if kind == "str_array":
        value = np.asarray(obj.asstr()[...], dtype=str)
        _verify(crc, _crc_text("\x00".join(value.ravel().tolist())), file, path)
        return value
    return _UNKNOWN


_UNKNOWN = object()


def _read_object(obj: Any, file: str, path: str) -> Any:
    import h5py

    kind = obj.attrs.get(_KIND)
    if isinstance(obj, h5py.Group):
        if kind == "dict":
            return read_tree(obj, file, path)
        if kind == "list":
            n = int(obj.attrs[_LENGTH])
            return [_read_entry(obj, str(i), file, path) for i in range(n)]
        raise DataError(f"{file}: group '{path}' has unknown kind {kind!r} (expected 'dict' or 'list')")
    value = _read_dataset(obj, kind, file, path)
    if value is not _UNKNOWN:
        return value
    raise DataError(f"{file}: dataset '{path}' has unknown kind {kind!r} (expected 'array', 'scalar' or 'str_array')")


def read_tree(group: Any, file: str = "<hdf5>", where: str = "") -> dict[str, Any]:
    """Read a group written by :func:`write_tree` back into a nested dict.

    Parameters
    ----------
    group : h5py.Group
    file : str
        File name for error messages.
    where : str
        Path of ``group`` inside the payload, for error messages.

    Raises
    ------
    DataError
        A key is missing, malformed or unreadable (names the file and the key).
    """
    if group.attrs.get(_KIND) != "dict" or _KEYS not in group.attrs:
        raise DataError(f"{file}: group '{where or '/'}' is not a stored dict (attribute '{_KEYS}' missing)")
    try:
        keys = json.loads(group.attrs[_KEYS])
    except (TypeError, ValueError) as e:
        raise DataError(f"{file}: group '{where or '/'}' has a malformed key list ({e})") from None
    out: dict[str, Any] = {}
    for k in keys:
        try:
            out[k] = _read_entry(group, k, file, where)
        except DataError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            path = f"{where}/{k}" if where else k
            raise DataError(f"{file}: cannot read key '{path}' ({type(e).__name__}: {e})") from None
    return out


# ---------------------------------------------------------------------- files
def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to the HDF5 file ``path``, replacing it atomically.

    Parameters
    ----------
    path : path-like
        Destination (its directory must exist).
    payload : dict
        Nested plain data (see module notes), e.g. ``{"network": network_to_payload(net),
        "optimizer": opt.state_dict(), "rng": rng_state(rng), "epoch": 3}``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    DataError
        A value cannot be stored (names its key); ``path`` is then left unchanged.
    """
    import h5py

    from sgevent import __version__

    path = Path(path)
    if not isinstance(payload, dict):
        raise DataError(f"cannot save {path}: the payload must be a dict, got {type(payload).__name__}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["__format__"] = FORMAT_NAME
            f.attrs["__format_version__"] = FORMAT_VERSION
            f.attrs["__sgevent_version__"] = __version__
            write_tree(f, payload)
            f.flush()
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint`.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict
        The payload (arrays as numpy arrays, sequences as lists).

    Raises
    ------
    DataError
        The file is missing, not HDF5, truncated or corrupt, not an sgevent checkpoint, of
        another format version, or lacks a key (the message names the file and the key).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint file {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"checkpoint file {path} is not a readable HDF5 file (truncated or corrupt?): {e}") from None
    with f:
        fmt = f.attrs.get("__format__")
        if fmt != FORMAT_NAME:
            raise DataError(
                f"{path} is not an sgevent checkpoint: attribute '__format__' is {fmt!r}, expected {FORMAT_NAME!r}"
            )
        version = f.attrs.get("__format_version__")
        if isinstance(version, (np.integer, np.ndarray)) and np.ndim(version) == 0:
            version = int(version)
        if version != FORMAT_VERSION:
            raise DataError(
                f"{path}: checkpoint format version {version!r} is not supported; this sgevent reads "
                f"version {FORMAT_VERSION}"
            )
        return read_tree(f, str(path))


# ---------------------------------------------------------------------- typed helpers
def network_to_payload(net: Any) -> dict[str, Any]:
    """Plain-data form of a :class:`sgevent.Network` for a checkpoint (``Network.to_dict``)."""
    return net.to_dict()


def payload_to_network(d: dict[str, Any]) -> Any:
    """Rebuild a :class:`sgevent.Network` from :func:`network_to_payload` output.

    Raises
    ------
    DataError
        The stored description is incomplete or invalid.
    """
    from sgevent.model.network import Network

    try:
        return Network.from_dict(d)
    except ConfigError as e:
        raise DataError(f"stored network is invalid: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise DataError(f"stored network is incomplete or malformed ({type(e).__name__}: {e})") from None


_RNG_NAME_KEY = "bit_generator"


def _ints_to_str(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _ints_to_str(a) for k, a in x.items()}
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return str(int(x))
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


def _str_to_ints(x: Any, key: str = "") -> Any:
    if isinstance(x, dict):
        return {k: _str_to_ints(a, k) for k, a in x.items()}
    if isinstance(x, str) and key != _RNG_NAME_KEY:
        return int(x)
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """Exact state of ``rng`` as plain data (its integers, which exceed 64 bits, as strings).

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``rng.bit_generator.state`` with every integer written in decimal as a string and
        arrays copied (PCG64, PCG64DXSM, MT19937, Philox and SFC64 are supported).
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return _ints_to_str(rng.bit_generator.state)


def rng_from_state(d: dict[str, Any]) -> np.random.Generator:
    """A new Generator in exactly the state recorded by :func:`rng_state`.

    Raises
    ------
    DataError
        Unknown bit generator or malformed state.
    """
    name = d.get(_RNG_NAME_KEY) if isinstance(d, dict) else None
    cls = getattr(np.random, str(name), None) if name else None
    if cls is None or not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
        raise DataError(f"random state names unknown bit generator {name!r}")
    try:
        bg = cls()
        bg.state = _str_to_ints(d)
    except (TypeError, ValueError, KeyError) as e:
        raise DataError(f"random state for {name} is malformed: {e}") from None
    return np.random.Generator(bg)
