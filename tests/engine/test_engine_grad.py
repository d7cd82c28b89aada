"""Event-engine gradients: readout gradients equal finite differences; in grid mode the engine
and the clock reference give the same loss and gradients (1e-9 relative) for every loss,
backward option and bucket-weight mode, and the same weights after several updates."""

import numpy as np
import pytest

from sgevent import ConfigError, InputError, Network, simulate, simulate_reference
from sgevent.learn.spec import LearnSpec
from sgevent.train.optim import OptimConfig, make_optimizer


def _case(per_synapse, seed=0, hidden=(10,)):
    rng = np.random.default_rng(seed)
    net = Network.create(12, hidden, 4, n_buckets=4, seed=seed + 1, theta_0=0.05, weight_gain=2.0,
                         per_synapse=per_synapse, hidden_bias=True, m_f=0.3)
    t = rng.uniform(0, 0.1, 150)
    u = rng.integers(0, 12, 150)
    return net, t, u, rng


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("backward", ["instant", "steady"])
@pytest.mark.parametrize("loss", ["mean", "last", "max", "mse"])
def test_grid_gradients_equal_reference(per_synapse, backward, loss):
    net, t, u, rng = _case(per_synapse, hidden=(10, 8))
    spec = LearnSpec(loss=loss, backward=backward, learn_period=5e-3)
    target = rng.standard_normal((20, 4)) if loss == "mse" else None
    for dt in (1e-3, 1e-4):
        e = simulate(net, t, u, dt=dt, t_end=0.1, learn=spec, label=1, target=target)
        r = simulate_reference(net, t, u, dt=dt, t_end=0.1, learn=spec, label=1, target=target)
        assert sum(e.n_spikes) > 50
        assert e.loss == pytest.approx(r.loss, rel=1e-12)
        for ge, gr in zip(e.grads, r.grads):
            for key in ("w", "v", "b"):
                if np.abs(gr[key]).max() > 0:
                    assert _rel(ge[key], gr[key]) < 1e-9, (dt, key)
                else:
                    assert np.abs(ge[key]).max() == 0


@pytest.mark.parametrize("per_synapse", [False, True])
def test_continuous_readout_gradients_equal_finite_differences(per_synapse):
    # perturbing readout parameters cannot move any spike: the loss is smooth in them
    net, t, u, _ = _case(per_synapse)
    spec = LearnSpec(learn_period=5e-3)
    res = simulate(net, t, u, t_end=0.1, learn=spec, label=2)
    eps = 1e-6
    rng = np.random.default_rng(5)
    for key in ("w", "v", "b"):
        g = res.grads[-1][key]
        for idx in [tuple(rng.integers(0, s) for s in g.shape) for _ in range(6)]:
            plus, minus = net.copy(), net.copy()
            getattr(plus, key)[-1][idx] += eps
            getattr(minus, key)[-1][idx] -= eps
            lp = simulate(plus, t, u, t_end=0.1, learn=spec, label=2).loss
            lm = simulate(minus, t, u, t_end=0.1, learn=spec, label=2).loss
            fd = (lp - lm) / (2 * eps)
            assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-10), (key, idx)


def test_same_weights_after_several_updates_grid_vs_reference():
    net_e, t, u, rng = _case(False)
    net_r = net_e.copy()
    spec = LearnSpec(learn_period=5e-3)
    opts = []
    for net in (net_e, net_r):
        params = [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
        opts.append(make_optimizer(OptimConfig(name="sgd", lr=0.05), params))
    for step in range(5):
        y = int(rng.integers(0, 4))
        ge = simulate(net_e, t, u, dt=1e-3, t_end=0.1, learn=spec, label=y).grads
        gr = simulate_reference(net_r, t, u, dt=1e-3, t_end=0.1, learn=spec, label=y).grads
        opts[0].step([g[k] for g in ge for k in ("w", "v", "b")])
        opts[1].step([g[k] for g in gr for k in ("w", "v", "b")])
    for l in range(net_e.n_layers):
        for key in ("w", "v", "b"):
            a, b = getattr(net_e, key)[l], getattr(net_r, key)[l]
            assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())


def test_learning_errors():
    net, t, u, _ = _case(False)
    with pytest.raises(ConfigError, match="traces"):
        simulate(net, t, u, t_end=0.1, learn=LearnSpec(loss="max", backward="traces"), label=0)
    with pytest.raises(InputError, match="label"):
        simulate(net, t, u, t_end=0.1, learn=LearnSpec(), label=7)
    with pytest.raises(InputError, match="target"):
        simulate(net, t, u, t_end=0.1, learn=LearnSpec(loss="mse"), target=np.zeros((3, 4)))
    with pytest.raises(InputError, match="readout_times"):
        simulate(net, t, u, t_end=0.1, learn=LearnSpec(), label=0, readout_times=[0.05])


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_online_updates_within_a_sample_grid_equals_reference(per_synapse, momentum):
    # the online schedule: the optimiser runs every 4 learning events *inside* the sample; the
    # engine pauses, updates, re-aggregates its states and re-predicts every neuron. (SGD, not
    # Adam: Adam's first steps are lr * sign(g), which turns the 1e-17 rounding differences of
    # analytically-zero gradient entries into full steps; both sides share the optimiser code.)
    net_e, t, u, _ = _case(per_synapse, hidden=(10, 8))
    net_r = net_e.copy()
    w0 = net_e.copy()
    spec = LearnSpec(learn_period=5e-3)
    opts = []
    for net in (net_e, net_r):
        params = [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
        opts.append(make_optimizer(OptimConfig(name="sgd", lr=0.05, momentum=momentum), params))
    for dt in (1e-3, 1e-4):
        e = simulate(net_e, t, u, dt=dt, t_end=0.1, learn=spec, label=2, optimizer=opts[0], update_every=4)
        r = simulate_reference(net_r, t, u, dt=dt, t_end=0.1, learn=spec, label=2, optimizer=opts[1], update_every=4)
        assert e.stats["online_updates"] == 5  # 20 learning events / 4
        assert e.loss == pytest.approx(r.loss, rel=1e-9)
        for la, lb in zip(e.layers, r.layers):
            o = np.lexsort((la.neurons, la.times))
            assert np.array_equal(la.times[o], lb.times) and np.array_equal(la.neurons[o], lb.neurons)
        np.testing.assert_allclose(e.readout, r.readout, rtol=1e-9, atol=1e-12)
    for l in range(net_e.n_layers):
        for key in ("w", "v", "b"):
            a, b, a0 = getattr(net_e, key)[l], getattr(net_r, key)[l], getattr(w0, key)[l]
            assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())
            if net_e.bias[l] or key != "b":
                assert not np.array_equal(a, a0)  # the weights really moved


def test_online_needs_a_streaming_loss():
    net, t, u, _ = _case(False)
    params = [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
    opt = make_optimizer(OptimConfig(name="sgd", lr=0.1), params)
    with pytest.raises(ConfigError, match="mean"):
        simulate(net, t, u, t_end=0.1, learn=LearnSpec(loss="max"), label=0, optimizer=opt)
