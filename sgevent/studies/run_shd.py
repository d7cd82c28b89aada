"""The main job: train on SHD (or its synthetic stand-in), compare with a baseline, write a report.

``run_shd`` does, in order:

1. **Data.** ``data="auto"`` uses ``<root>/SHD/shd_{train,test}.h5`` when both are there, else
   tries to download them through tonic (:func:`sgevent.data.find_or_download`); when that fails
   (no network) it says so in one line and falls back to the synthetic spoken digits
   (:func:`sgevent.data.synth.generate_synthetic_digits`, DESIGN.md 5), generated on first use
   into ``<root>/synth_hard/SHD/`` (2000 train + 500 test, seed 0, the ``hard`` preset of
   :mod:`sgevent.data.presets`; quick mode: 300 + 100 into ``<root>/synth_hard_quick/SHD/``).
   ``"shd"`` insists on the real set, ``"synth"`` takes the stand-in. The statistics of both splits are printed.
2. **Training** with ``configs/run_shd.json`` (``run_shd_quick.json`` in quick mode) through
   :class:`sgevent.train.trainer.Trainer`, which also evaluates the best checkpoint on the test split.
3. **Baseline**: logistic regression on binned spike counts
   (:func:`sgevent.studies.baseline.logistic_baseline`), fitted on the same training file and scored on
   the same test samples.
4. **Peer** (issue 11, item 5): when the optional extra ``.[peers]`` (torch, snntorch) is
   installed (:func:`sgevent.studies.lif_peer.find_peer_python`: this interpreter, ``.venv-peers``
   or ``$SGEVENT_PEER_PYTHON``), an snnTorch LIF network 700-256-20 trained by surrogate-gradient
   BPTT on 10 ms frames (:data:`PEER_DT`, :data:`PEER_EPOCHS` epochs) on the same files and the
   same validation speakers, in its own process. ``peer="off"`` skips it, ``peer="on"`` insists.
5. **Report**: ``runs/<name>/report.md`` with figures (:func:`sgevent.report.report.write_report`),
   SpikingGamma, the baseline and the peer side by side.

``results.json`` of the run records which dataset was used (``dataset``), the statistics of
both splits, the baseline and the wall times of each phase.

The synthetic generator runs worker processes with the ``spawn`` start method, so call
:func:`run_shd` from a script under ``if __name__ == "__main__":`` (or through the command line:
``sgevent run-shd`` or ``python -m sgevent run-shd``, which ``make run-shd`` uses; its arguments
are defined in :mod:`sgevent.cli`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import SHD, find_or_download, load_h5
from sgevent.errors import ConfigError, DataError
from sgevent.studies.job import (
    fit_baseline,
    load_job_config,
    print_data,
    record_and_report,
    run_name,
    train_and_test,
)

__all__ = ["run_shd", "select_data", "default_config_path", "run_peer", "resolve_peer_python", "DATA_CHOICES",
           "PEER_CHOICES", "PEER_DT", "PEER_EPOCHS", "SYNTH_FULL", "SYNTH_QUICK"]

DATA_CHOICES = ("auto", "shd", "synth")
PEER_CHOICES = ("auto", "on", "off")
#: The peer's frame length (s) and epochs in run-shd (``bench/peers.py`` also runs 1 ms).
PEER_DT = 0.01
PEER_EPOCHS = 50

#: (sub-folder of the data root, training samples, test samples, seed) of the stand-in sets.
#: The stand-in run-shd generates when offline: (folder, n_train, n_test, seed, preset). The folder names
#: the preset, so a set made by an older sgevent (``synth/``, the ``easy`` preset) is never reused by mistake.
SYNTH_FULL = ("synth_hard", 2000, 500, 0, "hard")
SYNTH_QUICK = ("synth_hard_quick", 300, 100, 0, "hard")

_REPO = Path(__file__).resolve().parents[2]  # sgevent/studies/run_shd.py -> the source tree


def default_config_path(quick: bool = False) -> Path:
    """``configs/run_shd.json`` (or ``run_shd_quick.json``) of the source tree."""
    return _REPO / "configs" / ("run_shd_quick.json" if quick else "run_shd.json")


# ---------------------------------------------------------------------- data selection
def _both_present(folder: Path) -> bool:
    return (folder / SHD.files["train"]).is_file() and (folder / SHD.files["test"]).is_file()


def _synth_files(root: Path, quick: bool, progress: bool) -> tuple[Path, Path, dict[str, Any]]:
    """The stand-in's files, generated on first use."""
    sub, n_train, n_test, seed, preset = SYNTH_QUICK if quick else SYNTH_FULL
    folder = root / sub / "SHD"
    info: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "seed": seed, "preset": preset,
                            "generated_now": False}
    if not _both_present(folder):
        try:
            from sgevent.data.synth import generate_synthetic_digits
        except ImportError as exc:
            raise DataError(
                f"cannot generate the synthetic spoken digits into {folder}/: {exc}. Install the data "
                "extras (pip install -e '.[data]', which brings espeakng-loader) or put the real SHD "
                f"files in {root / 'SHD'}/"
            ) from exc
        print(f"generating the synthetic spoken digits ({n_train} train + {n_test} test, seed {seed}, preset "
              f"{preset}) into {folder}/ (first use only)", flush=True)
        t0 = time.perf_counter()
        generate_synthetic_digits(folder, n_train=n_train, n_test=n_test, seed=seed, progress=progress, preset=preset)
        info.update(generated_now=True, generation_seconds=time.perf_counter() - t0)
        if not _both_present(folder):
            raise DataError(f"{folder}/: the generator finished but shd_train.h5 / shd_test.h5 are missing")
    return folder / SHD.files["train"], folder / SHD.files["test"], info


