"""Convolutional layers (DESIGN.md 1.5): geometry against a naive convolution, the engine's
sparse fan-out against the dense equivalent and the clock reference (spike for spike), conv
gradients against the reference and against finite differences of the linearised model, and
synaptic-operation counts against a hand-counted case."""

import sys
from pathlib import Path

import numpy as np
import pytest

from sgevent import ConfigError, LayerSpikes, Network, simulate, simulate_reference
from sgevent.learn.spec import LearnSpec
from sgevent.model.conv import Conv2d, dense_equivalent, entries
from sgevent.model.network import HiddenParams

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from naive import naive_conv_signal  # noqa: E402

SPECS = [
    dict(in_shape=(2, 7, 6), out_channels=3, kernel=3),
    dict(in_shape=(2, 9, 10), out_channels=3, kernel=3, stride=2, padding=1),
    dict(in_shape=(1, 8, 8), out_channels=2, kernel=2, pool=2),
    dict(in_shape=(3, 9, 7), out_channels=2, kernel=3, padding=2, pool=2, pool_mode="avg"),
]


@pytest.mark.parametrize("kw", SPECS)
def test_dense_equivalent_is_the_naive_convolution(kw):
    spec = Conv2d(**kw)
    rng = np.random.default_rng(0)
    K = 3
    w = rng.standard_normal(spec.w_shape)
    v = rng.standard_normal((spec.out_channels, K))
    b = rng.standard_normal(spec.out_channels)
    Y = rng.standard_normal((spec.n_pre, K))
    w_eff, v_eff, b_eff = dense_equivalent(spec, w, v, b, per_synapse=False)
    x = b_eff + np.einsum("jk,jk->j", v_eff, w_eff @ Y)
    np.testing.assert_allclose(x, naive_conv_signal(spec, w, v, b, Y), rtol=1e-12, atol=1e-12)
    # the entries are exactly the non-zero pairs of the dense equivalent, with their weights
    ent = entries(spec)
    W = np.zeros_like(w_eff)
    W[ent.post, ent.pre] = ent.coef * w.ravel()[ent.tap]
    np.testing.assert_array_equal(W, w_eff)
    assert ent.pre.size == np.count_nonzero(w_eff)
    assert np.all(np.diff(ent.pre) >= 0)
    np.testing.assert_array_equal(np.diff(ent.ptr), np.bincount(ent.pre, minlength=spec.n_pre))


def test_fan_out_hand_counted():
    # 1 x 4 x 4 map, 3 x 3 kernel, padding 1: a corner reaches 4 posts, an edge 6, the inside 9
    spec = Conv2d(in_shape=(1, 4, 4), out_channels=2, kernel=3, padding=1)
    fan = np.diff(entries(spec).ptr).reshape(4, 4)
    one = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])
    np.testing.assert_array_equal(fan, 2 * one)  # two output channels
    assert spec.out_shape == (2, 4, 4)
    # stride 2, no padding, kernel 2: every source reaches one position per output channel
    spec = Conv2d(in_shape=(3, 6, 6), out_channels=4, kernel=2, stride=2)
    np.testing.assert_array_equal(np.diff(entries(spec).ptr), np.full(108, 4))


@pytest.mark.parametrize("kw, match", [
    (dict(in_shape=(2, 4), out_channels=1, kernel=1), "in_shape"),
    (dict(in_shape=(2, 4, 4), out_channels=0, kernel=1), "out_channels"),
    (dict(in_shape=(2, 4, 4), out_channels=1, kernel=5), "does not fit"),
    (dict(in_shape=(2, 4, 4), out_channels=1, kernel=1, padding=-1), "padding"),
    (dict(in_shape=(2, 4, 4), out_channels=1, kernel=1, pool=5), "pool 5"),
    (dict(in_shape=(2, 4, 4), out_channels=1, kernel=1, pool_mode="max"), "pool_mode"),
])
def test_bad_conv_geometry_raises(kw, match):
    with pytest.raises(ConfigError, match=match):
        Conv2d(**kw)


