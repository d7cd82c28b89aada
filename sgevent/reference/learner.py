"""Loss, gradients and eligibility traces of the clock-driven reference (DESIGN.md sections 3, 4).

:class:`ReferenceLearner` is the learning half of :func:`sgevent.reference.clock.simulate_reference`:
the forward recursion (:mod:`sgevent.reference.clock`) hands it, at every learning event, the
readout, the hidden drives and the buckets of every source, and (``backward="traces"``) steps
its eligibility traces right after each hidden drive is computed. It is written from the
definitions, independently of :mod:`sgevent.learn` and of the event engine, because it is their
oracle.

Learning event ``e`` at ``t_e`` reads step ``n_e = floor(t_e / dt + 1e-9)`` after that step is
complete, like a readout. It uses ``o_e = o[n_e]``, the drives ``x^l_e = x^l[n_e]`` (computed
before the layer's burst) and the buckets ``Y^s_e`` of every source as they stand at the end of
step ``n_e`` (hidden bucket 0 after the burst). The loss, ``delta^L_e = dL/do_e``, the backward
deltas ``delta^l_e`` and the gradients follow :mod:`sgevent.learn.spec`, each event's
contribution being added directly (no ``G`` accumulation)::

    per neuron:   dw[j,i] += delta[j] sum_k v[j,k] Y[i,k];  dv[j,k] += delta[j] sum_i w[j,i] Y[i,k]
    per synapse:  dw[j,i] += delta[j] sum_k v[j,i,k] Y[i,k];  dv[j,i,k] += delta[j] w[j,i] Y[i,k]
    db[j] += delta[j]   (if the layer's bias is used)

With ``backward="traces"`` the hidden layers take their gradients from eligibility traces
instead, stepped right after each ``x^l[n]`` is computed (every step, memory
``n_post n_pre K^2`` per hidden layer); the definition is in the Notes of
:class:`ReferenceLearner`. Several learning events on one step (``learn_period < dt``) each
count as an event.

``onset`` and the rate penalty (:mod:`sgevent.learn.spec`), from their definitions: the onset is
the first event at which some input bucket is non-zero (buckets start at zero and turn positive
at the step of a channel's first spike, so this is the event's step reaching the first input's
step); the events before it are scored too, unscaled, and discarded when the onset arrives, so
that a sample without one keeps all of them. ``E'`` is known only at the end, so the ``onset``
loss and gradients are summed unscaled and divided by ``E'`` in :meth:`ReferenceLearner.finish`
(hence no online schedule with ``onset``). The penalty adds ``lambda / (E' N_h)`` times
``sum relu(x)`` to the loss and ``lambda / (E' N_h) [x > 0]`` to every hidden delta before it is
passed down (``traces``: to the error at bucket 0, ``g_i[0]``).
"""

from __future__ import annotations

import math

import numpy as np

from sgevent.errors import InputError
from sgevent.learn.spec import LearnSpec
from sgevent.model.network import Network

__all__ = ["ReferenceLearner"]


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


class ReferenceLearner:
    """Loss and gradients of one sample, accumulated event by event (see the module notes).

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
        # onset: no event has seen an input yet (e0: the onset event); the rate penalty per event
        self.e0: int | None = None
        n_scored = 1 if spec.loss in ("last", "onset") else n_events  # onset: divided by E' at the end
        self.rate = spec.rate_penalty / (n_scored * sum(net.hidden))
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

    def _add_penalty(self, e: int, xs: list) -> None:
        """The rate penalty's share of event ``e``'s loss, ``rate * sum relu(x)`` over every hidden
        neuron, if the event is scored (its gradient is added in :meth:`_backward`)."""
        if not self.rate or (self.spec.loss == "last" and e != self.E - 1):
            return  # ('max' refuses a rate penalty: LearnSpec)
        self.loss += self.rate * float(sum(np.maximum(x, 0.0).sum() for x in xs))

    def _at_onset(self, e: int, Ys: list) -> None:
        """``onset``: at the first event whose input buckets are non-zero, forget the events before it."""
        if self.e0 is None and np.any(Ys[0] != 0.0):
            self.e0 = e
            self.loss = 0.0
            for a in (*self.gw, *self.gv, *self.gb):
                a[:] = 0.0

    def event(self, e: int, o: np.ndarray, xs: list, Ys: list) -> None:
        """Learning event ``e`` (0-based) with readout ``o``, hidden drives ``xs``, buckets ``Ys``."""
        loss, E = self.spec.loss, self.E
        tr = (self.tr, self.trb)
        if loss == "onset":
            self._at_onset(e, Ys)
        if loss == "mse":
            d = o - self.T[e]
            self.loss += 0.5 * float(d @ d) / E
            self._backward(d / E, xs, Ys, *tr)
        elif loss in ("mean", "onset"):
            n = E if loss == "mean" else 1  # onset: divided by E' in finish()
            logp = self._log_softmax(o)
            self.loss -= float(logp[self.y]) / n
            d = np.exp(logp)
            d[self.y] -= 1.0
            self._backward(d / n, xs, Ys, *tr)
        elif loss == "last":
            if e == E - 1:
                logp = self._log_softmax(o)
                self.loss = -float(logp[self.y])
                d = np.exp(logp)
                d[self.y] -= 1.0
                self._backward(d, xs, Ys, *tr)
        elif loss == "max":  # strictly greater keeps the first maximum in time
            better = np.flatnonzero(o > self.m)
            if better.size:
                snap = (_copies(xs), _copies(Ys), _copies(self.tr), _copies(self.trb))  # shared by these classes
                self.m[better] = o[better]
                for c in better:
                    self.snap[c] = snap
        self._add_penalty(e, xs)

    def finish(self) -> tuple[float, list[dict]]:
        if self.spec.loss == "onset":  # the sums over the E' events from the onset (all E without one)
            n = self.E - (self.e0 or 0)
            self.loss /= n
            for a in (*self.gw, *self.gv, *self.gb):
                a /= n
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
                delta, g = self._error_below(l, delta, xs[l - 1])

    def _error_below(self, l: int, delta: np.ndarray, x_below: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The error of hidden layer ``l - 1`` (signals ``x_below``) from layer ``l``'s ``delta``, with
        the rate penalty: ``(delta, None)``, or with ``traces`` ``(instant delta, g)``, ``g`` the
        error at the buckets of layer ``l - 1``'s neurons, ``(n, K)``."""
        net = self.net
        w, v = net.w[l], net.v[l]
        gate = x_below > 0.0
        if self.traces:
            # g^{l-1}[i,k] = sum_j delta[j] w[j,i] v[j,(i,)k]; instant error below
            if net.per_synapse:
                g = np.einsum("j,ji,jik->ik", delta, w, v)
            else:
                g = (delta[:, None] * w).T @ v
            if self.rate:  # the penalty on relu(x_i) = yhat_i[0]: error at bucket 0
                g[:, 0] += self.rate * gate
            return gate * g[:, 0], g
        # delta^{l-1}[i] = [x^{l-1}[i] > 0] sum_j delta[j] w[j,i] g[j,i]  (+ the rate penalty)
        below = gate * (delta @ self.gain[l])
        return (below + self.rate * gate if self.rate else below), None