def select_data(data: str = "auto", *, quick: bool = False, root: str | Path = "datasets",
                progress: bool = True) -> tuple[SpikeDataset, SpikeDataset, dict[str, Any]]:
    """Choose, locate (download or generate if needed) and read the training and test splits.

    Parameters
    ----------
    data : {"auto", "shd", "synth"}
        ``auto``: the real SHD if present or downloadable, else the synthetic stand-in;
        ``shd``: the real SHD only; ``synth``: the stand-in.
    quick : bool
        Use the small stand-in set (quick runs).
    root : path-like
        Data root (``<root>/SHD/``, ``<root>/synth_hard/SHD/``, ``<root>/synth_hard_quick/SHD/``).
    progress : bool
        Progress bars while generating.

    Returns
    -------
    train, test : SpikeDataset
    info : dict
        ``kind`` ("shd" or "synth"), ``name`` (human-readable), ``train_file``, ``test_file``,
        ``fallback_reason`` (why the real set was not used, or None) and, for the stand-in, how
        it was generated.

    Raises
    ------
    ConfigError
        ``data`` is not one of the choices.
    DataError
        ``data="shd"`` and the real files are neither present nor downloadable, or a file is
        unreadable.
    """
    if data not in DATA_CHOICES:
        raise ConfigError(f"data must be one of {', '.join(DATA_CHOICES)}, got {data!r}")
    root = Path(root).expanduser()
    info: dict[str, Any] = {"requested": data, "fallback_reason": None}
    paths: tuple[Path, Path] | None = None
    if data in ("auto", "shd"):
        folder = root / SHD.name
        if _both_present(folder):
            paths = (folder / SHD.files["train"], folder / SHD.files["test"])
        else:
            try:
                paths = (find_or_download(SHD, "train", root), find_or_download(SHD, "test", root))
            except DataError as exc:
                if data == "shd":
                    raise DataError(
                        f"--data shd needs the real Spiking Heidelberg Digits and they are not available: "
                        f"{exc} (or run with --data auto / --data synth to use the synthetic stand-in)"
                    ) from exc
                reason = str(exc).split(". Download", 1)[0]
                info["fallback_reason"] = reason
                print(f"SHD is not available ({reason}); using the synthetic spoken digits stand-in instead "
                      f"({root / (SYNTH_QUICK if quick else SYNTH_FULL)[0] / 'SHD'}/).", flush=True)
    if paths is not None:
        info.update(kind="shd", name="SHD (Spiking Heidelberg Digits, Cramer et al. 2020)")
        train = load_h5(paths[0], n_channels=SHD.n_channels, n_classes=SHD.n_classes, name="SHD train")
        test = load_h5(paths[1], n_channels=SHD.n_channels, n_classes=SHD.n_classes, name="SHD test")
    else:
        tr, te, gen = _synth_files(root, quick, progress)
        paths = (tr, te)
        info.update(kind="synth", name="synthetic spoken digits (offline stand-in for SHD, sgevent.data.synth)",
                    synth=gen)
        try:
            train = load_h5(tr, n_channels=SHD.n_channels, name="synth train")
            test = load_h5(te, n_channels=SHD.n_channels, name="synth test")
        except DataError as exc:
            raise DataError(f"{exc} (delete {tr.parent}/ to generate the synthetic set again)") from exc
    info.update(train_file=str(paths[0]), test_file=str(paths[1]))
    return train, test, info