def _conv_net(per_synapse, K=3, seed=2, **kw):
    return Network.create_conv(
        (2, 9, 10),
        [dict(out_channels=3, kernel=3, stride=2, padding=1), dict(out_channels=2, kernel=2, pool=2, pool_mode="avg")],
        4, n_buckets=K, per_synapse=per_synapse, theta_0=0.05, weight_gain=3.0, seed=seed, **kw)


def _inputs(net, n=400, t_max=0.1, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, t_max, n), rng.integers(0, net.n_in, n)


def test_network_checks_and_round_trip():
    net = _conv_net(False, hidden_bias=True)
    assert net.sizes == (180, 75, 2, 4)
    back = Network.from_dict(net.to_dict())
    assert back.conv == net.conv
    for a, b in zip(back.w + back.v, net.w + net.v):
        np.testing.assert_array_equal(a, b)
    d = net.to_dict()
    d["w"][0] = d["w"][0][:, :, :2]
    with pytest.raises(ConfigError, match=r"w\[0\] of conv layer 0 must have shape \(3, 2, 3, 3\)"):
        Network.from_dict(d)
    d = net.to_dict()
    d["hidden"] = [76, 2]
    with pytest.raises(ConfigError, match="makes a"):
        Network.from_dict(d)


def _by_time_neuron(la):
    o = np.lexsort((la.neurons, la.times))
    return LayerSpikes(la.times[o], la.neurons[o], la.heights[o], la.counts[o])


def _assert_same_spikes(a, b, sort=False, t_tol=0.0):
    for la, lb in zip(a.layers, b.layers):
        if sort:  # the engine records in emission order, the reference by (step, neuron)
            la, lb = _by_time_neuron(la), _by_time_neuron(lb)
        if t_tol:
            np.testing.assert_allclose(la.times, lb.times, rtol=0, atol=t_tol)
        else:
            np.testing.assert_array_equal(la.times, lb.times)
        np.testing.assert_array_equal(la.neurons, lb.neurons)
        np.testing.assert_array_equal(la.counts, lb.counts)
        np.testing.assert_allclose(la.heights, lb.heights, rtol=1e-12)


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("dt", [None, 1e-3])
@pytest.mark.parametrize("mode", ["lazy", "layer"])
def test_sparse_delivery_equals_the_dense_equivalent(per_synapse, dt, mode):
    """A conv layer's neurons are brought to the present one by one (lazily, when a spike
    reaches them or their prediction pops) and predicted to the end of the window; the dense
    equivalent brings the whole layer at every instant and predicts up to the next input. The
    same spikes, then, with times equal up to the rounding of composed propagators in
    continuous time (measured: 6e-14 s; TIME_TOL is 1e-9 s) and exactly on the grid."""
    net = _conv_net(per_synapse)
    t, u = _inputs(net)
    a = simulate(net, t, u, dt=dt, t_end=0.1, conv_mode=mode)
    b = simulate(net.as_dense(), t, u, dt=dt, t_end=0.1)
    assert sum(a.n_spikes) > 100 and a.n_spikes[1] >= 3
    assert a.n_spikes == b.n_spikes
    _assert_same_spikes(a, b, sort=True, t_tol=1e-9 if dt is None else 0.0)
    np.testing.assert_allclose(a.readout, b.readout, rtol=1e-9, atol=1e-12)
    # ... at the cost of the receptive fields only
    dense_ops, conv_ops = b.stats["synaptic_ops"], a.stats["synaptic_ops"]
    assert conv_ops[0] < dense_ops[0] / 5 and conv_ops[1] < dense_ops[1]
    assert conv_ops[2] == dense_ops[2]  # the dense readout


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("dt", [1e-3, 1e-4])
@pytest.mark.parametrize("mode", ["lazy", "layer"])
def test_grid_mode_equals_clock_reference(per_synapse, dt, mode):
    net = _conv_net(per_synapse, hidden_bias=True)
    net.b[0][:] = np.array([0.06, -0.02, 0.0])  # biased neurons fire before any input
    t, u = _inputs(net)
    t = t + 0.002
    e = simulate(net, t, u, dt=dt, t_end=0.1, conv_mode=mode)
    r = simulate_reference(net, t, u, dt=dt, t_end=0.1)
    assert sum(e.n_spikes) > 100
    _assert_same_spikes(e, r, sort=True)
    # the engine sums the propagated aggregates, the reference each source's buckets
    assert np.abs(e.readout - r.readout).max() <= 1e-9 * max(1.0, np.abs(r.readout).max())


