"""Learning: losses, output errors and the backward options (DESIGN.md section 3).

The sigma-delta quantiser is the identity in the backward pass (``yhat_j[0]`` tracks ``y_j``
within +-theta), so gradients flow through the ReLU and the linear bucket maps only; no
surrogate derivative of a step function is needed.

Learning events happen at ``t_e = e * learn_period``, ``e = 1 .. E`` with
``E = floor(t_end / learn_period + 1e-9)``; in grid mode ``t_e`` reads step
``floor(t_e / dt + 1e-9)`` like a readout. At each one the engine brings every layer to ``t_e``
and records the readout ``o_e``, every hidden signal ``x^l_e`` and every source's buckets
``Y^s_e`` (shape ``(n_s, K)``). With ``delta^L_e = dL/do_e`` and, layer by layer downwards,

    delta^l_e[i] = [x^l_e[i] > 0] * sum_j delta^{l+1}_e[j] w^{l+1}[j,i] g^{l+1}[j,i]

where ``g[j,i] = v[j,0]`` (``instant``) or ``sum_k v[j,k]`` (``steady``) (per-synapse:
``v[j,i,0]`` or ``sum_k v[j,i,k]``), every layer accumulates

    G^l[k] += delta^l_e (outer) Y^l_e[:, k]          (shape (K, n_post, n_pre))

and its gradients follow from ``G`` alone:

    per-neuron v:   dL/dw[j,i] = sum_k v[j,k] G[k,j,i];   dL/dv[j,k] = sum_i w[j,i] G[k,j,i]
    per-synapse v:  dL/dw[j,i] = sum_k v[j,i,k] G[k,j,i]; dL/dv[j,i,k] = w[j,i] G[k,j,i]
    dL/db[j] = sum_e delta_e[j]

``traces`` (exact eligibility traces, :mod:`sgevent.learn.traces`) replaces ``delta^l_e (outer) Y`` of a
hidden layer by ``sum_k g_e[i,k] E_{i,m,k'}[k]``: ``g[i,k]`` is the error at bucket k of hidden
source i (``sum_j delta^{l+1}_j w^{l+1}[j,i] v^{l+1}[j,k]``) and ``E`` the forward-mode sensitivity of
neuron i's own bucket k to its coefficient of ``yhat_m[k']`` through the neuron's own cascade,
with the ReLU gate ``[x_i > 0]`` at every past instant (the quantiser as identity). The k = 0 term
is ``instant``; with one hidden layer ``traces`` is the exact gradient of the linearised model;
between hidden layers the error passed down is the ``instant`` one.

Losses over the ``E`` readouts ``o_e`` (label ``y`` or targets ``T`` of shape ``(E, n_out)``):
``mean`` (default) ``(1/E) sum_e CE(softmax(o_e), y)``; ``last`` ``CE(softmax(o_E), y)``;
``max`` ``CE(softmax(m), y)`` with ``m_c = max_e o_e[c]`` (the first maximum in time);
``mse`` ``(1/E) sum_e |o_e - T_e|^2 / 2``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sgevent.errors import ConfigError, InputError

__all__ = ["LearnSpec", "LOSSES", "BACKWARDS", "learning_times", "loss_and_output_error"]

LOSSES = ("mean", "last", "max", "mse")
BACKWARDS = ("instant", "steady", "traces")


@dataclass(frozen=True)
class LearnSpec:
    """How a sample is learned from.

    Attributes
    ----------
    loss : {"mean", "last", "max", "mse"}
        Loss over the learning events (see module notes). Default ``mean``.
    backward : {"instant", "steady", "traces"}
        Error into the layers below (module notes). Default ``instant``. ``traces`` multiplies the
        gradient product by ``K`` and adds work at every gate switch (measured: 20x the
        ``instant`` time of an SHD-sized sample learning every 1 ms), and keeps
        ``n_post * n_pre * K * (K-1)`` numbers of state per hidden layer; the event engine does
        not combine it with the ``max`` loss.
    learn_period : float
        Spacing of learning events (s). Default 1 ms.
    """

    loss: str = "mean"
    backward: str = "instant"
    learn_period: float = 1e-3

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.backward not in BACKWARDS:
            raise ConfigError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")
        if not (np.isfinite(self.learn_period) and self.learn_period > 0):
            raise ConfigError(f"learn_period must be a finite time > 0 s, got {self.learn_period}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LearnSpec":
        return cls(**d)


def learning_times(t_end: float, learn_period: float) -> np.ndarray:
    """``e * learn_period`` for ``e = 1 .. floor(t_end / learn_period + 1e-9)`` (clipped to t_end)."""
    n = int(np.floor(t_end / learn_period + 1e-9))
    return np.minimum(np.arange(1, n + 1) * learn_period, t_end)


def _softmax(o: np.ndarray) -> np.ndarray:
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def loss_and_output_error(o: np.ndarray, loss: str, label: int | None = None, target=None):
    """Loss and ``dL/do_e`` for readouts ``o`` of shape ``(E, n_out)``.

    Returns
    -------
    loss : float
    delta : ndarray, shape (E, n_out)
        ``dL/do_e`` (zero rows for events that do not enter the loss).
    """
    E, n_out = o.shape
    if E == 0:
        raise InputError("no learning event in the window: t_end must be >= learn_period")
    delta = np.zeros_like(o)
    if loss == "mse":
        if target is None:
            raise InputError("loss 'mse' needs target of shape (E, n_out)")
        T = np.asarray(target, dtype=np.float64)
        if T.shape != o.shape:
            raise InputError(f"target must have shape {o.shape} (learning events, n_out), got {T.shape}")
        d = o - T
        return float(0.5 * np.sum(d * d) / E), d / E
    if label is None or not (0 <= int(label) < n_out):
        raise InputError(f"label must be an integer in 0..{n_out - 1}, got {label!r}")
    y = int(label)
    if loss == "mean":
        p = _softmax(o)
        delta[:] = p
        delta[:, y] -= 1.0
        logp = o[:, y] - o.max(axis=1) - np.log(np.exp(o - o.max(axis=1, keepdims=True)).sum(axis=1))
        return float(-logp.mean()), delta / E
    if loss == "last":
        p = _softmax(o[-1])
        delta[-1] = p
        delta[-1, y] -= 1.0
        return float(-np.log(p[y])), delta
    if loss == "max":
        arg = np.argmax(o, axis=0)  # first maximum in time per class
        m = o[arg, np.arange(n_out)]
        p = _softmax(m)
        g = p.copy()
        g[y] -= 1.0
        delta[arg, np.arange(n_out)] = g
        return float(-np.log(p[y])), delta
    raise ConfigError(f"unknown loss {loss!r}")
