"""The ITD toy task: delayed coincidence detection (interaural time difference, barn owl).

Two channels carry the same random spike pattern, channel 1 shifted by an ITD from a set of
classes; the network classifies the ITD (time-averaged cross-entropy). Trained continuously (and
on a 1 ms grid) and evaluated in the continuous model and on grids of 1 ms and 0.1 ms (DESIGN.md
1.3). The overview of the toy tasks is :mod:`sgevent.studies.toy`.

Choices (see :class:`ItdConfig` for the values)
-----------------------------------------------
Input cascade: all ``tau = 1`` ms, so the per-synapse bucket weights form learnable
delays of 0..~8 ms with ~1-3 ms smoothing (a Jeffress delay line per ear). Per-synapse bucket
weights are essential: with per-neuron weights both channels would share one delay mixture and
no relative delay could be learned. Hidden cascade: ``tau = 10`` ms, so the readout integrates
the coincidence evidence over tens of ms. Hidden biases are on (a negative bias turns a neuron
into an AND of its two delayed inputs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec
from sgevent.model.network import Network
from sgevent.studies.toy import cascade_taus, config_from_dict, time_model_key, trainable_params
from sgevent.train.batch import batch_gradients, evaluate
from sgevent.train.optim import OptimConfig, make_optimizer

__all__ = ["ItdConfig", "itd_dataset", "itd_network", "train_itd", "run_itd_task", "format_itd_results"]


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
        return config_from_dict(cls, d)


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
    taus = np.array([cascade_taus(K, cfg.tau_in_0, cfg.tau_in_stage),
                     cascade_taus(K, cfg.tau_hid_0, cfg.tau_hid_stage)])
    return Network.create(2, cfg.n_hidden, len(cfg.itds), n_buckets=K, seed=cfg.seed, taus=taus,
                          theta_0=cfg.theta_0, m_f=cfg.m_f, per_synapse=True, hidden_bias=cfg.hidden_bias)


def train_itd(cfg: ItdConfig, train: SpikeDataset, *, progress=None) -> tuple[Network, dict[str, Any]]:
    """Train the ITD classifier (mini-batches, Adam with cosine decay); return net and history."""
    net = itd_network(cfg)
    params, mask = trainable_params(net)
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
            progress(f"itd ({time_model_key(cfg.dt)}) epoch {ep + 1}/{cfg.epochs}: loss {loss / n:.3f} "
                     f"acc {correct / n:.3f} spikes {spikes / n:.1f}")
    return net, hist


def _itd_eval(net: Network, cfg: ItdConfig, test: SpikeDataset, dt: float | None) -> dict[str, Any]:
    ev = evaluate(net, test, dt=dt, window=cfg.window, threads=cfg.threads)
    n_cls = len(cfg.itds)
    conf = np.zeros((n_cls, n_cls), dtype=np.int64)
    np.add.at(conf, (ev["labels"], ev["predictions"]), 1)
    return {"time_model": time_model_key(dt), "accuracy": ev["accuracy"], "loss": ev["loss"],
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
        ev = {time_model_key(dt): _itd_eval(net, c, test, dt) for dt in dts}
        runs.append({"train_time_model": time_model_key(train_dt), "history": hist, "eval": ev,
                     "train_seconds": t_train, "network": net.to_dict()})
        if progress is not None:
            progress(f"itd trained {time_model_key(train_dt)} in {t_train:.0f} s: " + ", ".join(
                f"{k} accuracy {v['accuracy']:.3f} ({v['hidden_spikes_per_sample']:.1f} spikes)"
                for k, v in ev.items()))
    t, u, y = test.sample(0)
    ex = simulate(Network.from_dict(runs[0]["network"]), t, u, t_end=cfg.window)
    example = {"times": t, "units": u, "label": int(y), "readout_times": ex.readout_times, "readout": ex.readout,
               "spike_times": ex.layers[0].times, "spike_neurons": ex.layers[0].neurons}
    return {"task": "itd", "config": cfg.to_dict(), "chance": 1.0 / len(cfg.itds), "runs": runs, "example": example,
            "wall_seconds": time.perf_counter() - t_start}


def format_itd_results(res: dict[str, Any]) -> str:
    """Text summary of :func:`run_itd_task`'s result: wall time, then one line per run and time model."""
    lines = [f"itd task done in {res['wall_seconds']:.0f} s (chance {res['chance']:.2f})"]
    for r in res["runs"]:
        for k, v in r["eval"].items():
            lines.append(f"  trained {r['train_time_model']}, eval {k}: accuracy {v['accuracy']:.4f}, "
                         f"{v['hidden_spikes_per_sample']:.1f} hidden spikes/sample")
    return "\n".join(lines)