# ---------------------------------------------------------------------- the peer
_NO_PEER = ("the optional extra .[peers] (torch, snntorch) is not installed here, in .venv-peers or in "
            "$SGEVENT_PEER_PYTHON")


def resolve_peer_python(choice: str, python: str | None = None) -> str | None:
    """The interpreter that will train the peer, or None when ``choice="auto"`` finds none.

    Raises
    ------
    ConfigError
        ``choice`` is not one of :data:`PEER_CHOICES`; ``choice="on"`` and no interpreter has the
        extra; or ``python`` (or ``$SGEVENT_PEER_PYTHON``) names one that cannot import it.
        :func:`run_shd` calls this before training, so a missing peer fails in seconds.
    """
    from sgevent.studies.lif_peer import find_peer_python

    if choice not in PEER_CHOICES:
        raise ConfigError(f"peer must be one of {', '.join(PEER_CHOICES)}, got {choice!r}")
    if choice == "off":
        return None
    try:
        py = find_peer_python(python)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if py is None and choice == "on":
        raise ConfigError(f"--peer on: {_NO_PEER}; README 'The main job' says how to set it up")
    return py


def run_peer(choice: str, info: dict[str, Any], cfg, *, python: str | None = None, epochs: int | None = None,
             work: Path) -> dict[str, Any]:
    """Train the snnTorch LIF peer on the run's files, or say why not.

    Parameters
    ----------
    choice : {"auto", "on", "off"}
        ``auto``: when the extra is installed; ``on``: a missing extra is an error; ``off``: skip.
    info : dict
        :func:`select_data`'s record (``train_file``; both files share its folder).
    cfg : TrainConfig
        The SpikingGamma run's configuration: its seed, validation fraction, sample caps and threads.
    python : str, optional
        Interpreter with torch and snntorch (default: :func:`sgevent.studies.lif_peer.find_peer_python`).
    epochs : int, optional
        The peer's epochs (default :data:`PEER_EPOCHS`, or the run's own epochs in quick mode).
    work : Path
        Where the child writes its result file.

    Returns
    -------
    dict
        ``status`` ("ran", "failed" or "skipped"), ``reason`` when not run, else the peer's results
        (:func:`sgevent.studies.lif_peer.train_lif_peer`) with ``python``.
    """
    from sgevent.studies.lif_peer import run_peer_subprocess

    if choice == "off":
        return {"status": "skipped", "reason": "not requested (--peer off)"}
    py = resolve_peer_python(choice, python)
    if py is None:
        return {"status": "skipped", "reason": _NO_PEER}
    kwargs = {"dt": PEER_DT, "epochs": int(epochs if epochs is not None else PEER_EPOCHS), "seed": cfg.seed,
              "val_fraction": cfg.val_fraction, "threads": cfg.threads or (os.cpu_count() or 1),
              "max_train_samples": cfg.max_train_samples, "max_eval_samples": cfg.max_eval_samples}
    print(f"peer: snnTorch LIF 700-256-20 at {PEER_DT * 1e3:g} ms, {kwargs['epochs']} epochs ({py})", flush=True)
    res = run_peer_subprocess(py, Path(info["train_file"]).parent, work / "peer_result.json", kwargs)
    res["python"] = py
    res["status"] = "failed" if "error" in res else "ran"
    return res


