"""The delay-learning toy task: a readout pulse exactly ``d`` ms after one input spike.

One input channel carries one spike at a random ``t0`` in ``[5, 50]`` ms. A 1 -> H -> 1 network
learns (MSE, a learning event every 1 ms) to make its readout a Gaussian bump peaking exactly
``d`` ms after the input. The figure of merit is the timing error ``|t_peak - (t0 + d)|`` where
``t_peak`` is the readout's argmax refined by parabolic interpolation (:func:`peak_time`).
Evaluated in the continuous model and on grids of 1 ms and 0.1 ms (DESIGN.md 1.3); one network
is also trained on a 1 ms grid and evaluated continuously. The overview of the toy tasks is
:mod:`sgevent.studies.toy`.

Choices (see :class:`DelayConfig` for the values)
-------------------------------------------------
Input cascade: ``tau = [5, 15, 15, 15, 15, 15, 15, 15]`` ms, so bucket ``k``
lags the input by ``5 + 15 k`` ms on average (up to 110 ms); equal stage constants give the
narrowest kernels for a given mean delay (relative width ``1/sqrt(k)``). Hidden cascade: all
``tau = 1`` ms: the readout can only add short delays (up to ~8 ms), so the long delay must be
built by the hidden neurons' learned bucket mixtures and threshold crossings, and the
``instant`` backward pass (which ignores the delay of the layer above) is nearly exact.
Bucket weights are per synapse (with one input channel this only matters for the readout: each
hidden neuron gets its own delay mixture into the readout). Hidden input weights start
positive (with one input channel a negative weight would leave a neuron silent, hence
gradient-free, forever).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import numpy as np

from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.network import Network
from sgevent.studies.toy import cascade_taus, config_from_dict, time_model_key, trainable_params
from sgevent.train.optim import OptimConfig, make_optimizer

__all__ = ["DelayConfig", "delay_onsets", "delay_target", "delay_network", "train_delay", "peak_time", "delay_timing",
           "run_delay_task", "format_delay_results"]


@dataclass(frozen=True)
class DelayConfig:
    """Delay-learning task and its training (all times in seconds).

    Attributes
    ----------
    delay : float
        Target delay ``d`` between the input spike and the readout peak.
    n_hidden, n_buckets : int
        Hidden neurons H and buckets K.
    tau_in_0, tau_in_stage : float
        Input cascade: bucket 0 and every stage k >= 1.
    tau_hid_0, tau_hid_stage : float
        Hidden cascade (the hidden neurons' reconstruction and the readout's delay lines).
    theta_0, m_f : float
        Hidden threshold and its adaptation per spike.
    sigma : float
        Width (standard deviation) of the Gaussian target bump (peak height 1).
    t0_min, t0_max : float
        Range of the input spike time.
    margin : float
        Window = ``t0_max + delay + margin``.
    steps, batch_size : int
        Optimiser steps (Adam, cosine decay to 0) and onsets per step.
    lr : float
        Peak learning rate.
    backward : str
        Backward option (DESIGN.md 3).
    learn_period : float
        Spacing of learning events.
    dt : float or None
        Time model of training (None: continuous).
    val_every, n_val : int
        Every ``val_every`` steps the validation MSE over ``n_val`` fixed onsets is computed and
        the network with the lowest one is kept (selection by the training objective, not by
        the timing error).
    n_test : int
        Test onsets (evenly spaced over ``[t0_min, t0_max]``, disjoint from validation ones).
    readout_step : float
        Readout sampling step used to find the peak (grid models: ``max(dt, readout_step)``).
    seed : int
    """

    delay: float = 50e-3
    n_hidden: int = 12
    n_buckets: int = 8
    tau_in_0: float = 5e-3
    tau_in_stage: float = 15e-3
    tau_hid_0: float = 1e-3
    tau_hid_stage: float = 1e-3
    theta_0: float = 0.05
    m_f: float = 0.0
    sigma: float = 3e-3
    t0_min: float = 5e-3
    t0_max: float = 50e-3
    margin: float = 25e-3
    steps: int = 400
    batch_size: int = 4
    lr: float = 1e-2
    backward: str = "instant"
    learn_period: float = 1e-3
    dt: float | None = None
    val_every: int = 25
    n_val: int = 4
    n_test: int = 20
    readout_step: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.delay > 0 and self.sigma > 0 and self.margin > 0):
            raise ConfigError(f"delay, sigma and margin must be > 0 s, got {self.delay}, {self.sigma}, {self.margin}")
        if not (0 <= self.t0_min <= self.t0_max):
            raise ConfigError(f"need 0 <= t0_min <= t0_max, got {self.t0_min}, {self.t0_max}")
        if min(self.n_hidden, self.n_buckets, self.steps, self.batch_size, self.val_every, self.n_val, self.n_test) < 1:
            raise ConfigError("n_hidden, n_buckets, steps, batch_size, val_every, n_val and n_test must be >= 1")
        if self.dt is not None and not self.dt > 0:
            raise ConfigError(f"dt must be None (continuous) or > 0 s, got {self.dt}")

    @property
    def window(self) -> float:
        """Simulated window (s), rounded up to the learning period."""
        w = self.t0_max + self.delay + self.margin
        return float(np.ceil(w / self.learn_period - 1e-9) * self.learn_period)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DelayConfig":
        return config_from_dict(cls, d)


def delay_onsets(n: int, t0_min: float, t0_max: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` input spike times drawn uniformly from ``[t0_min, t0_max]`` (s), shape (n,)."""
    return rng.uniform(t0_min, t0_max, int(n))


