"""Network description: validated parameters of a feed-forward SpikingGamma network.

A network is ``n_in`` input channels -> one or more hidden layers of LNL-SD neurons -> a
readout layer of ``n_out`` continuous units (DESIGN.md section 1). This module only holds and
validates parameters; :mod:`sgevent.engine.build` lowers them to flat arrays for the kernels.

Layers are indexed ``l = 0 .. n_layers-1`` where ``n_layers = len(hidden) + 1`` and the last one
is the readout. Layer ``l`` reads the buckets of *source* ``l``: source 0 is the input channels,
source ``l >= 1`` is hidden layer ``l - 1``. ``taus[s]`` (shape ``(K,)``, seconds) is the gamma
cascade of source ``s``; a hidden neuron's own bucket 0 (its sigma-delta reconstruction
``yhat_j[0]``) therefore decays with ``taus[l + 1][0]``.

Shapes: ``w[l]`` is ``(n_post, n_pre)``; ``v[l]`` is ``(n_post, K)`` with per-neuron bucket
weights or ``(n_post, n_pre, K)`` with per-synapse bucket weights; ``b[l]`` is ``(n_post,)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sgevent.errors import ConfigError

__all__ = ["Network", "HiddenParams", "default_taus"]


def default_taus(n_buckets: int, tau_0: float = 5e-3, tau_delay: float = 15e-3) -> np.ndarray:
    """Default gamma cascade: a fast bucket 0 and equal delay stages (a classic gamma memory).

    Parameters
    ----------
    n_buckets : int
        Number of buckets K.
    tau_0 : float
        Time constant of bucket 0 in seconds (smooths the spike train).
    tau_delay : float
        Time constant of every stage k >= 1 in seconds; bucket k has mean delay ``k * tau_delay``.

    Returns
    -------
    ndarray of float64, shape (K,)
    """
    taus = np.full(n_buckets, float(tau_delay))
    taus[0] = tau_0
    return taus


@dataclass(frozen=True)
class HiddenParams:
    """Spiking parameters of one hidden layer (all times in seconds).

    Attributes
    ----------
    theta_0 : float
        Resting threshold (> 0), in units of the neuron signal ``y``.
    m_f : float
        Threshold adaptation per spike: ``theta_dyn += m_f * theta`` (0 = fixed threshold).
    tau_theta : float
        Decay time constant of ``theta_dyn`` (s).
    spike_gain : float
        A spike adds ``spike_gain * theta`` to the neuron's own bucket 0 (2 keeps the coding
        error within +-theta).
    max_burst : int
        Most spikes one neuron may emit at one instant; more raises ``BurstLimitError``.
    """

    theta_0: float = 0.1
    m_f: float = 0.0
    tau_theta: float = 0.1
    spike_gain: float = 2.0
    max_burst: int = 1000

    def validate(self, where: str) -> None:
        if not (np.isfinite(self.theta_0) and self.theta_0 > 0):
            raise ConfigError(f"{where}: theta_0 must be a finite number > 0, got {self.theta_0}")
        if not (np.isfinite(self.m_f) and self.m_f >= 0):
            raise ConfigError(f"{where}: m_f must be finite and >= 0, got {self.m_f}")
        if not (np.isfinite(self.tau_theta) and self.tau_theta > 0):
            raise ConfigError(f"{where}: tau_theta must be finite and > 0 s, got {self.tau_theta}")
        if not (np.isfinite(self.spike_gain) and self.spike_gain > 0):
            raise ConfigError(f"{where}: spike_gain must be finite and > 0, got {self.spike_gain}")
        if int(self.max_burst) != self.max_burst or self.max_burst < 1:
            raise ConfigError(f"{where}: max_burst must be an integer >= 1, got {self.max_burst}")


@dataclass
class Network:
    """A feed-forward SpikingGamma network (parameters only).

    Create one with :meth:`Network.create`; the constructor validates a fully specified one.

    Attributes
    ----------
    n_in : int
        Input channels.
    hidden : tuple of int
        Sizes of the hidden LNL-SD layers.
    n_out : int
        Readout units.
    taus : tuple of ndarray, each (K,)
        Gamma-cascade time constants (s) of source ``s`` (0 = input channels, ``s`` = hidden
        layer ``s - 1``).
    w, v, b : list of ndarray
        Weights, bucket weights and biases of each layer (hidden layers, then the readout).
    hidden_params : tuple of HiddenParams
        Spiking parameters of each hidden layer.
    per_synapse : bool
        True: bucket weights ``v[l]`` are per synapse, shape (n_post, n_pre, K).
    bias : tuple of bool
        Whether each layer's bias is used (and trained); a unused bias is held at 0.
    h_in : float
        Spike height of input channels.
    """

    n_in: int
    hidden: tuple[int, ...]
    n_out: int
    taus: tuple[np.ndarray, ...]
    w: list[np.ndarray]
    v: list[np.ndarray]
    b: list[np.ndarray]
    hidden_params: tuple[HiddenParams, ...]
    per_synapse: bool = False
    bias: tuple[bool, ...] = ()
    h_in: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.taus = tuple(np.asarray(t, dtype=np.float64) for t in self.taus)
        self.w = [np.ascontiguousarray(a, dtype=np.float64) for a in self.w]
        self.v = [np.ascontiguousarray(a, dtype=np.float64) for a in self.v]
        self.b = [np.ascontiguousarray(a, dtype=np.float64) for a in self.b]
        if not self.bias:
            self.bias = tuple([False] * len(self.hidden) + [True])
        self.bias = tuple(bool(x) for x in self.bias)
        self.hidden_params = tuple(self.hidden_params)
        self.validate()

    # ------------------------------------------------------------------ properties
    @property
    def n_buckets(self) -> int:
        """Number of buckets K per source."""
        return int(self.taus[0].shape[0])

    @property
    def n_layers(self) -> int:
        """Processing layers: hidden layers plus the readout."""
        return len(self.hidden) + 1

    @property
    def sizes(self) -> tuple[int, ...]:
        """Sizes of all sources and layers: (n_in, *hidden, n_out)."""
        return (self.n_in, *self.hidden, self.n_out)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every shape and value; raise :class:`ConfigError` naming the field."""
        if int(self.n_in) < 1 or int(self.n_out) < 1:
            raise ConfigError(f"n_in and n_out must be >= 1, got {self.n_in} and {self.n_out}")
        if len(self.hidden) < 1 or min(self.hidden) < 1:
            raise ConfigError(f"hidden must list at least one layer size >= 1, got {self.hidden}")
        K = self._validate_taus()
        self._validate_counts()
        for l in range(self.n_layers):
            self._validate_layer(l, K)
        for l, hp in enumerate(self.hidden_params):
            if not isinstance(hp, HiddenParams):
                raise ConfigError(f"hidden_params[{l}] must be a HiddenParams, got {type(hp).__name__}")
            hp.validate(f"hidden layer {l}")
        if not (np.isfinite(self.h_in) and self.h_in > 0):
            raise ConfigError(f"h_in must be finite and > 0, got {self.h_in}")

    def _validate_taus(self) -> int:
        """One cascade of K >= 1 finite time constants > 0 per source; returns K."""
        n_layers = self.n_layers
        if len(self.taus) != n_layers:
            raise ConfigError(
                f"taus must hold {n_layers} cascades (input channels and each hidden layer), "
                f"got {len(self.taus)}"
            )
        K = self.taus[0].shape[0] if self.taus[0].ndim == 1 else -1
        if K < 1:
            raise ConfigError(f"taus[0] must be a 1-D array of K >= 1 time constants, got shape {self.taus[0].shape}")
        for s, t in enumerate(self.taus):
            if t.shape != (K,):
                raise ConfigError(f"taus[{s}] must have shape ({K},) like taus[0], got {t.shape}")
            if not np.all(np.isfinite(t)) or np.any(t <= 0):
                raise ConfigError(f"taus[{s}] must hold finite time constants > 0 s, got {t.tolist()}")
        return K

    def _validate_counts(self) -> None:
        """One ``w``, ``v``, ``b`` and ``bias`` per layer, one ``hidden_params`` per hidden layer."""
        n_layers = self.n_layers
        for name, lst in (("w", self.w), ("v", self.v), ("b", self.b)):
            if len(lst) != n_layers:
                raise ConfigError(f"{name} must hold {n_layers} arrays (hidden layers and readout), got {len(lst)}")
        if len(self.hidden_params) != len(self.hidden):
            raise ConfigError(
                f"hidden_params must hold {len(self.hidden)} entries, one per hidden layer, "
                f"got {len(self.hidden_params)}"
            )
        if len(self.bias) != n_layers:
            raise ConfigError(f"bias must hold {n_layers} flags, got {len(self.bias)}")

    def _validate_layer(self, l: int, K: int) -> None:
        """Shapes and finite values of layer ``l``'s ``w``, ``v``, ``b``; ``b`` zero when unused."""
        n_pre, n_post = self.sizes[l], self.sizes[l + 1]
        if self.w[l].shape != (n_post, n_pre):
            raise ConfigError(f"w[{l}] must have shape ({n_post}, {n_pre}), got {self.w[l].shape}")
        v_shape = (n_post, n_pre, K) if self.per_synapse else (n_post, K)
        if self.v[l].shape != v_shape:
            kind = "per-synapse" if self.per_synapse else "per-neuron"
            raise ConfigError(f"v[{l}] ({kind} bucket weights) must have shape {v_shape}, got {self.v[l].shape}")
        if self.b[l].shape != (n_post,):
            raise ConfigError(f"b[{l}] must have shape ({n_post},), got {self.b[l].shape}")
        for name, a in (("w", self.w[l]), ("v", self.v[l]), ("b", self.b[l])):
            if not np.all(np.isfinite(a)):
                raise ConfigError(f"{name}[{l}] holds non-finite values")
        if not self.bias[l] and np.any(self.b[l] != 0):
            raise ConfigError(f"b[{l}] must be zero when bias[{l}] is False")

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        n_in: int,
        hidden: int | Sequence[int],
        n_out: int,
        n_buckets: int = 8,
        seed: int | np.random.Generator | None = 0,
        *,
        taus: Sequence[float] | Sequence[Sequence[float]] | None = None,
        tau_0: float = 5e-3,
        tau_delay: float = 15e-3,
        theta_0: float | Sequence[float] = 0.1,
        m_f: float | Sequence[float] = 0.0,
        tau_theta: float | Sequence[float] = 0.1,
        spike_gain: float = 2.0,
        max_burst: int = 1000,
        per_synapse: bool = False,
        hidden_bias: bool = False,
        readout_bias: bool = True,
        h_in: float = 1.0,
        weight_gain: float = 1.0,
    ) -> "Network":
        """Build a network with documented default time constants, thresholds and weights.

        Parameters
        ----------
        n_in, hidden, n_out : int, int or sequence of int, int
            Input channels, hidden layer size(s), readout units.
        n_buckets : int
            Buckets K per source (default 8).
        seed : int or numpy.random.Generator
            Randomness of the initial weights.
        taus : sequence of K floats, or one such sequence per source, optional
            Cascade time constants in seconds. Default: ``default_taus(K, tau_0, tau_delay)``
            for every source (bucket 0: 5 ms, stages k >= 1: 15 ms each, so bucket 7 lags
            by 105 ms on average).
        theta_0, m_f, tau_theta : float or one per hidden layer
            Threshold, adaptation per spike and its decay (s). Defaults: 0.1, 0 (fixed), 0.1 s.
        spike_gain : float
            Spike height factor (default 2).
        max_burst : int
            Most spikes per neuron per instant (default 1000).
        per_synapse : bool
            Per-synapse bucket weights (default per-neuron).
        hidden_bias, readout_bias : bool
            Use biases in hidden layers (default off) and in the readout (default on).
        h_in : float
            Input spike height (default 1).
        weight_gain : float
            Scale of the initial weights.

        Returns
        -------
        Network

        Notes
        -----
        Initial weights: ``w[l] ~ N(0, (weight_gain * g_l)^2 / n_pre)`` with ``g_l = 2`` for
        hidden layers (the ReLU halves the variance) and 1 for the readout. Per-neuron bucket
        weights start as ``1/K + N(0, (0.5/K)^2)`` (a noisy average over delays); per-synapse
        weights the same per synapse. Biases start at 0.
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        hidden_t = (int(hidden),) if np.isscalar(hidden) else tuple(int(h) for h in hidden)
        n_layers = len(hidden_t) + 1
        K = int(n_buckets)
        if K < 1:
            raise ConfigError(f"n_buckets must be >= 1, got {n_buckets}")
        if taus is None:
            taus_t = tuple(default_taus(K, tau_0, tau_delay) for _ in range(n_layers))
        else:
            arr = np.asarray(taus, dtype=np.float64)
            if arr.ndim == 1:
                taus_t = tuple(arr.copy() for _ in range(n_layers))
            elif arr.ndim == 2 and arr.shape[0] == n_layers:
                taus_t = tuple(a.copy() for a in arr)
            else:
                raise ConfigError(
                    f"taus must be K values or one row of K values per source ({n_layers}), got shape {arr.shape}"
                )
            if taus_t[0].shape[0] != K:
                raise ConfigError(f"taus has {taus_t[0].shape[0]} values per source but n_buckets is {K}")

        def per_layer(x, name):
            if np.isscalar(x):
                return [float(x)] * len(hidden_t)
            x = list(x)
            if len(x) != len(hidden_t):
                raise ConfigError(f"{name} must be a number or one per hidden layer ({len(hidden_t)})")
            return [float(a) for a in x]

        th, mf, tt = per_layer(theta_0, "theta_0"), per_layer(m_f, "m_f"), per_layer(tau_theta, "tau_theta")
        hps = tuple(
            HiddenParams(theta_0=th[l], m_f=mf[l], tau_theta=tt[l], spike_gain=float(spike_gain),
                         max_burst=int(max_burst))
            for l in range(len(hidden_t))
        )
        sizes = (int(n_in), *hidden_t, int(n_out))
        w, v, b = [], [], []
        for l in range(n_layers):
            n_pre, n_post = sizes[l], sizes[l + 1]
            g = 2.0 if l < n_layers - 1 else 1.0
            w.append(rng.normal(0.0, weight_gain * np.sqrt(g / n_pre), size=(n_post, n_pre)))
            v_shape = (n_post, n_pre, K) if per_synapse else (n_post, K)
            v.append(1.0 / K + rng.normal(0.0, 0.5 / K, size=v_shape))
            b.append(np.zeros(n_post))
        bias = tuple([bool(hidden_bias)] * len(hidden_t) + [bool(readout_bias)])
        return cls(
            n_in=int(n_in), hidden=hidden_t, n_out=int(n_out), taus=taus_t, w=w, v=v, b=b,
            hidden_params=hps, per_synapse=bool(per_synapse), bias=bias, h_in=float(h_in),
        )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (arrays stay numpy arrays); inverse of :meth:`from_dict`."""
        return {
            "n_in": self.n_in, "hidden": list(self.hidden), "n_out": self.n_out,
            "taus": [t.copy() for t in self.taus],
            "w": [a.copy() for a in self.w], "v": [a.copy() for a in self.v], "b": [a.copy() for a in self.b],
            "hidden_params": [dataclasses.asdict(h) for h in self.hidden_params],
            "per_synapse": self.per_synapse, "bias": list(self.bias), "h_in": self.h_in,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Network":
        """Rebuild a network from :meth:`to_dict` output (validates everything)."""
        try:
            return cls(
                n_in=int(d["n_in"]), hidden=tuple(d["hidden"]), n_out=int(d["n_out"]),
                taus=tuple(np.asarray(t) for t in d["taus"]),
                w=list(d["w"]), v=list(d["v"]), b=list(d["b"]),
                hidden_params=tuple(HiddenParams(**h) for h in d["hidden_params"]),
                per_synapse=bool(d["per_synapse"]), bias=tuple(d["bias"]), h_in=float(d["h_in"]),
            )
        except KeyError as e:
            raise ConfigError(f"network description is missing field {e}") from None

    def copy(self) -> "Network":
        """Deep copy (independent weight arrays)."""
        return Network.from_dict(self.to_dict())