# ---------------------------------------------------------------------- the job
def run_shd(data: str = "auto", quick: bool = False, root: str | Path = "datasets", runs: str | Path = "runs",
            name: str | None = None, config_path: str | Path | None = None, *, progress: bool = True,
            argv: list[str] | None = None, peer: str = "auto", peer_python: str | None = None,
            peer_epochs: int | None = None) -> Path:
    """Select the data, train, evaluate, run the baseline and write the report.

    Parameters
    ----------
    data : {"auto", "shd", "synth"}
        See :func:`select_data`.
    quick : bool
        Small data set and ``configs/run_shd_quick.json`` (a smoke run of the whole pipeline).
    root : path-like
        Data root.
    runs : path-like
        Parent of run directories.
    name : str, optional
        Run name (default ``shd-<kind>[-quick]-<timestamp>``).
    config_path : path-like, optional
        Training configuration (JSON of :class:`sgevent.train.config.TrainConfig` fields); default
        :func:`default_config_path`.
    progress : bool
        Progress bars and per-epoch lines.
    argv : list of str, optional
        Command line recorded in the provenance.
    peer : {"auto", "on", "off"}
        The snnTorch LIF peer (:func:`run_peer`).
    peer_python : str, optional
        Interpreter with the ``.[peers]`` extra (default: found by :func:`run_peer`).
    peer_epochs : int, optional
        The peer's epochs (default :data:`PEER_EPOCHS`; in quick mode the run's own epochs).

    Returns
    -------
    pathlib.Path
        The run directory (holding ``results.json`` and ``report.md``).
    """
    t_start = time.perf_counter()
    cfg_path, cfg = load_job_config(config_path, default_config_path(quick))
    peer_python = resolve_peer_python(peer, peer_python)  # before training: a missing peer fails now

    train, test, info = select_data(data, quick=quick, root=root, progress=progress)
    t_data = time.perf_counter() - t_start
    print_data(info, train, test)
    runs = Path(runs)
    name = name or run_name("shd", info["kind"], quick, runs)
    run, results, t_train = train_and_test(cfg, train, test, runs=runs, name=name, argv=argv, progress=progress,
                                           cfg_path=cfg_path)
    base, t_base = fit_baseline(cfg, train, test, results)

    t0 = time.perf_counter()
    peer_res = run_peer(peer, info, cfg, python=peer_python, work=run.path,
                        epochs=peer_epochs if peer_epochs is not None else (cfg.epochs if quick else None))
    t_peer = time.perf_counter() - t0
    if peer_res["status"] == "ran":
        print(f"test accuracy: snnTorch LIF peer {peer_res['test_accuracy']:.4f} ({peer_res['epochs']} epochs, "
              f"{peer_res['s_per_epoch']:.1f} s/epoch)", flush=True)
    elif peer_res["status"] == "failed":
        print(f"peer: failed ({peer_res['error']}); the report says so", flush=True)
    extra = {
        "peer": peer_res, "dataset": info, "dataset_stats": {"train": train.stats(), "test": test.stats()},
        "class_names": list(test.class_names), "config_file": str(cfg_path), "baseline": base,
        "wall_seconds": {"data": t_data, "train_and_test": t_train, "baseline": t_base, "peer": t_peer},
    }
    return record_and_report(run, results, extra, test, cfg.threads, t_start)
