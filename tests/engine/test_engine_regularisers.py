"""The ``onset`` loss and the spike-rate penalty in the event engine (sgevent.learn.spec).

1. grid mode: the engine and the clock reference give the same loss and gradients (the
   tolerances of tests/engine/test_engine_grad.py) for every loss that takes a penalty, every
   backward option, both bucket-weight layouts, one and two hidden layers;
2. what the penalty is: it leaves the spikes, the readout and the readout's gradients exactly as
   they are, moves every hidden gradient, and adds ``lambda / (E' N_h) sum relu(x)`` to the loss;
3. what the onset is: the loss is the mean cross-entropy over the events from the first input
   spike (continuous and grid), all events for a sample without input; readout gradients equal
   finite differences in continuous time;
4. errors: ``max`` refuses a penalty; online refuses ``onset``.
"""

import numpy as np
import pytest
from naive import naive_traces_run

from sgevent import ConfigError, Network, simulate, simulate_reference
from sgevent.learn.spec import LearnSpec, first_loss_event, learning_times, loss_and_output_error
from sgevent.train.optim import OptimConfig, make_optimizer

T_END = 0.1
PERIOD = 5e-3
T_FIRST = 0.031  # the inputs' onset: events 0..4 (5..25 ms) come before it


def _case(per_synapse=False, hidden=(10, 8), seed=0, t0=T_FIRST):
    rng = np.random.default_rng(seed)
    net = Network.create(12, hidden, 4, n_buckets=4, seed=seed + 1, theta_0=0.05, weight_gain=2.0,
                         per_synapse=per_synapse, hidden_bias=True, m_f=0.3)
    t = np.concatenate([[t0], rng.uniform(t0, T_END, 149)])
    u = rng.integers(0, 12, 150)
    return net, t, u, rng


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _assert_same_grads(ge_all, gr_all):
    for ge, gr in zip(ge_all, gr_all):
        for key in ("w", "v", "b"):
            if np.abs(gr[key]).max() > 0:
                assert _rel(ge[key], gr[key]) < 1e-9, key
            else:
                assert np.abs(ge[key]).max() == 0


CASES = [(loss, backward, False, (10, 8)) for loss in ("mean", "last", "mse", "onset")
         for backward in ("instant", "steady", "traces")]
CASES += [("onset", "instant", True, (10, 8)), ("mean", "traces", True, (10,)), ("onset", "traces", True, (10,)),
          ("mse", "steady", True, (10, 8))]


@pytest.mark.parametrize("loss,backward,per_synapse,hidden", CASES)
def test_grid_engine_equals_reference_with_the_penalty(loss, backward, per_synapse, hidden):
    net, t, u, rng = _case(per_synapse, hidden)
    target = rng.standard_normal((20, 4)) if loss == "mse" else None
    spec = LearnSpec(loss=loss, backward=backward, learn_period=PERIOD, rate_penalty=0.3)
    e = simulate(net, t, u, dt=1e-3, t_end=T_END, learn=spec, label=1, target=target)
    r = simulate_reference(net, t, u, dt=1e-3, t_end=T_END, learn=spec, label=1, target=target)
    assert sum(e.n_spikes) > 50
    assert e.loss == pytest.approx(r.loss, rel=1e-12)
    _assert_same_grads(e.grads, r.grads)


@pytest.mark.parametrize("dt", [None, 1e-3])
@pytest.mark.parametrize("loss", ["mean", "onset", "last"])
def test_the_penalty_moves_hidden_gradients_only_and_adds_the_mean_signal(loss, dt):
    net, t, u, _ = _case(hidden=(10, 8))
    lam = 0.3
    base = simulate(net, t, u, dt=dt, t_end=T_END, learn=LearnSpec(loss=loss, learn_period=PERIOD), label=1)
    pen = simulate(net, t, u, dt=dt, t_end=T_END, learn=LearnSpec(loss=loss, learn_period=PERIOD,
                                                                 rate_penalty=lam), label=1)
    for a, b in zip(base.layers, pen.layers):  # the forward pass does not see the penalty
        assert np.array_equal(a.times, b.times) and np.array_equal(a.neurons, b.neurons)
    assert np.array_equal(base.readout, pen.readout)
    for key in ("w", "v", "b"):
        assert np.array_equal(base.grads[-1][key], pen.grads[-1][key])
        for l in range(len(net.hidden)):
            if key != "b" or net.bias[l]:
                assert not np.allclose(base.grads[l][key], pen.grads[l][key])
    if dt is None:
        return
    # the penalty's value from the hidden signals x at the scored events, by the scalar-loop twin
    times = learning_times(T_END, PERIOD)
    e0 = {"mean": 0, "last": len(times) - 1, "onset": int(np.searchsorted(times, T_FIRST))}[loss]
    _, _, info = naive_traces_run(net, t, u, dt, T_END, PERIOD, "mean", 1)
    steps = np.floor(times[e0:] / dt + 1e-9).astype(int)
    xs = np.concatenate([x[steps] for x in info["x"]], axis=1)
    expected = lam * np.maximum(xs, 0.0).sum() / ((len(times) - e0) * sum(net.hidden))
    assert pen.loss - base.loss == pytest.approx(expected, rel=1e-9)


