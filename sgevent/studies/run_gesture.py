"""The gesture job: train a small conv SpikingGamma network on DVS Gesture (or its synthetic
stand-in), compare with a baseline on binned event counts, write a report (issue 14, item 4).

``run_gesture`` does, in order:

1. **Data.** ``data="auto"`` uses ``<root>/DVSGesture/gestures_{train,test}.h5`` when both are
   there; else, when tonic's DVS Gesture recordings are unpacked under ``<root>/DVSGesture/``
   (``ibmGestureTrain``, ``ibmGestureTest``), converts them once with
   :func:`sgevent.data.tonic_adapter.convert_dvs_gesture` (32 x 32, first 1.5 s); else it says so
   in one line and uses the synthetic gestures (:func:`sgevent.data.gestures.generate_gestures`),
   generated on first use into ``<root>/synth_gestures/`` (1,100 train + 440 test, seed 0; quick
   mode: 110 + 44 into ``<root>/synth_gestures_quick/``). ``"dvs"`` insists on the real set,
   ``"synth"`` takes the stand-in. The recordings are never downloaded here (2.4 GB): put them
   there, or call ``convert_dvs_gesture(root, download=True)`` once.
2. **Training** with ``configs/run_gesture.json`` (``run_gesture_quick.json`` in quick mode): a
   conv network on the ``2 x 32 x 32`` map (``net.in_shape``, ``net.conv``), through
   :class:`sgevent.train.trainer.Trainer`, which also evaluates the best checkpoint on the test split.
3. **Baseline**: logistic regression on binned event counts (10 time bins x 2 polarities x 4 x 4
   spatial blocks, :func:`sgevent.studies.baseline.logistic_baseline`), same files.
4. **Report**: ``runs/<name>/report.md`` (:func:`sgevent.report.report.write_report`): accuracy
   against the baseline, sparsity, energy with the conv fan-out counts, the dense and the
   time-stepped-conv equivalents, NeuroBench columns.

Call it from a script under ``if __name__ == "__main__":`` or through ``sgevent run-gesture``
(``make run-gesture``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import load_h5
from sgevent.errors import ConfigError, DataError
from sgevent.studies.job import (
    fit_baseline,
    load_job_config,
    print_data,
    record_and_report,
    run_name,
    train_and_test,
)

__all__ = ["run_gesture", "select_gesture_data", "default_gesture_config", "GESTURE_DATA_CHOICES",
           "SYNTH_GESTURES_FULL", "SYNTH_GESTURES_QUICK"]

GESTURE_DATA_CHOICES = ("auto", "dvs", "synth")
#: (sub-folder of the data root, training samples, test samples, seed) of the synthetic sets.
SYNTH_GESTURES_FULL = ("synth_gestures", 1100, 440, 0)
SYNTH_GESTURES_QUICK = ("synth_gestures_quick", 110, 44, 0)
_FILES = {"train": "gestures_train.h5", "test": "gestures_test.h5"}
_REPO = Path(__file__).resolve().parents[2]


def default_gesture_config(quick: bool = False) -> Path:
    """``configs/run_gesture.json`` (or ``run_gesture_quick.json``) of the source tree."""
    return _REPO / "configs" / ("run_gesture_quick.json" if quick else "run_gesture.json")


def _both(folder: Path) -> bool:
    return all((folder / f).is_file() for f in _FILES.values())


def _real_files(root: Path) -> tuple[Path | None, str | None]:
    """The converted DVS Gesture folder (converting unpacked recordings once), or why not."""
    folder = root / "DVSGesture"
    if _both(folder):
        return folder, None
    if not (folder / "ibmGestureTrain").is_dir() or not (folder / "ibmGestureTest").is_dir():
        return None, f"{folder}/ holds neither gestures_train.h5 / gestures_test.h5 nor the unpacked recordings"
    try:
        from sgevent.data.tonic_adapter import convert_dvs_gesture
        print(f"converting DVS Gesture from {folder}/ (once; 32 x 32, first 1.5 s)", flush=True)
        convert_dvs_gesture(root)
    except (ImportError, DataError) as exc:
        return None, f"could not convert the recordings in {folder}/: {exc}"
    return folder, None


def select_gesture_data(data: str = "auto", *, quick: bool = False, root: str | Path = "datasets",
                        progress: bool = True) -> tuple[SpikeDataset, SpikeDataset, dict[str, Any]]:
    """Choose, locate (convert or generate if needed) and read the training and test splits.

    Returns
    -------
    train, test : SpikeDataset
        With ``input_shape = (2, H, W)``.
    info : dict
        ``kind`` ("dvs" or "synth"), ``name``, ``train_file``, ``test_file``, ``fallback_reason``.

    Raises
    ------
    ConfigError
        ``data`` is not one of :data:`GESTURE_DATA_CHOICES`.
    DataError
        ``data="dvs"`` and the real set is not there, or a file is unreadable.
    """
    if data not in GESTURE_DATA_CHOICES:
        raise ConfigError(f"data must be one of {', '.join(GESTURE_DATA_CHOICES)}, got {data!r}")
    root = Path(root).expanduser()
    info: dict[str, Any] = {"requested": data, "fallback_reason": None, "task": "gesture"}
    folder = None
    if data in ("auto", "dvs"):
        folder, reason = _real_files(root)
        if folder is None:
            if data == "dvs":
                raise DataError(f"--data dvs needs DVS Gesture: {reason} (README 'DVS Gesture' says how to get it)")
            info["fallback_reason"] = reason
            print(f"DVS Gesture is not available ({reason}); using the synthetic gestures instead.", flush=True)
    if folder is not None:
        info.update(kind="dvs", name="DVS128 Gesture (Amir et al. 2017), 32 x 32 through tonic")
    else:
        sub, n_train, n_test, seed = SYNTH_GESTURES_QUICK if quick else SYNTH_GESTURES_FULL
        folder = root / sub
        info.update(kind="synth", name="synthetic DVS gestures (offline stand-in, sgevent.data.gestures)",
                    synth={"n_train": n_train, "n_test": n_test, "seed": seed, "generated_now": False})
        if not _both(folder):
            from sgevent.data.gestures import generate_gestures
            print(f"generating the synthetic gestures ({n_train} train + {n_test} test, seed {seed}) into "
                  f"{folder}/ (first use only)", flush=True)
            t0 = time.perf_counter()
            generate_gestures(folder, n_train=n_train, n_test=n_test, seed=seed, progress=progress)
            info["synth"].update(generated_now=True, generation_seconds=time.perf_counter() - t0)
    paths = {k: folder / f for k, f in _FILES.items()}
    train = load_h5(paths["train"], name=f"{info['kind']} gestures train")
    test = load_h5(paths["test"], name=f"{info['kind']} gestures test")
    if train.input_shape is None or train.input_shape != test.input_shape:
        raise DataError(f"{paths['train']}: the gesture files must carry the same input_shape attribute "
                        f"(2, H, W), got {train.input_shape} and {test.input_shape}")
    info.update(train_file=str(paths["train"]), test_file=str(paths["test"]))
    return train, test, info


def run_gesture(data: str = "auto", quick: bool = False, root: str | Path = "datasets", runs: str | Path = "runs",
                name: str | None = None, config_path: str | Path | None = None, *, progress: bool = True,
                argv: list[str] | None = None) -> Path:
    """Select the data, train, evaluate, run the baseline and write the report.

    Parameters are those of :func:`sgevent.studies.run_shd.run_shd` without the peer; ``data``
    is one of :data:`GESTURE_DATA_CHOICES`. Returns the run directory.
    """
    t_start = time.perf_counter()
    cfg_path, cfg = load_job_config(config_path, default_gesture_config(quick))
    train, test, info = select_gesture_data(data, quick=quick, root=root, progress=progress)
    if cfg.net.in_shape is not None and tuple(cfg.net.in_shape) != tuple(train.input_shape):
        raise ConfigError(f"{cfg_path}: net.in_shape {list(cfg.net.in_shape)} does not match the data's input_shape "
                          f"{list(train.input_shape)} ({info['train_file']})")
    t_data = time.perf_counter() - t_start
    print_data(info, train, test)
    runs = Path(runs)
    name = name or run_name("gesture", info["kind"], quick, runs)
    run, results, t_train = train_and_test(cfg, train, test, runs=runs, name=name, argv=argv, progress=progress,
                                           cfg_path=cfg_path)
    base, t_base = fit_baseline(cfg, train, test, results)
    extra = {
        "dataset": info, "dataset_stats": {"train": train.stats(), "test": test.stats()},
        "class_names": list(test.class_names), "config_file": str(cfg_path), "baseline": base,
        "wall_seconds": {"data": t_data, "train_and_test": t_train, "baseline": t_base},
    }
    return record_and_report(run, results, extra, test, cfg.threads, t_start)
