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
    sys.path.insert(0, str(BENCH))  # bench/train.py imports bench/engine.py
    try:
        spec = importlib.util.spec_from_file_location("bench_train", BENCH / "train.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(BENCH))


def test_one_training_sample_of_the_quick_problem(train_bench):
    r = train_bench._child("engine", 1e-3, True, 1, 1)
    assert r["duration"] == pytest.approx(0.3) and r["wall"] > 0 and r["spikes"] > 0
    assert r["loss"] == pytest.approx(train_bench._child("engine", 1e-3, True, 1, 1)["loss"])  # deterministic


def test_gemm_floor_counts_the_products_of_flush(train_bench):
    f = train_bench._gemm_floor(64, 3, (10, 6, 2), chunk=32, n_rep=1)
    assert f["macs_per_event"] == [3 * 6 * 10, 3 * 2 * 6] and f["n_events"] == 64
    assert f["wall"] > 0 and f["gflops"] > 0
