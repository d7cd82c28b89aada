"""Toy tasks for precise timing with few spikes (the paper's first research question).

Two tasks, each a library function that returns a plain results dict:

* :func:`run_delay_task` -- **delay learning**. One input channel carries one spike at a random
  ``t0`` in ``[5, 50]`` ms. A 1 -> H -> 1 network learns (MSE, a learning event every 1 ms) to
  make its readout a Gaussian bump peaking exactly ``d`` ms after the input. The figure of merit
  is the timing error ``|t_peak - (t0 + d)|`` where ``t_peak`` is the readout's argmax refined
  by parabolic interpolation (:func:`peak_time`).
* :func:`run_itd_task` -- **delayed coincidence detection** (interaural time difference, barn
  owl). Two channels carry the same random spike pattern, channel 1 shifted by an ITD from a set
  of classes; the network classifies the ITD (time-averaged cross-entropy).

Both are evaluated in the continuous model and on grids of 1 ms and 0.1 ms (DESIGN.md 1.3), and
one network per task is also trained on a 1 ms grid and evaluated continuously.

The CLI commands ``sgevent toy delay`` and ``sgevent toy itd`` are added by
:func:`add_task_commands` (the CLI calls it); they write ``results.json`` and a PNG figure.

Choices (see the config dataclasses for the values)
---------------------------------------------------
Delay task. Input cascade: ``tau = [5, 15, 15, 15, 15, 15, 15, 15]`` ms, so bucket ``k``
lags the input by ``5 + 15 k`` ms on average (up to 110 ms); equal stage constants give the
narrowest kernels for a given mean delay (relative width ``1/sqrt(k)``). Hidden cascade: all
``tau = 1`` ms: the readout can only add short delays (up to ~8 ms), so the long delay must be
built by the hidden neurons' learned bucket mixtures and threshold crossings, and the
``instant`` backward pass (which ignores the delay of the layer above) is nearly exact.
Bucket weights are per synapse (with one input channel this only matters for the readout: each
hidden neuron gets its own delay mixture into the readout). Hidden input weights start
positive (with one input channel a negative weight would leave a neuron silent, hence
gradient-free, forever).

ITD task. Input cascade: all ``tau = 1`` ms, so the per-synapse bucket weights form learnable
delays of 0..~8 ms with ~1-3 ms smoothing (a Jeffress delay line per ear). Per-synapse bucket
weights are essential: with per-neuron weights both channels would share one delay mixture and
no relative delay could be learned. Hidden cascade: ``tau = 10`` ms, so the readout integrates
the coincidence evidence over tens of ms. Hidden biases are on (a negative bias turns a neuron
into an AND of its two delayed inputs).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.network import Network
from sgevent.train.batch import batch_gradients, evaluate
from sgevent.train.optim import OptimConfig, make_optimizer

__all__ = [
    "DelayConfig",
    "ItdConfig",
    "delay_onsets",
    "delay_target",
    "delay_network",
    "train_delay",
    "peak_time",
    "delay_timing",
    "run_delay_task",
    "itd_dataset",
    "itd_network",
    "train_itd",
    "run_itd_task",
    "add_task_commands",
]


def _from_dict(cls, d: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} option(s) {unknown}; expected some of {sorted(names)}")
    d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
    return cls(**d)


def _cascade(n_buckets: int, tau_0: float, tau_stage: float) -> list[float]:
    return [float(tau_0)] + [float(tau_stage)] * (int(n_buckets) - 1)


def _params(net: Network) -> tuple[list[np.ndarray], list[bool]]:
    params, mask = [], []
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            params.append(getattr(net, key)[l])
            mask.append(key != "b" or net.bias[l])
    return params, mask


def _dt_key(dt: float | None) -> str:
    return "continuous" if dt is None else f"grid_{dt * 1e3:g}ms"


# ====================================================================== delay learning
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
        return _from_dict(cls, d)


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
    taus = np.array([_cascade(K, cfg.tau_in_0, cfg.tau_in_stage), _cascade(K, cfg.tau_hid_0, cfg.tau_hid_stage)])
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
    params, mask = _params(net)
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
        "time_model": _dt_key(dt),
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
        ev = {_dt_key(dt): delay_timing(net, cfg, onsets, dt, keep_traces=True) for dt in dts}
        runs.append({"delay_ms": d * 1e3, "train_time_model": _dt_key(train_dt), "history": hist, "eval": ev,
                     "train_seconds": t_train, "network": net.to_dict()})
        if progress is not None:
            progress(f"d={d * 1e3:g} ms trained {_dt_key(train_dt)} in {t_train:.0f} s: " + ", ".join(
                f"{k} error {v['mean_abs_error_ms']:.3f} ms ({v['hidden_spikes_per_sample']:.1f} spikes)"
                for k, v in ev.items()))
    return {"task": "delay", "config": base.to_dict(), "delays_ms": [d * 1e3 for d in delays], "runs": runs,
            "wall_seconds": time.perf_counter() - t_start}


# ====================================================================== ITD (coincidence detection)
@dataclass(frozen=True)
class ItdConfig:
    """Interaural-time-difference classification task and its training (times in seconds).

    Attributes
    ----------
    itds : tuple of float
        Class ITDs: channel 1 = channel 0 shifted by the ITD (negative: channel 1 leads).
    n_spikes_min, n_spikes_max : int
        Spikes of the shared pattern (uniform count; times uniform, i.e. a Poisson process
        conditioned on its count), drawn in ``[margin + max(0, -itd_min), duration -
        max(0, itd_max) - margin]`` so both channels stay inside ``[0, duration]``.
    duration, margin : float
        Pattern span and its guard.
    jitter : float
        Std of independent Gaussian jitter added to channel 1's spikes (0: exact ITD).
    window : float
        Simulated window per sample.
    n_train, n_test : int
        Samples (classes balanced, cycling).
    n_hidden, n_buckets : int
    tau_in_0, tau_in_stage, tau_hid_0, tau_hid_stage : float
        Input and hidden cascades.
    theta_0, m_f : float
        Hidden threshold and adaptation per spike.
    hidden_bias : bool
    epochs, batch_size : int
    lr : float
        Peak Adam learning rate (cosine decay to 0).
    loss : str
        Cross-entropy variant (DESIGN.md 3).
    dt : float or None
        Training time model.
    threads : int
        Threads per mini-batch.
    seed : int
    """

    itds: tuple[float, ...] = (-4e-3, -2e-3, 0.0, 2e-3, 4e-3)
    n_spikes_min: int = 5
    n_spikes_max: int = 10
    duration: float = 0.1
    margin: float = 5e-3
    jitter: float = 0.0
    window: float = 0.11
    n_train: int = 300
    n_test: int = 200
    n_hidden: int = 24
    n_buckets: int = 8
    tau_in_0: float = 1e-3
    tau_in_stage: float = 1e-3
    tau_hid_0: float = 10e-3
    tau_hid_stage: float = 10e-3
    theta_0: float = 0.05
    m_f: float = 0.5
    hidden_bias: bool = True
    epochs: int = 12
    batch_size: int = 16
    lr: float = 1e-2
    loss: str = "mean"
    dt: float | None = None
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.itds) < 2 or len(set(self.itds)) != len(self.itds):
            raise ConfigError(f"itds must hold at least two distinct values, got {self.itds}")
        if not (1 <= self.n_spikes_min <= self.n_spikes_max):
            raise ConfigError(f"need 1 <= n_spikes_min <= n_spikes_max, got {self.n_spikes_min}, {self.n_spikes_max}")
        lo, hi = self.span
        if not lo < hi:
            raise ConfigError(f"duration {self.duration} s is too short for ITDs {self.itds} and margin {self.margin}")
        if min(self.n_train, self.n_test, self.n_hidden, self.epochs, self.batch_size, self.threads) < 1:
            raise ConfigError("n_train, n_test, n_hidden, epochs, batch_size and threads must be >= 1")
        if self.jitter < 0:
            raise ConfigError(f"jitter must be >= 0 s, got {self.jitter}")

    @property
    def span(self) -> tuple[float, float]:
        """Interval (s) of the shared pattern's spike times."""
        lo = self.margin + max(0.0, -min(self.itds))
        hi = self.duration - max(0.0, max(self.itds)) - self.margin
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["itds"] = list(self.itds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ItdConfig":
        return _from_dict(cls, d)


def itd_dataset(cfg: ItdConfig, n: int, seed: int | np.random.Generator) -> SpikeDataset:
    """``n`` ITD samples; sample ``i`` has class ``i % n_classes``.

    Channel 0 holds the pattern ``p`` (sorted), channel 1 ``p + itd[y]`` (+ jitter), so without
    jitter every channel-1 spike is its channel-0 partner shifted by exactly the ITD.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    lo, hi = cfg.span
    n_cls = len(cfg.itds)
    times, units, labels = [], [], []
    for i in range(int(n)):
        y = i % n_cls
        m = int(rng.integers(cfg.n_spikes_min, cfg.n_spikes_max + 1))
        p = np.sort(rng.uniform(lo, hi, m))
        q = p + cfg.itds[y]
        if cfg.jitter > 0:
            q = np.clip(q + rng.normal(0.0, cfg.jitter, m), 0.0, None)
        times.append(np.concatenate([p, q]))
        units.append(np.repeat(np.array([0, 1], dtype=np.int64), m))
        labels.append(y)
    names = [f"{itd * 1e3:+g} ms" for itd in cfg.itds]
    return SpikeDataset.from_lists(times, units, labels, n_channels=2, n_classes=n_cls, class_names=names,
                                   name="itd", source="<itd generator>")


def itd_network(cfg: ItdConfig) -> Network:
    """The initial 2 -> H -> n_classes network of the ITD task (seeded by ``cfg.seed``)."""
    K = cfg.n_buckets
    taus = np.array([_cascade(K, cfg.tau_in_0, cfg.tau_in_stage), _cascade(K, cfg.tau_hid_0, cfg.tau_hid_stage)])
    return Network.create(2, cfg.n_hidden, len(cfg.itds), n_buckets=K, seed=cfg.seed, taus=taus,
                          theta_0=cfg.theta_0, m_f=cfg.m_f, per_synapse=True, hidden_bias=cfg.hidden_bias)


def train_itd(cfg: ItdConfig, train: SpikeDataset, *, progress=None) -> tuple[Network, dict[str, Any]]:
    """Train the ITD classifier (mini-batches, Adam with cosine decay); return net and history."""
    net = itd_network(cfg)
    params, mask = _params(net)
    n_batches = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    opt = make_optimizer(OptimConfig(name="adam", lr=cfg.lr, schedule="cosine", total_steps=cfg.epochs * n_batches),
                         params)
    spec = LearnSpec(loss=cfg.loss, learn_period=1e-3)
    hist: dict[str, list] = {"epoch": [], "train_loss": [], "train_accuracy": [], "train_spikes": []}
    for ep in range(cfg.epochs):
        order = np.random.default_rng([cfg.seed, ep]).permutation(len(train))
        loss, correct, spikes = 0.0, 0, 0.0
        for b in range(n_batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            r = batch_gradients(net, train, idx, spec, dt=cfg.dt, window=cfg.window, threads=cfg.threads)
            opt.step([g[key] / r.n_samples for g in r.grads for key in ("w", "v", "b")], mask)
            loss, correct, spikes = loss + r.loss, correct + r.correct, spikes + float(r.hidden_spikes.sum())
        n = len(train)
        hist["epoch"].append(ep + 1)
        hist["train_loss"].append(loss / n)
        hist["train_accuracy"].append(correct / n)
        hist["train_spikes"].append(spikes / n)
        if progress is not None:
            progress(f"itd ({_dt_key(cfg.dt)}) epoch {ep + 1}/{cfg.epochs}: loss {loss / n:.3f} "
                     f"acc {correct / n:.3f} spikes {spikes / n:.1f}")
    return net, hist


def _itd_eval(net: Network, cfg: ItdConfig, test: SpikeDataset, dt: float | None) -> dict[str, Any]:
    ev = evaluate(net, test, dt=dt, window=cfg.window, threads=cfg.threads)
    n_cls = len(cfg.itds)
    conf = np.zeros((n_cls, n_cls), dtype=np.int64)
    np.add.at(conf, (ev["labels"], ev["predictions"]), 1)
    return {"time_model": _dt_key(dt), "accuracy": ev["accuracy"], "loss": ev["loss"],
            "hidden_spikes_per_sample": float(np.sum(ev["hidden_spikes_per_sample"])),
            "confusion": conf.tolist(), "n_test": ev["n_samples"]}


def run_itd_task(cfg: ItdConfig | None = None, *, eval_dts: Sequence[float | None] = (None, 1e-3, 1e-4),
                 grid_train_dt: float | None = 1e-3, progress=None) -> dict[str, Any]:
    """Train the ITD classifier continuously (and on a grid) and evaluate it in every time model.

    Returns
    -------
    dict
        ``config``, ``runs`` (per trained network: ``train_time_model``, ``history``, ``eval`` per
        time model with accuracy, confusion matrix and hidden spikes per sample,
        ``train_seconds``), an ``example`` sample and ``wall_seconds``.
    """
    cfg = cfg or ItdConfig()
    t_start = time.perf_counter()
    train = itd_dataset(cfg, cfg.n_train, [cfg.seed, 1])
    test = itd_dataset(cfg, cfg.n_test, [cfg.seed, 2])
    plan = [(None, list(eval_dts))]
    if grid_train_dt is not None:
        plan.append((float(grid_train_dt), [None, float(grid_train_dt)]))
    runs = []
    for train_dt, dts in plan:
        c = replace(cfg, dt=train_dt)
        t0 = time.perf_counter()
        net, hist = train_itd(c, train, progress=progress)
        t_train = time.perf_counter() - t0
        ev = {_dt_key(dt): _itd_eval(net, c, test, dt) for dt in dts}
        runs.append({"train_time_model": _dt_key(train_dt), "history": hist, "eval": ev, "train_seconds": t_train,
                     "network": net.to_dict()})
        if progress is not None:
            progress(f"itd trained {_dt_key(train_dt)} in {t_train:.0f} s: " + ", ".join(
                f"{k} accuracy {v['accuracy']:.3f} ({v['hidden_spikes_per_sample']:.1f} spikes)" for k, v in ev.items()))
    t, u, y = test.sample(0)
    ex = simulate(Network.from_dict(runs[0]["network"]), t, u, t_end=cfg.window)
    example = {"times": t, "units": u, "label": int(y), "readout_times": ex.readout_times, "readout": ex.readout,
               "spike_times": ex.layers[0].times, "spike_neurons": ex.layers[0].neurons}
    return {"task": "itd", "config": cfg.to_dict(), "chance": 1.0 / len(cfg.itds), "runs": runs, "example": example,
            "wall_seconds": time.perf_counter() - t_start}


# ====================================================================== CLI
def _write_outputs(results: dict[str, Any], out: Path, plot) -> list[Path]:
    from sgevent.train.rundir import to_jsonable

    out.mkdir(parents=True, exist_ok=True)
    slim = dict(results)
    slim["runs"] = [{k: v for k, v in r.items() if k != "network"} for r in results["runs"]]
    p_json = out / "results.json"
    p_json.write_text(json.dumps(to_jsonable(slim, "results"), indent=2) + "\n")
    nets = {f"run{i}": r["network"] for i, r in enumerate(results["runs"])}
    p_net = out / "networks.json"
    p_net.write_text(json.dumps(to_jsonable(nets, "networks")) + "\n")
    p_png = plot(results, out / f"toy_{results['task']}.png")
    return [p_json, p_net, Path(p_png)]


def _cmd_delay(args) -> int:
    from sgevent.report.plots_tasks import plot_delay_task  # matplotlib only on the CLI path

    base = DelayConfig(n_hidden=args.hidden, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                       n_test=args.n_test, sigma=args.sigma_ms * 1e-3, seed=args.seed)
    res = run_delay_task([d * 1e-3 for d in args.delay_ms], base,
                         grid_train_dt=None if args.train_grid_ms <= 0 else args.train_grid_ms * 1e-3,
                         grid_train_delay=args.grid_delay_ms * 1e-3, progress=None if args.quiet else print)
    paths = _write_outputs(res, Path(args.out), plot_delay_task)
    print(f"delay task done in {res['wall_seconds']:.0f} s")
    for r in res["runs"]:
        for k, v in r["eval"].items():
            print(f"  d={r['delay_ms']:g} ms, trained {r['train_time_model']}, eval {k}: timing error "
                  f"{v['mean_abs_error_ms']:.3f} ms (max {v['max_abs_error_ms']:.3f}, signed "
                  f"{v['mean_signed_error_ms']:+.3f}), {v['hidden_spikes_per_sample']:.1f} hidden spikes/sample")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _cmd_itd(args) -> int:
    from sgevent.report.plots_tasks import plot_itd_task  # matplotlib only on the CLI path

    cfg = ItdConfig(itds=tuple(x * 1e-3 for x in args.itds_ms), jitter=args.jitter_ms * 1e-3, n_train=args.n_train,
                    n_test=args.n_test, n_hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, threads=args.threads, seed=args.seed)
    res = run_itd_task(cfg, grid_train_dt=None if args.train_grid_ms <= 0 else args.train_grid_ms * 1e-3,
                       progress=None if args.quiet else print)
    paths = _write_outputs(res, Path(args.out), plot_itd_task)
    print(f"itd task done in {res['wall_seconds']:.0f} s (chance {res['chance']:.2f})")
    for r in res["runs"]:
        for k, v in r["eval"].items():
            print(f"  trained {r['train_time_model']}, eval {k}: accuracy {v['accuracy']:.4f}, "
                  f"{v['hidden_spikes_per_sample']:.1f} hidden spikes/sample")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_task_commands(subparsers) -> None:
    """Add ``toy delay`` and ``toy itd`` to the CLI's subparsers (called by :mod:`sgevent.cli`)."""
    toy = subparsers.add_parser("toy", help="toy timing tasks (delay learning, ITD coincidence detection)")
    tsub = toy.add_subparsers(dest="toy_command", required=True)

    d = tsub.add_parser("delay", help="learn to fire a readout pulse d ms after an input spike")
    d.add_argument("--delay-ms", dest="delay_ms", type=float, nargs="+", default=[5.0, 20.0, 50.0, 100.0])
    d.add_argument("--hidden", type=int, default=DelayConfig.n_hidden)
    d.add_argument("--steps", type=int, default=DelayConfig.steps)
    d.add_argument("--batch-size", dest="batch_size", type=int, default=DelayConfig.batch_size)
    d.add_argument("--lr", type=float, default=DelayConfig.lr)
    d.add_argument("--sigma-ms", dest="sigma_ms", type=float, default=DelayConfig.sigma * 1e3)
    d.add_argument("--n-test", dest="n_test", type=int, default=DelayConfig.n_test)
    d.add_argument("--train-grid-ms", dest="train_grid_ms", type=float, default=1.0,
                   help="also train one network on this grid (0: skip)")
    d.add_argument("--grid-delay-ms", dest="grid_delay_ms", type=float, default=50.0,
                   help="delay of the grid-trained network")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="runs/toy_delay")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_delay)

    i = tsub.add_parser("itd", help="classify the interaural time difference of two spike trains")
    i.add_argument("--itds-ms", dest="itds_ms", type=float, nargs="+", default=[x * 1e3 for x in ItdConfig.itds])
    i.add_argument("--jitter-ms", dest="jitter_ms", type=float, default=0.0)
    i.add_argument("--n-train", dest="n_train", type=int, default=ItdConfig.n_train)
    i.add_argument("--n-test", dest="n_test", type=int, default=ItdConfig.n_test)
    i.add_argument("--hidden", type=int, default=ItdConfig.n_hidden)
    i.add_argument("--epochs", type=int, default=ItdConfig.epochs)
    i.add_argument("--batch-size", dest="batch_size", type=int, default=ItdConfig.batch_size)
    i.add_argument("--lr", type=float, default=ItdConfig.lr)
    i.add_argument("--threads", type=int, default=1, help="threads running the samples of a mini-batch")
    i.add_argument("--train-grid-ms", dest="train_grid_ms", type=float, default=1.0,
                   help="also train one network on this grid (0: skip)")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--out", default="runs/toy_itd")
    i.add_argument("--quiet", action="store_true")
    i.set_defaults(func=_cmd_itd)
