"""Run directories: everything one training run leaves behind, under ``runs/<name>/``.

Layout::

    runs/<name>/
        config.json           resolved configuration (written once, atomically)
        provenance.json       git revision and dirty flag, package versions, platform, seed,
                              command line, start time
        provenance_resume_<n>.json   the same for the n-th resumed leg (and what it changed)
        metrics.jsonl         one JSON object per line, one line per epoch (appended, fsynced)
        results.json          final results (replaced atomically)
        checkpoint_last.h5    latest checkpoint  (written by :func:`sgevent.train.checkpoint.save_checkpoint`)
        checkpoint_prev.h5    the checkpoint before it (the fallback when the latest is damaged)
        checkpoint_best.h5    best checkpoint so far

Every other file is written atomically (temporary file, fsync, :func:`os.replace`). A process killed
mid-write leaves at most a stale ``.<name>.<random>.tmp``; :meth:`RunDir.recover` (run on every
resume) removes those, writes a missing ``provenance.json`` and cuts ``metrics.jsonl`` back to one
line per epoch up to the checkpoint the run resumes from.

JSON is written with Python's ``json`` module: NaN and infinity appear as ``NaN``/``Infinity``
(read back exactly by :meth:`RunDir.read_metrics`); numpy arrays and scalars are converted to
lists and numbers.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import secrets
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from sgevent.errors import ConfigError, DataError
from sgevent.train.checkpoint import atomic_path

__all__ = ["RunDir", "provenance", "git_info", "to_jsonable"]

UNKNOWN = "unknown"


# ---------------------------------------------------------------------- JSON helpers
def to_jsonable(x: Any, where: str = "value") -> Any:
    """Convert ``x`` to plain JSON data (numpy arrays -> lists, numpy scalars -> numbers,
    paths -> strings, tuples -> lists, objects with ``to_dict`` -> their dict).

    Raises
    ------
    ConfigError
        A value has no JSON form (names its key).
    """
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, float)) and not isinstance(x, np.generic):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    return _container_to_json(x, where)


def _container_to_json(x: Any, where: str) -> Any:
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where}: JSON keys must be strings, got {k!r}")
            out[k] = to_jsonable(v, f"{where}.{k}")
        return out
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "to_dict") and callable(x.to_dict):
        return to_jsonable(x.to_dict(), where)
    raise ConfigError(f"{where}: values of type {type(x).__name__} cannot be written as JSON")


def _write_json_atomic(path: Path, data: Any, where: str) -> None:
    """Temporary file, fsync, :func:`os.replace` (:func:`sgevent.train.checkpoint.atomic_path`)."""
    text = json.dumps(to_jsonable(data, where), indent=2) + "\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as e:
        raise DataError(f"{path} is not valid JSON: {e}") from None


# ---------------------------------------------------------------------- provenance
def git_info(repo_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Git revision and dirty flag of the source tree holding ``repo_dir``.

    Parameters
    ----------
    repo_dir : path-like, optional
        Directory inside the repository (default: the directory of the ``sgevent`` package, so
        the revision is that of the code that ran, not of the working directory).

    Returns
    -------
    dict
        ``{"revision": <sha or "unknown">, "dirty": <bool or "unknown">}``; ``"unknown"`` when
        git is missing or the directory is not in a repository.
    """
    d = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parent
    info: dict[str, Any] = {"revision": UNKNOWN, "dirty": UNKNOWN}
    try:
        rev = subprocess.run(
            ["git", "-C", str(d), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if rev.returncode != 0:
            return info
        info["revision"] = rev.stdout.strip()
        st = subprocess.run(
            ["git", "-C", str(d), "status", "--porcelain"], capture_output=True, text=True, timeout=30
        )
        if st.returncode == 0:
            info["dirty"] = bool(st.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(
    seed: int | None = None,
    argv: Sequence[str] | None = None,
    repo_dir: str | os.PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What produced a run: code revision, package versions, platform, seed, command line, time.

    Parameters
    ----------
    seed : int, optional
        Root seed of the run.
    argv : list of str, optional
        Command line (default ``sys.argv``).
    repo_dir : path-like, optional
        Passed to :func:`git_info`.
    extra : dict, optional
        More JSON-able facts to record, e.g. ``{"backend": ...}`` (runtime options that are not
        configuration, such as the Dask cluster that ran the steps).

    Returns
    -------
    dict
        JSON-able.
    """
    from sgevent import __version__

    now = _dt.datetime.now(_dt.timezone.utc)
    out = {
        "git": git_info(repo_dir),
        "versions": {
            "sgevent": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": _version("numba"),
            "h5py": _version("h5py"),
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "python_implementation": platform.python_implementation(),
        },
        "seed": None if seed is None else int(seed),
        "argv": list(sys.argv if argv is None else argv),
        "start_time": now.isoformat(timespec="seconds"),
        "start_time_local": now.astimezone().isoformat(timespec="seconds"),
    }
    out.update(extra or {})
    return out


# ---------------------------------------------------------------------- run directory
def _make_run_path(root: Path, name: str | None, exist_ok: bool) -> tuple[Path, bool]:
    """Create ``root/name`` (or a unique timestamped name); returns it and whether it existed."""
    root.mkdir(parents=True, exist_ok=True)
    if name is None:
        while True:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = root / f"{stamp}-{secrets.token_hex(3)}"
            try:
                path.mkdir()
                return path, False
            except FileExistsError:  # pragma: no cover - 1 in 16 million
                continue
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ConfigError(f"run name must be a plain directory name, got {name!r}")
    path = root / name
    try:
        path.mkdir()
        return path, False
    except FileExistsError:
        if not exist_ok:
            raise ConfigError(
                f"run directory {path} already exists; choose another name or resume with exist_ok=True"
            ) from None
        if not path.is_dir():
            raise ConfigError(f"{path} exists and is not a directory") from None
        return path, True


class RunDir:
    """One run's directory and its files.

    Use :meth:`RunDir.create` for a new run and :meth:`RunDir.open` to resume or inspect one;
    the constructor only wraps an existing directory.

    Parameters
    ----------
    path : path-like
        Existing run directory.
    """

    CONFIG = "config.json"
    PROVENANCE = "provenance.json"
    METRICS = "metrics.jsonl"
    RESULTS = "results.json"
    CHECKPOINT_LAST = "checkpoint_last.h5"
    CHECKPOINT_BEST = "checkpoint_best.h5"
    CHECKPOINT_PREV = "checkpoint_prev.h5"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"run directory {self.path} does not exist")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        root: str | os.PathLike = "runs",
        name: str | None = None,
        *,
        config: Any = None,
        seed: int | None = None,
        argv: Sequence[str] | None = None,
        exist_ok: bool = False,
        extra_provenance: Mapping[str, Any] | None = None,
    ) -> "RunDir":
        """Create ``root/name/`` and write ``config.json`` and ``provenance.json``.

        Parameters
        ----------
        root : path-like
            Parent directory (created if needed). Default ``"runs"``.
        name : str, optional
            Run name (one path component). None: ``YYYYmmdd-HHMMSS-<6 hex>``, unique.
        config : dict or object with ``to_dict``, optional
            Resolved configuration, written to ``config.json`` (skipped if None).
        seed : int, optional
            Recorded in ``provenance.json``.
        argv : list of str, optional
            Command line for ``provenance.json`` (default ``sys.argv``).
        exist_ok : bool
            Allow an existing ``root/name`` (resuming). Its ``config.json`` and
            ``provenance.json`` are kept; a new provenance is appended as
            ``provenance_resume_<n>.json``.
        extra_provenance : dict, optional
            Passed to :func:`provenance` as ``extra``.

        Raises
        ------
        ConfigError
            ``name`` is not a plain directory name, or the run exists and ``exist_ok`` is False.
        """
        path, resumed = _make_run_path(Path(root), name, exist_ok)
        run = cls(path)
        prov = provenance(seed=seed, argv=argv, extra=extra_provenance)
        if not resumed or not run.config_path.exists():
            if config is not None:
                run.write_config(config)
        if not resumed or not run.provenance_path.exists():
            _write_json_atomic(run.provenance_path, prov, "provenance")
        else:
            n = 1
            while (run.path / f"provenance_resume_{n}.json").exists():
                n += 1
            _write_json_atomic(run.path / f"provenance_resume_{n}.json", prov, "provenance")
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        """Wrap an existing run directory (DataError if it does not exist)."""
        return cls(path)

    # ------------------------------------------------------------------ paths
    @property
    def name(self) -> str:
        """Directory name of the run."""
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def provenance_path(self) -> Path:
        return self.path / self.PROVENANCE

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def results_path(self) -> Path:
        return self.path / self.RESULTS

    @property
    def checkpoint_last(self) -> Path:
        """Path of the latest checkpoint (``checkpoint_last.h5``)."""
        return self.path / self.CHECKPOINT_LAST

    @property
    def checkpoint_prev(self) -> Path:
        """Path of the checkpoint before the latest (``checkpoint_prev.h5``)."""
        return self.path / self.CHECKPOINT_PREV

    @property
    def checkpoint_best(self) -> Path:
        """Path of the best checkpoint (``checkpoint_best.h5``)."""
        return self.path / self.CHECKPOINT_BEST

    # ------------------------------------------------------------------ files
    def write_config(self, config: Any) -> Path:
        """Write the resolved configuration (dict or object with ``to_dict``) atomically."""
        _write_json_atomic(self.config_path, config, "config")
        return self.config_path

    def read_config(self) -> dict[str, Any]:
        """Contents of ``config.json`` (DataError if missing or malformed)."""
        return _read_json(self.config_path)

    def read_provenance(self) -> dict[str, Any]:
        """Contents of ``provenance.json`` (DataError if missing or malformed)."""
        return _read_json(self.provenance_path)

    def log_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Append one record (e.g. one epoch's metrics) as a JSON line, flushed and fsynced.

        A line cut short by a kill is ignored by :meth:`read_metrics` and removed by
        :meth:`recover` before a resumed run appends again.

        Raises
        ------
        ConfigError
            ``metrics`` is not a mapping or holds a value with no JSON form.
        """
        if not isinstance(metrics, Mapping):
            raise ConfigError(f"metrics must be a dict, got {type(metrics).__name__}")
        line = json.dumps(to_jsonable(metrics, "metrics"))
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _write_metrics(self, records: Sequence[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in records)
        with atomic_path(self.metrics_path) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)

    # ------------------------------------------------------------------ recovery after a kill
    def sweep_temporary(self) -> list[Path]:
        """Remove stale temporary files (``.<name>.*.tmp``) left by a killed writer."""
        stale = [p for p in self.path.glob(".*.tmp") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def truncate_metrics(self, max_epoch: int) -> None:
        """Keep one record per epoch, for epochs ``<= max_epoch`` (the last record of each wins)."""
        by_epoch: dict[int, dict[str, Any]] = {}
        for rec in self.read_metrics():
            epoch = rec.get("epoch")
            if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch <= max_epoch:
                by_epoch[epoch] = rec
        self._write_metrics([by_epoch[e] for e in sorted(by_epoch)])

    def recover(self, max_epoch: int, *, seed: int | None = None, argv: Sequence[str] | None = None) -> None:
        """Repair the side files after a kill: sweep temporary files, write a missing
        ``provenance.json``, cut ``metrics.jsonl`` to one line per epoch ``<= max_epoch``."""
        self.sweep_temporary()
        if not self.provenance_path.exists():
            _write_json_atomic(self.provenance_path, provenance(seed=seed, argv=argv), "provenance")
        self.truncate_metrics(max_epoch)

    def record_resume(self, *, seed: int | None = None, argv: Sequence[str] | None = None,
                      extra: Mapping[str, Any] | None = None) -> Path:
        """Write ``provenance_resume_<n>.json`` for a resumed leg (``extra``: e.g. its changes)."""
        n = 1
        while (self.path / f"provenance_resume_{n}.json").exists():
            n += 1
        path = self.path / f"provenance_resume_{n}.json"
        _write_json_atomic(path, provenance(seed=seed, argv=argv, extra=extra), "provenance")
        return path

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of ``metrics.jsonl`` in order ([] if there is none yet).

        A last line without its newline (a write cut short by a crash) is ignored.

        Raises
        ------
        DataError
            A complete line is not a JSON object (names the file and line number).
        """
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, encoding="utf-8") as fh:
            text = fh.read()
        lines = text.split("\n")
        complete, partial = lines[:-1], lines[-1]
        del partial  # an unterminated last line is an interrupted append
        out = []
        for i, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise DataError(f"{self.metrics_path}, line {i}: not valid JSON ({e})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{self.metrics_path}, line {i}: expected a JSON object, got {type(rec).__name__}")
            out.append(rec)
        return out

    def write_results(self, results: Mapping[str, Any]) -> Path:
        """Write ``results.json`` atomically (the previous one survives a failed write)."""
        _write_json_atomic(self.results_path, results, "results")
        return self.results_path

    def read_results(self) -> dict[str, Any]:
        """Contents of ``results.json`` (DataError if missing or malformed)."""
        return _read_json(self.results_path)
