"""Optimisers over a list of parameter arrays (SGD with momentum, Adam/AdamW), updated in place.

An optimiser is bound to the *arrays* it was made with (e.g. ``net.w + net.v + net.b``): each
:meth:`Optimizer.step` writes into them, so the network sees the update without copying. A
network rebuilt with :meth:`sgevent.Network.from_dict` has new arrays and needs a new optimiser
(restore its moments with :meth:`Optimizer.load_state_dict`).

One call of :meth:`Optimizer.step` is one *optimiser step* ``t = 1, 2, ...``; the learning-rate
schedule is a function of the number of steps already taken, ``s = t - 1`` (see
:meth:`OptimConfig.lr_at`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

import numpy as np

from sgevent.errors import ConfigError, DataError, TrainingError, check_choice, check_float, check_int

__all__ = ["OptimConfig", "Optimizer", "SGD", "Adam", "make_optimizer", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


#: Type and range of the numeric OptimConfig fields (checker, bounds).
_OPTIM_FIELDS: dict[str, tuple[Any, dict[str, Any]]] = {
    "lr": (check_float, {"lo": 0.0, "lo_open": True}),
    "momentum": (check_float, {"lo": 0.0, "hi": 1.0, "hi_open": True}),
    "eps": (check_float, {"lo": 0.0, "lo_open": True}),
    "weight_decay": (check_float, {"lo": 0.0}),
    "clip_norm": (check_float, {"lo": 0.0, "lo_open": True, "none_ok": True}),
    "warmup_steps": (check_int, {"lo": 0}),
    "total_steps": (check_int, {"lo": 1, "none_ok": True}),
    "step_size": (check_int, {"lo": 1}),
    "gamma": (check_float, {"lo": 0.0, "hi": 1.0, "lo_open": True}),
}


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (validated on construction).

    Attributes
    ----------
    name : {"sgd", "adam"}
        SGD with (heavy-ball) momentum, or Adam with decoupled weight decay (AdamW).
    lr : float
        Peak learning rate (> 0).
    momentum : float
        SGD momentum in [0, 1) (0 = plain SGD). Ignored by Adam.
    betas : (float, float)
        Adam decay rates of the first and second moments, each in [0, 1).
    eps : float
        Adam denominator guard (> 0).
    weight_decay : float
        >= 0. SGD: L2 penalty, ``g += weight_decay * p`` (after clipping). Adam: decoupled,
        ``p *= 1 - lr_t * weight_decay`` before the Adam update (AdamW).
    clip_norm : float or None
        If set (> 0), the gradients are scaled by ``min(1, clip_norm / ||g||)`` where ``||g||``
        is the global L2 norm over all (unmasked) gradients. None = no clipping.
    schedule : {"constant", "cosine", "step"}
        Learning-rate schedule after the warm-up (see :meth:`lr_at`).
    warmup_steps : int
        Linear warm-up length in optimiser steps (>= 0).
    total_steps : int or None
        Length of the whole run in steps; required by ``cosine`` (must exceed ``warmup_steps``).
    step_size : int
        ``step`` schedule: steps between decays (>= 1).
    gamma : float
        ``step`` schedule: factor per decay, in (0, 1].
    """

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    total_steps: int | None = None
    step_size: int = 1000
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_choice("optim.name", self.name, OPTIMIZERS))
        object.__setattr__(self, "schedule", check_choice("optim.schedule", self.schedule, SCHEDULES))
        for name, (check, bounds) in _OPTIM_FIELDS.items():
            object.__setattr__(self, name, check(f"optim.{name}", getattr(self, name), **bounds))
        betas = self.betas
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise ConfigError(f"config field 'optim.betas': got {betas!r}; expected two numbers in [0, 1)")
        betas = tuple(check_float(f"optim.betas[{i}]", b, lo=0.0, hi=1.0, hi_open=True) for i, b in enumerate(betas))
        object.__setattr__(self, "betas", betas)
        if self.schedule == "cosine":
            if self.total_steps is None:
                raise ConfigError("schedule 'cosine' needs total_steps (the run length in optimiser steps)")
            if self.total_steps <= self.warmup_steps:
                raise ConfigError(
                    f"total_steps ({self.total_steps}) must exceed warmup_steps ({self.warmup_steps}) "
                    "for schedule 'cosine'"
                )

    # ------------------------------------------------------------------ schedule
    def lr_at(self, step: int) -> float:
        """Learning rate of the optimiser step that follows ``step`` completed steps.

        Parameters
        ----------
        step : int
            Number of optimiser steps already taken (>= 0); the first update uses ``lr_at(0)``.

        Returns
        -------
        float

        Notes
        -----
        With ``W = warmup_steps`` and ``s = step``: for ``s < W`` the rate is
        ``lr * (s + 1) / W`` (linear warm-up reaching ``lr`` at ``s = W - 1``). Afterwards, with
        ``u = s - W``:

        - constant: ``lr``;
        - cosine: ``lr * (1 + cos(pi * p)) / 2`` with ``p = min(u / (total_steps - W), 1)``
          (0 from ``s = total_steps`` on);
        - step: ``lr * gamma ** floor(u / step_size)``.
        """
        if not _is_int(step) or step < 0:
            raise ConfigError(f"step must be an integer >= 0, got {step!r}")
        s = int(step)
        W = int(self.warmup_steps)
        if s < W:
            return float(self.lr) * (s + 1) / W
        u = s - W
        if self.schedule == "constant":
            return float(self.lr)
        if self.schedule == "cosine":
            p = min(u / (int(self.total_steps) - W), 1.0)
            return float(self.lr) * 0.5 * (1.0 + math.cos(math.pi * p))
        return float(self.lr) * float(self.gamma) ** (u // int(self.step_size))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``betas`` as a list); inverse of :meth:`from_dict`."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OptimConfig":
        """Build from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown optimiser option(s) {unknown}; expected some of {sorted(known)}")
        return cls(**d)


class Optimizer:
    """Base class: validation, masking, clipping and the schedule; subclasses do the update.

    Parameters
    ----------
    config : OptimConfig
    params : list of ndarray
        Floating-point arrays updated in place.
    names : list of str, optional
        Names for error messages (default ``"parameter <i>"``).
    """

    def __init__(self, config: OptimConfig, params: Sequence[np.ndarray], names: Sequence[str] | None = None):
        if not isinstance(config, OptimConfig):
            raise ConfigError(f"config must be an OptimConfig, got {type(config).__name__}")
        params = list(params)
        if not params:
            raise ConfigError("the optimiser needs at least one parameter array")
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                kind = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
                raise ConfigError(f"parameter {i} must be a floating-point numpy array, got {kind}")
            if not p.flags.writeable:
                raise ConfigError(f"parameter {i} is read-only; the optimiser updates arrays in place")
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != len(params):
                raise ConfigError(f"names has {len(names)} entries but there are {len(params)} parameters")
        self.config = config
        self.params = params
        self.names = names
        self.n_steps = 0

    # ------------------------------------------------------------------ helpers
    def _label(self, i: int) -> str:
        return f"parameter {i}" + (f" ({self.names[i]})" if self.names else "")

    def lr_at(self, step: int) -> float:
        """Learning rate after ``step`` completed steps (see :meth:`OptimConfig.lr_at`)."""
        return self.config.lr_at(step)

    def _check(self, grads: Sequence[np.ndarray], mask: Sequence[bool] | None) -> tuple[list, list[bool]]:
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ConfigError(f"step got {len(grads)} gradients for {len(self.params)} parameters")
        if mask is None:
            active = [True] * len(self.params)
        else:
            active = [bool(m) for m in mask]
            if len(active) != len(self.params):
                raise ConfigError(f"mask has {len(active)} entries for {len(self.params)} parameters")
        out = []
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if not active[i]:
                out.append(None)
                continue
            g = np.asarray(g)
            if g.shape != p.shape:
                raise ConfigError(f"gradient of {self._label(i)} has shape {g.shape}, expected {p.shape}")
            if not np.all(np.isfinite(g)):
                n_nan = int(np.count_nonzero(np.isnan(g)))
                n_inf = int(np.count_nonzero(np.isinf(g)))
                raise TrainingError(
                    f"gradient of {self._label(i)} holds non-finite values ({n_nan} NaN, {n_inf} inf) "
                    f"at optimiser step {self.n_steps + 1}; no parameter was updated"
                )
            out.append(g.astype(p.dtype, copy=False))
        return out, active

    def step(self, grads: Sequence[np.ndarray], mask: Sequence[bool] | None = None) -> dict[str, float]:
        """Apply one update to the parameters (in place).

        Parameters
        ----------
        grads : list of ndarray
            ``dL/dp`` for each parameter, same shapes.
        mask : list of bool, optional
            False entries leave that parameter, its gradient and its optimiser state untouched
            (e.g. a disabled bias); they do not enter the gradient norm.

        Returns
        -------
        dict
            ``lr`` (rate applied), ``grad_norm`` (global L2 norm before clipping), ``clip_scale``
            (factor applied to the gradients, 1 if not clipped) and ``step`` (steps taken so far).

        Raises
        ------
        TrainingError
            A gradient holds NaN or inf (names the parameter index); nothing is updated.
        """
        g, active = self._check(grads, mask)
        sq = 0.0
        for gi in g:
            if gi is not None:
                sq += float(np.dot(gi.ravel(), gi.ravel()))
        norm = math.sqrt(sq)
        scale = 1.0
        clip = self.config.clip_norm
        if clip is not None and norm > clip:
            scale = float(clip) / norm
            g = [None if gi is None else gi * scale for gi in g]
        lr = self.lr_at(self.n_steps)
        self.n_steps += 1
        for i, gi in enumerate(g):
            if gi is not None:
                self._update(i, gi, lr)
        return {"lr": lr, "grad_norm": norm, "clip_scale": scale, "step": self.n_steps}

    def _update(self, i: int, g: np.ndarray, lr: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    _buffers: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, np.ndarray | float | int]:
        """Everything needed for an exact resume: ``step`` and every moment buffer (copies).

        Keys: ``"step"`` (int) and ``"<buffer>.<i>"`` for parameter ``i`` (``exp_avg``,
        ``exp_avg_sq`` for Adam; ``momentum_buf`` for SGD).
        """
        d: dict[str, np.ndarray | float | int] = {"step": int(self.n_steps)}
        for name in self._buffers:
            for i, a in enumerate(getattr(self, name)):
                d[f"{name}.{i}"] = a.copy()
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (copies into the existing buffers).

        Raises
        ------
        DataError
            A key is missing or an array has the wrong shape (names the key).
        """
        if "step" not in d:
            raise DataError("optimiser state is missing key 'step'")
        step = d["step"]
        step = int(step.item() if isinstance(step, np.ndarray) else step)
        if step < 0:
            raise DataError(f"optimiser state 'step' must be >= 0, got {step}")
        staged = []
        for name in self._buffers:
            for i, a in enumerate(getattr(self, name)):
                key = f"{name}.{i}"
                if key not in d:
                    raise DataError(
                        f"optimiser state is missing key {key!r} needed by {self.config.name!r} "
                        "(saved by a different optimiser or for other parameters?)"
                    )
                src = np.asarray(d[key])
                if src.shape != a.shape:
                    raise DataError(f"optimiser state {key!r} has shape {src.shape}, expected {a.shape}")
                staged.append((a, src))
        expected = {"step"} | {f"{n}.{i}" for n in self._buffers for i in range(len(self.params))}
        extra = set(d) - expected
        if extra:
            raise DataError(f"optimiser state has unexpected key(s) {sorted(extra)} for {self.config.name!r}")
        for a, src in staged:
            np.copyto(a, src)
        self.n_steps = step


class SGD(Optimizer):
    """SGD with heavy-ball momentum and L2 weight decay.

    Notes
    -----
    With ``g`` the (clipped) gradient, ``lambda`` the weight decay, ``mu`` the momentum::

        g <- g + lambda * p
        b <- mu * b + g          (b = g when mu = 0)
        p <- p - lr_t * b
    """

    _buffers = ("momentum_buf",)

    def __init__(self, config, params, names=None):
        super().__init__(config, params, names)
        self.momentum_buf = [np.zeros_like(p) for p in self.params]

    def _update(self, i, g, lr):
        p = self.params[i]
        wd, mu = self.config.weight_decay, self.config.momentum
        if wd:
            g = g + wd * p
        if mu:
            b = self.momentum_buf[i]
            b *= mu
            b += g
            g = b
        p -= lr * g


class Adam(Optimizer):
    """Adam with decoupled weight decay (AdamW).

    Notes
    -----
    At step ``t`` (1-based) with (clipped) gradient ``g``, rate ``lr_t`` and decay ``lambda``::

        p <- p * (1 - lr_t * lambda)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - lr_t * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """

    _buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, config, params, names=None):
        super().__init__(config, params, names)
        self.exp_avg = [np.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p) for p in self.params]

    def _update(self, i, g, lr):
        p, m, v = self.params[i], self.exp_avg[i], self.exp_avg_sq[i]
        b1, b2 = self.config.betas
        t = self.n_steps  # already incremented: 1-based
        if self.config.weight_decay:
            p *= 1.0 - lr * self.config.weight_decay
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        bc1 = 1.0 - b1**t
        bc2 = 1.0 - b2**t
        p -= (lr / bc1) * m / (np.sqrt(v / bc2) + self.config.eps)


def make_optimizer(
    config: OptimConfig, params: Sequence[np.ndarray], names: Sequence[str] | None = None
) -> Optimizer:
    """Create the optimiser named by ``config.name`` over ``params`` (updated in place).

    Parameters
    ----------
    config : OptimConfig
    params : list of ndarray
        Floating-point arrays, e.g. ``net.w + net.v + net.b``.
    names : list of str, optional
        Names used in error messages, e.g. ``["w[0]", "w[1]", ...]``.

    Returns
    -------
    Optimizer
        :class:`SGD` or :class:`Adam`.
    """
    if not isinstance(config, OptimConfig):
        raise ConfigError(f"config must be an OptimConfig, got {type(config).__name__}")
    cls = SGD if config.name == "sgd" else Adam
    return cls(config, params, names)
