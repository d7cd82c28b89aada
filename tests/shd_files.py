"""Write small HDF5 files in the exact layout of the official SHD/SSC files, with raw h5py.

The layout mirrors the Zenke-lab files: ``spikes/times`` vlen float16 seconds, ``spikes/units``
vlen uint16, ``labels`` uint8, ``extra/speaker`` uint16, ``extra/keys`` bytes and an
``extra/meta_info`` group. ``defect=`` injects one fault at ``defect_sample`` so each reader check
can be tested.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

DEFECTS = (
    "missing_spikes_group",
    "missing_labels",
    "missing_keys",
    "length_mismatch",
    "unit_out_of_range",
    "nan_time",
    "inf_time",
    "negative_time",
    "label_out_of_range",
    "truncated",
)


def make_samples(
    n_samples: int = 12,
    n_classes: int = 4,
    n_channels: int = 700,
    n_speakers: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Random valid samples: float16 times in [0, 1.4] s (unsorted), uint16 units."""
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(n_samples):
        n = int(rng.integers(5, 60))
        times.append(rng.uniform(0.0, 1.4, n).astype(np.float16))
        units.append(rng.integers(0, n_channels, n).astype(np.uint16))
    labels = (np.arange(n_samples) % n_classes).astype(np.uint8)
    speakers = (np.arange(n_samples) // max(1, n_samples // n_speakers)).astype(np.uint16)
    speakers = np.minimum(speakers, n_speakers - 1).astype(np.uint16)
    keys = [f"class_{c}".encode() for c in range(n_classes)]
    return {"times": times, "units": units, "labels": labels, "speakers": speakers,
            "keys": keys}


def write_shd_file(
    path: str | os.PathLike[str],
    data: dict[str, Any] | None = None,
    *,
    defect: str | None = None,
    defect_sample: int = 5,
    **make_kwargs: Any,
) -> dict[str, Any]:
    """Write ``data`` (default :func:`make_samples`) to ``path``; return what was written.

    ``defect`` is one of :data:`DEFECTS` (or None); ``truncated`` writes the full file and then
    cuts off its last third.
    """
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; expected one of {DEFECTS}")
    data = make_samples(**make_kwargs) if data is None else data
    times = [np.array(t, dtype=np.float16) for t in data["times"]]
    units = [np.array(u, dtype=np.uint16) for u in data["units"]]
    labels = np.array(data["labels"], dtype=np.uint8)
    k = defect_sample
    if defect == "length_mismatch":
        units[k] = units[k][:-1]
    elif defect == "unit_out_of_range":
        units[k] = units[k].copy()
        units[k][2] = 700
    elif defect in ("nan_time", "inf_time", "negative_time"):
        times[k] = times[k].copy()
        times[k][3] = {"nan_time": np.nan, "inf_time": np.inf, "negative_time": -0.25}[defect]
    elif defect == "label_out_of_range":
        labels = labels.copy()
        labels[k] = len(data["keys"])
    n = len(times)
    path = Path(path)
    with h5py.File(path, "w") as f:
        if defect != "missing_spikes_group":
            t_ds = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            u_ds = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                t_ds[i] = times[i]
                u_ds[i] = units[i]
        if defect != "missing_labels":
            f.create_dataset("labels", data=labels)
        f.create_dataset("extra/speaker", data=np.array(data["speakers"], dtype=np.uint16))
        if defect != "missing_keys":
            f.create_dataset("extra/keys", data=np.array(data["keys"], dtype="S"))
        meta = f.create_group("extra/meta_info")
        meta.create_dataset("gender", data=np.array([b"female", b"male"]))
    if defect == "truncated":
        raw = path.read_bytes()
        path.write_bytes(raw[: 2 * len(raw) // 3])
    return {"times": times, "units": units, "labels": labels,
            "speakers": np.array(data["speakers"]), "keys": list(data["keys"])}