def test_synaptic_ops_hand_counted():
    # input spikes at a corner (fan-out 4 per output channel), an edge (6) and the inside (9)
    spec = dict(out_channels=2, kernel=3, padding=1)
    net = Network.create_conv((1, 4, 4), [spec], 3, n_buckets=2, theta_0=1e3)  # silent hidden layer
    t = np.array([0.001, 0.002, 0.003, 0.003])
    u = np.array([0, 1, 5, 15])  # (0,0) corner, (0,1) edge, (1,1) inside, (3,3) corner
    res = simulate(net, t, u, t_end=0.01)
    assert res.stats["synaptic_ops"] == [2 * (4 + 6 + 9 + 4), 0]


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("backward", ["instant", "steady"])
@pytest.mark.parametrize("mode", ["lazy", "layer"])
def test_grid_gradients_equal_reference(per_synapse, backward, mode):
    net = _conv_net(per_synapse, hidden_bias=True)
    t, u = _inputs(net)
    spec = LearnSpec(loss="mean", backward=backward, learn_period=5e-3)
    e = simulate(net, t, u, dt=1e-3, t_end=0.1, learn=spec, label=1, conv_mode=mode)
    r = simulate_reference(net, t, u, dt=1e-3, t_end=0.1, learn=spec, label=1)
    assert e.loss == pytest.approx(r.loss, rel=1e-12)
    for l, (ge, gr) in enumerate(zip(e.grads, r.grads)):
        for key in ("w", "v", "b"):
            assert ge[key].shape == getattr(net, key)[l].shape
            assert np.abs(gr[key]).max() > 0, (l, key)
            assert _rel(ge[key], gr[key]) < 1e-9, (l, key)


def test_conv_gradients_equal_finite_differences_of_the_linearised_model():
    """K = 1, identity quantiser (``yhat0 = relu(x)``, no spikes): the loss is smooth in every
    parameter and ``instant`` is its exact gradient (every path goes through bucket 0), so the
    reference's conv gradients, reduced to the shared kernel, must equal central differences
    (central differences err by O(eps^2) on a loss of curvature O(1): rel 1e-6)."""
    taus = tuple(np.array([5e-3]) for _ in range(2))
    specs = (Conv2d(in_shape=(2, 6, 6), out_channels=3, kernel=3, stride=1, padding=1, pool=1), None)
    net0 = Network.create_conv((2, 6, 6), [dict(out_channels=3, kernel=3, padding=1)], 3, n_buckets=1, seed=4,
                               hidden_bias=True)
    rng = np.random.default_rng(9)
    b0 = rng.normal(0, 0.2, 3)
    net = Network(n_in=72, hidden=(108,), n_out=3, taus=taus, w=net0.w, v=net0.v, b=[b0, net0.b[1]],
                  hidden_params=(HiddenParams(theta_0=0.05),), bias=(True, True), conv=specs)
    t, u = _inputs(net, n=150, t_max=0.05, seed=3)
    spec = LearnSpec(loss="mean", backward="instant", learn_period=5e-3)

    def loss(n):
        return simulate_reference(n, t, u, 1e-3, t_end=0.05, learn=spec, label=2, quantiser="identity").loss

    g = simulate_reference(net, t, u, 1e-3, t_end=0.05, learn=spec, label=2, quantiser="identity").grads[0]
    eps = 1e-5
    for key in ("w", "v", "b"):
        arr = getattr(net, key)[0]
        for flat in np.argsort(-np.abs(g[key]).ravel())[:3]:
            idx = np.unravel_index(flat, arr.shape)
            plus, minus = net.copy(), net.copy()
            getattr(plus, key)[0][idx] += eps
            getattr(minus, key)[0][idx] -= eps
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            assert g[key][idx] == pytest.approx(fd, rel=1e-6), (key, idx)


