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
``mse`` ``(1/E) sum_e |o_e - T_e|^2 / 2``;
``onset`` ``(1/E') sum_{e >= e_0} CE(softmax(o_e), y)``: the mean over the events whose readout
has seen the sample's first input spike, ``t_e >= t_first`` (grid: the event's step
``n_e >= ceil(t_first / dt - 1e-9)``, the first input's step), ``E' = E - e_0``. The silence
before a sample's onset carries no evidence of its class, yet ``mean`` asks the readout to name
the class there too. A sample with no input spike at or before the last learning event has no
onset: its loss is then taken over every event (it equals ``mean``), so an empty sample (e.g.
after event dropout) trains like any other instead of stopping a run.
:func:`first_loss_event` gives ``e_0`` (and ``E - 1`` for ``last``, ``0`` otherwise): the events
``e_0 .. E-1`` are the events the loss uses, ``E' = E - e_0`` of them.

Spike-rate penalty (``rate_penalty = lambda >= 0``, default 0 = off). The loss gains

    lambda * (1/E') sum_{e >= e_0} (1/N_h) sum_l sum_i relu(x^l_e[i])

over the events the loss uses (``N_h``: hidden neurons of all layers), i.e. every hidden delta
gains ``lambda / (E' N_h) [x^l_e[i] > 0]`` *before* the error goes down to the layer below, so it
is the exact gradient of the penalised linearised model (with ``traces`` it enters the error at
bucket 0: in the linearised model ``relu(x_i) = yhat_i[0]``). It is a proxy for the spike rate:
a sigma-delta neuron's own bucket 0 decays with ``tau_0``, so holding ``yhat[0]`` at ``y`` costs
about ``y / (tau_0 * spike_gain * theta)`` spikes per second, proportional to the signal (the
adaptive threshold and bursts make it inexact). The reported loss includes the penalty. The
``max`` loss, whose gradient flows only at each class's maximum, refuses a non-zero penalty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sgevent.errors import ConfigError, InputError, check_float

__all__ = ["LearnSpec", "LOSSES", "BACKWARDS", "learning_times", "first_loss_event", "loss_and_output_error"]

LOSSES = ("mean", "last", "max", "mse", "onset")
BACKWARDS = ("instant", "steady", "traces")


@dataclass(frozen=True)
class LearnSpec:
    """How a sample is learned from.

    Attributes
    ----------
    loss : {"mean", "last", "max", "mse", "onset"}
        Loss over the learning events (see module notes). Default ``mean``.
    backward : {"instant", "steady", "traces"}
        Error into the layers below (module notes). Default ``instant``. ``traces`` multiplies the
        gradient product by ``K`` and adds work at every gate switch (measured: 20x the
        ``instant`` time of an SHD-sized sample learning every 1 ms), and keeps
        ``n_post * n_pre * K * (K-1)`` numbers of state per hidden layer; the event engine does
        not combine it with the ``max`` loss.
    learn_period : float
        Spacing of learning events (s). Default 1 ms.
    rate_penalty : float
        ``lambda >= 0`` of the spike-rate penalty on the mean hidden signal (module notes).
        Default 0 (off). Not with the ``max`` loss.
    """

    loss: str = "mean"
    backward: str = "instant"
    learn_period: float = 1e-3
    rate_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.backward not in BACKWARDS:
            raise ConfigError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")
        if not (np.isfinite(self.learn_period) and self.learn_period > 0):
            raise ConfigError(f"learn_period must be a finite time > 0 s, got {self.learn_period}")
        object.__setattr__(self, "rate_penalty", check_float("learn.rate_penalty", self.rate_penalty, lo=0.0))
        if self.rate_penalty > 0 and self.loss == "max":
            raise ConfigError(f"config field 'learn.rate_penalty': got {self.rate_penalty!r} with loss 'max'; the "
                              "'max' loss takes its gradient only at each class's maximum, so it has no events to "
                              "penalise: use rate_penalty 0 or the loss 'mean', 'onset', 'last' or 'mse'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LearnSpec":
        return cls(**d)


def learning_times(t_end: float, learn_period: float) -> np.ndarray:
    """``e * learn_period`` for ``e = 1 .. floor(t_end / learn_period + 1e-9)`` (clipped to t_end)."""
    n = int(np.floor(t_end / learn_period + 1e-9))
    return np.minimum(np.arange(1, n + 1) * learn_period, t_end)


def first_loss_event(loss: str, event_times: np.ndarray, t_first: float | None) -> int:
    """``e_0``: the first of the learning events the loss uses (module notes).

    Parameters
    ----------
    loss : str
        One of :data:`LOSSES`.
    event_times : ndarray, shape (E,)
        The learning events' readout times, in order, on the clock of ``t_first`` (seconds in
        continuous time; grid: step indices, the step each event reads).
    t_first : float or None
        The sample's first input spike on the same clock (grid: its step); None without inputs.

    Returns
    -------
    int
        ``onset``: the first ``e`` with ``event_times[e] >= t_first`` (0 if there is none: no
        onset, every event counts); ``last``: ``E - 1``; any other loss: 0.
    """
    E = len(event_times)
    if loss == "last":
        return max(E - 1, 0)
    if loss != "onset" or t_first is None:
        return 0
    e0 = int(np.searchsorted(np.asarray(event_times, dtype=np.float64), t_first, side="left"))
    return 0 if e0 >= E else e0


def _softmax(o: np.ndarray) -> np.ndarray:
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def loss_and_output_error(o: np.ndarray, loss: str, label: int | None = None, target=None, e_first: int = 0):
    """Loss and ``dL/do_e`` for readouts ``o`` of shape ``(E, n_out)`` (without the rate penalty,
    which needs the hidden signals). ``e_first``: the ``onset`` loss's ``e_0``
    (:func:`first_loss_event`).

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
    if loss == "onset":
        value, d = loss_and_output_error(o[e_first:], "mean", label)
        delta[e_first:] = d
        return value, delta
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
