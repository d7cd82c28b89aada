"""The command line wires library calls: dataset statistics, the baseline, errors for people."""

import json

from sgevent.cli import main

from shd_files import write_shd_file


def test_data_stats_and_baseline(tmp_path, capsys):
    write_shd_file(tmp_path / "shd_train.h5", n_samples=40, n_speakers=4, seed=1)
    write_shd_file(tmp_path / "shd_test.h5", n_samples=12, n_speakers=2, seed=2)
    assert main(["data", "stats", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[train]" in out and "[test]" in out and "40" in out
    res_path = tmp_path / "baseline.json"
    assert main(["baseline", "--data-dir", str(tmp_path), "--out", str(res_path)]) == 0
    res = json.loads(res_path.read_text())
    assert 0.0 <= res["test_accuracy"] <= 1.0 and res["feature_shape"] == [10, 35]
    assert "logistic baseline" in capsys.readouterr().out


def test_bad_file_is_a_clear_error(tmp_path, capsys):
    write_shd_file(tmp_path / "shd_train.h5", defect="unit_out_of_range")
    assert main(["data", "stats", str(tmp_path / "shd_train.h5")]) == 2
    err = capsys.readouterr().err
    assert "shd_train.h5" in err and "sample 5" in err and "units" in err
