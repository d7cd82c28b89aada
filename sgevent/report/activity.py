"""Activity of hidden layers in simulated samples: spikes, rates, silent neurons, activation sparsity.

Part of the metrics of DESIGN.md section 6 (:mod:`sgevent.report.metrics` gathers them per
sample and over samples). Everything is a pure function of a layer's events; nothing is
simulated again.

*Activity*, per hidden layer and sample: spikes (a burst of ``counts`` spikes counts
``counts`` times), spikes per neuron per second over the window, the fraction of neurons that
never spiked, and the activation sparsity at a reference step ``dt_ref`` (see
:func:`activation_sparsity`).

The activation sparsity is NeuroBench's (zero neuron outputs / all neuron outputs) of the
clock-driven equivalent at ``dt_ref``; :mod:`sgevent.report.energy` holds the other NeuroBench
columns.
"""

from __future__ import annotations

import numpy as np

from sgevent.model.events import STEP_TOL
from sgevent.model.result import LayerSpikes

__all__ = ["n_clock_steps", "activation_sparsity", "layer_activity"]


def n_clock_steps(window: float, dt: float) -> int:
    """Steps a clock-driven run of ``window`` seconds at step ``dt`` takes: ``floor(window/dt + 1e-9) + 1``.

    Steps ``n = 0 .. N``; step 0 holds only the instant t = 0 (as :func:`sgevent.simulate_reference`).
    """
    return int(np.floor(window / dt + STEP_TOL)) + 1


def activation_sparsity(times: np.ndarray, neurons: np.ndarray, n_neurons: int, window: float,
                        dt_ref: float = 1e-3) -> float:
    """Fraction of (neuron, step) pairs with no spike, at reference step ``dt_ref``.

    Parameters
    ----------
    times : ndarray of float64, shape (n_events,)
        Spike (event) times in seconds.
    neurons : ndarray of int, shape (n_events,)
        Neuron of each event, ``0 <= neuron < n_neurons``.
    n_neurons : int
        Neurons in the layer.
    window : float
        Sample window (s), >= 0.
    dt_ref : float
        Reference step (s), default 1 ms.

    Returns
    -------
    float
        In [0, 1]; 1 when nothing spiked.

    Notes
    -----
    The window is cut into the steps of a clock-driven run at ``dt_ref``: step ``n`` covers
    ``((n-1) dt_ref, n dt_ref]`` for ``n = 0 .. N``, ``N = floor(window / dt_ref + 1e-9)``, and a
    spike at ``t`` falls in step ``ceil(t / dt_ref - 1e-9)`` (clipped to ``N``), the convention of
    DESIGN.md 1.4. A neuron's output in a step is non-zero when it spiked at least once in it
    (a burst or several spikes count once):

        sparsity = 1 - #{(j, n) : j spiked in step n} / (n_neurons * (N + 1))

    This is NeuroBench's activation sparsity (zero outputs / all outputs) of the clock-driven
    equivalent; in grid mode with ``dt == dt_ref`` it equals it exactly.
    """
    n_steps = n_clock_steps(window, dt_ref)
    return 1.0 - _active_pairs(times, neurons, n_steps, dt_ref) / (n_neurons * n_steps)


def _active_pairs(times, neurons, n_steps: int, dt_ref: float) -> int:
    """Distinct (neuron, step) pairs holding a spike (see :func:`activation_sparsity`)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return 0
    step = np.clip(np.ceil(times / dt_ref - STEP_TOL), 0, n_steps - 1).astype(np.int64)
    return int(np.unique(np.asarray(neurons, dtype=np.int64) * n_steps + step).size)


def layer_activity(layer: LayerSpikes, n_neurons: int, window: float, dt_ref: float = 1e-3) -> dict[str, float]:
    """Activity of one hidden layer in one sample.

    Parameters
    ----------
    layer : LayerSpikes
        The layer's events (a burst is one event with ``counts`` spikes).
    n_neurons : int
        Neurons in the layer.
    window : float
        Sample window (s) the rate is taken over.
    dt_ref : float
        Reference step (s) of the activation sparsity.

    Returns
    -------
    dict
        ``spikes`` (bursts counted spike by spike), ``events`` (deliveries), ``rate_hz``
        (``spikes / (n_neurons * window)``, spikes per neuron per second; NaN for a zero
        window), ``silent_fraction`` (neurons without any spike / n_neurons) and
        ``activation_sparsity`` (:func:`activation_sparsity`), with its ``active_pairs`` and
        ``total_pairs`` (``n_neurons * n_steps``).
    """
    counts = np.asarray(layer.counts, dtype=np.int64)
    neurons = np.asarray(layer.neurons, dtype=np.int64)
    spikes = int(counts.sum())
    per_neuron = np.bincount(neurons[counts > 0], minlength=n_neurons)
    n_steps = n_clock_steps(window, dt_ref)
    active = _active_pairs(layer.times, neurons, n_steps, dt_ref)
    return {
        "spikes": spikes,
        "events": int(neurons.size),
        "rate_hz": spikes / (n_neurons * window) if window > 0 else float("nan"),
        "silent_fraction": float(np.mean(per_neuron == 0)),
        "activation_sparsity": 1.0 - active / (n_neurons * n_steps),
        "active_pairs": active,
        "total_pairs": n_neurons * n_steps,
    }
