"""bench/vs_brian2.py (issue 13, item 1): the shared network and input, and the sgevent worker.

The Brian2 side runs only where ``brian2`` imports (its own environment, ``.[bench]``); in the
project's test environment that test is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "vs_brian2.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_vs_brian2", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vb = _load()


@pytest.fixture(scope="module")
def full():
    return vb.build_problem(quick=False)


@pytest.fixture(scope="module")
def quick():
    return vb.build_problem(quick=True)


def test_network_shapes_and_parameters(full):
    assert full["w_in"].shape == (256, 700) and full["v_in"].shape == (256, 8)
    assert full["w_out"].shape == (20, 256) and full["v_out"].shape == (20, 8)
    stages = np.geomspace(2e-3, 40e-3, 7)
    np.testing.assert_allclose(full["taus_in"], np.r_[5e-3, stages], rtol=1e-15)
    np.testing.assert_allclose(full["taus_hid"], np.r_[20e-3, stages], rtol=1e-15)
    assert float(full["theta"]) == 0.05 and float(full["spike_gain"]) == 2.0
    # std 2/sqrt(700) and 1/sqrt(256), to sampling error (1.8e5 and 5e3 draws)
    assert abs(full["w_in"].std() / (2 / np.sqrt(700)) - 1) < 0.01
    assert abs(full["w_out"].std() / (1 / np.sqrt(256)) - 1) < 0.05
    for v in (full["v_in"], full["v_out"]):
        assert v.min() >= 0 and v.max() <= 1 / 8
    net = vb.sgevent_network(full)
    assert net.hidden == (256,) and not net.per_synapse and net.bias == (False, False)
    assert net.hidden_params[0].m_f == 0.0 and net.hidden_params[0].theta_0 == 0.05
    np.testing.assert_allclose(full["readout_times"], np.arange(1, 101) * 10e-3)


def test_input_grid_and_one_per_channel_per_ms(full, quick):
    ticks, units, times = full["ticks"], full["units"], full["times"]
    assert ticks.size == 7000 and units.min() >= 0 and units.max() < 700
    assert ticks.min() >= 1 and ticks.max() <= 100_000  # t in (0, 1 s]
    np.testing.assert_array_equal(np.rint(times * 1e5).astype(np.int64), ticks)  # the 10 us grid
    assert np.all(np.diff(times) >= 0)
    for dt in (1e-3, 1e-4, 1e-5):  # the script's integer step index is sgevent's ceil(t/dt - 1e-9)
        np.testing.assert_array_equal(vb.step_index(ticks, dt), np.ceil(times / dt - 1e-9).astype(np.int64))
    cells = vb.step_index(ticks, 1e-3) * 700 + units
    assert np.unique(cells).size == cells.size
    assert quick["ticks"].size > 1000 and quick["times"].max() <= 0.2 and float(quick["t_end"]) == 0.2
    np.testing.assert_array_equal(quick["ticks"], ticks[ticks <= 20_000])


@pytest.mark.parametrize("dt", [None, 1e-3])
def test_sgevent_worker_runs_quick_input(quick, dt):
    res = vb.run_sgevent(quick, dt, repeats=1)
    counts = np.asarray(res["counts"])
    assert counts.shape == (256,) and counts.sum() > 0 and len(res["loop_s"]) == 1
    assert np.asarray(res["readout"]).shape == (20, 20)


def test_tables_without_brian2(quick):
    res = {("sgevent", "cont"): vb.run_sgevent(quick, None, repeats=1)}
    table = vb.timing_table(res)
    assert table[2].startswith("| continuous |") and vb.agreement_rows(res) == []


def test_brian2_path(quick, tmp_path):
    pytest.importorskip("brian2")
    res = vb.run_brian2(quick, 1e-3, repeats=1, build_dir=str(tmp_path / "b2"))
    sg = vb.run_sgevent(quick, 1e-3, repeats=1)
    counts = np.asarray(res["counts"])
    assert counts.shape == (256,) and counts.sum() > 0
    rows = vb.agreement_rows({("brian2", "1"): res, ("sgevent", "1"): sg})
    assert len(rows) == 1 and abs(rows[0]["sgevent_spikes"] - rows[0]["brian2_spikes"]) < 0.2 * counts.sum()
