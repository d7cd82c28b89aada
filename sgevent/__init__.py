"""sgevent: event-driven, continuous-time simulation and online training of SpikingGamma
spiking neural networks (NumPy + Numba).

Public API::

    net = sgevent.Network.create(n_in, hidden, n_out, n_buckets=8, seed=0)
    res = sgevent.simulate(net, times, units)                 # event engine, continuous time
    res = sgevent.simulate(net, times, units, dt=1e-4)        # event engine, grid model
    ref = sgevent.simulate_reference(net, times, units, dt=1e-4)  # clock-driven reference
"""

import sgevent._cache  # noqa: F401  (first: drops stale Numba caches after a change of the sources)
from sgevent.engine.simulate import simulate
from sgevent.errors import (
    BurstLimitError,
    ClusterError,
    ConfigError,
    DataError,
    EngineError,
    InputError,
    SgeventError,
    TrainingError,
)
from sgevent.model.network import HiddenParams, Network
from sgevent.model.result import LayerSpikes, SimulationResult
from sgevent.numerics.propagator import grid_propagator, propagator
from sgevent.reference.clock import simulate_reference

__version__ = "0.1.0"

__all__ = [
    "Network",
    "HiddenParams",
    "simulate",
    "simulate_reference",
    "propagator",
    "grid_propagator",
    "SimulationResult",
    "LayerSpikes",
    "SgeventError",
    "ConfigError",
    "InputError",
    "DataError",
    "BurstLimitError",
    "EngineError",
    "TrainingError",
    "ClusterError",
]
