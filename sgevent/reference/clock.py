"""Clock-driven reference: the paper's discrete SpikingGamma recursion, one step at a time.

This is the oracle the event engine's grid(dt) mode must reproduce spike for spike, and the
"what a user would pick instead" baseline of the benchmarks (DESIGN.md section 4). It is written
to be obviously the model of DESIGN.md section 1.4 rather than fast: every spiking source keeps
its own ``K`` buckets ``yhat_i[k]`` (nothing is aggregated across presynaptic sources) and each
step is a handful of vectorised NumPy operations, so its cost grows as ``1/dt``.

State layout (all float64, zero at t = 0):

- ``yhat[s]``, shape ``(n_s, K)``: buckets of source ``s`` (``s = 0`` input channels,
  ``s = l + 1`` hidden layer ``l``); column 0 of a hidden source is the neurons' own sigma-delta
  reconstruction ``yhat_j[0]``.
- ``theta_dyn[l]``, shape ``(n_l,)``: adaptive part of hidden layer ``l``'s threshold.
- with ``learn.backward == "traces"``: the eligibility traces of every hidden layer (see
  :class:`_Learner`), shape ``(n_post, n_pre, K, K)`` plus ``(n_post, K)`` for a used bias.

Two quantisers of the hidden neurons (option ``quantiser``): ``"sigma-delta"`` (the model,
DESIGN.md section 1.2) and ``"identity"``, the *linearised model* ``yhat_j[0][n] = relu(x_j[n])``
with no spikes: the rate limit of the network (theta -> 0), and the model the backward pass
assumes (DESIGN.md section 3).
"""

from __future__ import annotations

import math

import numpy as np

from sgevent.errors import BurstLimitError, ConfigError, InputError
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.events import STEP_TOL, check_dt, check_spikes, resolve_window
from sgevent.model.network import Network
from sgevent.model.result import LayerSpikes, SimulationResult

__all__ = ["simulate_reference", "QUANTISERS"]

QUANTISERS = ("sigma-delta", "identity")


