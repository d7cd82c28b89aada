"""Training configuration: frozen dataclasses with ``to_dict`` / ``from_dict``.

A run's resolved configuration is written to its run directory and is all that is needed to
repeat it (together with the data files and the seed it records).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.augment import AugmentConfig
from sgevent.engine.simulate import DEFAULT_SPIKE_BUDGET
from sgevent.errors import ConfigError, check_bool, check_choice, check_float, check_int
from sgevent.learn.spec import BACKWARDS, LOSSES, LearnSpec
from sgevent.model.conv import Conv2d
from sgevent.train.optim import OptimConfig

__all__ = ["NetConfig", "RegConfig", "TrainConfig", "load_config", "with_overrides", "resume_config", "config_diff",
           "DEFAULT_SPIKE_BUDGET", "RESUME_CHANGEABLE"]



#: Type and range of every numeric NetConfig field: (checker, bounds).
_NET_FIELDS: dict[str, tuple[Any, dict[str, Any]]] = {
    "n_buckets": (check_int, {"lo": 1}),
    "tau_0": (check_float, {"lo": 0.0, "lo_open": True}),
    "tau_delay": (check_float, {"lo": 0.0, "lo_open": True}),
    "theta_0": (check_float, {"lo": 0.0, "lo_open": True}),
    "m_f": (check_float, {"lo": 0.0}),
    "tau_theta": (check_float, {"lo": 0.0, "lo_open": True}),
    "spike_gain": (check_float, {"lo": 0.0, "lo_open": True}),
    "max_burst": (check_int, {"lo": 1}),
    "weight_gain": (check_float, {"lo": 0.0, "lo_open": True}),
}


def _check_fields(obj: Any, table: dict[str, tuple[Any, dict[str, Any]]], where: str) -> None:
    """Check (and canonicalise) the fields of a frozen dataclass against ``table``."""
    for name, (check, bounds) in table.items():
        object.__setattr__(obj, name, check(f"{where}{name}", getattr(obj, name), **bounds))


def _check_hidden(value: Any, allow_empty: bool = False) -> tuple[int, ...]:
    """``hidden``: one layer size or a non-empty list of sizes, each an integer >= 1 (empty
    allowed after conv layers)."""
    if allow_empty and isinstance(value, (list, tuple)) and not len(value):
        return ()
    if isinstance(value, (list, tuple)) and len(value):
        sizes = list(value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        sizes = [value]
    else:
        raise ConfigError(f"config field 'net.hidden': got {value!r}; expected a layer size or a non-empty list "
                          "of layer sizes (integers >= 1)")
    return tuple(check_int(f"net.hidden[{i}]", h, lo=1) for i, h in enumerate(sizes))


_CONV_KEYS = ("out_channels", "kernel", "stride", "padding", "pool", "pool_mode")


def _check_conv(in_shape: Any, conv: Any) -> tuple[tuple[int, int, int] | None, tuple[dict[str, Any], ...]]:
    """``in_shape`` and ``conv``: none, or a (C, H, W) input map and a list of conv layers, each
    a mapping of :data:`_CONV_KEYS` (``out_channels`` and ``kernel`` required) whose geometry
    fits the map it reads."""
    if conv is None or (isinstance(conv, (list, tuple)) and not len(conv)):
        if in_shape is not None:
            raise ConfigError(f"config field 'net.in_shape': got {in_shape!r} without conv layers; expected "
                              "null, or 'net.conv' listing the convolutional layers")
        return None, ()
    if not isinstance(conv, (list, tuple)):
        raise ConfigError(f"config field 'net.conv': got {conv!r}; expected a list of conv layers (mappings)")
    if not (isinstance(in_shape, (list, tuple)) and len(in_shape) == 3):
        raise ConfigError(f"config field 'net.in_shape': got {in_shape!r}; expected [C, H, W], the input map "
                          "the first conv layer reads")
    shape = tuple(check_int(f"net.in_shape[{i}]", a, lo=1) for i, a in enumerate(in_shape))
    cur = shape
    for q, layer in enumerate(conv):
        cur = _check_conv_layer(f"net.conv[{q}]", layer, cur).out_shape
    return shape, tuple(dict(layer) for layer in conv)


def _check_conv_layer(where: str, layer: Any, in_shape: tuple[int, ...]) -> Conv2d:
    """One entry of ``net.conv``, reading an ``in_shape`` map."""
    if not isinstance(layer, dict):
        raise ConfigError(f"config field '{where}': got {layer!r}; expected a mapping with keys {_CONV_KEYS}")
    unknown = sorted(set(layer) - set(_CONV_KEYS))
    if unknown:
        raise ConfigError(f"config field '{where}': unknown keys {unknown}; expected some of {_CONV_KEYS}")
    for key in ("out_channels", "kernel"):
        if key not in layer:
            raise ConfigError(f"config field '{where}.{key}' is missing; expected an integer >= 1")
    try:
        return Conv2d(in_shape=in_shape, **layer)
    except ConfigError as e:
        raise ConfigError(f"config field '{where}' (reading a {in_shape} map): {e}") from None


def _check_taus(value: Any, n_buckets: int, n_sources: int) -> tuple[tuple[float, ...], ...] | None:
    """``taus``: None, K time constants (every source), or one row of K per source (input, hidden...)."""
    if value is None:
        return None
    expected = (f"null, a list of n_buckets = {n_buckets} time constants in s (> 0), or {n_sources} such lists "
                "(one per source: the input, then each hidden layer)")
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"config field 'net.taus': got {value!r}; expected {expected}")
    rows = [value] if not isinstance(value[0], (list, tuple)) else list(value)
    if len(rows) not in (1, n_sources) or any(not isinstance(r, (list, tuple)) or len(r) != n_buckets for r in rows):
        raise ConfigError(f"config field 'net.taus': got {value!r}; expected {expected}")
    return tuple(tuple(check_float(f"net.taus[{i}][{k}]" if len(rows) > 1 else f"net.taus[{k}]", t, lo=0.0,
                                   lo_open=True) for k, t in enumerate(r)) for i, r in enumerate(rows))


@dataclass(frozen=True)
class NetConfig:
    """Arguments of :meth:`sgevent.Network.create` (see there for meanings and defaults).

    ``taus`` (optional) overrides ``tau_0``/``tau_delay``: K cascade time constants in seconds for
    every source, or one list of K per source (the input, then each hidden layer), e.g. distinct,
    log-spaced stages for long-range filtering (DESIGN.md 1.5). Every field is checked for type and
    range on construction (ConfigError naming it).
    """

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
    taus: tuple[tuple[float, ...], ...] | None = None
    in_shape: tuple[int, int, int] | None = None
    conv: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        in_shape, conv = _check_conv(self.in_shape, self.conv)
        object.__setattr__(self, "in_shape", in_shape)
        object.__setattr__(self, "conv", conv)
        object.__setattr__(self, "hidden", _check_hidden(self.hidden, allow_empty=bool(conv)))
        _check_fields(self, _NET_FIELDS, "net.")
        n_sources = len(conv) + len(self.hidden) + 1
        object.__setattr__(self, "taus", _check_taus(self.taus, self.n_buckets, n_sources))
        for name in ("per_synapse", "hidden_bias", "readout_bias"):
            object.__setattr__(self, name, check_bool(f"net.{name}", getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["taus"] = None if self.taus is None else [list(r) for r in self.taus]
        d["in_shape"] = None if self.in_shape is None else list(self.in_shape)
        d["conv"] = [dict(c) for c in self.conv]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        return cls(**_known(cls, _mapping(d, "net"), "net"))


@dataclass(frozen=True)
class RegConfig:
    """Regularisers that act on the network during training only (DESIGN.md 3).

    Attributes
    ----------
    hidden_dropout : float
        Probability ``p`` in [0, 1) of dropping a hidden neuron for one training sample
        (default 0: off). Inverted dropout: neuron j's signal is multiplied by ``m_j``, 0 with
        probability ``p`` and ``1 / (1 - p)`` otherwise, drawn per sample from a generator seeded
        by (seed, epoch, sample) like the augmentation (so a resumed run is exact). A dropped
        neuron emits no spike at all: its signal, its spikes and its buckets are gone for that
        sample. Evaluation never drops. How it is realised without touching the engine:
        :func:`sgevent.train.batch.dropout_masks`.

    The other regularisers live where they act: the spike-rate penalty is part of the loss
    (``learn.rate_penalty``, :mod:`sgevent.learn.spec`), weight decay part of the optimiser
    (``optim.weight_decay``) and input-event augmentation part of ``augment``. Dropout has its
    own section because it is neither: it changes the network per sample, is drawn by the
    trainer and must never reach evaluation (the augmentation section describes input events).
    """

    hidden_dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_dropout", check_float("reg.hidden_dropout", self.hidden_dropout, lo=0.0,
                                                               hi=1.0, hi_open=True))

    @property
    def active(self) -> bool:
        return self.hidden_dropout > 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RegConfig":
        return cls(**_known(cls, _mapping(d, "reg"), "reg"))


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
        Cap on samples used (quick runs); >= 1 when given.
    spike_budget : int
        Most spikes one sample may cause (all layers); past it the engine stops with an error
        naming the layer and the time instead of running away (weights blown up).
    max_loss : float or None
        A training step whose mean loss per sample exceeds it (or is not finite) stops the run as
        diverged, naming the last good checkpoint. None: only non-finite losses stop it.
    reg : RegConfig
        Training-only regularisers (hidden dropout); the rate penalty is ``learn.rate_penalty``,
        weight decay ``optim.weight_decay``.

    Every field is checked for type and range on construction: ConfigError names the field, the
    value and what is expected (bool is not a number; null only where the field allows None).
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
    spike_budget: int = DEFAULT_SPIKE_BUDGET
    max_loss: float | None = 1e6
    net: NetConfig = field(default_factory=NetConfig)
    learn: LearnSpec = field(default_factory=LearnSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    reg: RegConfig = field(default_factory=RegConfig)

    def __post_init__(self) -> None:
        _check_fields(self, _TRAIN_FIELDS, "")
        object.__setattr__(self, "schedule", check_choice("schedule", self.schedule, ("batch", "online")))
        for name, cls in (("net", NetConfig), ("learn", LearnSpec), ("optim", OptimConfig),
                          ("augment", AugmentConfig), ("reg", RegConfig)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(f"config field '{name}': got {value!r}; expected a {cls.__name__} (a JSON object)")
        _check_learn(self.learn.to_dict())
        if self.schedule == "online" and self.learn.loss not in ("mean", "mse"):
            raise ConfigError(f"schedule 'online' needs the 'mean' or 'mse' loss, got {self.learn.loss!r} "
                              "('last', 'max' and 'onset' are only defined at the end of a sample)")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("net", "learn", "optim", "augment", "reg"):
            d[k] = d[k].to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(_mapping(d, "the configuration"))
        if "workers" in d:  # the field's old name (older run directories and config files)
            if "threads" in d:
                raise ConfigError("give 'threads' (in-process threads) only; 'workers' is its old name")
            d["threads"] = d.pop("workers")
        learn = _known(LearnSpec, _mapping(d.pop("learn", {}), "learn"), "learn")
        _check_learn(learn)
        sub = {
            "net": NetConfig.from_dict(d.pop("net", {})),
            "learn": LearnSpec.from_dict(learn),
            "optim": OptimConfig.from_dict(_mapping(d.pop("optim", {}), "optim")),
            "augment": AugmentConfig.from_dict(_known(AugmentConfig, _mapping(d.pop("augment", {}), "augment"),
                                                      "augment")),
            "reg": RegConfig.from_dict(d.pop("reg", {})),
        }
        return cls(**_known(cls, d, "train"), **sub)


_TRAIN_FIELDS: dict[str, tuple[Any, dict[str, Any]]] = {
    "epochs": (check_int, {"lo": 1}),
    "batch_size": (check_int, {"lo": 1}),
    "update_every": (check_int, {"lo": 1}),
    "dt": (check_float, {"lo": 0.0, "lo_open": True, "none_ok": True}),
    "window": (check_float, {"lo": 0.0, "lo_open": True, "none_ok": True}),
    "val_fraction": (check_float, {"lo": 0.0, "hi": 1.0, "hi_open": True}),
    "seed": (check_int, {"lo": 0}),
    "threads": (check_int, {"lo": 0}),
    "checkpoint_every": (check_int, {"lo": 1}),
    "max_train_samples": (check_int, {"lo": 1, "none_ok": True}),
    "max_eval_samples": (check_int, {"lo": 1, "none_ok": True}),
    "spike_budget": (check_int, {"lo": 1}),
    "max_loss": (check_float, {"lo": 0.0, "lo_open": True, "none_ok": True}),
}


def _check_learn(d: dict[str, Any]) -> None:
    """Types of the ``learn`` fields, before :class:`LearnSpec` compares them."""
    if "loss" in d:
        check_choice("learn.loss", d["loss"], LOSSES)
    if "backward" in d:
        check_choice("learn.backward", d["backward"], BACKWARDS)
    if "learn_period" in d:
        check_float("learn.learn_period", d["learn_period"], lo=0.0, lo_open=True)
    if "rate_penalty" in d:
        check_float("learn.rate_penalty", d["rate_penalty"], lo=0.0)


def _mapping(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ConfigError(f"config field '{where}': got {d!r}; expected a JSON object of options")
    return d


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


#: Fields a resumed run may change deliberately (recorded in its ``provenance_resume_<n>.json``):
#: more epochs, and the in-process threads (results do not depend on them).
RESUME_CHANGEABLE = ("epochs", "threads")

#: Options of :func:`with_overrides` (the ``sgevent train`` flags that set configuration).
OVERRIDABLE = ("epochs", "batch_size", "seed", "threads", "window", "max_train_samples", "max_eval_samples", "dt",
               "lr")


def with_overrides(config: TrainConfig, **flags: Any) -> TrainConfig:
    """``config`` with command-line overrides (each checked like the config field it sets).

    ``dt=0`` means continuous time (``dt: null``); ``lr`` sets ``optim.lr``; a value None means
    "not given". A negative ``dt`` or a count < 1 is a ConfigError, never reinterpreted.
    """
    unknown = sorted(set(flags) - set(OVERRIDABLE))
    if unknown:
        raise ConfigError(f"unknown override(s) {unknown}; expected some of {list(OVERRIDABLE)}")
    over = {k: v for k, v in flags.items() if v is not None and k != "lr"}
    if "dt" in over and _is_zero(over["dt"]):
        over["dt"] = None  # --dt 0: continuous time
    config = replace(config, **over)
    if flags.get("lr") is not None:
        config = replace(config, optim=replace(config.optim, lr=flags["lr"]))
    return config


def _is_zero(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == 0


def config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ between two ``to_dict`` trees: ``{"optim.lr": (a, b), ...}``."""
    out: dict[str, tuple[Any, Any]] = {}
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out.update(config_diff(x, y, f"{prefix}{k}."))
        elif x != y:
            out[f"{prefix}{k}"] = (x, y)
    return out


def resume_config(recorded: TrainConfig, requested: TrainConfig | None = None,
                  **flags: Any) -> tuple[TrainConfig, dict[str, tuple[Any, Any]]]:
    """The configuration of a resumed run: ``recorded`` with the deliberate changes ``flags``.

    ``requested`` is a configuration given again on resume (``--config FILE``); the flags then
    apply to it. Returns the new configuration and its changes ``{field: (recorded, new)}``. Only
    the fields of :data:`RESUME_CHANGEABLE` may change; a flag or file that gives a recorded field
    another value is a ConfigError (a resumed run is the same run), one that repeats it is fine.
    """
    config = with_overrides(recorded if requested is None else requested, **flags)
    changes = config_diff(recorded.to_dict(), config.to_dict())
    refused = {k: v for k, v in changes.items() if k not in RESUME_CHANGEABLE}
    if refused:
        listed = "; ".join(f"{k}: recorded {a!r}, requested {b!r}" for k, (a, b) in refused.items())
        raise ConfigError(f"--resume continues the run with its recorded configuration, and these options differ "
                          f"from it: {listed}. Only {', '.join(RESUME_CHANGEABLE)} may change on resume; start a "
                          "new run (another --name) to train with other settings")
    return config, changes
