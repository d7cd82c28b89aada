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
A convolutional layer (``conv[l]`` a :class:`~sgevent.model.conv.Conv2d`) holds shared
parameters instead: ``w[l]`` ``(C', C, k, k)``, ``v[l]`` ``(C', K)`` or ``(C', C, k, k, K)``,
``b[l]`` ``(C',)``; :meth:`Network.dense_params` gives the dense layer it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sgevent.errors import ConfigError
from sgevent.model.conv import Conv2d, dense_equivalent, entries, init_conv_params

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


def _init_layer(n_pre: int, n_post: int, spec: Conv2d | None, K: int, per_synapse: bool, weight_gain: float,
                g: float, rng: np.random.Generator):
    """Initial ``(w, v, b)`` of one layer (see :meth:`Network.create`; ``g`` the layer's gain)."""
    if spec is not None:
        return init_conv_params(spec, K, per_synapse, weight_gain * np.sqrt(g), rng)
    w = rng.normal(0.0, weight_gain * np.sqrt(g / n_pre), size=(n_post, n_pre))
    v_shape = (n_post, n_pre, K) if per_synapse else (n_post, K)
    return w, 1.0 / K + rng.normal(0.0, 0.5 / K, size=v_shape), np.zeros(n_post)


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
    conv : tuple of (Conv2d or None)
        Per layer: its convolution (shared weights, sparse fan-out) or None for a dense layer.
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
    conv: tuple[Conv2d | None, ...] = ()

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
        if not self.conv:
            self.conv = tuple([None] * (len(self.hidden) + 1))
        self.conv = tuple(self.conv)
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

    @property
    def has_conv(self) -> bool:
        """Whether any layer is convolutional."""
        return any(c is not None for c in self.conv)

    def dense_params(self, l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w, v, b)`` of layer ``l`` as a dense layer (a conv layer's dense equivalent:
        :func:`sgevent.model.conv.dense_equivalent`)."""
        spec = self.conv[l]
        if spec is None:
            return self.w[l], self.v[l], self.b[l]
        return dense_equivalent(spec, self.w[l], self.v[l], self.b[l], self.per_synapse)

    def as_dense(self) -> "Network":
        """The same network with every conv layer replaced by its dense equivalent (what the
        clock-driven reference runs; gradients map back with
        :func:`sgevent.model.conv.reduce_dense_gradients`)."""
        if not self.has_conv:
            return self
        params = [self.dense_params(l) for l in range(self.n_layers)]
        return Network(
            n_in=self.n_in, hidden=self.hidden, n_out=self.n_out, taus=self.taus,
            w=[p[0] for p in params], v=[p[1] for p in params], b=[p[2] for p in params],
            hidden_params=self.hidden_params, per_synapse=self.per_synapse, bias=self.bias, h_in=self.h_in,
        )

    def fan_out(self, l: int) -> np.ndarray:
        """``(n_pre,)`` int64: how many post-neurons of layer ``l`` each source reaches."""
        spec = self.conv[l]
        if spec is None:
            return np.full(self.sizes[l], self.sizes[l + 1], dtype=np.int64)
        return np.diff(entries(spec).ptr)

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
            if self.conv[l] is None:
                self._validate_layer(l, K)
            else:
                self._validate_conv_layer(l, K)
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
        if len(self.conv) != n_layers:
            raise ConfigError(f"conv must hold {n_layers} entries (a Conv2d or None per layer), got {len(self.conv)}")

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

    def _validate_conv_layer(self, l: int, K: int) -> None:
        """Layer ``l`` is a convolution: sizes from its geometry, shared parameter shapes."""
        spec = self.conv[l]
        if not isinstance(spec, Conv2d):
            raise ConfigError(f"conv[{l}] must be a Conv2d or None, got {type(spec).__name__}")
        spec.validate(f"conv[{l}]")
        n_pre, n_post = self.sizes[l], self.sizes[l + 1]
        if spec.n_pre != n_pre:
            raise ConfigError(
                f"conv[{l}] reads a {spec.in_shape} map ({spec.n_pre} sources) but its source has {n_pre}"
            )
        if spec.n_post != n_post:
            raise ConfigError(
                f"conv[{l}] makes a {spec.out_shape} map ({spec.n_post} neurons) but the layer has {n_post}"
            )
        for name, a, shape in (("w", self.w[l], spec.w_shape), ("v", self.v[l], spec.v_shape(K, self.per_synapse)),
                               ("b", self.b[l], (spec.out_channels,))):
            if a.shape != shape:
                raise ConfigError(f"{name}[{l}] of conv layer {l} must have shape {shape}, got {a.shape}")
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
        conv: Sequence[Conv2d | None] | None = None,
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
        conv : sequence of (Conv2d or None), one per layer, optional
            Convolutional layers (their sizes must match ``n_in``, ``hidden``, ``n_out``; see
            :meth:`create_conv`); weights from :func:`sgevent.model.conv.init_conv_params`.

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
        conv_t = tuple(conv) if conv is not None else tuple([None] * n_layers)
        w, v, b = [], [], []
        for l in range(n_layers):
            g = 2.0 if l < n_layers - 1 else 1.0
            spec = conv_t[l] if l < len(conv_t) else None  # a wrong length is reported below
            wl, vl, bl = _init_layer(sizes[l], sizes[l + 1], spec, K, per_synapse, weight_gain, g, rng)
            w.append(wl)
            v.append(vl)
            b.append(bl)
        bias = tuple([bool(hidden_bias)] * len(hidden_t) + [bool(readout_bias)])
        return cls(
            n_in=int(n_in), hidden=hidden_t, n_out=int(n_out), taus=taus_t, w=w, v=v, b=b,
            hidden_params=hps, per_synapse=bool(per_synapse), bias=bias, h_in=float(h_in), conv=conv_t,
        )

    @classmethod
    def create_conv(
        cls,
        in_shape: Sequence[int],
        convs: Sequence[dict[str, Any]],
        n_out: int,
        dense: Sequence[int] = (),
        **kwargs: Any,
    ) -> "Network":
        """A convolutional network: ``in_shape`` ``(C, H, W)`` -> conv layers -> dense hidden
        layers -> a dense readout of ``n_out``.

        Parameters
        ----------
        in_shape : (C, H, W)
            Input map (DVS: polarity x height x width).
        convs : sequence of dict
            One per conv layer: ``out_channels``, ``kernel`` and optionally ``stride``,
            ``padding``, ``pool``, ``pool_mode`` (:class:`~sgevent.model.conv.Conv2d`); each
            reads the previous layer's map.
        n_out : int
            Readout units (dense, reading the last map flattened).
        dense : sequence of int
            Sizes of dense hidden layers between the last conv layer and the readout.
        **kwargs
            Everything else of :meth:`create`.
        """
        shape = tuple(int(a) for a in in_shape)
        specs, hidden = [], []
        for q, c in enumerate(convs):
            try:
                spec = Conv2d(in_shape=shape, **c)
            except TypeError as e:
                raise ConfigError(f"convs[{q}]: {e}") from None
            specs.append(spec)
            hidden.append(spec.n_post)
            shape = spec.out_shape
        hidden += [int(h) for h in dense]
        layers = specs + [None] * (len(dense) + 1)
        return cls.create(int(np.prod(in_shape)), hidden, n_out, conv=layers, **kwargs)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (arrays stay numpy arrays); inverse of :meth:`from_dict`."""
        return {
            "n_in": self.n_in, "hidden": list(self.hidden), "n_out": self.n_out,
            "taus": [t.copy() for t in self.taus],
            "w": [a.copy() for a in self.w], "v": [a.copy() for a in self.v], "b": [a.copy() for a in self.b],
            "hidden_params": [dataclasses.asdict(h) for h in self.hidden_params],
            "per_synapse": self.per_synapse, "bias": list(self.bias), "h_in": self.h_in,
            "conv": [None if c is None else c.to_dict() for c in self.conv],
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
                conv=tuple(None if c is None else Conv2d.from_dict(c) for c in d.get("conv") or ()),
            )
        except KeyError as e:
            raise ConfigError(f"network description is missing field {e}") from None

    def copy(self) -> "Network":
        """Deep copy (independent weight arrays)."""
        return Network.from_dict(self.to_dict())
