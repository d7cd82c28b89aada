"""Hand-made spike sets and a small network shared by the tests of :mod:`sgevent.report`."""

import numpy as np

from sgevent import Network
from sgevent.model.result import LayerSpikes, SimulationResult


def _layer(times, neurons, counts, heights=None):
    counts = np.asarray(counts, dtype=np.int64)
    return LayerSpikes(
        times=np.asarray(times, dtype=np.float64), neurons=np.asarray(neurons, dtype=np.int64),
        heights=0.2 * counts.astype(float) if heights is None else np.asarray(heights, dtype=np.float64),
        counts=counts,
    )


def _result(layers, t_end, updates, dt=None):
    return SimulationResult(
        layers=layers, readout_times=np.zeros(0), readout=np.zeros((0, 2)), dt=dt, t_end=t_end,
        stats={"state_updates": list(updates)},
    )


def _net(per_synapse=False):
    """3 inputs -> 4 -> 2 hidden -> 2 readout, K = 3, with three zero weights."""
    net = Network.create(3, [4, 2], 2, n_buckets=3, seed=0, per_synapse=per_synapse)
    w = [a.copy() for a in net.w]
    w[0][2, 1] = 0.0  # input 1 reaches 3 of 4 neurons
    w[1][0, 0] = 0.0  # hidden-0 neuron 0 reaches 1 of 2 neurons
    w[2][1, 1] = 0.0  # hidden-1 neuron 1 reaches 1 of 2 readout units
    d = net.to_dict()
    d["w"] = w
    return Network.from_dict(d)


# Hand spike set, window 10 ms, reference step 1 ms -> steps 0..10 (11 steps).
# Hidden 0 (4 neurons): neuron 0 at 0.5 ms (1 spike) and 0.8 ms (burst of 3), both in step 1;
# neuron 2 at 2 ms (burst of 2, step 2); neuron 0 at 9.5 ms (step 10). Neurons 1, 3 silent.
# Hidden 1 (2 neurons): neuron 1 at 2 ms (step 2) and at 10 ms (burst of 2, step 10).
H0 = _layer([0.0005, 0.0008, 0.002, 0.0095], [0, 0, 2, 0], [1, 3, 2, 1])
H1 = _layer([0.002, 0.01], [1, 1], [1, 2])
IN_T = np.array([0.0, 0.001, 0.003, 0.012])  # the last one is after t_end: not delivered
IN_U = np.array([0, 1, 1, 2])
