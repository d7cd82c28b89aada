"""Convolutional layers: their description, their sparse connectivity and its gradients.

A :class:`Conv2d` layer reads a source with a spatial shape ``(C, H, W)`` (DVS input: ``C`` =
polarity) and holds post-neurons ``(C', H', W')`` (DESIGN.md 1.5). Indices are row-major:
source ``(c, y, x)`` is ``c*H*W + y*W + x``, post ``(c', y', x')`` is ``c'*H'*W' + y'*W' + x'``;
a dense layer after a conv layer reads the map flattened in that order.

Geometry (PyTorch's ``Conv2d``: a cross-correlation). With an optional pooling of the source
first (window and stride ``pool``, sum or average; rows and columns that do not fill a window
are dropped), the pooled map is ``(C, Hp, Wp) = (C, H // pool, W // pool)`` and::

    H' = (Hp + 2 padding - kernel) // stride + 1          (W' alike)
    post (c', y', x') reads pooled (c, y' stride - padding + ky, x' stride - padding + kx)
    pooled (c, py, px) sums source (c, py pool + a, px pool + b), a, b < pool   (avg: / pool^2)

so the effective weight of a (source, post) pair is ``coef * w[c', c, ky, kx]`` with
``coef = 1`` (sum) or ``1 / pool^2`` (average) for the one tap that connects them, and 0 for
pairs outside the receptive field. Pooling is therefore a fixed linear map folded into the
layer's weights, as DESIGN.md 1.5 asks.

Parameters of a conv layer ``l`` of a :class:`~sgevent.model.network.Network`: ``w[l]`` of
shape ``(C', C, k, k)`` (shared over positions), ``v[l]`` of shape ``(C', K)`` (per output
channel: the per-neuron option) or ``(C', C, k, k, K)`` (per tap: the per-synapse option) and
``b[l]`` of shape ``(C',)`` (one bias per output channel).

The connectivity is a list of *entries*, one per connected (source, post) pair, sorted by
source: ``pre``, ``post``, ``tap`` (flat index into ``w[l]``) and ``coef``. The engine delivers
a spike of source ``i`` to the entries ``ptr[i]:ptr[i+1]`` only (fan-out ``C' k^2`` at most,
times ``pool^2`` when pooled), the reference and the gradient checks use the dense equivalent
(:func:`dense_equivalent`), and gradients of the dense equivalent reduce to the shared
parameters by the chain rule (:func:`reduce_gradients`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sgevent.errors import ConfigError

__all__ = ["Conv2d", "Entries", "entries", "dense_equivalent", "reduce_gradients", "reduce_dense_gradients",
           "init_conv_params",
           "POOL_MODES"]

POOL_MODES = ("sum", "avg")


@dataclass(frozen=True)
class Conv2d:
    """A 2-D convolutional layer (geometry only; the weights live in the network).

    Attributes
    ----------
    in_shape : tuple of 3 int
        ``(C, H, W)`` of the source map.
    out_channels : int
        ``C'``.
    kernel : int
        Square kernel size ``k``.
    stride, padding : int
        As in PyTorch's ``Conv2d`` (zero padding).
    pool : int
        Window and stride of a pooling of the source before the convolution (1: none).
    pool_mode : str
        ``"sum"`` or ``"avg"``.
    """

    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    pool: int = 1
    pool_mode: str = "sum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape", tuple(int(a) for a in self.in_shape))
        self.validate()

    def validate(self, where: str = "conv layer") -> None:
        if len(self.in_shape) != 3 or min(self.in_shape) < 1:
            raise ConfigError(f"{where}: in_shape must be (C, H, W) with every size >= 1, got {self.in_shape}")
        for name in ("out_channels", "kernel", "stride", "pool"):
            val = getattr(self, name)
            if int(val) != val or val < 1:
                raise ConfigError(f"{where}: {name} must be an integer >= 1, got {val!r}")
        if int(self.padding) != self.padding or self.padding < 0:
            raise ConfigError(f"{where}: padding must be an integer >= 0, got {self.padding!r}")
        if self.pool_mode not in POOL_MODES:
            raise ConfigError(f"{where}: pool_mode must be one of {POOL_MODES}, got {self.pool_mode!r}")
        c, h, w = self.in_shape
        if h // self.pool < 1 or w // self.pool < 1:
            raise ConfigError(f"{where}: pool {self.pool} is larger than the map {h} x {w}")
        if min(self.out_shape) < 1:
            raise ConfigError(
                f"{where}: kernel {self.kernel} with padding {self.padding} does not fit the "
                f"(pooled) map {h // self.pool} x {w // self.pool}"
            )

    # ------------------------------------------------------------------ shapes
    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        """``(C, Hp, Wp)`` of the source after pooling."""
        c, h, w = self.in_shape
        return c, h // self.pool, w // self.pool

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(C', H', W')`` of the post-neurons."""
        _, hp, wp = self.pooled_shape
        k, s, p = self.kernel, self.stride, self.padding
        return self.out_channels, (hp + 2 * p - k) // s + 1, (wp + 2 * p - k) // s + 1

    @property
    def n_pre(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_post(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        """Shape of the shared kernel ``w``: ``(C', C, k, k)``."""
        return self.out_channels, self.in_shape[0], self.kernel, self.kernel

    @property
    def n_taps(self) -> int:
        return int(np.prod(self.w_shape))

    def v_shape(self, n_buckets: int, per_synapse: bool) -> tuple[int, ...]:
        """Shape of the bucket weights: per output channel or per tap."""
        return (*self.w_shape, n_buckets) if per_synapse else (self.out_channels, n_buckets)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "conv2d", "in_shape": list(self.in_shape), "out_channels": self.out_channels,
                "kernel": self.kernel, "stride": self.stride, "padding": self.padding, "pool": self.pool,
                "pool_mode": self.pool_mode}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Conv2d":
        if d.get("kind") != "conv2d":
            raise ConfigError(f"layer spec kind must be 'conv2d', got {d.get('kind')!r}")
        try:
            return cls(in_shape=tuple(d["in_shape"]), out_channels=int(d["out_channels"]), kernel=int(d["kernel"]),
                       stride=int(d["stride"]), padding=int(d["padding"]), pool=int(d["pool"]),
                       pool_mode=str(d["pool_mode"]))
        except KeyError as e:
            raise ConfigError(f"conv layer spec is missing field {e}") from None


class Entries(NamedTuple):
    """The connected (source, post) pairs of a conv layer, sorted by source then post."""

    pre: np.ndarray    # (nnz,) int64 source index
    post: np.ndarray   # (nnz,) int64 post index
    tap: np.ndarray    # (nnz,) int64 flat index into w (C', C, k, k)
    coef: np.ndarray   # (nnz,) float64 pooling factor
    ptr: np.ndarray    # (n_pre + 1,) int64: source i's entries are ptr[i]:ptr[i+1]
    chan: np.ndarray   # (nnz,) int64 output channel of the post


def entries(spec: Conv2d) -> Entries:
    """The connectivity of ``spec`` (module notes), vectorised over output positions.

    Returns
    -------
    Entries
    """
    c_in, h, w = spec.in_shape
    _, hp, wp = spec.pooled_shape
    c_out, ho, wo = spec.out_shape
    k, s, p, q = spec.kernel, spec.stride, spec.padding, spec.pool
    co, ci, ky, kx, oy, ox, a, b = np.meshgrid(
        np.arange(c_out), np.arange(c_in), np.arange(k), np.arange(k), np.arange(ho), np.arange(wo),
        np.arange(q), np.arange(q), indexing="ij")
    py = oy * s - p + ky
    px = ox * s - p + kx
    ok = (py >= 0) & (py < hp) & (px >= 0) & (px < wp)
    co, ci, ky, kx, oy, ox, a, b, py, px = (arr[ok] for arr in (co, ci, ky, kx, oy, ox, a, b, py, px))
    pre = (ci * h + py * q + a) * w + px * q + b
    post = (co * ho + oy) * wo + ox
    tap = ((co * c_in + ci) * k + ky) * k + kx
    order = np.lexsort((post, pre))
    pre, post, tap, co = pre[order], post[order], tap[order], co[order]
    coef = np.full(pre.shape[0], 1.0 if spec.pool_mode == "sum" else 1.0 / (q * q))
    ptr = np.zeros(spec.n_pre + 1, dtype=np.int64)
    np.add.at(ptr, pre + 1, 1)
    return Entries(pre=pre.astype(np.int64), post=post.astype(np.int64), tap=tap.astype(np.int64), coef=coef,
                   ptr=np.cumsum(ptr).astype(np.int64), chan=co.astype(np.int64))


def dense_equivalent(spec: Conv2d, w: np.ndarray, v: np.ndarray, b: np.ndarray, per_synapse: bool):
    """The dense layer a conv layer is: ``w_eff (n_post, n_pre)``, ``v_eff`` (``(n_post, K)`` or
    ``(n_post, n_pre, K)``) and ``b_eff (n_post,)``, by direct loops over output positions
    and taps (an implementation independent of :func:`entries`).

    Per-synapse pairs outside the receptive field get ``v_eff = 0`` (their ``w_eff`` is 0 too).
    """
    c_in, h, wd = spec.in_shape
    _, hp, wp = spec.pooled_shape
    c_out, ho, wo = spec.out_shape
    k, s, p, q = spec.kernel, spec.stride, spec.padding, spec.pool
    K = v.shape[-1]
    coef = 1.0 if spec.pool_mode == "sum" else 1.0 / (q * q)
    w_eff = np.zeros((spec.n_post, spec.n_pre))
    v_eff = np.zeros((spec.n_post, spec.n_pre, K)) if per_synapse else np.repeat(v, ho * wo, axis=0)
    for co, oy, ox, ci, ky, kx in itertools.product(range(c_out), range(ho), range(wo), range(c_in), range(k),
                                                    range(k)):
        py, px = oy * s - p + ky, ox * s - p + kx
        if not (0 <= py < hp and 0 <= px < wp):
            continue  # in the zero padding
        j = (co * ho + oy) * wo + ox
        for a, bb in itertools.product(range(q), range(q)):  # the pooling window
            i = (ci * h + py * q + a) * wd + px * q + bb
            w_eff[j, i] = coef * w[co, ci, ky, kx]
            if per_synapse:
                v_eff[j, i] = v[co, ci, ky, kx]
    return w_eff, v_eff, np.repeat(b, ho * wo)


def reduce_gradients(spec: Conv2d, ent: Entries, w: np.ndarray, v: np.ndarray, per_synapse: bool,
                     Ge: np.ndarray, db_post: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of the shared parameters from the per-entry accumulators.

    Parameters
    ----------
    Ge : ndarray, shape (K, nnz)
        ``Ge[k, e] = sum_events delta[post_e] Y[pre_e, k]`` (the dense ``G[k, post, pre]``
        restricted to the entries).
    db_post : ndarray, shape (n_post,)
        ``dL/db`` of every post-neuron.

    Returns
    -------
    dict with ``"w"``, ``"v"``, ``"b"`` shaped like the parameters.

    Notes
    -----
    With ``w_eff[e] = coef[e] w[tap[e]]`` and ``v_eff`` per output channel or per tap, the chain
    rule gives ``dw[t] = sum_{e: tap=t} coef[e] sum_k v_eff[e, k] Ge[k, e]``; per channel
    ``dv[c', k] = sum_{e: chan=c'} coef[e] w[tap[e]] Ge[k, e]``; per tap
    ``dv[t, k] = sum_{e: tap=t} coef[e] w[tap[e]] Ge[k, e]``; ``db[c'] = sum_{post in c'} db_post``.
    """
    K = Ge.shape[0]
    w_e = ent.coef * w.ravel()[ent.tap]                                 # (nnz,)
    v_e = v.reshape(-1, K)[ent.tap] if per_synapse else v[ent.chan]     # (nnz, K)
    gw_e = ent.coef * np.einsum("ek,ke->e", v_e, Ge)
    dw = np.bincount(ent.tap, weights=gw_e, minlength=spec.n_taps).reshape(spec.w_shape)
    gv_e = w_e[None, :] * Ge                                             # (K, nnz)
    group = ent.tap if per_synapse else ent.chan
    n_groups = spec.n_taps if per_synapse else spec.out_channels
    dv = np.stack([np.bincount(group, weights=gv_e[kk], minlength=n_groups) for kk in range(K)], axis=1)
    _, ho, wo = spec.out_shape
    db = db_post.reshape(spec.out_channels, ho * wo).sum(axis=1)
    return {"w": dw.reshape(spec.w_shape), "v": dv.reshape(v.shape), "b": db}


def reduce_dense_gradients(spec: Conv2d, ent: Entries, per_synapse: bool, g: dict[str, np.ndarray]) -> dict:
    """Gradients of the shared parameters from those of the dense equivalent
    (:func:`dense_equivalent`): ``g`` holds ``"w"`` ``(n_post, n_pre)``, ``"v"`` and ``"b"``
    ``(n_post,)``.

    Notes
    -----
    ``dw[t] = sum_{e: tap=t} coef[e] gw[post_e, pre_e]``; per channel
    ``dv[c'] = sum_{j in c'} gv[j]``, per tap ``dv[t] = sum_{e: tap=t} gv[post_e, pre_e]``;
    ``db[c'] = sum_{j in c'} gb[j]``.
    """
    c_out, ho, wo = spec.out_shape
    dw = np.bincount(ent.tap, weights=ent.coef * g["w"][ent.post, ent.pre], minlength=spec.n_taps)
    gv = g["v"]
    K = gv.shape[-1]
    if per_synapse:
        ve = gv[ent.post, ent.pre]  # (nnz, K)
        dv = np.stack([np.bincount(ent.tap, weights=ve[:, k], minlength=spec.n_taps) for k in range(K)], axis=1)
        dv = dv.reshape(*spec.w_shape, K)
    else:
        dv = gv.reshape(c_out, ho * wo, K).sum(axis=1)
    return {"w": dw.reshape(spec.w_shape), "v": dv, "b": g["b"].reshape(c_out, ho * wo).sum(axis=1)}


def init_conv_params(spec: Conv2d, n_buckets: int, per_synapse: bool, gain: float, rng: np.random.Generator):
    """Initial ``w ~ N(0, gain^2 / fan_in)`` with ``fan_in = C k^2`` (times ``pool^2`` for a
    sum pooling), bucket weights ``1/K + N(0, (0.5/K)^2)`` and zero biases."""
    c_in = spec.in_shape[0]
    fan_in = c_in * spec.kernel ** 2 * (spec.pool ** 2 if spec.pool_mode == "sum" else 1)
    w = rng.normal(0.0, gain / np.sqrt(fan_in), size=spec.w_shape)
    K = int(n_buckets)
    v = 1.0 / K + rng.normal(0.0, 0.5 / K, size=spec.v_shape(K, per_synapse))
    return w, v, np.zeros(spec.out_channels)
