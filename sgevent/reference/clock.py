"""Clock-driven reference: the paper's discrete SpikingGamma recursion, one step at a time.

This is the oracle the event engine's grid(dt) mode must reproduce spike for spike, and the
"what a user would pick instead" baseline of the benchmarks (DESIGN.md section 4). It is written
to be obviously the model of DESIGN.md section 1.4 rather than fast: every spiking source keeps
its own ``K`` buckets ``yhat_i[k]`` (nothing is aggregated across presynaptic sources) and each
step is a handful of vectorised NumPy operations, so its cost grows as ``1/dt``. This module is
the forward recursion and the driver :func:`simulate_reference`; losses, gradients and
eligibility traces are :mod:`sgevent.reference.learner`.

State layout (all float64, zero at t = 0; held by :class:`_Clock`):

- ``yhat[s]``, shape ``(n_s, K)``: buckets of source ``s`` (``s = 0`` input channels,
  ``s = l + 1`` hidden layer ``l``); column 0 of a hidden source is the neurons' own sigma-delta
  reconstruction ``yhat_j[0]``.
- ``theta_dyn[l]``, shape ``(n_l,)``: adaptive part of hidden layer ``l``'s threshold.
- with ``learn.backward == "traces"``: the eligibility traces of every hidden layer (see
  :class:`sgevent.reference.learner.ReferenceLearner`), shape ``(n_post, n_pre, K, K)`` plus
  ``(n_post, K)`` for a used bias.

Two quantisers of the hidden neurons (option ``quantiser``): ``"sigma-delta"`` (the model,
DESIGN.md section 1.2) and ``"identity"``, the *linearised model* ``yhat_j[0][n] = relu(x_j[n])``
with no spikes: the rate limit of the network (theta -> 0), and the model the backward pass
assumes (DESIGN.md section 3).

One step, exactly
-----------------
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
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from sgevent.errors import BurstLimitError, ConfigError, InputError
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.conv import entries, reduce_dense_gradients
from sgevent.model.events import STEP_TOL, check_dt, check_spikes, resolve_window
from sgevent.model.network import HiddenParams, Network
from sgevent.model.result import LayerSpikes, SimulationResult
from sgevent.reference.learner import ReferenceLearner

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



class _InputBins:
    """Input spikes binned to steps, read in step order (only steps that hold spikes are listed).

    Never a dense (steps x channels) array: ``steps`` are the distinct steps ``<= n_last`` that
    hold spikes (increasing), spikes ``starts[p] .. ends[p] - 1`` of ``units`` fall in
    ``steps[p]``; ``n_spikes`` counts the input spikes inside the window (step ``<= n_last``).
    """

    def __init__(self, t_in: np.ndarray, u_in: np.ndarray, dt: float, n_last: int) -> None:
        in_steps = _step_of_spikes(t_in, dt)  # t_in sorted by time, so steps are non-decreasing
        keep = in_steps <= n_last
        in_steps, self.units = in_steps[keep], u_in[keep]
        self.steps, self.starts = np.unique(in_steps, return_index=True)
        self.ends = np.append(self.starts[1:], in_steps.size)
        self.n_spikes = int(in_steps.size)
        self._ptr = 0

    def at(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Channels spiking at step ``n`` and their spike counts, or None (call for n = 0, 1, ...)."""
        p = self._ptr
        if p < self.steps.size and self.steps[p] == n:
            self._ptr += 1
            return np.unique(self.units[self.starts[p]:self.ends[p]], return_counts=True)
        return None


class _Readouts:
    """The steps the readout times read and the readout stored at each.

    Readout time ``r`` reads step ``floor(t_r / dt + 1e-9)``; ``steps`` are the distinct steps
    read (increasing) and ``store[q]``, shape ``(n_out,)``, the readout ``o`` at ``steps[q]``.
    With learning the times are the learning times (in order): events ``events(q)`` read
    ``steps[q]``.
    """

    def __init__(self, times: np.ndarray, dt: float, n_out: int) -> None:
        self.times = times
        self._all = _step_of_readout(times, dt)
        self.steps, inverse = np.unique(self._all, return_inverse=True)
        self._inverse = inverse.reshape(-1)
        self.store = np.zeros((self.steps.size, n_out))
        self._ptr = 0

    def slot(self, n: int) -> int | None:
        """Index ``q`` of step ``n`` in ``steps``, or None if no time reads it (call for n = 0, 1, ...)."""
        q = self._ptr
        if q < self.steps.size and self.steps[q] == n:
            self._ptr += 1
            return q
        return None

    def events(self, q: int) -> range:
        """Learning events (0-based, times in order) that read ``steps[q]``."""
        first = int(np.searchsorted(self._all, self.steps[q], side="left"))
        return range(first, int(np.searchsorted(self._all, self.steps[q], side="right")))

    def values(self) -> np.ndarray:
        """The readout at every requested time, shape ``(n_t, n_out)``."""
        return self.store[self._inverse].reshape(self.times.size, self.store.shape[1])


