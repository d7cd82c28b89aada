"""A guard for Numba's on-disk cache (``cache=True``) of this package.

Numba keys a cached function by its own source file only. A function that calls, or inlines
(``inline="always"``), a kernel of another module keeps its cached machine code when only that
other module changes, so an edit to, say, :mod:`sgevent.engine.layer` would leave the event loop
of :mod:`sgevent.engine.loop` running the old kernel, silently. :func:`check_numba_cache`
therefore stamps a digest of every module of the package beside the caches and, when the digest
differs (the code changed: an edit, a checkout, an upgrade), removes every cache file of the
package before anything is loaded or compiled. It runs on ``import sgevent``; hashing the
sources takes a few milliseconds.

Where it does nothing: with ``NUMBA_CACHE_DIR`` set (the caches are then not beside the
sources; clear that directory yourself after changing the code), or where the package directory
is not writable (an installed, unedited package). Importing this module runs the check.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["check_numba_cache", "source_digest", "STAMP_NAME"]

STAMP_NAME = "numba-sources.sha256"


def source_digest(root: Path) -> str:
    """SHA-256 over the relative paths and contents of every ``*.py`` file under ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def check_numba_cache(root: str | Path | None = None) -> bool:
    """Remove the package's Numba cache files if its sources changed since they were stamped.

    Parameters
    ----------
    root : path, optional
        The package directory (default: this package).

    Returns
    -------
    bool
        True if the cache files were removed (and the new digest stamped), False if the stamp
        matched or the guard does not apply (module notes).
    """
    if root is None:
        if os.environ.get("NUMBA_CACHE_DIR"):
            return False
        root = Path(__file__).resolve().parent
    root = Path(root)
    stamp = root / "__pycache__" / STAMP_NAME
    try:
        digest = source_digest(root)
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        for cached in list(root.rglob("*.nbi")) + list(root.rglob("*.nbc")):
            cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f"{STAMP_NAME}.{os.getpid()}.tmp")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)  # atomic: a concurrent import sees the old stamp or the new one
    except OSError:
        return False
    return True


check_numba_cache()
