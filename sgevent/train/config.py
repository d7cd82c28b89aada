"""Training configuration: frozen dataclasses with ``to_dict`` / ``from_dict``.

A run's resolved configuration is written to its run directory and is all that is needed to
repeat it (together with the data files and the seed it records).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sgevent.data.augment import AugmentConfig
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec
from sgevent.train.optim import OptimConfig

__all__ = ["NetConfig", "TrainConfig", "load_config"]


@dataclass(frozen=True)
class NetConfig:
    """Arguments of :meth:`sgevent.Network.create` (see there for meanings and defaults)."""

    hidden: tuple[int, ...] = (256,)
    n_buckets: int = 8
    tau_0: float = 5e-3
    tau_delay: float = 15e-3
    theta_0: float = 0.1
    m_f: float = 0.0
    tau_theta: float = 0.1
    spike_gain: float = 2.0
    max_burst: int = 1000
    per_synapse: bool = False
    hidden_bias: bool = False
    readout_bias: bool = True
    weight_gain: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(int(h) for h in (d["hidden"] if not isinstance(d["hidden"], int) else [d["hidden"]]))
        return cls(**_known(cls, d, "net"))


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data.

    Attributes
    ----------
    epochs : int
        Passes over the training split.
    batch_size : int
        Samples per optimiser step (``batch`` schedule: gradients summed over the mini-batch
        and averaged). With ``online`` it only groups samples for progress and checkpoints.
    schedule : {"batch", "online"}
        ``batch``: one optimiser step per mini-batch, samples run in parallel. ``online``: the
        optimiser runs every ``update_every`` learning events inside each sample (samples in
        sequence; DESIGN.md 3). Online needs the ``mean`` or ``mse`` loss.
    update_every : int
        Learning events per online update.
    dt : float or None
        Time model: None = continuous, else the grid step (s).
    window : float or None
        Sample window (s); learning events fill ``(0, window]``. None: the 99th percentile of
        the training samples' durations, rounded up to ``learn.learn_period``.
    val_fraction : float
        Share of training samples held out for validation (whole speakers where known).
    seed : int
        Seeds the network, the split, the batch order and the augmentation.
    threads : int
        Threads that run the samples of a mini-batch (and of an evaluation) in parallel in this
        process (0: all cores); results do not depend on it. (The field used to be called
        ``workers``; configurations with that key are still read. Worker *processes* on one or
        many machines are a runtime option of the trainer, not configuration:
        :mod:`sgevent.train.distributed`.)
    checkpoint_every : int
        Write ``checkpoint_last.h5`` every this many optimiser steps (and at each epoch end).
    max_train_samples, max_eval_samples : int or None
        Cap on samples used (quick runs).
    """

    epochs: int = 10
    batch_size: int = 32
    schedule: str = "batch"
    update_every: int = 10
    dt: float | None = None
    window: float | None = None
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 20
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    net: NetConfig = field(default_factory=NetConfig)
    learn: LearnSpec = field(default_factory=LearnSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if self.dt is not None and not (self.dt > 0):
            raise ConfigError(f"dt must be None (continuous) or > 0 s, got {self.dt}")
        if self.window is not None and not (self.window > 0):
            raise ConfigError(f"window must be None or > 0 s, got {self.window}")
        if not (0 <= self.val_fraction < 1):
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.schedule not in ("batch", "online"):
            raise ConfigError(f"schedule must be 'batch' or 'online', got {self.schedule!r}")
        if self.update_every < 1:
            raise ConfigError(f"update_every must be >= 1, got {self.update_every}")
        if self.schedule == "online" and self.learn.loss not in ("mean", "mse"):
            raise ConfigError("schedule 'online' needs the 'mean' or 'mse' loss ('last'/'max' end with the sample)")
        if self.threads < 0 or self.checkpoint_every < 1:
            raise ConfigError("threads must be >= 0 and checkpoint_every >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("net", "learn", "optim", "augment"):
            d[k] = d[k].to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        if "workers" in d:  # the field's old name (older run directories and config files)
            if "threads" in d:
                raise ConfigError("give 'threads' (in-process threads) only; 'workers' is its old name")
            d["threads"] = d.pop("workers")
        sub = {
            "net": NetConfig.from_dict(d.pop("net", {})),
            "learn": LearnSpec.from_dict(_known(LearnSpec, d.pop("learn", {}), "learn")),
            "optim": OptimConfig.from_dict(d.pop("optim", {})),
            "augment": AugmentConfig.from_dict(_known(AugmentConfig, d.pop("augment", {}), "augment")),
        }
        return cls(**_known(cls, d, "train"), **sub)


def _known(cls, d: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown {where} option(s) {unknown}; expected some of {sorted(names)}")
    return d


def load_config(path: str | Path) -> TrainConfig:
    """Read a JSON training configuration (any subset of :class:`TrainConfig` fields)."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the configuration ({e})") from None
    return TrainConfig.from_dict(d)