def test_onset_loss_is_the_mean_from_the_first_input_spike():
    net, t, u, _ = _case(hidden=(10,))
    times = learning_times(T_END, PERIOD)
    e0 = int(np.searchsorted(times, T_FIRST))
    assert e0 == 6  # 5, 10, .., 30 ms come before the onset at 31 ms
    for dt in (None, 1e-3):
        r = simulate(net, t, u, dt=dt, t_end=T_END, learn=LearnSpec(loss="onset", learn_period=PERIOD), label=2)
        want, _ = loss_and_output_error(r.readout, "onset", label=2, e_first=e0)
        assert r.loss == pytest.approx(want, rel=1e-12)
        ce = -np.log(np.exp(r.readout[e0:, 2]) / np.exp(r.readout[e0:]).sum(axis=1))
        assert r.loss == pytest.approx(ce.mean(), rel=1e-12)
        full = simulate(net, t, u, dt=dt, t_end=T_END, learn=LearnSpec(loss="mean", learn_period=PERIOD), label=2)
        assert r.loss != pytest.approx(full.loss, rel=1e-3)


def test_onset_reads_the_first_inputs_step_in_grid_mode():
    # grid: an event belongs to the onset from the step of the first input spike on
    steps = np.array([5.0, 10.0, 15.0])
    assert first_loss_event("onset", steps, 10.0) == 1
    assert first_loss_event("onset", steps, 10.5) == 2
    assert first_loss_event("onset", steps, 16.0) == 0  # after the last event: no onset, all events
    assert first_loss_event("onset", steps, None) == 0
    assert first_loss_event("last", steps, 10.0) == 2
    assert first_loss_event("mean", steps, 10.0) == 0


@pytest.mark.parametrize("dt", [None, 1e-3])
def test_a_sample_without_onset_takes_every_event(dt):
    net, _, _, _ = _case(hidden=(10,))
    net.b[0][:] = 0.3  # the biased hidden layer fires without input
    t_end = 0.102  # events at 5 .. 100 ms: a spike at 101 ms is after the last one
    for t, u in ((np.zeros(0), np.zeros(0, dtype=int)), (np.array([0.101]), np.array([3]))):
        run = {k: dict(dt=dt, t_end=t_end, learn=LearnSpec(loss=k, learn_period=PERIOD, rate_penalty=0.1), label=0)
               for k in ("onset", "mean")}
        a, b = simulate(net, t, u, **run["onset"]), simulate(net, t, u, **run["mean"])
        assert sum(a.n_spikes) > 0
        assert a.loss == b.loss
        for ga, gb in zip(a.grads, b.grads):
            for key in ("w", "v", "b"):
                assert np.array_equal(ga[key], gb[key])
        if dt is not None:
            r = simulate_reference(net, t, u, **run["onset"])
            assert a.loss == pytest.approx(r.loss, rel=1e-12)
            _assert_same_grads(a.grads, r.grads)


@pytest.mark.parametrize("per_synapse", [False, True])
def test_continuous_onset_readout_gradients_equal_finite_differences(per_synapse):
    # perturbing readout parameters cannot move any spike: the loss (penalty included) is smooth in them
    net, t, u, _ = _case(per_synapse, hidden=(10,))
    spec = LearnSpec(loss="onset", learn_period=PERIOD, rate_penalty=0.2)
    res = simulate(net, t, u, t_end=T_END, learn=spec, label=2)
    eps = 1e-6
    rng = np.random.default_rng(5)
    for key in ("w", "v", "b"):
        g = res.grads[-1][key]
        for idx in [tuple(rng.integers(0, s) for s in g.shape) for _ in range(5)]:
            plus, minus = net.copy(), net.copy()
            getattr(plus, key)[-1][idx] += eps
            getattr(minus, key)[-1][idx] -= eps
            fd = (simulate(plus, t, u, t_end=T_END, learn=spec, label=2).loss
                  - simulate(minus, t, u, t_end=T_END, learn=spec, label=2).loss) / (2 * eps)
            assert g[idx] == pytest.approx(fd, rel=1e-6, abs=1e-10), (key, idx)


def test_online_updates_with_the_penalty_grid_equals_reference():
    net_e, t, u, _ = _case(hidden=(10, 8))
    net_r = net_e.copy()
    spec = LearnSpec(learn_period=PERIOD, rate_penalty=0.5)
    opts = [make_optimizer(OptimConfig(name="sgd", lr=0.05), [a for l in range(n.n_layers)
                                                               for a in (n.w[l], n.v[l], n.b[l])])
            for n in (net_e, net_r)]
    e = simulate(net_e, t, u, dt=1e-3, t_end=T_END, learn=spec, label=2, optimizer=opts[0], update_every=4)
    r = simulate_reference(net_r, t, u, dt=1e-3, t_end=T_END, learn=spec, label=2, optimizer=opts[1], update_every=4)
    assert e.loss == pytest.approx(r.loss, rel=1e-9)
    for l in range(net_e.n_layers):
        for key in ("w", "v", "b"):
            a, b = getattr(net_e, key)[l], getattr(net_r, key)[l]
            assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())


def test_errors():
    net, t, u, _ = _case(hidden=(10,))
    with pytest.raises(ConfigError, match=r"learn\.rate_penalty.*'max'"):
        LearnSpec(loss="max", rate_penalty=0.1)
    for bad in (-0.1, float("nan"), "1", True):
        with pytest.raises(ConfigError, match=r"learn\.rate_penalty"):
            LearnSpec(rate_penalty=bad)
    assert LearnSpec(loss="max", rate_penalty=0).rate_penalty == 0.0
    opt = make_optimizer(OptimConfig(name="sgd", lr=0.1), [a for l in range(net.n_layers)
                                                            for a in (net.w[l], net.v[l], net.b[l])])
    with pytest.raises(ConfigError, match="mean"):
        simulate(net, t, u, t_end=T_END, learn=LearnSpec(loss="onset"), label=0, optimizer=opt)
    with pytest.raises(ConfigError, match="mean"):
        simulate_reference(net, t, u, dt=1e-3, t_end=T_END, learn=LearnSpec(loss="onset"), label=0, optimizer=opt)
