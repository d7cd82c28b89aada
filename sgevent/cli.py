"""Command line: parses, loads, calls the library, writes files; no logic of its own.

    sgevent data stats DIR_OR_FILE        dataset statistics of SHD-layout files
    sgevent data synth-digits --out DIR   generate the synthetic spoken digits
    sgevent baseline --data-dir DIR       logistic regression on binned spike counts
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import SgeventError

__all__ = ["main"]


def _split_files(path: Path) -> dict[str, Path]:
    """SHD-layout files under ``path``: a file, or a folder with ``*_train.h5``/``*_test.h5``."""
    if path.is_file():
        return {path.stem: path}
    found = {p.stem.rsplit("_", 1)[-1]: p for p in sorted(path.glob("*.h5"))}
    if not found:
        raise SgeventError(f"{path}: no .h5 files found (expected e.g. shd_train.h5, shd_test.h5)")
    return found


def _cmd_data_stats(args: argparse.Namespace) -> int:
    from .data import load_h5

    for split, p in _split_files(Path(args.path)).items():
        ds = load_h5(p, n_channels=args.channels)
        print(f"[{split}] {p}")
        print(ds.format_stats())
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from .data.synth import run_synth

    return int(run_synth(args) or 0)


def _cmd_baseline(args: argparse.Namespace) -> int:
    from .baseline import logistic_baseline
    from .data import load_h5

    files = _split_files(Path(args.data_dir))
    if "train" not in files or "test" not in files:
        raise SgeventError(f"{args.data_dir}: need *_train.h5 and *_test.h5, found {sorted(files)}")
    train, test = load_h5(files["train"]), load_h5(files["test"])
    res = logistic_baseline(train, test, n_time_bins=args.time_bins, n_channel_groups=args.channel_groups, seed=args.seed)
    print(f"logistic baseline ({args.time_bins} time bins x {args.channel_groups} channel groups): "
          f"train {res['train_accuracy']:.3f}  test {res['test_accuracy']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=float))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sgevent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    st = dsub.add_parser("stats", help="statistics of SHD-layout files")
    st.add_argument("path", help="an .h5 file or a folder holding *_train.h5 / *_test.h5")
    st.add_argument("--channels", type=int, default=700)
    st.set_defaults(func=_cmd_data_stats)
    sy = dsub.add_parser("synth-digits", help="generate the synthetic spoken digits (SHD layout)")
    try:
        from .data.synth import add_synth_arguments
    except ImportError:  # the generator's optional dependencies (espeakng-loader) are missing
        add_synth_arguments = None
    if add_synth_arguments is not None:
        add_synth_arguments(sy)
    sy.set_defaults(func=_cmd_synth)

    bl = sub.add_parser("baseline", help="logistic regression on binned spike counts")
    bl.add_argument("--data-dir", required=True)
    bl.add_argument("--time-bins", type=int, default=10)
    bl.add_argument("--channel-groups", type=int, default=35)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--out", help="write the result as JSON here")
    bl.set_defaults(func=_cmd_baseline)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sgevent`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SgeventError as e:
        print(f"sgevent: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
