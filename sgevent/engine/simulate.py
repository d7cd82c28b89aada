"""The public simulation call: validate, lower, run the event loop in chunks, package results.

:func:`simulate` is what users call; the event loop itself lives in :mod:`sgevent.engine.loop`.
With ``optimizer=`` it drives the ``online`` schedule: the loop pauses after every
``update_every`` learning events, the optimiser updates the network in place, the flat arrays
are rebuilt and :func:`sgevent.engine.loop.after_update` re-aggregates and re-predicts.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from sgevent.engine.build import build
from sgevent.engine.loop import TIME_TOL, after_update, finish_learning, run_chunk
from sgevent.engine.state import (
    C_START,
    INFO_LAYER,
    INFO_NEURON,
    INFO_TIME,
    ST_COMPACTIONS,
    ST_GATES,
    ST_INPUTS,
    ST_INSTANTS,
    ST_PREDICTIONS,
    ST_PUSHES,
    STATUS_BUDGET,
    STATUS_BURST,
    STATUS_OK,
    STATUS_PAUSED,
    STATUS_SEARCH,
    RunArgs,
    init_state,
)
from sgevent.errors import BurstLimitError, ConfigError, EngineError, InputError
from sgevent.learn.accumulate import grads_from_accumulators, make_learn_args, no_learning
from sgevent.learn.spec import LearnSpec, first_loss_event, learning_times, loss_and_output_error
from sgevent.model.events import STEP_TOL, check_dt, check_spikes, resolve_window
from sgevent.model.network import Network
from sgevent.model.result import LayerSpikes, SimulationResult

__all__ = ["simulate", "prepare_inputs"]

CONV_MODES = ("auto", "lazy", "layer")


def prepare_inputs(net: Network, times, units, dt, t_end, readout_times, learn_period=None):
    """Validate arguments and convert them to the kernel's clock.

    With ``learn_period`` the readout times are the learning events of the window.

    Returns ``(in_t, in_u, t_end, ro_kernel, ro_order, ro_requested, t_end_kernel)`` where
    kernel times are seconds (continuous) or step indices as float64 (grid).
    """
    t, u = check_spikes(times, units, net.n_in)
    if dt is not None:
        dt = check_dt(dt)
    t_end, ro = resolve_window(t, dt, t_end, readout_times)
    if learn_period is not None:
        ro = learning_times(t_end, learn_period)
    order = np.argsort(ro, kind="stable")
    ro_sorted = ro[order]
    if dt is None:
        return t, u, t_end, ro_sorted, order, ro, t_end
    in_steps = np.ceil(t / dt - STEP_TOL)
    in_steps[in_steps < 0] = 0.0
    n_end = float(np.floor(t_end / dt + STEP_TOL))
    ro_steps = np.minimum(np.floor(ro_sorted / dt + STEP_TOL), n_end)
    return in_steps, u, t_end, ro_steps, order, ro, n_end


DEFAULT_SPIKE_BUDGET = 10_000_000


def simulate(
    net: Network,
    times,
    units,
    dt: float | None = None,
    t_end: float | None = None,
    readout_times=None,
    *,
    learn: LearnSpec | None = None,
    label: int | None = None,
    target=None,
    optimizer=None,
    update_every: int = 1,
    spike_budget: int = DEFAULT_SPIKE_BUDGET,
    conv_mode: str = "auto",
) -> SimulationResult:
    """Simulate one sample with the event-driven engine.

    Parameters
    ----------
    net : Network
        The network.
    times : array_like of float, shape (n_spikes,)
        Input spike times (s), finite and >= 0; need not be sorted (a stable sort is applied).
    units : array_like of int, shape (n_spikes,)
        Input channel of each spike, ``0 <= unit < net.n_in``.
    dt : float or None
        None: the continuous model (spike times found to 1e-9 s). A float: the grid model of
        step ``dt`` seconds (DESIGN.md 1.4), identical to :func:`simulate_reference`.
    t_end : float, optional
        End of the window (s); default: the last input spike time. Inputs after it are ignored.
    readout_times : array_like of float, optional
        Times (s, within ``[0, t_end]``) at which to evaluate the readout; default every 1 ms.
    learn : LearnSpec, optional
        Also compute the loss and its gradients (DESIGN.md 3, :mod:`sgevent.learn.spec`); the
        readout is then evaluated at the learning events (``readout_times`` must be None).
    label : int, optional
        Class of the sample (cross-entropy losses).
    target : array_like, shape (n_events, n_out), optional
        Regression targets at the learning events (``mse`` loss).
    optimizer : sgevent.train.optim.Optimizer, optional
        The ``online`` schedule (DESIGN.md 3): apply this optimiser (built over the network's
        own arrays, in the order ``w[0], v[0], b[0], w[1], ...``) every ``update_every``
        learning events *during* the sample, and once more at its end for the rest. The
        network's weights change in place. Needs ``learn`` with the ``mean`` or ``mse`` loss.
    update_every : int
        Learning events per online update (default 1).
    spike_budget : int
        Most hidden spikes of the sample, summed over hidden layers and counted spike by spike
        (default 10,000,000): a guard against runaway activity (e.g. diverged weights), whose
        cost would otherwise grow without bound.
    conv_mode : {"auto", "lazy", "layer"}
        How hidden conv layers are advanced (:mod:`sgevent.engine.phases`): ``"lazy"`` brings
        only the neurons a spike reaches (or whose prediction pops) to the present, one by one;
        ``"layer"`` brings the whole layer at every instant, as dense layers are. Both give the
        same spikes (tests). ``"auto"`` (default) is ``"layer"``, faster on the network of
        ``bench/conv_forward.py`` in both time models (README): a lazy neuron pays its own
        propagator at every touch.

    Returns
    -------
    SimulationResult
        Per hidden layer the spike events (time, neuron, height, count); the readout at the
        requested times; ``stats`` with instants, input spikes, predictions, heap pushes,
        synaptic operations and neuron-state updates per layer; with ``learn``, ``loss`` and
        ``grads`` (per layer ``{"w", "v", "b"}``).

    Raises
    ------
    InputError
        Bad times, units, dt, t_end or readout times.
    ConfigError
        Bad learning, online or spike-budget options.
    BurstLimitError
        A neuron needs more than ``max_burst`` spikes at one instant.
    EngineError
        The sample exceeded ``spike_budget`` hidden spikes, or the spike search failed to
        converge (a bug; please report).
    """
    _check_options(learn, readout_times, optimizer, update_every, spike_budget)
    if conv_mode not in CONV_MODES:
        raise ConfigError(f"conv_mode must be one of {CONV_MODES}, got {conv_mode!r}")
    lazy = conv_mode == "lazy"
    in_t, in_u, t_end, ro_k, order, ro_req, t_end_k = prepare_inputs(
        net, times, units, dt, t_end, readout_times, learn_period=None if learn is None else learn.learn_period
    )
    if learn is not None:
        # validates label/target shapes before any simulation (E x n_out dummy readouts)
        loss_and_output_error(np.zeros((ro_k.size, net.n_out)), learn.loss, label, target)
    ro_k = np.ascontiguousarray(ro_k, dtype=np.float64)
    X = RunArgs(in_t=in_t, in_u=in_u, t_end=float(t_end_k), ro_t=ro_k, tol=TIME_TOL, stop_at=-1,
                spike_budget=int(spike_budget))
    e_first = 0 if learn is None else first_loss_event(learn.loss, ro_k, in_t[0] if in_t.size else None)
    lower = partial(_lower, net, dt, learn, label, target, (ro_k.size, e_first), lazy)
    B, LA = lower()
    S = init_state(B, LA, ro_k.size)
    n_hid = int(B.post_off[-2])
    if np.any(B.b[:n_hid] != 0.0) and not (in_t.size and in_t[0] == 0.0):
        S.ctr[C_START] = 1  # biased neurons may fire (or open their gate) before the first input
    if LA.traces:  # gates [x > 0] before any input: x = b
        S.traces.gate[:n_hid] = (B.b[:n_hid] > 0.0)
    status, pieces, n_updates, B, LA = _run_chunks(net, (B, LA), S, X, lower, optimizer, int(update_every))
    if learn is not None and status == STATUS_OK:
        finish_learning(B, LA, S)
        if optimizer is not None and (np.any(S.learn.G) or np.any(S.learn.db)):
            _online_step(net, optimizer, S)
            n_updates += 1
    scale = 1.0 if dt is None else float(dt)
    _raise_for_status(status, S, net, scale, int(spike_budget))
    sp = [np.concatenate([p[k] for p in pieces]) for k in range(5)]
    readout = np.empty_like(S.out.ro)
    readout[order] = S.out.ro
    st = _stats(S)
    if optimizer is not None:
        st["online_updates"] = n_updates
    res = dict(layers=_layers(net, sp, scale), readout_times=ro_req, readout=readout, dt=dt, t_end=t_end, stats=st)
    if learn is None:
        return SimulationResult(**res)
    grads = None if optimizer is not None else grads_from_accumulators(net, S.learn.G, S.learn.db)
    return SimulationResult(**res, loss=float(S.out.loss[0]), grads=grads)


def _check_options(learn, readout_times, optimizer, update_every, spike_budget) -> None:
    """The keyword options of :func:`simulate`, before any work."""
    if learn is not None:
        if readout_times is not None:
            raise InputError("with learn=..., the readout is evaluated at the learning events: pass readout_times=None")
        if learn.backward == "traces" and learn.loss == "max":
            raise ConfigError("backward='traces' with loss='max' is not available in the event engine (it would "
                              "snapshot every trace at each class's maximum); use 'mean', 'last' or 'mse'")
    if optimizer is not None:
        if learn is None or learn.loss not in ("mean", "mse"):
            raise ConfigError("online updates (optimizer=...) need learn= with the 'mean' or 'mse' loss: "
                              "'last' and 'max' are only defined at the end of a sample")
        if int(update_every) != update_every or update_every < 1:
            raise ConfigError(f"update_every must be an integer >= 1, got {update_every}")
    if isinstance(spike_budget, bool) or not isinstance(spike_budget, (int, np.integer)) or spike_budget < 1:
        raise ConfigError(f"spike_budget must be an integer >= 1 (hidden spikes per sample), got {spike_budget!r}")


def _lower(net: Network, dt, learn, label, target, events: tuple[int, int], lazy: bool):
    """The kernel's parameters: the built network and the learning inputs (``events``: the
    number of learning events and the first one in the loss; ``lazy``: conv layers advanced
    neuron by neuron)."""
    LA = no_learning(net) if learn is None else make_learn_args(net, learn, events[0], label, target, events[1])
    return build(net, dt, lazy=lazy), LA


def _run_chunks(net: Network, params, S, X, lower, optimizer, update_every: int):
    """Run the loop to the end; with ``optimizer``, pause every ``update_every`` learning events
    for an online update (``lower()`` rebuilds the parameters, the loop re-predicts). Returns the
    status, the spike pieces, the number of updates and the last parameters ``B``, ``LA``
    (``params`` holds the first)."""
    B, LA = params
    pieces = []
    stop = update_every if optimizer is not None else -1
    n_updates = 0
    while True:
        status, sp = run_chunk(B, LA, S, X._replace(stop_at=stop))
        pieces.append(sp)
        if status != STATUS_PAUSED:
            return status, pieces, n_updates, B, LA
        _online_step(net, optimizer, S)
        n_updates += 1
        B, LA = lower()
        after_update(B, LA, S, X, float(X.ro_t[stop - 1]))
        stop += update_every


def _raise_for_status(status: int, S, net: Network, scale: float, spike_budget: int) -> None:
    """The project error of a loop that stopped early (``out.info``: layer, neuron, time)."""
    info = S.out.info
    l, j, t_s = int(info[INFO_LAYER]), int(info[INFO_NEURON]), info[INFO_TIME] * scale
    if status == STATUS_BURST:
        raise BurstLimitError(
            f"hidden layer {l}, neuron {j} needs more than max_burst={net.hidden_params[l].max_burst} spikes at "
            f"t={t_s:.9g} s; lower the weights or raise max_burst"
        )
    if status == STATUS_BUDGET:
        raise EngineError(
            f"spike budget exceeded: more than spike_budget={spike_budget} hidden spikes in this sample "
            f"(hidden layer {l}, neuron {j} at t={t_s:.9g} s); the network is probably running away (weights "
            "too large); if this activity is intended, raise simulate(..., spike_budget=N)"
        )
    if status == STATUS_SEARCH:
        raise EngineError(f"spike search did not converge for hidden layer {l}, neuron {j} at t={t_s:.9g} s")


def _stats(S) -> dict:
    stats = S.out.stats
    return {
        "instants": int(stats[ST_INSTANTS]),
        "input_spikes": int(stats[ST_INPUTS]),
        "predictions": int(stats[ST_PREDICTIONS]),
        "heap_pushes": int(stats[ST_PUSHES]),
        "heap_compactions": int(stats[ST_COMPACTIONS]),
        "gate_switches": int(stats[ST_GATES]),
        "synaptic_ops": S.out.syn_ops.tolist(),
        "state_updates": S.out.updates.tolist(),
    }


def _layers(net: Network, sp, scale: float) -> list[LayerSpikes]:
    sp_t, sp_h, sp_l, sp_n, sp_c = sp
    layers = []
    for l in range(len(net.hidden)):
        m = sp_l == l
        layers.append(LayerSpikes(
            times=sp_t[m] * scale, neurons=sp_n[m].copy(), heights=sp_h[m].copy(), counts=sp_c[m].copy()
        ))
    return layers


def _online_step(net: Network, optimizer, S) -> None:
    """Apply ``optimizer`` to the gradients accumulated in ``S`` since the last update; clear them."""
    grads = grads_from_accumulators(net, S.learn.G, S.learn.db)
    mask = [key != "b" or net.bias[l] for l in range(net.n_layers) for key in ("w", "v", "b")]
    optimizer.step([g[key] for g in grads for key in ("w", "v", "b")], mask=mask)
    S.learn.G[:] = 0.0
    S.learn.db[:] = 0.0