def _cascade_coefficients(taus: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-step decay ``alpha[k] = exp(-dt / tau[k])`` and feed ``1 - alpha[k]`` of a cascade.

    Parameters
    ----------
    taus : ndarray of float64, shape (K,)
        Bucket time constants (s).
    dt : float
        Step (s).

    Returns
    -------
    alpha, one_minus_alpha : ndarray of float64, shape (K,)
        ``one_minus_alpha`` is formed literally as ``1.0 - alpha`` (not ``-expm1``), matching
        the recursion as written in DESIGN.md section 1.1.
    """
    alpha = np.exp(-dt / taus)
    return alpha, 1.0 - alpha


def _advance_delay_stages(yhat: np.ndarray, alpha: np.ndarray, one_minus_alpha: np.ndarray) -> None:
    """Advance buckets ``k >= 1`` of every source one step, in place (writes ``yhat``).

    ``yhat[:, k] <- alpha[k] * yhat[:, k] + (1 - alpha[k]) * yhat[:, k-1]`` for ``k >= 1``, with
    both right-hand terms taken at step ``n-1`` (the right side is evaluated in full before the
    assignment). Bucket 0 is left untouched; the caller decays it and adds spikes.

    Parameters
    ----------
    yhat : ndarray of float64, shape (n, K)
        Buckets at step ``n-1`` on entry, buckets ``k >= 1`` at step ``n`` on exit.
    alpha, one_minus_alpha : ndarray of float64, shape (K,)
    """
    if yhat.shape[1] > 1:
        yhat[:, 1:] = alpha[1:] * yhat[:, 1:] + one_minus_alpha[1:] * yhat[:, :-1]


class _Projection:
    """Dense mixing of one layer: ``x = b + mix(yhat_pre)`` (weights prepared once).

    Per-neuron bucket weights (``v`` of shape ``(n_post, K)``)::

        z[j, k] = sum_i w[j, i] * yhat_i[k]          (one matrix product, K*n_pre*n_post MACs)
        x[j]    = b[j] + sum_k v[j, k] * z[j, k]     (K*n_post MACs)

    Per-synapse bucket weights (``v`` of shape ``(n_post, n_pre, K)``): the products
    ``w[j, i] * v[j, i, k]`` are formed once, then every step is one matrix-vector product over
    the flattened ``(i, k)`` axis::

        x[j] = b[j] + sum_{i, k} (w[j, i] v[j, i, k]) * yhat_i[k]   (K*n_pre*n_post MACs)
    """

    def __init__(self, w: np.ndarray, v: np.ndarray, b: np.ndarray, per_synapse: bool) -> None:
        self.per_synapse = per_synapse
        self.b = b
        n_post, n_pre = w.shape
        K = v.shape[-1]
        if per_synapse:
            self.wv = np.ascontiguousarray((w[:, :, None] * v).reshape(n_post, n_pre * K))
            self.macs_per_step = n_post * n_pre * K
        else:
            self.w = w
            self.v = v
            self.macs_per_step = n_post * n_pre * K + n_post * K

    def __call__(self, yhat_pre: np.ndarray) -> np.ndarray:
        """Drive of the layer, shape ``(n_post,)``, from presynaptic buckets ``(n_pre, K)``."""
        if self.per_synapse:
            return self.b + self.wv @ yhat_pre.reshape(-1)
        z = self.w @ yhat_pre  # (n_post, K): z[j, k] = sum_i w[j, i] yhat_i[k]
        return self.b + np.einsum("jk,jk->j", self.v, z)


def _step_of_spikes(times: np.ndarray, dt: float) -> np.ndarray:
    """Step of each input spike: ``ceil(t / dt - 1e-9)`` (a spike on ``t_n`` is in step n)."""
    return np.ceil(times / dt - STEP_TOL).astype(np.int64)


def _step_of_readout(times: np.ndarray, dt: float) -> np.ndarray:
    """Step read at each readout time: ``floor(t / dt + 1e-9)``."""
    return np.floor(times / dt + STEP_TOL).astype(np.int64)


def _check_label(label, n_out: int) -> int:
    """A class label: an integer in ``0 .. n_out - 1`` (bools and fractional numbers refused)."""
    if label is None or isinstance(label, (bool, np.bool_)):
        raise InputError(f"label must be an integer in 0..{n_out - 1}, got {label!r}")
    try:
        y = int(label)
        ok = y == label
    except (TypeError, ValueError):
        ok = False
    if not ok or not (0 <= y < n_out):
        raise InputError(f"label must be an integer in 0..{n_out - 1}, got {label!r}")
    return y


def _check_target(target, n_events: int, n_out: int) -> np.ndarray:
    """Targets of the ``mse`` loss: finite, shape ``(n_events, n_out)``."""
    if target is None:
        raise InputError(f"loss 'mse' needs target of shape ({n_events}, {n_out}) (learning events, n_out)")
    try:
        T = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"target must be a numeric array of shape ({n_events}, {n_out})") from None
    if T.shape != (n_events, n_out):
        raise InputError(
            f"target must have shape ({n_events}, {n_out}) (learning events, n_out), got {T.shape}"
        )
    if not np.all(np.isfinite(T)):
        raise InputError("target holds non-finite values")
    return T


def _copies(arrays: list | None) -> list | None:
    """Copies of a list of arrays (None entries, or no list, kept as None)."""
    return None if arrays is None else [None if a is None else a.copy() for a in arrays]


class _Learner:
    """Loss and gradients of one sample, accumulated event by event (learning.py module notes).

    Written from the definitions, independently of :func:`sgevent.learn.spec.loss_and_output_error`
    and of the engine's ``G`` accumulation: at every learning event the output error
    ``delta^L_e = dL/do_e`` is propagated down through the recorded hidden drives ``x^l_e`` and
    each layer's gradient is added directly from the recorded source buckets ``Y^s_e`` (or, for
    hidden layers with ``traces``, from the eligibility traces). For ``mean``, ``last`` and
    ``mse`` this happens as the event is reached (memory constant in time); for ``max`` each
    class keeps the snapshot ``(x, Y, traces)`` of its current first maximum and the gradient is
    formed at the end.

    Notes
    -----
    ``backward = "traces"``. Hidden layer ``l`` has neurons ``i`` and sources ``m`` (input
    channels for ``l = 0``, hidden layer ``l - 1`` otherwise) with buckets ``yhat_m[k']``; its
    signals are ``x_i = b_i + sum_{m,k'} c[i,m,k'] yhat_m[k']`` with ``c[i,m,k'] = w[i,m] v[i,k']``
    (per neuron) or ``w[i,m] v[i,m,k']`` (per synapse). ``alpha[k] = exp(-dt / tau[k])`` with
    ``tau = net.taus[l + 1]`` (the layer's own cascade). The eligibility traces are the
    forward-mode sensitivities ``d yhat_i[k] / d c[i,m,k']`` of the layer's own buckets in the
    linearised model (quantiser = identity, ``yhat_i[0] = relu(x_i)``, the layer's inputs held
    fixed); zero before step 0, and at every step ``n``, once ``x_i[n]`` is computed from the
    presynaptic buckets at step ``n``::

        E_{i,m,k'}[0][n] = [x_i[n] > 0] yhat_m[k'][n]
        E_{i,m,k'}[k][n] = alpha[k] E_{i,m,k'}[k][n-1] + (1 - alpha[k]) E_{i,m,k'}[k-1][n-1]  (k >= 1)
        Eb_i[0][n] = [x_i[n] > 0];  Eb_i[k][n] = alpha[k] Eb_i[k][n-1] + (1 - alpha[k]) Eb_i[k-1][n-1]

    (``Eb`` only when the layer's bias is used). Stored as ``tr[l][i, m, k', k]`` and
    ``trb[l][i, k]``. They depend on the weights only through the gates ``[x > 0]``: the online
    schedule keeps them across weight updates. At learning event ``e`` (step ``n_e``) the error
    at the buckets of hidden source ``i`` of layer ``l`` is::

        g^l_i[k] = sum_j delta^{l+1}_j w^{l+1}[j,i] v^{l+1}[j,k]     (per synapse: v^{l+1}[j,i,k])

    with ``delta^{l+1} = delta^L_e`` if layer ``l + 1`` is the readout and otherwise the
    ``instant`` error ``delta^{l+1}_j = [x^{l+1}_j > 0] g^{l+1}_j[0]``; then::

        G^l[k', i, m] += sum_k g^l_i[k] E_{i,m,k'}[k][n_e];   db^l_i += sum_k g^l_i[k] Eb_i[k][n_e]

    and ``dw``, ``dv`` of the layer follow from ``G`` as for the other options (per neuron:
    ``dw[i,m] = sum_k' v[i,k'] G[k',i,m]``, ``dv[i,k'] = sum_m w[i,m] G[k',i,m]``; per synapse:
    ``dw[i,m] = sum_k' v[i,m,k'] G[k',i,m]``, ``dv[i,m,k'] = w[i,m] G[k',i,m]``), added here
    event by event with the weights current at the event. The readout's own gradients are those
    of the other options. The ``k = 0`` term alone is the ``instant`` rule; with one hidden layer
    and ``quantiser="identity"`` the result is the exact gradient of the loss.
    """

    def __init__(self, net: Network, spec: LearnSpec, n_events: int, label, target, coef: list) -> None:
        self.net = net
        self.spec = spec
        self.E = n_events
        n_out = net.n_out
        if spec.loss == "mse":
            self.T = _check_target(target, n_events, n_out)
        else:
            self.y = _check_label(label, n_out)
        self.gw = [np.zeros_like(a) for a in net.w]
        self.gv = [np.zeros_like(a) for a in net.v]
        self.gb = [np.zeros_like(a) for a in net.b]
        # g[l][j, i]: the bucket map's gain from source i into unit j of layer l (backward mode)
        self._set_gains()
        self.traces = spec.backward == "traces"
        if self.traces:
            K, sizes = net.n_buckets, net.sizes
            self.coef = coef  # (alpha, 1 - alpha) of each source's cascade
            self.tr = [np.zeros((sizes[l + 1], sizes[l], K, K)) for l in range(len(net.hidden))]
            self.trb = [np.zeros((sizes[l + 1], K)) if net.bias[l] else None for l in range(len(net.hidden))]
        else:
            self.tr = self.trb = None
        self.loss = 0.0
        if spec.loss == "max":
            self.m = np.full(n_out, -np.inf)  # running max per class
            self.snap: list = [None] * n_out  # per class: (x, Y, tr, trb) at its first maximum

    def _set_gains(self) -> None:
        net, spec = self.net, self.spec
        self.gain = []
        for l in range(net.n_layers):
            v = net.v[l]
            if net.per_synapse:
                g = v[:, :, 0] if spec.backward == "instant" else v.sum(axis=2)
            else:
                g = (v[:, 0] if spec.backward == "instant" else v.sum(axis=1))[:, None]
            self.gain.append(net.w[l] * g)  # (n_post, n_pre): w[j,i] g[j,i]

    def advance_traces(self, l: int, x: np.ndarray, y_pre: np.ndarray) -> None:
        """Step hidden layer ``l``'s traces to step ``n`` (writes ``tr[l]``, ``trb[l]``).

        Parameters
        ----------
        l : int
            Hidden layer.
        x : ndarray of float64, shape (n_post,)
            Its signals ``x_i[n]``.
        y_pre : ndarray of float64, shape (n_pre, K)
            Its presynaptic buckets at step ``n``.
        """
        alpha, one_minus = self.coef[l + 1]
        gate = (x > 0.0).astype(np.float64)
        for tr, first in ((self.tr[l], gate[:, None, None] * y_pre[None, :, :]), (self.trb[l], gate)):
            if tr is None:
                continue
            if tr.shape[-1] > 1:  # k >= 1 from step n-1 values (right side evaluated first)
                tr[..., 1:] = alpha[1:] * tr[..., 1:] + one_minus[1:] * tr[..., :-1]
            tr[..., 0] = first

    def apply(self, optimizer) -> None:
        """Online schedule: step ``optimizer`` on the gradients gathered so far, then clear them."""
        net = self.net
        grads = []
        for l in range(net.n_layers):
            grads += [self.gw[l], self.gv[l], self.gb[l] if net.bias[l] else np.zeros_like(self.gb[l])]
        mask = [key != "b" or net.bias[l] for l in range(net.n_layers) for key in ("w", "v", "b")]
        optimizer.step(grads, mask=mask)
        for a in (*self.gw, *self.gv, *self.gb):
            a[:] = 0.0
        self._set_gains()

    def pending(self) -> bool:
        return any(np.any(a) for a in (*self.gw, *self.gv, *self.gb))

    @staticmethod
    def _log_softmax(o: np.ndarray) -> np.ndarray:
        mx = o.max()
        return o - (mx + math.log(np.exp(o - mx).sum()))

    def event(self, e: int, o: np.ndarray, xs: list, Ys: list) -> None:
        """Learning event ``e`` (0-based) with readout ``o``, hidden drives ``xs``, buckets ``Ys``."""
        loss, E = self.spec.loss, self.E
        tr = (self.tr, self.trb)
        if loss == "mse":
            d = o - self.T[e]
            self.loss += 0.5 * float(d @ d) / E
            self._backward(d / E, xs, Ys, *tr)
        elif loss == "mean":
            logp = self._log_softmax(o)
            self.loss -= float(logp[self.y]) / E
            d = np.exp(logp)
            d[self.y] -= 1.0
            self._backward(d / E, xs, Ys, *tr)
        elif loss == "last":
            if e == E - 1:
                logp = self._log_softmax(o)
                self.loss = -float(logp[self.y])
                d = np.exp(logp)
                d[self.y] -= 1.0
                self._backward(d, xs, Ys, *tr)
        else:  # max: strictly greater keeps the first maximum in time
            better = np.flatnonzero(o > self.m)
            if better.size:
                snap = (_copies(xs), _copies(Ys), _copies(self.tr), _copies(self.trb))  # shared by these classes
                self.m[better] = o[better]
                for c in better:
                    self.snap[c] = snap

    def finish(self) -> tuple[float, list[dict]]:
        if self.spec.loss == "max":
            logp = self._log_softmax(self.m)
            self.loss = -float(logp[self.y])
            g = np.exp(logp)
            g[self.y] -= 1.0
            done: set[int] = set()
            for c in range(self.net.n_out):
                if id(self.snap[c]) in done:
                    continue
                done.add(id(self.snap[c]))
                same = [k for k in range(self.net.n_out) if self.snap[k] is self.snap[c]]
                d = np.zeros(self.net.n_out)
                d[same] = g[same]  # gradient flows only at each class's argmax event
                self._backward(d, *self.snap[c])
        grads = [
            {"w": self.gw[l], "v": self.gv[l], "b": self.gb[l] if self.net.bias[l] else np.zeros_like(self.gb[l])}
            for l in range(self.net.n_layers)
        ]
        return float(self.loss), grads

    def _backward(self, delta: np.ndarray, xs: list, Ys: list, tr=None, trb=None) -> None:
        """Add one event's gradients, from the output error ``delta`` down to layer 0.

        ``tr``, ``trb``: the hidden layers' traces at the event (``traces`` only, else None).
        """
        net = self.net
        g = None  # traces: error at the buckets of the current layer's neurons, (n_post, K)
        for l in range(net.n_layers - 1, -1, -1):
            w, v = net.w[l], net.v[l]
            if g is None:  # the readout, or any layer with `instant` / `steady`
                Y = Ys[l]  # buckets of the layer's source, (n_pre, K)
                if net.per_synapse:
                    # dw[j,i] += delta[j] sum_k v[j,i,k] Y[i,k];  dv[j,i,k] += delta[j] w[j,i] Y[i,k]
                    self.gw[l] += delta[:, None] * np.einsum("jik,ik->ji", v, Y)
                    self.gv[l] += (delta[:, None] * w)[:, :, None] * Y[None, :, :]
                else:
                    # dw[j,i] += delta[j] sum_k v[j,k] Y[i,k];  dv[j,k] += delta[j] sum_i w[j,i] Y[i,k]
                    self.gw[l] += delta[:, None] * (v @ Y.T)
                    self.gv[l] += delta[:, None] * (w @ Y)
                if net.bias[l]:
                    self.gb[l] += delta
            else:  # hidden layer with traces: G_e[i,m,k'] = sum_k g[i,k] E_{i,m,k'}[k]
                G = np.einsum("ik,imqk->imq", g, tr[l])
                if net.per_synapse:
                    self.gw[l] += np.einsum("imq,imq->im", v, G)
                    self.gv[l] += w[:, :, None] * G
                else:
                    self.gw[l] += np.einsum("iq,imq->im", v, G)
                    self.gv[l] += np.einsum("im,imq->iq", w, G)
                if net.bias[l]:
                    self.gb[l] += np.einsum("ik,ik->i", g, trb[l])
            if l > 0:
                if self.traces:
                    # g^{l-1}[i,k] = sum_j delta[j] w[j,i] v[j,(i,)k]; instant error below
                    if net.per_synapse:
                        g = np.einsum("j,ji,jik->ik", delta, w, v)
                    else:
                        g = (delta[:, None] * w).T @ v
                    delta = (xs[l - 1] > 0.0) * g[:, 0]
                else:
                    # delta^{l-1}[i] = [x^{l-1}[i] > 0] sum_j delta[j] w[j,i] g[j,i]
                    delta = (xs[l - 1] > 0.0) * (delta @ self.gain[l])


def simulate_reference(
    net: Network,
    times,
    units,
    dt: float,
    t_end: float | None = None,
    readout_times=None,
    *,
    learn: LearnSpec | None = None,
    label=None,
    target=None,
    optimizer=None,
    update_every: int = 1,
    quantiser: str = "sigma-delta",
) -> SimulationResult:
    """Run the discrete SpikingGamma model clock-driven, one step of ``dt`` at a time.

    Parameters
    ----------
    net : Network
        The network (hidden LNL-SD layers and a readout).
    times : array_like of float, shape (n_spikes,)
        Input spike times (s), finite and >= 0, any order.
    units : array_like of int, shape (n_spikes,)
        Input channel of each spike, ``0 <= unit < net.n_in``.
    dt : float
        Step (s), finite and > 0.
    t_end : float, optional
        End of the window (s), finite and >= 0. Default: the last input spike time rounded up
        to the grid (0 without spikes); see :func:`sgevent.model.events.resolve_window`. Steps ``n = 0 .. N`` run with ``N = floor(t_end / dt + 1e-9)``; input spikes
        that fall in a step after ``N`` are ignored.
    readout_times : array_like of float, shape (n_t,), optional
        Times (s) at which to report the readout, each in ``[0, t_end]``, any order, repeats
        allowed. Default: every millisecond, ``k * 1e-3`` for ``k = 1 .. floor(t_end/1e-3 + 1e-9)``
        (a default time that rounding puts above ``t_end`` is clipped to ``t_end``).
        Must be None with ``learn``.
    learn : LearnSpec, optional
        Also compute the sample's loss and gradients (:mod:`sgevent.learn.spec`). The readout is
        then reported at the learning times ``learning_times(t_end, learn.learn_period)``.
    label : int, optional
        Class of the sample (losses ``mean``, ``last``, ``max``), ``0 <= label < n_out``.
    target : array_like, shape (E, n_out), optional
        Targets of the ``mse`` loss, one row per learning event.
    optimizer : sgevent.train.optim.Optimizer, optional
        Online schedule: after every ``update_every`` learning events, step this optimiser
        (built over the network's arrays, order ``w[0], v[0], b[0], w[1], ...``) on the
        gradients gathered since the last update; the following steps use the new weights.
        Whatever is left is applied at the end. ``grads`` is then None.
    update_every : int
        Learning events per online update.
    quantiser : {"sigma-delta", "identity"}
        How hidden neurons turn ``relu(x)`` into their bucket 0. ``"sigma-delta"`` (default):
        the spiking model of DESIGN.md section 1.4. ``"identity"``: the linearised model,
        ``yhat_j[0][n] = relu(x_j[n])``, no spikes and no threshold (buckets ``k >= 1`` follow
        the usual recursion; ``layers`` hold no events). It is the rate limit of the network
        (``theta -> 0``) and the model the backward pass differentiates: with one hidden layer
        and ``backward="traces"`` its gradients are the exact gradients of its loss.

    Returns
    -------
    SimulationResult
        ``layers[l]``: the events of hidden layer ``l`` sorted by (time, neuron); a burst is one
        event with ``counts`` spikes and total height ``heights = sum spike_gain * theta``; its
        time is ``n * dt``. ``readout``: shape ``(n_t, n_out)``, row ``r`` is ``o[n_r]`` with
        ``n_r = floor(readout_times[r] / dt + 1e-9)``. ``dt`` and ``t_end`` as run. ``stats``:

        - ``n_steps``: steps run, ``N + 1`` (step 0 holds only the instant t = 0);
        - ``macs_per_step``: list, multiply-accumulates of the synaptic mixing of each layer
          (hidden layers, then readout) in one step (see Notes);
        - ``dense_ops``: ``n_steps * sum(macs_per_step)``, every MAC of the synaptic mixing
          performed in the run (bucket updates and threshold checks are not counted);
        - ``n_input_spikes``: input spikes inside the window (step <= N).

        With ``learn``: ``loss`` (float) and ``grads``, one dict ``{"w", "v", "b"}`` per layer
        (hidden layers, then readout) shaped like the network's arrays (``b`` zero when the
        layer's bias is unused).

    Raises
    ------
    InputError
        Invalid spikes (see :func:`sgevent.model.events.check_spikes`), ``dt`` not finite or <= 0,
        ``t_end`` not finite or < 0, or a readout time that is negative, non-finite or after
        ``t_end``. With ``learn``: ``readout_times`` given, no learning event in the window
        (``t_end < learn_period``), ``label`` missing or out of range (CE losses), ``target``
        missing, non-finite or not of shape ``(E, n_out)`` (``mse``).
    ConfigError
        ``learn`` not a LearnSpec, ``quantiser`` not one of :data:`QUANTISERS`, or ``optimizer``
        without a ``mean`` or ``mse`` loss.
    BurstLimitError
        A hidden neuron would need more than ``max_burst`` spikes at one step.

    Notes
    -----
    With ``alpha[k] = exp(-dt / tau[k])`` of the source's cascade and all state zero before step
    0, step ``n`` (covering ``(t_{n-1}, t_n]``, ``t_n = n dt``) does, in this order:

    1. Input channels, with ``c_i[n]`` the number of spikes of channel ``i`` whose step
       ``ceil(t/dt - 1e-9)`` is ``n``::

           yhat_i[0][n] = alpha[0] yhat_i[0][n-1] + h_in c_i[n]
           yhat_i[k][n] = alpha[k] yhat_i[k][n-1] + (1 - alpha[k]) yhat_i[k-1][n-1]   (k >= 1)

    2. Each hidden layer in order, from the presynaptic buckets at step ``n`` (the layer below
       has already spiked in this step)::

           x_j[n] = b_j + sum_k v[j,k] sum_i w[j,i] yhat_i[k][n]           (per neuron)
           x_j[n] = b_j + sum_i w[j,i] sum_k v[j,i,k] yhat_i[k][n]         (per synapse)

       then ``theta_dyn_j <- exp(-dt/tau_theta) theta_dyn_j`` and
       ``yhat_j[0] <- alpha[0] yhat_j[0]`` (the layer's own cascade), and while
       ``max(0, x_j[n]) - yhat_j[0] >= theta_j`` with ``theta_j = theta_0 + theta_dyn_j``::

           yhat_j[0] += spike_gain theta_j;  theta_dyn_j += m_f theta_j

       (at most ``max_burst`` spikes). Buckets ``k >= 1`` of the layer follow the recursion
       above from their step ``n-1`` values (so a spike at step n reaches bucket 1 at n+1).
       With ``quantiser="identity"`` the threshold and spikes are replaced by
       ``yhat_j[0][n] = max(0, x_j[n])``.

    3. Readout ``o[n] = b + sum_k v[c,k] sum_i w[c,i] yhat_i[k][n]`` over the last hidden
       layer's buckets (or the per-synapse form).

    MACs per step of a layer with ``n_pre`` inputs, ``n_post`` units and ``K`` buckets:
    ``K n_pre n_post + K n_post`` with per-neuron bucket weights, ``K n_pre n_post`` with
    per-synapse ones (``w[j,i] v[j,i,k]`` is formed once before the run).

    For one spike of height ``h`` at step ``n_0`` into a cascade with equal time constants
    (``alpha[k] = alpha``), the recursion gives
    ``yhat[k][n] = h C(n - n_0, k) (1 - alpha)^k alpha^(n - n_0 - k)`` for ``n - n_0 >= k``
    (and 0 before): a binomial probability in ``k``.

    Learning (``learn`` given): learning event ``e`` at ``t_e`` reads step
    ``n_e = floor(t_e / dt + 1e-9)`` after that step is complete, like a readout. It uses
    ``o_e = o[n_e]``, the drives ``x^l_e = x^l[n_e]`` of item 2 (computed before the layer's
    burst) and the buckets ``Y^s_e`` of every source as they stand at the end of step ``n_e``
    (hidden bucket 0 after the burst). The loss, ``delta^L_e = dL/do_e``, the backward deltas
    ``delta^l_e`` and the gradients follow :mod:`sgevent.learn.spec`, each event's contribution
    being added directly (no ``G`` accumulation):

        per neuron:   dw[j,i] += delta[j] sum_k v[j,k] Y[i,k];  dv[j,k] += delta[j] sum_i w[j,i] Y[i,k]
        per synapse:  dw[j,i] += delta[j] sum_k v[j,i,k] Y[i,k];  dv[j,i,k] += delta[j] w[j,i] Y[i,k]
        db[j] += delta[j]   (if the layer's bias is used)

    With ``backward="traces"`` the hidden layers take their gradients from eligibility traces
    instead, stepped right after each ``x^l[n]`` is computed (every step, memory
    ``n_post n_pre K^2`` per hidden layer); the definition is in the Notes of ``_Learner``.
    Several learning events on one step (``learn_period < dt``) each count as an event.
    """
    if not isinstance(net, Network):
        raise ConfigError(f"net must be a sgevent Network, got {type(net).__name__}")
    if not isinstance(quantiser, str) or quantiser not in QUANTISERS:
        raise ConfigError(f"quantiser must be one of {QUANTISERS}, got {quantiser!r}")
    identity = quantiser == "identity"
    dt_f = check_dt(dt)
    t_in, u_in = check_spikes(times, units, net.n_in)
    if learn is not None and not isinstance(learn, LearnSpec):
        raise ConfigError(f"learn must be a sgevent LearnSpec, got {type(learn).__name__}")
    if learn is not None and readout_times is not None:
        raise InputError("readout_times must be None with learn: the readout is read at the learning times")
    t_end_f, ro_times = resolve_window(t_in, dt_f, t_end, readout_times)
    n_hidden = len(net.hidden)
    coef = [_cascade_coefficients(net.taus[s], dt_f) for s in range(n_hidden + 1)]
    learner = None
    if learn is not None:
        ro_times = learning_times(t_end_f, learn.learn_period)
        if ro_times.size == 0:
            raise InputError(
                f"no learning event in the window: t_end = {t_end_f!r} s is shorter than "
                f"learn_period = {learn.learn_period!r} s"
            )
        learner = _Learner(net, learn, int(ro_times.size), label, target, coef)
    if optimizer is not None and (learner is None or learn.loss not in ("mean", "mse")):
        raise ConfigError("online updates (optimizer=...) need learn= with the 'mean' or 'mse' loss")
    n_last = int(math.floor(t_end_f / dt_f + STEP_TOL))  # N: steps 0..N run

    ro_steps = _step_of_readout(ro_times, dt_f)
    ro_unique, ro_inverse = np.unique(ro_steps, return_inverse=True)
    ro_inverse = ro_inverse.reshape(-1)
    # learning events are in time order: events ev_start[r] .. ev_start[r+1]-1 read ro_unique[r]
    ev_start = np.searchsorted(ro_steps, ro_unique, side="left") if learner is not None else None
    ro_store = np.zeros((ro_unique.size, net.n_out))

    # Input spikes binned to steps (sorted by time, so steps are non-decreasing); only the
    # steps that hold spikes are listed, never a dense (steps x channels) array.
    in_steps = _step_of_spikes(t_in, dt_f)
    keep = in_steps <= n_last
    in_steps, u_in = in_steps[keep], u_in[keep]
    spike_steps, spike_starts = np.unique(in_steps, return_index=True)
    spike_ends = np.append(spike_starts[1:], in_steps.size)

    # Per-source cascades and per-layer projections.
    K = net.n_buckets
    tracing = learner is not None and learner.traces
    yhat = [np.zeros((n, K)) for n in (net.n_in, *net.hidden)]
    proj = [_Projection(net.w[l], net.v[l], net.b[l], net.per_synapse) for l in range(net.n_layers)]
    theta_dyn = [np.zeros(n) for n in net.hidden]
    decay_theta = [math.exp(-dt_f / hp.tau_theta) for hp in net.hidden_params]
    h_in = float(net.h_in)

    rec: list[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n_hidden)]
    in_ptr = 0
    ro_ptr = 0
    xs: list[np.ndarray] = [np.zeros(0)] * n_hidden  # drive of each hidden layer at this step
    for n in range(n_last + 1):
        # 1. input channels
        y_in = yhat[0]
        alpha, one_minus = coef[0]
        _advance_delay_stages(y_in, alpha, one_minus)
        y_in[:, 0] *= alpha[0]
        if in_ptr < spike_steps.size and spike_steps[in_ptr] == n:
            chans, n_spk = np.unique(u_in[spike_starts[in_ptr]:spike_ends[in_ptr]], return_counts=True)
            y_in[chans, 0] += h_in * n_spk
            in_ptr += 1

        # 2. hidden layers in order
        for l in range(n_hidden):
            hp = net.hidden_params[l]
            x = proj[l](yhat[l])
            xs[l] = x
            if tracing:
                learner.advance_traces(l, x, yhat[l])
            y = np.maximum(x, 0.0)
            own = yhat[l + 1]
            alpha, one_minus = coef[l + 1]
            _advance_delay_stages(own, alpha, one_minus)
            if identity:  # linearised model: bucket 0 is relu(x), no spikes
                own[:, 0] = y
                continue
            yhat0 = own[:, 0]  # view: writes go to the source's bucket 0
            yhat0 *= alpha[0]
            td = theta_dyn[l]
            td *= decay_theta[l]
            active = np.flatnonzero(y - yhat0 >= hp.theta_0 + td)
            if active.size == 0:
                continue
            firing = active
            counts = np.zeros(active.size, dtype=np.int64)
            heights = np.zeros(active.size)
            pos = np.arange(active.size)  # position of each still-firing neuron in `active`
            while firing.size:
                over = counts[pos] >= hp.max_burst
                if over.any():
                    j = int(firing[np.flatnonzero(over)[0]])
                    raise BurstLimitError(
                        f"hidden layer {l}, neuron {j}: at t = {n * dt_f!r} s (step {n}, dt = "
                        f"{dt_f!r} s) it still meets the spike condition after max_burst = "
                        f"{hp.max_burst} spikes; raise max_burst or lower its drive"
                    )
                theta = hp.theta_0 + td[firing]
                gain = hp.spike_gain * theta
                yhat0[firing] += gain
                td[firing] += hp.m_f * theta
                counts[pos] += 1
                heights[pos] += gain
                still = y[firing] - yhat0[firing] >= hp.theta_0 + td[firing]
                firing, pos = firing[still], pos[still]
            rec[l].append((n, active, heights, counts))

        # 3. readout
        if ro_ptr < ro_unique.size and ro_unique[ro_ptr] == n:
            ro_store[ro_ptr] = proj[-1](yhat[n_hidden])
            if learner is not None:
                e0 = int(ev_start[ro_ptr])
                e1 = int(ev_start[ro_ptr + 1]) if ro_ptr + 1 < ro_unique.size else ro_steps.size
                for e in range(e0, e1):
                    learner.event(e, ro_store[ro_ptr], xs, yhat)
                    if optimizer is not None and (e + 1) % update_every == 0:
                        learner.apply(optimizer)
                        proj = [_Projection(net.w[q], net.v[q], net.b[q], net.per_synapse) for q in range(net.n_layers)]
            ro_ptr += 1
        else:
            proj[-1](yhat[n_hidden])  # computed every step, as a clock-driven network does

    layers = []
    for l in range(n_hidden):
        if rec[l]:
            layers.append(
                LayerSpikes(
                    times=np.concatenate([np.full(a.size, n * dt_f) for n, a, _, _ in rec[l]]),
                    neurons=np.concatenate([a for _, a, _, _ in rec[l]]).astype(np.int64),
                    heights=np.concatenate([hgt for _, _, hgt, _ in rec[l]]),
                    counts=np.concatenate([c for _, _, _, c in rec[l]]),
                )
            )
        else:
            layers.append(
                LayerSpikes(
                    times=np.zeros(0), neurons=np.zeros(0, dtype=np.int64),
                    heights=np.zeros(0), counts=np.zeros(0, dtype=np.int64),
                )
            )

    macs = [p.macs_per_step for p in proj]
    n_steps = n_last + 1
    stats = {
        "n_steps": n_steps,
        "macs_per_step": macs,
        "dense_ops": n_steps * sum(macs),
        "n_input_spikes": int(in_steps.size),
    }
    loss, grads = learner.finish() if learner is not None else (None, None)
    if optimizer is not None:
        if learner.pending():
            learner.apply(optimizer)
        grads = None
    return SimulationResult(
        layers=layers,
        readout_times=ro_times,
        readout=ro_store[ro_inverse].reshape(ro_times.size, net.n_out),
        dt=dt_f,
        t_end=t_end_f,
        stats=stats,
        loss=loss,
        grads=grads,
    )
