"""The package's shape (STYLE.md rules 1, 11; issue 10): one-way layers, small modules and
functions, argparse only in the CLI, and kernels that pull in neither matplotlib nor h5py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sgevent"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120

# Layers, lowest first (STYLE.md rule 1). A module may import its own layer and the ones below.
LAYERS = [
    {"errors", "_cache"},
    {"model", "numerics"},
    {"learn", "data", "reference"},
    {"engine"},
    {"train"},
    {"report"},
    {"studies"},
    {"cli", "__main__", "__init__"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _top(p: Path) -> str:
    rel = p.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else p.stem


def _imported(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sgevent" and len(parts) > 1:
                out.add(parts[1])
            elif parts[0] in ("argparse", "matplotlib", "h5py"):
                out.add("<" + parts[0] + ">")
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_module_size_and_imports(path: Path):
    text = path.read_text()
    n_lines = text.count("\n")
    rel = str(path.relative_to(PKG))
    too_long = f"{rel}: {n_lines} lines > {MAX_MODULE_LINES}; split it by job"
    assert n_lines <= MAX_MODULE_LINES, too_long
    tree = ast.parse(text)
    top = _top(path)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_FUNCTION_LINES, f"{rel}:{node.name}: {n} lines > {MAX_FUNCTION_LINES}"
    imported = _imported(tree)
    if top != "cli":
        assert "<argparse>" not in imported, f"{path.name}: argparse belongs in sgevent/cli.py"
    for name in imported - {"<argparse>", "<matplotlib>", "<h5py>"}:
        assert name in RANK, f"{path.name} imports unknown sgevent.{name}"
        if top in RANK and top not in ("__init__",):
            assert RANK[name] <= RANK[top], f"{path.relative_to(PKG)} ({top}) imports the upper layer sgevent.{name}"
    if "<matplotlib>" in imported:
        assert top in ("report", "cli") and path.stem.startswith("plots"), f"{path.name} imports matplotlib"


def test_reference_independent_of_engine():
    for path in (PKG / "reference").rglob("*.py"):
        assert "engine" not in _imported(ast.parse(path.read_text())), path.name


def test_kernels_import_light():
    """Importing the engine and its kernels pulls in neither matplotlib nor h5py."""
    code = ("import sys, sgevent, sgevent.engine.loop, sgevent.numerics.crossing, sgevent.learn.traces;"
            "bad = [m for m in ('matplotlib', 'h5py') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_m_sgevent():
    r = subprocess.run([sys.executable, "-m", "sgevent", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "run-shd" in r.stdout, r.stderr