def delay_target(t0: float, delay: float, times: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian bump target at ``times`` (s), peak 1 at ``t0 + delay``; shape ``(len(times), 1)``.

    Notes
    -----
    ``T(t) = exp(-(t - t0 - d)^2 / (2 sigma^2))``.
    """
    t = np.asarray(times, dtype=np.float64)
    return np.exp(-0.5 * ((t - t0 - delay) / sigma) ** 2)[:, None]


def delay_network(cfg: DelayConfig) -> Network:
    """The initial 1 -> H -> 1 network of the delay task (seeded by ``cfg.seed``)."""
    K = cfg.n_buckets
    taus = np.array([cascade_taus(K, cfg.tau_in_0, cfg.tau_in_stage),
                     cascade_taus(K, cfg.tau_hid_0, cfg.tau_hid_stage)])
    net = Network.create(1, cfg.n_hidden, 1, n_buckets=K, seed=cfg.seed, taus=taus, theta_0=cfg.theta_0,
                         m_f=cfg.m_f, per_synapse=True)
    net.w[0][:] = np.abs(net.w[0])  # one input channel: a negative weight is a dead neuron
    return net


def _delay_batch_loss(net: Network, cfg: DelayConfig, onsets: np.ndarray, dt: float | None, spec: LearnSpec,
                      with_grads: bool):
    ro = learning_times(cfg.window, cfg.learn_period)
    loss, grads, spikes = 0.0, None, 0
    for t0 in onsets:
        r = simulate(net, [float(t0)], [0], dt=dt, t_end=cfg.window, learn=spec,
                     target=delay_target(float(t0), cfg.delay, ro, cfg.sigma))
        loss += r.loss
        spikes += sum(r.n_spikes)
        if with_grads:
            g = [x[key] for x in r.grads for key in ("w", "v", "b")]
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
    n = len(onsets)
    return loss / n, (None if grads is None else [g / n for g in grads]), spikes / n


def train_delay(cfg: DelayConfig, *, progress=None) -> tuple[Network, dict[str, Any]]:
    """Train a delay network; return the selected network and the training history.

    The network with the lowest validation MSE (checked every ``cfg.val_every`` steps and at
    the end) is returned. ``progress``, if given, is called with one line of text per check.
    """
    net = delay_network(cfg)
    params, mask = trainable_params(net)
    opt = make_optimizer(OptimConfig(name="adam", lr=cfg.lr, schedule="cosine", total_steps=cfg.steps), params)
    spec = LearnSpec(loss="mse", backward=cfg.backward, learn_period=cfg.learn_period)
    rng = np.random.default_rng([cfg.seed, 1])
    # validation onsets: midpoints between the test onsets (disjoint from them)
    val = cfg.t0_min + (np.arange(cfg.n_val) + 0.5) / cfg.n_val * (cfg.t0_max - cfg.t0_min)
    hist: dict[str, list] = {"step": [], "train_loss": [], "train_spikes": [], "val_loss": []}
    best = (np.inf, net.copy(), 0)
    run_loss, run_spk, n_run = 0.0, 0.0, 0
    for s in range(cfg.steps):
        loss, grads, spk = _delay_batch_loss(net, cfg, delay_onsets(cfg.batch_size, cfg.t0_min, cfg.t0_max, rng),
                                             cfg.dt, spec, True)
        opt.step(grads, mask)
        run_loss, run_spk, n_run = run_loss + loss, run_spk + spk, n_run + 1
        if (s + 1) % cfg.val_every == 0 or s + 1 == cfg.steps:
            v_loss, _, _ = _delay_batch_loss(net, cfg, val, cfg.dt, spec, False)
            hist["step"].append(s + 1)
            hist["train_loss"].append(run_loss / n_run)
            hist["train_spikes"].append(run_spk / n_run)
            hist["val_loss"].append(v_loss)
            run_loss, run_spk, n_run = 0.0, 0.0, 0
            if v_loss < best[0]:
                best = (v_loss, net.copy(), s + 1)
            if progress is not None:
                progress(f"d={cfg.delay * 1e3:g} ms step {s + 1}/{cfg.steps}: train mse {hist['train_loss'][-1]:.5f} "
                         f"val mse {v_loss:.5f} spikes {hist['train_spikes'][-1]:.1f}")
    hist["selected_step"] = best[2]
    hist["selected_val_loss"] = best[0]
    return best[1], hist


def peak_time(times: np.ndarray, o: np.ndarray) -> float:
    """Time (s) of the maximum of ``o`` sampled at evenly spaced ``times``, refined by a parabola.

    Notes
    -----
    With ``i = argmax o`` and neighbours ``a, b, c = o[i-1], o[i], o[i+1]`` the vertex of the
    parabola through them lies at ``t_i + h (a - c) / (2 (a - 2b + c))`` (h the step); at the
    window's edges or on a flat top ``t_i`` is returned.
    """
    t = np.asarray(times, dtype=np.float64)
    o = np.asarray(o, dtype=np.float64)
    i = int(np.argmax(o))
    if 0 < i < o.size - 1:
        a, b, c = o[i - 1], o[i], o[i + 1]
        den = a - 2.0 * b + c
        if den < 0:
            return float(t[i] + 0.5 * (a - c) / den * (t[i + 1] - t[i]))
    return float(t[i])


def delay_timing(net: Network, cfg: DelayConfig, onsets: Sequence[float], dt: float | None,
                 *, keep_traces: bool = False) -> dict[str, Any]:
    """Timing error of ``net`` on input onsets ``onsets`` in time model ``dt``.

    Returns ``mean_abs_error_ms``, ``max_abs_error_ms``, ``mean_signed_error_ms`` (peak minus
    target), ``peak_height`` (mean readout maximum), ``hidden_spikes_per_sample`` and, with
    ``keep_traces``, the first onset's readout trace and hidden spikes.
    """
    step = cfg.readout_step if dt is None else max(float(dt), cfg.readout_step)
    n_ro = int(np.floor(cfg.window / step + 1e-9))
    ro = np.arange(1, n_ro + 1) * step
    errs, heights, spikes = [], [], []
    trace = None
    for t0 in onsets:
        r = simulate(net, [float(t0)], [0], dt=dt, t_end=cfg.window, readout_times=ro)
        errs.append(peak_time(ro, r.readout[:, 0]) - (float(t0) + cfg.delay))
        heights.append(float(r.readout[:, 0].max()))
        spikes.append(sum(r.n_spikes))
        if keep_traces and trace is None:
            trace = {"t0": float(t0), "times": ro, "readout": r.readout[:, 0].copy(),
                     "spike_times": r.layers[0].times.copy(), "spike_neurons": r.layers[0].neurons.copy()}
    e = np.asarray(errs) * 1e3
    out = {
        "time_model": time_model_key(dt),
        "mean_abs_error_ms": float(np.mean(np.abs(e))),
        "max_abs_error_ms": float(np.max(np.abs(e))),
        "mean_signed_error_ms": float(np.mean(e)),
        "peak_height": float(np.mean(heights)),
        "hidden_spikes_per_sample": float(np.mean(spikes)),
        "n_test": int(len(e)),
    }
    if keep_traces:
        out["trace"] = trace
    return out


def run_delay_task(delays: Sequence[float] = (5e-3, 20e-3, 50e-3, 100e-3), base: DelayConfig | None = None, *,
                   eval_dts: Sequence[float | None] = (None, 1e-3, 1e-4), grid_train_dt: float | None = 1e-3,
                   grid_train_delay: float = 50e-3, progress=None) -> dict[str, Any]:
    """Train one network per delay (continuous) and evaluate its timing in every time model.

    Parameters
    ----------
    delays : sequence of float
        Target delays (s); one training run each.
    base : DelayConfig
        Every setting but ``delay`` (and ``dt`` of the grid-trained run).
    eval_dts : sequence of float or None
        Time models for evaluation (None = continuous).
    grid_train_dt : float or None
        If set, one more network is trained on this grid (delay ``grid_train_delay``) and
        evaluated in the continuous model and on its own grid.
    progress : callable, optional
        Receives progress lines.

    Returns
    -------
    dict
        ``config``, ``runs`` (one per trained network: ``delay_ms``, ``train_dt``, ``history``,
        ``eval`` per time model, ``train_seconds``) and ``wall_seconds``.
    """
    base = base or DelayConfig()
    t_start = time.perf_counter()
    onsets = base.t0_min + np.arange(base.n_test) / max(base.n_test - 1, 1) * (base.t0_max - base.t0_min)
    plan = [(float(d), None, list(eval_dts)) for d in delays]
    if grid_train_dt is not None:
        plan.append((float(grid_train_delay), float(grid_train_dt), [None, float(grid_train_dt)]))
    runs = []
    for d, train_dt, dts in plan:
        cfg = replace(base, delay=d, dt=train_dt)
        t0 = time.perf_counter()
        net, hist = train_delay(cfg, progress=progress)
        t_train = time.perf_counter() - t0
        ev = {time_model_key(dt): delay_timing(net, cfg, onsets, dt, keep_traces=True) for dt in dts}
        runs.append({"delay_ms": d * 1e3, "train_time_model": time_model_key(train_dt), "history": hist, "eval": ev,
                     "train_seconds": t_train, "network": net.to_dict()})
        if progress is not None:
            progress(f"d={d * 1e3:g} ms trained {time_model_key(train_dt)} in {t_train:.0f} s: " + ", ".join(
                f"{k} error {v['mean_abs_error_ms']:.3f} ms ({v['hidden_spikes_per_sample']:.1f} spikes)"
                for k, v in ev.items()))
    return {"task": "delay", "config": base.to_dict(), "delays_ms": [d * 1e3 for d in delays], "runs": runs,
            "wall_seconds": time.perf_counter() - t_start}


def format_delay_results(res: dict[str, Any]) -> str:
    """Text summary of :func:`run_delay_task`'s result: wall time, then one line per run and time model."""
    lines = [f"delay task done in {res['wall_seconds']:.0f} s"]
    for r in res["runs"]:
        for k, v in r["eval"].items():
            lines.append(f"  d={r['delay_ms']:g} ms, trained {r['train_time_model']}, eval {k}: timing error "
                         f"{v['mean_abs_error_ms']:.3f} ms (max {v['max_abs_error_ms']:.3f}, signed "
                         f"{v['mean_signed_error_ms']:+.3f}), {v['hidden_spikes_per_sample']:.1f} hidden spikes/sample")
    return "\n".join(lines)