def test_online_updates_lazy_equal_layer():
    """The online schedule pauses after a learning event, re-aggregates the conv layers from
    the sources with the new weights and re-predicts every neuron (lazily: to the lookahead).
    Both ways of advancing conv layers must end with the same weights (grid: the same spikes)."""
    from sgevent.train.optim import OptimConfig, make_optimizer
    spec = LearnSpec(loss="mean", learn_period=5e-3)
    nets = []
    for mode in ("lazy", "layer"):
        net = _conv_net(False)
        t, u = _inputs(net)
        params = [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]
        opt = make_optimizer(OptimConfig(name="sgd", lr=0.5), params)
        res = simulate(net, t, u, dt=1e-3, t_end=0.1, learn=spec, label=1, optimizer=opt, update_every=5,
                       conv_mode=mode)
        assert res.stats["online_updates"] == 4
        nets.append((net, res))
    (a, ra), (b, rb) = nets
    assert not np.array_equal(a.w[0], _conv_net(False).w[0])  # the weights moved
    assert ra.n_spikes == rb.n_spikes
    for l in range(a.n_layers):
        for key in ("w", "v", "b"):
            np.testing.assert_allclose(getattr(a, key)[l], getattr(b, key)[l], rtol=1e-9, atol=1e-12)


def test_bad_options_raise():
    net = _conv_net(False)
    t, u = _inputs(net, n=20)
    with pytest.raises(ConfigError, match="traces"):
        simulate(net, t, u, dt=1e-3, t_end=0.02, learn=LearnSpec(backward="traces", learn_period=5e-3), label=0)
    with pytest.raises(ConfigError, match="conv_mode"):
        simulate(net, t, u, conv_mode="fast")
    with pytest.raises(ConfigError, match="online schedule"):
        simulate_reference(net, t, u, 1e-3, t_end=0.02, learn=LearnSpec(learn_period=5e-3), label=0,
                           optimizer=object())


def test_operation_counts_and_energy_hand_counted():
    """Report counts for conv fan-out on a hand-counted case (1 x 4 x 4 map, 2 x 3 x 3 kernel,
    padding 1, K = 2): engine, report and the dense and conv clock-driven equivalents agree."""
    from sgevent.report.energy import connection_sparsity, dense_equivalent, effective_ops, parameter_count
    from sgevent.report.metrics import sample_metrics
    net = Network.create_conv((1, 4, 4), [dict(out_channels=2, kernel=3, padding=1)], 3, n_buckets=2, theta_0=1e3)
    net.w[0][1, 0, 1, 1] = 0.0  # one zero tap: channel 1 loses its centre weight
    t = np.array([0.001, 0.002, 0.003, 0.003])
    u = np.array([0, 1, 5, 15])  # corner, edge, inside, corner: 4 + 6 + 9 + 4 posts per channel
    res = simulate(net, t, u, t_end=0.01)
    m = sample_metrics(res, t, u, net, window=0.01)
    assert m["ops"]["synaptic_ops"] == [46, 0] == res.stats["synaptic_ops"]
    assert m["ops"]["acs"] == 46
    # each of the 4 events reaches its own position through the zero centre tap of channel 1
    assert effective_ops(res, u, net)["effective_acs"] == 46 - 4
    d = dense_equivalent(net, 0.01, 1e-3)
    # dense: 16 x 32 x 2 + 32 x 2 (layer 0), 32 x 3 x 2 + 3 x 2 (readout); conv: 100 pairs per
    # channel (16 corners' 4, 48 edges' 6... summed: 4*4 + 8*6 + 4*9 = 100)
    assert d["macs_per_step"] == [16 * 32 * 2 + 32 * 2, 32 * 3 * 2 + 3 * 2]
    assert d["conv_macs_per_step"] == [200 * 2 + 32 * 2, 32 * 3 * 2 + 3 * 2]
    assert d["conv_synaptic_macs"] == 11 * sum(d["conv_macs_per_step"])
    assert parameter_count(net) == 2 * 9 + 2 * 2 + 3 * 32 + 3 * 2 + 3  # w, v per channel; readout w, v, b
    assert connection_sparsity(net) == 1 / (18 + 96)
    assert m["energy"]["conv_clock"] < m["energy"]["dense"]
