"""The command line wires library calls: dataset statistics, the baseline, errors for people."""

import json

from shd_files import write_shd_file

from sgevent.cli import main


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


def test_train_then_eval(tmp_path, capsys):
    write_shd_file(tmp_path / "shd_train.h5", n_samples=24, n_classes=3, n_channels=700, n_speakers=4, seed=1)
    write_shd_file(tmp_path / "shd_test.h5", n_samples=9, n_classes=3, n_channels=700, n_speakers=2, seed=2)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"batch_size": 8, "net": {"hidden": [6], "n_buckets": 2},
                               "learn": {"learn_period": 0.05}}))
    runs = tmp_path / "runs"
    assert main(["train", "--data-dir", str(tmp_path), "--config", str(cfg), "--epochs", "1", "--runs", str(runs),
                 "--name", "r", "--window", "0.2", "--threads", "1", "--quiet"]) == 0
    run = runs / "r"
    for f in ("config.json", "provenance.json", "metrics.jsonl", "checkpoint_last.h5", "checkpoint_best.h5",
              "results.json"):
        assert (run / f).exists(), f
    out_json = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(run / "checkpoint_best.h5"), "--data-dir", str(tmp_path),
                 "--out", str(out_json)]) == 0
    res = json.loads(out_json.read_text())
    assert res["n_samples"] == 9 and 0 <= res["accuracy"] <= 1
    assert "accuracy" in capsys.readouterr().out
