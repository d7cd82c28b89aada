"""A non-spiking reference: multinomial logistic regression on binned spike counts.

Any spiking model should beat this baseline; it tells how much of a dataset is solvable from
coarse spike counts alone. Features are spike counts in ``n_time_bins`` equal bins over a fixed
window ``[0, t_max]`` and ``n_channel_groups`` contiguous channel groups, ``log1p``-compressed and
standardised with training statistics. The classifier is fitted with L-BFGS (scipy) and its L2
strength is chosen on a speaker-aware validation split. Everything is deterministic.

Event-camera sets (``SpikeDataset.input_shape = (P, H, W)``, e.g. :mod:`sgevent.data.gestures`)
are pooled spatially instead: the groups are ``P x g x g`` rectangular blocks (per polarity, a
``g x g`` grid over the image) with ``g = floor(sqrt(n_channel_groups / P))``, so the default 35
gives ``2 x 4 x 4 = 32`` groups of 8 x 8 pixels on a 32 x 32 sensor. Contiguous runs of the flat
``(p, y, x)`` index would be bands of rows that throw away every horizontal position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize

from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import speaker_split
from sgevent.errors import ConfigError, DataError

__all__ = ["binned_counts", "channel_groups", "fit_logistic", "predict_logistic", "logistic_baseline"]

DEFAULT_L2_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4)


def binned_counts(
    ds: SpikeDataset, t_max: float, n_time_bins: int = 10, n_channel_groups: int = 35
) -> np.ndarray:
    """Count spikes per (time bin, channel group) for every sample.

    Parameters
    ----------
    ds : SpikeDataset
        The samples.
    t_max : float
        End of the window in seconds; bins split ``[0, t_max]`` evenly. A spike at exactly
        ``t_max`` goes to the last bin; later spikes are dropped.
    n_time_bins : int
        Number of equal time bins.
    n_channel_groups : int
        Number of contiguous channel groups; channel ``c`` is in group
        ``c * n_channel_groups // n_channels`` (700 channels in 35 groups: 20 per group). For a
        dataset with ``input_shape = (P, H, W)``: at most this many spatial blocks, see
        :func:`channel_groups`.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_time_bins, n_groups)
        Spike counts; ``n_groups = n_channel_groups`` except for spatial inputs.
    """
    if n_time_bins < 1 or n_channel_groups < 1 or n_channel_groups > ds.n_channels:
        raise ConfigError(
            f"need n_time_bins >= 1 and 1 <= n_channel_groups <= n_channels ({ds.n_channels}), "
            f"got {n_time_bins} and {n_channel_groups}"
        )
    if not np.isfinite(t_max) or t_max <= 0:
        raise ConfigError(f"t_max must be a positive finite time in seconds, got {t_max}")
    n = len(ds)
    sample_id = np.repeat(np.arange(n, dtype=np.int64), ds.counts())
    keep = ds.times <= t_max
    time_bin = np.minimum((ds.times[keep] / t_max * n_time_bins).astype(np.int64),
                          n_time_bins - 1)
    group, n_groups = channel_groups(ds, n_channel_groups)
    flat = (sample_id[keep] * n_time_bins + time_bin) * n_groups + group[ds.units[keep]]
    counts = np.bincount(flat, minlength=n * n_time_bins * n_groups)
    return counts.astype(np.float64).reshape(n, n_time_bins, n_groups)


def channel_groups(ds: SpikeDataset, n_channel_groups: int) -> tuple[np.ndarray, int]:
    """The feature group of every channel.

    Parameters
    ----------
    ds : SpikeDataset
        Gives ``n_channels`` and ``input_shape``.
    n_channel_groups : int
        Wanted number of groups (an upper bound for spatial inputs).

    Returns
    -------
    group : ndarray of int64, shape (n_channels,)
        Group of each channel.
    n_groups : int
        Number of groups.

    Notes
    -----
    Flat inputs (``input_shape`` None): ``group = c * n_channel_groups // n_channels``.
    Spatial inputs ``(P, H, W)`` with ``c = p * H * W + y * W + x``: ``g = max(1,
    floor(sqrt(n_channel_groups / P)))`` (at most ``min(H, W)``) and
    ``group = (p * g + y * g // H) * g + x * g // W``, i.e. ``P * g * g`` blocks.
    """
    c = np.arange(ds.n_channels, dtype=np.int64)
    shape = ds.input_shape
    if shape is None or len(shape) != 3:
        return c * n_channel_groups // ds.n_channels, int(n_channel_groups)
    n_pol, h, w = shape
    g = int(min(max(1, np.floor(np.sqrt(n_channel_groups / n_pol))), h, w))
    p, y, x = c // (h * w), (c % (h * w)) // w, c % w
    return (p * g + y * g // h) * g + x * g // w, n_pol * g * g


def _loss_grad(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, n_classes: int, l2: float
) -> tuple[float, np.ndarray]:
    n, d = x.shape
    w = params[: d * n_classes].reshape(d, n_classes)
    b = params[d * n_classes:]
    z = x @ w + b
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p = z - log_norm
    loss = -log_p[np.arange(n), y].mean() + 0.5 * l2 * float(np.sum(w * w))
    delta = np.exp(log_p)
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grad_w = x.T @ delta + l2 * w
    grad_b = delta.sum(axis=0)
    return float(loss), np.concatenate([grad_w.ravel(), grad_b])


def fit_logistic(
    x: np.ndarray, y: np.ndarray, n_classes: int, l2: float, *, max_iter: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Fit multinomial logistic regression with an L2 penalty on the weights.

    Parameters
    ----------
    x : ndarray of float64, shape (n_samples, n_features)
        Features.
    y : ndarray of int, shape (n_samples,)
        Classes ``0..n_classes-1``.
    n_classes : int
        Number of classes.
    l2 : float
        Penalty strength ``lambda`` (>= 0).
    max_iter : int
        L-BFGS iteration limit.

    Returns
    -------
    w : ndarray of float64, shape (n_features, n_classes)
    b : ndarray of float64, shape (n_classes,)

    Notes
    -----
    Minimises the convex objective

    .. math:: L(W, b) = -\\frac{1}{n} \\sum_i \\log \\mathrm{softmax}(x_i W + b)_{y_i}
              + \\frac{\\lambda}{2} \\lVert W \\rVert^2

    from ``W = 0, b = 0`` with L-BFGS-B and the analytic gradient
    ``dL/dW = X^T (P - Y) / n + lambda W``, ``dL/db = mean(P - Y)``; the result is
    deterministic.
    """
    d = x.shape[1]
    x0 = np.zeros(d * n_classes + n_classes)
    res = minimize(
        _loss_grad,
        x0,
        args=(x, np.asarray(y, dtype=np.int64), n_classes, float(l2)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
    )
    return res.x[: d * n_classes].reshape(d, n_classes), res.x[d * n_classes:]


def predict_logistic(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Most likely class of each row of ``x`` (shape (n_samples,), int64)."""
    return np.argmax(x @ w + b, axis=1).astype(np.int64)


def _standardise(train_x: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std[std == 0] = 1.0
    return tuple((a - mean) / std for a in (train_x, *others))


def logistic_baseline(
    train: SpikeDataset,
    test: SpikeDataset,
    *,
    n_time_bins: int = 10,
    n_channel_groups: int = 35,
    seed: int = 0,
    val_fraction: float = 0.2,
    l2_grid: tuple[float, ...] = DEFAULT_L2_GRID,
    t_max: float | None = None,
    max_iter: int = 300,
) -> dict[str, Any]:
    """Logistic-regression accuracy on binned spike counts.

    Parameters
    ----------
    train, test : SpikeDataset
        Training and test splits (same channels and classes).
    n_time_bins : int
        Equal time bins over ``[0, t_max]``.
    n_channel_groups : int
        Contiguous channel groups (35 groups of 20 for 700 channels); for spatial inputs at most
        this many blocks (:func:`channel_groups`: 35 gives 2 x 4 x 4 on a 2 x H x W input).
    seed : int
        Seed of the validation split (the only randomness).
    val_fraction : float
        Fraction of the training set held out (whole speakers, see
        :func:`~sgevent.data.shd.speaker_split`) to choose the L2 strength.
    l2_grid : tuple of float
        Candidate L2 strengths, tried in order; ties go to the earlier (stronger) one.
    t_max : float, optional
        Window end in seconds; default the 99th percentile of the training samples' durations
        (time of the last spike).
    max_iter : int
        L-BFGS iteration limit of each fit (one per L2 candidate plus the final refit).

    Returns
    -------
    dict
        ``train_accuracy`` (final model on the whole training set), ``val_accuracy`` (chosen L2,
        fitted on the training part), ``test_accuracy``, ``chance`` (``1 / n_classes``), ``l2``,
        ``l2_grid``, ``val_accuracy_per_l2``, ``feature_shape`` ``(n_time_bins,
        n_groups)``, ``n_features``, ``t_max_s``, ``n_train``, ``n_fit`` (training part of the
        validation split), ``n_val``, ``n_test``.

    Notes
    -----
    Features are ``log1p(counts)`` standardised with the mean and standard deviation of the data
    the model is fitted on. After choosing L2 on the validation split, the model is refitted on
    the whole training set with training statistics and evaluated on the test set.
    """
    if train.n_channels != test.n_channels or train.n_classes != test.n_classes:
        raise DataError(
            f"{test.source}: has {test.n_channels} channels and {test.n_classes} classes; "
            f"expected the same as the training set {train.source} ({train.n_channels} and "
            f"{train.n_classes})"
        )
    if len(train) < 2 or len(test) < 1:
        raise DataError(
            f"need at least 2 training and 1 test samples, got {len(train)} and {len(test)}"
        )
    if not l2_grid:
        raise ConfigError("l2_grid is empty; give at least one L2 strength")
    if t_max is None:
        t_max = float(np.percentile(train.durations(), 99))
    if t_max <= 0:
        raise DataError(
            f"{train.source}: the training samples' 99th-percentile duration is {t_max} s; "
            "expected spikes after t = 0 (are the samples empty?)"
        )
    k = train.n_classes
    x_train = np.log1p(binned_counts(train, t_max, n_time_bins, n_channel_groups))
    n_groups = x_train.shape[2]
    x_train = x_train.reshape(len(train), -1)
    x_test = np.log1p(binned_counts(test, t_max, n_time_bins, n_channel_groups))
    x_test = x_test.reshape(len(test), -1)
    y_train, y_test = train.labels, test.labels

    fit_idx, val_idx = speaker_split(train, val_fraction, seed)
    xf, xv = _standardise(x_train[fit_idx], x_train[val_idx])
    val_acc = []
    for l2 in l2_grid:
        w, b = fit_logistic(xf, y_train[fit_idx], k, l2, max_iter=max_iter)
        val_acc.append(float(np.mean(predict_logistic(xv, w, b) == y_train[val_idx])))
    best = int(np.argmax(val_acc))
    l2 = float(l2_grid[best])

    xt, xs = _standardise(x_train, x_test)
    w, b = fit_logistic(xt, y_train, k, l2, max_iter=max_iter)
    return {
        "train_accuracy": float(np.mean(predict_logistic(xt, w, b) == y_train)),
        "val_accuracy": val_acc[best],
        "test_accuracy": float(np.mean(predict_logistic(xs, w, b) == y_test)),
        "chance": 1.0 / k,
        "l2": l2,
        "l2_grid": tuple(float(v) for v in l2_grid),
        "val_accuracy_per_l2": tuple(val_acc),
        "feature_shape": (n_time_bins, n_groups),
        "n_features": n_time_bins * n_groups,
        "t_max_s": float(t_max),
        "n_train": len(train),
        "n_fit": int(fit_idx.size),
        "n_val": int(val_idx.size),
        "n_test": len(test),
    }
