"""Training/validation splits of a dataset: whole speakers at a time (SHD practice).

:func:`speaker_split` is re-exported by :mod:`sgevent.data.shd` and :mod:`sgevent.data`.
"""

from __future__ import annotations

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ConfigError

__all__ = ["speaker_split"]


def _stratified_split(
    labels: np.ndarray, val_fraction: float, rng: np.random.Generator
) -> np.ndarray:
    val = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(val_fraction * members.size))
        if members.size >= 2:
            n_val = min(max(n_val, 1), members.size - 1)
        else:
            n_val = 0
        val.append(members[:n_val])
    return np.concatenate(val) if val else np.zeros(0, dtype=np.int64)


def speaker_split(
    ds: SpikeDataset, val_fraction: float, seed: int | np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split a dataset into training and validation indices, whole speakers at a time.

    Parameters
    ----------
    ds : SpikeDataset
        The split to divide (normally a training set).
    val_fraction : float
        Wanted fraction of samples in the validation part, ``0 < val_fraction < 1``.
    seed : int or numpy.random.Generator
        Seed (or generator) of the random choice; the same seed gives the same split.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
        Sorted, disjoint sample indices covering the dataset.

    Notes
    -----
    Speakers are shuffled and moved to validation one by one until it holds at least
    ``val_fraction`` of the samples; at least one speaker always stays in training, so no
    speaker is in both parts and validation measures generalisation to new speakers (as the SHD
    test set, whose speakers are partly unseen, requires).

    When fewer than two speakers are known, or any sample's speaker is unknown (``-1``), a
    speaker-aware split is impossible and the function falls back to a *stratified random
    split*: in each class, ``round(val_fraction * n_class)`` random samples (at least one and
    not all, when the class has two or more) go to validation.
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = len(ds)
    speakers = np.asarray(ds.speakers)
    unique = np.unique(speakers)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if unique.size < 2 or (speakers < 0).any():
        val_idx = _stratified_split(np.asarray(ds.labels), float(val_fraction), rng)
    else:
        order = rng.permutation(unique)
        counts = np.array([np.count_nonzero(speakers == s) for s in order])
        target = val_fraction * n
        n_take = int(np.searchsorted(np.cumsum(counts), target, side="left")) + 1
        n_take = min(max(n_take, 1), unique.size - 1)
        val_idx = np.flatnonzero(np.isin(speakers, order[:n_take]))
    mask = np.zeros(n, dtype=bool)
    mask[val_idx] = True
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)
