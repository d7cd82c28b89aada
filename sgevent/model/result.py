"""The result of simulating one sample (event engine and clock reference share it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LayerSpikes", "SimulationResult"]


@dataclass(frozen=True)
class LayerSpikes:
    """Spike events of one hidden layer, in time order.

    A burst (several spikes of one neuron at one instant) is one event: ``counts`` says how many
    spikes it holds and ``heights`` their summed height (``sum spike_gain * theta``).

    Attributes
    ----------
    times : ndarray of float64, shape (n_events,)
        Event times in seconds (grid mode: ``n * dt``).
    neurons : ndarray of int64, shape (n_events,)
        Neuron index within the layer.
    heights : ndarray of float64, shape (n_events,)
        Total height delivered to the next layer.
    counts : ndarray of int64, shape (n_events,)
        Spikes in the event (1 unless a burst).
    """

    times: np.ndarray
    neurons: np.ndarray
    heights: np.ndarray
    counts: np.ndarray

    @property
    def n_spikes(self) -> int:
        """Total number of spikes (bursts counted spike by spike)."""
        return int(self.counts.sum())

    @property
    def n_events(self) -> int:
        """Number of delivered events (a burst is one event)."""
        return int(self.times.shape[0])


@dataclass(frozen=True)
class SimulationResult:
    """Output of :func:`sgevent.engine.simulate` / :func:`sgevent.simulate_reference`.

    Attributes
    ----------
    layers : list of LayerSpikes
        One entry per hidden layer.
    readout_times : ndarray of float64, shape (n_t,)
        The requested readout times (s), in the order given.
    readout : ndarray of float64, shape (n_t, n_out)
        Readout ``o(t)`` at those times.
    dt : float or None
        Grid step (s), or None for the continuous model.
    t_end : float
        End of the simulated window (s).
    stats : dict
        Operation counts (engine-specific; see the producing function).
    loss : float or None
        With ``learn=``: the sample's loss (DESIGN.md 3).
    grads : list of dict or None
        With ``learn=``: per layer (hidden layers, then readout) ``{"w": dL/dw, "v": dL/dv,
        "b": dL/db}``, same shapes as the network's arrays (``b`` is zero when unused).
    """

    layers: list[LayerSpikes]
    readout_times: np.ndarray
    readout: np.ndarray
    dt: float | None
    t_end: float
    stats: dict[str, Any] = field(default_factory=dict)
    loss: float | None = None
    grads: list[dict[str, Any]] | None = None

    @property
    def n_spikes(self) -> list[int]:
        """Spikes per hidden layer."""
        return [layer.n_spikes for layer in self.layers]
