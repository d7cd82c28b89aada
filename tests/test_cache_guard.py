"""The Numba cache guard (sgevent._cache): stale cache files go when any module changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sgevent._cache import STAMP_NAME, check_numba_cache, source_digest


def _package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "__pycache__").mkdir()
    (root / "loop.py").write_text("def run():\n    return kernel()\n")
    (root / "sub" / "kernel.py").write_text("def kernel():\n    return 1\n")
    return root


def _cache_files(root: Path) -> list[Path]:
    return sorted(list(root.rglob("*.nbi")) + list(root.rglob("*.nbc")))


def _compile(root: Path) -> None:
    for name in ("__pycache__/loop.run-1.py311.nbi", "__pycache__/loop.run-1.py311.1.nbc",
                 "sub/__pycache__/kernel.kernel-1.py311.nbi"):
        (root / name).write_bytes(b"cached")


def test_first_check_clears_and_stamps(tmp_path):
    root = _package(tmp_path)
    _compile(root)
    assert check_numba_cache(root) is True
    assert _cache_files(root) == []
    assert (root / "__pycache__" / STAMP_NAME).read_text().strip() == source_digest(root)


def test_unchanged_sources_keep_the_cache(tmp_path):
    root = _package(tmp_path)
    check_numba_cache(root)
    _compile(root)
    assert check_numba_cache(root) is False
    assert len(_cache_files(root)) == 3


def test_a_callee_edit_clears_every_cache_file(tmp_path):
    """The case Numba misses: only the callee's module changed, the caller's cache goes too."""
    root = _package(tmp_path)
    check_numba_cache(root)
    _compile(root)
    (root / "sub" / "kernel.py").write_text("def kernel():\n    return 2\n")
    assert check_numba_cache(root) is True
    assert _cache_files(root) == []
    assert check_numba_cache(root) is False


def test_a_new_or_renamed_module_changes_the_digest(tmp_path):
    root = _package(tmp_path)
    d0 = source_digest(root)
    (root / "sub" / "kernel.py").rename(root / "sub" / "kernel2.py")
    d1 = source_digest(root)
    (root / "extra.py").write_text("")
    assert len({d0, d1, source_digest(root)}) == 3


@pytest.mark.skipif(bool(os.environ.get("NUMBA_CACHE_DIR")), reason="caches not beside the sources")
def test_the_package_is_stamped_on_import():
    import sgevent

    root = Path(sgevent.__file__).resolve().parent
    stamp = root / "__pycache__" / STAMP_NAME
    assert stamp.read_text().strip() == source_digest(root)
