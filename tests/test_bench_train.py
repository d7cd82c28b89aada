"""bench/train.py's pieces on its quick problem (the script once broke unnoticed when
``sgevent.engine.simulate`` became a module)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def train_bench():
    """bench/train.py as a module. It puts bench/ first on sys.path (to import bench/engine.py), and
    bench/ holds a ``distributed.py`` that would shadow Dask's in every process spawned later in this
    session (Dask's workers), so sys.path and the modules it imported are restored afterwards."""
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    try:
        spec = importlib.util.spec_from_file_location("bench_train", BENCH / "train.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod._child("engine", 1e-3, True, 1, 1)  # imports bench/engine.py while bench/ is on the path
        yield mod
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if name == "engine" or name.startswith("bench"):
                del sys.modules[name]


def test_one_training_sample_of_the_quick_problem(train_bench):
    r = train_bench._child("engine", 1e-3, True, 1, 1)
    assert r["duration"] == pytest.approx(0.3) and r["wall"] > 0 and r["spikes"] > 0
    assert r["loss"] == pytest.approx(train_bench._child("engine", 1e-3, True, 1, 1)["loss"])  # deterministic


def test_gemm_floor_counts_the_products_of_flush(train_bench):
    f = train_bench._gemm_floor(64, 3, (10, 6, 2), chunk=32, n_rep=1)
    assert f["macs_per_event"] == [3 * 6 * 10, 3 * 2 * 6] and f["n_events"] == 64
    assert f["wall"] > 0 and f["gflops"] > 0