def _burst(hp: HiddenParams, y: np.ndarray, yhat0: np.ndarray, td: np.ndarray, active: np.ndarray,
           where: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Emit the spikes of one step of the ``active`` neurons of a hidden layer (writes ``yhat0``, ``td``).

    While ``y_j - yhat_j[0] >= theta_j`` with ``theta_j = theta_0 + theta_dyn_j``:
    ``yhat_j[0] += spike_gain theta_j``, ``theta_dyn_j += m_f theta_j``.

    Parameters
    ----------
    hp : HiddenParams
        The layer's neuron parameters.
    y : ndarray of float64, shape (n,)
        ``relu(x[n])`` of the layer.
    yhat0, td : ndarray of float64, shape (n,)
        The neurons' bucket 0 and ``theta_dyn``, already decayed to step ``n``; updated in place.
    active : ndarray of int64, shape (n_active,)
        Neurons meeting the spike condition at the start of the step (increasing).
    where : (int, int, float)
        Layer, step ``n`` and ``dt`` (s), for the error message.

    Returns
    -------
    heights, counts : ndarray, shape (n_active,)
        Total height (float64) and number of spikes (int64) of each active neuron's burst.

    Raises
    ------
    BurstLimitError
        A neuron still meets the condition after ``max_burst`` spikes.
    """
    firing = active
    counts = np.zeros(active.size, dtype=np.int64)
    heights = np.zeros(active.size)
    pos = np.arange(active.size)  # position of each still-firing neuron in `active`
    while firing.size:
        over = counts[pos] >= hp.max_burst
        if over.any():
            l, n, dt = where
            j = int(firing[np.flatnonzero(over)[0]])
            raise BurstLimitError(
                f"hidden layer {l}, neuron {j}: at t = {n * dt!r} s (step {n}, dt = "
                f"{dt!r} s) it still meets the spike condition after max_burst = "
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
    return heights, counts


class _Clock:
    """The forward recursion of one sample (module notes, items 1-3).

    Parameters (read only): ``net``, ``dt``, ``coef[s] = (alpha, 1 - alpha)`` of source ``s``'s
    cascade, ``identity`` (the quantiser) and ``decay_theta[l] = exp(-dt / tau_theta)``.
    State: ``yhat[s]`` and ``theta_dyn[l]`` (module notes). Scratch: ``proj[l]``, the layers'
    mixing (rebuilt after an online update) and ``xs[l]``, hidden layer ``l``'s drive at the
    current step. Buffers: ``rec[l]``, one ``(step, neurons, heights, counts)`` per step at
    which hidden layer ``l`` spiked.
    """

    def __init__(self, net: Network, dt: float, coef: list, identity: bool) -> None:
        self.net, self.dt, self.coef, self.identity = net, dt, coef, identity
        K = net.n_buckets
        self.yhat = [np.zeros((n, K)) for n in (net.n_in, *net.hidden)]
        self.theta_dyn = [np.zeros(n) for n in net.hidden]
        self.decay_theta = [math.exp(-dt / hp.tau_theta) for hp in net.hidden_params]
        self.h_in = float(net.h_in)
        self.rebuild_projections()
        self.xs: list[np.ndarray] = [np.zeros(0)] * len(net.hidden)
        self.rec: list[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in net.hidden]

    def rebuild_projections(self) -> None:
        """Prepare every layer's mixing from the network's current weights."""
        net = self.net
        self.proj = [_Projection(net.w[l], net.v[l], net.b[l], net.per_synapse) for l in range(net.n_layers)]

    def step(self, n: int, spikes: tuple[np.ndarray, np.ndarray] | None, tracer: ReferenceLearner | None) -> None:
        """Items 1 and 2 of step ``n``: input channels, then every hidden layer in order.

        ``spikes``: the channels spiking at step ``n`` and their counts (or None); ``tracer``:
        the learner whose eligibility traces follow each hidden drive (``traces`` only, else None).
        """
        y_in = self.yhat[0]
        alpha, one_minus = self.coef[0]
        _advance_delay_stages(y_in, alpha, one_minus)
        y_in[:, 0] *= alpha[0]
        if spikes is not None:
            chans, n_spk = spikes
            y_in[chans, 0] += self.h_in * n_spk
        for l in range(len(self.xs)):
            self._step_hidden(l, n, tracer)

    def _step_hidden(self, l: int, n: int, tracer: ReferenceLearner | None) -> None:
        """Item 2 for hidden layer ``l``: drive from the buckets below, decay, burst (writes ``rec[l]``)."""
        x = self.proj[l](self.yhat[l])
        self.xs[l] = x
        if tracer is not None:
            tracer.advance_traces(l, x, self.yhat[l])
        y = np.maximum(x, 0.0)
        own = self.yhat[l + 1]
        alpha, one_minus = self.coef[l + 1]
        _advance_delay_stages(own, alpha, one_minus)
        if self.identity:  # linearised model: bucket 0 is relu(x), no spikes
            own[:, 0] = y
            return
        yhat0 = own[:, 0]  # view: writes go to the source's bucket 0
        yhat0 *= alpha[0]
        td = self.theta_dyn[l]
        td *= self.decay_theta[l]
        hp = self.net.hidden_params[l]
        active = np.flatnonzero(y - yhat0 >= hp.theta_0 + td)
        if active.size:
            heights, counts = _burst(hp, y, yhat0, td, active, (l, n, self.dt))
            self.rec[l].append((n, active, heights, counts))

    def readout(self) -> np.ndarray:
        """Item 3: the readout ``o[n]``, shape ``(n_out,)``, from the last hidden layer's buckets."""
        return self.proj[-1](self.yhat[-1])

    def stats(self, n_steps: int, n_input_spikes: int) -> dict:
        """``stats`` of the result (see :func:`simulate_reference`)."""
        macs = [p.macs_per_step for p in self.proj]
        return {"n_steps": n_steps, "macs_per_step": macs, "dense_ops": n_steps * sum(macs),
                "n_input_spikes": n_input_spikes}

    def layer_spikes(self, l: int) -> LayerSpikes:
        """The events of hidden layer ``l``, sorted by (time, neuron); a burst is one event."""
        rec = self.rec[l]
        if not rec:
            return LayerSpikes(times=np.zeros(0), neurons=np.zeros(0, dtype=np.int64),
                               heights=np.zeros(0), counts=np.zeros(0, dtype=np.int64))
        return LayerSpikes(
            times=np.concatenate([np.full(a.size, n * self.dt) for n, a, _, _ in rec]),
            neurons=np.concatenate([a for _, a, _, _ in rec]).astype(np.int64),
            heights=np.concatenate([hgt for _, _, hgt, _ in rec]),
            counts=np.concatenate([c for _, _, _, c in rec]),
        )


def _check_options(net, quantiser) -> bool:
    """Validate ``net`` and ``quantiser``; True for the identity quantiser."""
    if not isinstance(net, Network):
        raise ConfigError(f"net must be a sgevent Network, got {type(net).__name__}")
    if not isinstance(quantiser, str) or quantiser not in QUANTISERS:
        raise ConfigError(f"quantiser must be one of {QUANTISERS}, got {quantiser!r}")
    return quantiser == "identity"


def _check_learn(learn, readout_times) -> None:
    """Validate ``learn`` (a LearnSpec or None) and that no readout times come with it."""
    if learn is not None and not isinstance(learn, LearnSpec):
        raise ConfigError(f"learn must be a sgevent LearnSpec, got {type(learn).__name__}")
    if learn is not None and readout_times is not None:
        raise InputError("readout_times must be None with learn: the readout is read at the learning times")


def _learning_events(t_end: float, learn: LearnSpec) -> np.ndarray:
    """The learning times of the window; at least one, else :class:`InputError`."""
    times = learning_times(t_end, learn.learn_period)
    if times.size == 0:
        raise InputError(
            f"no learning event in the window: t_end = {t_end!r} s is shorter than "
            f"learn_period = {learn.learn_period!r} s"
        )
    return times


def _learn_at(q: int, reads: _Readouts, clock: _Clock, learner: ReferenceLearner, optimizer,
              update_every: int) -> None:
    """The learning events that read ``reads.steps[q]``, each followed by its online update if due."""
    for e in reads.events(q):
        learner.event(e, reads.store[q], clock.xs, clock.yhat)
        if optimizer is not None and (e + 1) % update_every == 0:
            learner.apply(optimizer)
            clock.rebuild_projections()


def _finish_learning(learner: ReferenceLearner | None, optimizer) -> tuple[float | None, list | None]:
    """Loss and gradients of the sample; online: the last update, and no gradients."""
    if learner is None:
        return None, None
    loss, grads = learner.finish()
    if optimizer is not None:
        if learner.pending():
            learner.apply(optimizer)
        grads = None
    return loss, grads


def _via_dense(net: Network, optimizer, times, units, dt, t_end, readout_times, learn, label, target,
               quantiser) -> SimulationResult:
    """A conv network runs as its dense equivalent (:meth:`Network.as_dense`); its gradients
    map back to the shared parameters (:func:`sgevent.model.conv.reduce_dense_gradients`)."""
    if optimizer is not None:
        raise ConfigError("the reference's online schedule (optimizer=...) takes dense networks only")
    res = simulate_reference(net.as_dense(), times, units, dt, t_end, readout_times, learn=learn, label=label,
                             target=target, quantiser=quantiser)
    if res.grads is None:
        return res
    grads = [g if net.conv[l] is None else reduce_dense_gradients(net.conv[l], entries(net.conv[l]),
                                                                 net.per_synapse, g)
             for l, g in enumerate(res.grads)]
    return dataclasses.replace(res, grads=grads)


def simulate_reference(
    net: Network, times, units, dt: float, t_end: float | None = None, readout_times=None, *,
    learn: LearnSpec | None = None, label=None, target=None, optimizer=None, update_every: int = 1,
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
        to the grid (0 without spikes); see :func:`sgevent.model.events.resolve_window`.
        Steps ``n = 0 .. N`` run with ``N = floor(t_end / dt + 1e-9)``; input spikes that fall
        in a step after ``N`` are ignored.
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
          (hidden layers, then readout) in one step (see the module notes);
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
    Steps ``n = 0 .. N`` each run items 1-3 of the module notes (one step, exactly); learning
    events read a completed step, as a readout does (:mod:`sgevent.reference.learner`).
    """
    if net.has_conv:
        return _via_dense(net, optimizer, times, units, dt, t_end, readout_times, learn, label, target, quantiser)
    identity = _check_options(net, quantiser)
    dt_f = check_dt(dt)
    t_in, u_in = check_spikes(times, units, net.n_in)
    _check_learn(learn, readout_times)
    t_end_f, ro_times = resolve_window(t_in, dt_f, t_end, readout_times)
    coef = [_cascade_coefficients(net.taus[s], dt_f) for s in range(len(net.hidden) + 1)]
    learner = None
    if learn is not None:
        ro_times = _learning_events(t_end_f, learn)
        learner = ReferenceLearner(net, learn, int(ro_times.size), label, target, coef)
    if optimizer is not None and (learner is None or learn.loss not in ("mean", "mse")):
        raise ConfigError("online updates (optimizer=...) need learn= with the 'mean' or 'mse' loss")
    n_last = int(math.floor(t_end_f / dt_f + STEP_TOL))  # N: steps 0..N run
    clock = _Clock(net, dt_f, coef, identity)
    inputs = _InputBins(t_in, u_in, dt_f, n_last)
    reads = _Readouts(ro_times, dt_f, net.n_out)
    tracer = learner if learner is not None and learner.traces else None
    for n in range(n_last + 1):
        clock.step(n, inputs.at(n), tracer)
        o = clock.readout()  # computed every step, as a clock-driven network does
        q = reads.slot(n)
        if q is not None:
            reads.store[q] = o
            if learner is not None:
                _learn_at(q, reads, clock, learner, optimizer, update_every)
    loss, grads = _finish_learning(learner, optimizer)
    return SimulationResult(
        layers=[clock.layer_spikes(l) for l in range(len(net.hidden))], readout_times=ro_times,
        readout=reads.values(), dt=dt_f, t_end=t_end_f, stats=clock.stats(n_last + 1, inputs.n_spikes),
        loss=loss, grads=grads,
    )
