"""The ``traces`` backward option in the event engine (:mod:`sgevent.learn.traces`).

The reference's traces are checked against finite differences of the linearised model and a
naive twin (``tests/reference/test_learner_traces.py``); here the engine must reproduce the reference
in grid mode (to rounding), converge to it as dt -> 0 in continuous mode, and keep the online
schedule's weights equal.
"""

from __future__ import annotations

import numpy as np
import pytest

from sgevent import Network
from sgevent.engine.simulate import simulate
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec
from sgevent.reference.clock import simulate_reference
from sgevent.train.optim import OptimConfig, make_optimizer

T = 0.2


def _case(seed: int, hidden=(5,), per_synapse=False, bias=False, K=4, n_spikes=60):
    rng = np.random.default_rng(seed)
    net = Network.create(6, list(hidden), 3, n_buckets=K, seed=seed, per_synapse=per_synapse, hidden_bias=bias)
    if bias:
        for l in range(len(hidden)):
            net.b[l][:] = rng.normal(0.0, 0.08, net.b[l].shape)  # some neurons start above threshold
    t = np.sort(rng.uniform(0.0, T, n_spikes))
    u = rng.integers(0, 6, n_spikes)
    return net, t, u, rng


def _max_rel(ga, gb):
    worst = 0.0
    for a, b in zip(ga, gb):
        for k in ("w", "v", "b"):
            scale = max(np.abs(b[k]).max(initial=0.0), 1e-12)
            worst = max(worst, np.abs(a[k] - b[k]).max(initial=0.0) / scale)
    return worst


@pytest.mark.parametrize("loss", ["mean", "last", "mse"])
@pytest.mark.parametrize("hidden,per_synapse,bias", [
    ((5,), False, False), ((5,), True, False), ((5,), False, True), ((5,), True, True), ((5, 4), False, True),
])
def test_grid_engine_equals_reference(loss, hidden, per_synapse, bias):
    net, t, u, rng = _case(len(hidden) * 10 + 2 * per_synapse + bias, hidden, per_synapse, bias)
    spec = LearnSpec(loss=loss, backward="traces", learn_period=2e-3)
    target = rng.normal(size=(int(T / 2e-3 + 1e-9), 3)) if loss == "mse" else None
    label = None if loss == "mse" else 1
    a = simulate(net, t, u, dt=1e-3, t_end=T, learn=spec, label=label, target=target)
    b = simulate_reference(net, t, u, 1e-3, t_end=T, learn=spec, label=label, target=target)
    assert a.stats["gate_switches"] > 5  # the gates do move
    assert abs(a.loss - b.loss) <= 1e-12 * max(1.0, abs(b.loss))
    assert _max_rel(a.grads, b.grads) <= 1e-9
    inst = simulate(net, t, u, dt=1e-3, t_end=T, learn=LearnSpec(loss=loss, learn_period=2e-3), label=label,
                    target=target)
    assert _max_rel(a.grads[:-1], inst.grads[:-1]) > 1e-3  # traces are not the instant rule


def test_reduces_to_instant_without_delayed_readout_buckets():
    net, t, u, _ = _case(3)
    net.v[1][:, 1:] = 0.0  # the readout reads bucket 0 only: g[k >= 1] = 0
    for dt in (1e-3, None):
        a = simulate(net, t, u, dt=dt, t_end=T, learn=LearnSpec(backward="traces"), label=2)
        b = simulate(net, t, u, dt=dt, t_end=T, learn=LearnSpec(backward="instant"), label=2)
        assert _max_rel(a.grads, b.grads) <= 1e-12


def test_continuous_engine_converges_to_the_grid_model():
    """Continuous traces vs the reference's grid traces: the gap shrinks like dt."""
    net, t, u, _ = _case(7, n_spikes=40)
    t_end = 0.1
    spec = LearnSpec(backward="traces", learn_period=5e-3)
    c = simulate(net, t, u, t_end=t_end, learn=spec, label=0)
    assert c.stats["gate_switches"] > 0
    gaps = []
    for dt in (1e-4, 1e-5):
        r = simulate(net, t, u, dt=dt, t_end=t_end, learn=spec, label=0)
        gaps.append(_max_rel(r.grads, c.grads))
    assert gaps[1] < 0.2 * gaps[0]
    assert gaps[1] < 1e-2


def test_online_traces_match_reference_weights():
    net_e, t, u, _ = _case(11, bias=True)
    net_r = net_e.copy()
    spec = LearnSpec(backward="traces", learn_period=2e-3)
    opts = []
    for net in (net_e, net_r):
        params = [getattr(net, k)[l] for l in range(net.n_layers) for k in ("w", "v", "b")]
        opts.append(make_optimizer(OptimConfig(name="sgd", lr=0.5), params))
    ra = simulate(net_e, t, u, dt=1e-3, t_end=T, learn=spec, label=1, optimizer=opts[0], update_every=7)
    rb = simulate_reference(net_r, t, u, 1e-3, t_end=T, learn=spec, label=1, optimizer=opts[1], update_every=7)
    assert ra.stats["online_updates"] > 5
    assert abs(ra.loss - rb.loss) <= 1e-9
    for l in range(net_e.n_layers):
        for key in ("w", "v", "b"):
            a, b = getattr(net_e, key)[l], getattr(net_r, key)[l]
            assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())


def test_biased_neurons_fire_before_the_first_input():
    """A hidden bias above threshold fires at t = 0 in both models (engine bug fixed with traces)."""
    net, _, _, _ = _case(5, bias=True)
    net.b[0][:] = [0.5, -0.2, 0.0, 0.15, 0.05]
    t, u = np.array([0.05]), np.array([0])
    for dt in (1e-3, None):
        r = simulate(net, t, u, dt=dt, t_end=0.1)
        assert r.layers[0].times.size > 0 and r.layers[0].times.min() == 0.0
    a = simulate(net, t, u, dt=1e-3, t_end=0.1)
    b = simulate_reference(net, t, u, 1e-3, t_end=0.1)
    # the same spike events (within one instant the engine lists forced spikes in heap order)
    ea = sorted(zip(a.layers[0].times, a.layers[0].neurons, a.layers[0].counts))
    eb = sorted(zip(b.layers[0].times, b.layers[0].neurons, b.layers[0].counts))
    assert ea == eb


def test_traces_with_max_loss_is_rejected():
    net, t, u, _ = _case(1)
    with pytest.raises(ConfigError, match="max"):
        simulate(net, t, u, t_end=T, learn=LearnSpec(loss="max", backward="traces"), label=0)
