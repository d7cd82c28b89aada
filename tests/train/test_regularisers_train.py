"""Regularisers in the trainer: hidden dropout (reg.hidden_dropout), the spike-rate penalty
(learn.rate_penalty) and the onset loss as configuration.

1. dropout masks: values 0 or 1/(1-p), seeded per sample, independent of the augmentation;
2. the masked copy's gradients mapped back are the gradients of the loss of the masked network
   as a function of the unmasked weights: the reference learner agrees with the engine (grid),
   and with central finite differences of the linearised model (``quantiser="identity"``,
   ``traces``, one hidden layer); a dropped neuron emits no spike and gets no gradient;
3. p = 0 changes nothing, bit for bit; masks of ones change nothing either;
4. the online schedule with dropout: engine and reference end with the same unmasked weights;
5. the trainer: dropout runs in both schedules, a resumed run is exact, evaluation never drops;
   the rate penalty lowers the hidden spike count (the knob moves it);
6. configuration errors name the field, its value and what is expected.
"""

import numpy as np
import pytest
from test_trainer import config, toy_data

from sgevent import Network, simulate, simulate_reference
from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec
from sgevent.train.batch import (
    MaskedOptimizer,
    batch_gradients,
    dropout_masks,
    masked_network,
    sample_masks,
    unmask_gradients,
)
from sgevent.train.config import RegConfig, TrainConfig
from sgevent.train.optim import OptimConfig, make_optimizer
from sgevent.train.rundir import RunDir
from sgevent.train.trainer import Trainer

PERIOD = 5e-3
T_END = 0.08


def _net(per_synapse=False, hidden=(10, 8), seed=1):
    return Network.create(12, hidden, 4, n_buckets=4, seed=seed, theta_0=0.05, weight_gain=2.0,
                          per_synapse=per_synapse, hidden_bias=True, m_f=0.3)


def _spikes(seed=0, n=150):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, T_END, n), rng.integers(0, 12, n)


def _half_masks(net):
    """Every other hidden neuron dropped, p = 0.5 (scale 2)."""
    return [np.where(np.arange(n) % 2 == 0, 2.0, 0.0) for n in net.hidden]


def _params(net):
    return [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]


# --------------------------------------------------------------------------- 1. masks
def test_masks_are_inverted_dropout_seeded_per_sample():
    net = _net(hidden=(400, 300))
    m = sample_masks(net, 0.3, seed=12345)
    assert [a.shape for a in m] == [(400,), (300,)]
    for a in m:
        assert set(np.unique(a)) == {0.0, 1.0 / 0.7}
        assert abs((a == 0).mean() - 0.3) < 0.1
    again = sample_masks(net, 0.3, seed=12345)
    assert all(np.array_equal(a, b) for a, b in zip(m, again))
    other = sample_masks(net, 0.3, seed=12346)
    assert not all(np.array_equal(a, b) for a, b in zip(m, other))
    # its own stream: the augmentation's generator (seeded by the sample seed alone) is not consumed
    assert not np.array_equal(np.random.default_rng(12345).random(400) >= 0.3, m[0] > 0)
    assert sample_masks(net, 0.0, seed=1) is None
    with pytest.raises(ConfigError, match=r"reg\.hidden_dropout"):
        dropout_masks(net, 1.0, np.random.default_rng(0))


# --------------------------------------------------------------------------- 2. gradients
@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("backward", ["instant", "traces"])
def test_masked_gradients_grid_engine_equal_reference(per_synapse, backward):
    net = _net(per_synapse)
    t, u = _spikes()
    masks = _half_masks(net)
    masked = masked_network(net, masks)
    spec = LearnSpec(backward=backward, learn_period=PERIOD, rate_penalty=0.1)
    e = simulate(masked, t, u, dt=1e-3, t_end=T_END, learn=spec, label=1)
    r = simulate_reference(masked, t, u, dt=1e-3, t_end=T_END, learn=spec, label=1)
    assert e.loss == pytest.approx(r.loss, rel=1e-12)
    ge, gr = unmask_gradients(e.grads, masks), unmask_gradients(r.grads, masks)
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            scale = np.abs(gr[l][key]).max()
            assert np.abs(ge[l][key] - gr[l][key]).max() <= 1e-9 * scale
    for l, layer in enumerate(e.layers):  # dropped neurons: no spike, no gradient of their row
        dropped = masks[l] == 0
        assert layer.n_events > 0 and not np.any(dropped[layer.neurons])
        assert np.all(ge[l]["w"][dropped] == 0) and np.all(ge[l]["b"][dropped] == 0)
        assert np.all(ge[l]["v"][dropped] == 0)


@pytest.mark.parametrize("per_synapse", [False, True])
def test_mapped_gradients_are_derivatives_of_the_masked_loss(per_synapse):
    # L(w) = loss of masked_network(w): in the linearised model with traces and one hidden layer
    # the mapped gradient is exact; eps = 1e-6 as in tests/reference/test_learner_traces.py
    net = Network.create(6, (6,), 3, n_buckets=3, seed=4, per_synapse=per_synapse, hidden_bias=True,
                         taus=[[4e-3, 9e-3, 20e-3], [3e-3, 7e-3, 15e-3]])
    rng = np.random.default_rng(9)
    net.b[0][:] = rng.choice([-1.0, 1.0], 6) * rng.uniform(0.05, 0.2, 6)
    t, u = rng.uniform(0, 0.06, 20), rng.integers(0, 6, 20)
    masks = [np.array([1.5, 0.0, 1.5, 1.5, 0.0, 1.5])]
    spec = LearnSpec(loss="onset", backward="traces", learn_period=PERIOD, rate_penalty=0.3)

    def loss(n):
        return simulate_reference(masked_network(n, masks), t, u, 1e-3, t_end=0.06, learn=spec, label=2,
                                  quantiser="identity")

    g = unmask_gradients(loss(net).grads, masks)
    eps = 1e-6
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            arr = getattr(net, key)[l]
            fd = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                keep = arr[idx]
                arr[idx] = keep + eps
                lp = loss(net).loss
                arr[idx] = keep - eps
                lm = loss(net).loss
                arr[idx] = keep
                fd[idx] = (lp - lm) / (2 * eps)
            scale = np.abs(fd).max()
            assert scale > 1e-4, (l, key)
            np.testing.assert_allclose(g[l][key], fd, rtol=1e-6, atol=1e-7 * scale, err_msg=f"layer {l} d/d{key}")


# --------------------------------------------------------------------------- 3. p = 0
def test_zero_dropout_and_masks_of_ones_change_nothing():
    data = toy_data(n=8)
    net = Network.create(12, (10,), 3, n_buckets=3, seed=2, theta_0=0.05, weight_gain=2.0)
    spec = LearnSpec(learn_period=PERIOD)
    kw = dict(dt=None, window=0.06, rng_seeds=list(range(8)))
    a = batch_gradients(net, data, range(8), spec, **kw)
    b = batch_gradients(net, data, range(8), spec, hidden_dropout=0.0, **kw)
    assert a.loss == b.loss and np.array_equal(a.hidden_spikes, b.hidden_spikes)
    for ga, gb in zip(a.grads, b.grads):
        for key in ga:
            assert np.array_equal(ga[key], gb[key])
    ones = [np.ones(n) for n in net.hidden]
    t, u = _spikes(n=80)
    r0 = simulate(net, t, u, t_end=T_END, learn=spec, label=1)
    r1 = simulate(masked_network(net, ones), t, u, t_end=T_END, learn=spec, label=1)
    assert r0.loss == r1.loss and np.array_equal(r0.readout, r1.readout)
    for ga, gb in zip(r0.grads, unmask_gradients(r1.grads, ones)):
        for key in ga:
            assert np.array_equal(ga[key], gb[key])


# --------------------------------------------------------------------------- 4. online
def test_online_dropout_grid_engine_equals_reference():
    net_e = _net()
    net_r = net_e.copy()
    w0 = net_e.copy()
    masks = _half_masks(net_e)
    t, u = _spikes()
    spec = LearnSpec(learn_period=PERIOD, rate_penalty=0.1)
    results = []
    for net, sim in ((net_e, simulate), (net_r, simulate_reference)):
        opt = make_optimizer(OptimConfig(name="sgd", lr=0.05), _params(net))
        masked = masked_network(net, masks)
        wrapped = MaskedOptimizer(opt, net, masked, masks)
        results.append(sim(masked, t, u, dt=1e-3, t_end=T_END, learn=spec, label=2, optimizer=wrapped,
                           update_every=4))
        # the masked copy follows the updated unmasked weights
        assert np.array_equal(masked.w[0], net.w[0] * masks[0][:, None])
    assert results[0].loss == pytest.approx(results[1].loss, rel=1e-9)
    for l in range(net_e.n_layers):
        for key in ("w", "v", "b"):
            a, b = getattr(net_e, key)[l], getattr(net_r, key)[l]
            assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(b).max())
    for l in range(len(net_e.hidden)):  # plain SGD: a dropped neuron's row and bias never move
        dropped = masks[l] == 0
        assert np.array_equal(net_e.w[l][dropped], w0.w[l][dropped])
        assert np.array_equal(net_e.b[l][dropped], w0.b[l][dropped])
        assert not np.array_equal(net_e.w[l][~dropped], w0.w[l][~dropped])


# --------------------------------------------------------------------------- 5. trainer
def _train(tmp_path, name, cfg, data, steps=None):
    run = RunDir.create(tmp_path, name, config=cfg.to_dict(), seed=cfg.seed)
    t = Trainer(cfg, data, run, progress=False)
    t.fit(stop_after_steps=steps)
    return t, run


def _weights(t):
    return [a.copy() for a in _params(t.net)]


@pytest.mark.parametrize("schedule", ["batch", "online"])
def test_trainer_with_dropout_resumes_exactly(tmp_path, schedule):
    data = toy_data(n=24)
    cfg = config(epochs=2, schedule=schedule, update_every=4, reg=RegConfig(hidden_dropout=0.3),
                 learn=LearnSpec(learn_period=PERIOD, rate_penalty=0.05))
    full, _ = _train(tmp_path, "full", cfg, data)
    plain, _ = _train(tmp_path, "plain", config(epochs=2, schedule=schedule, update_every=4,
                                                learn=LearnSpec(learn_period=PERIOD, rate_penalty=0.05)), data)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(full), _weights(plain)))
    part, run = _train(tmp_path, "part", cfg, data, steps=3)
    resumed = Trainer.resume(run, data, progress=False)
    resumed.fit()
    for a, b in zip(_weights(full), _weights(resumed)):
        assert np.array_equal(a, b)
    # evaluation never drops: the same network scores the same with or without dropout configured
    ev = [t._eval(t.val_idx, data, full.net) for t in (full, plain)]
    assert ev[0]["loss"] == ev[1]["loss"] and np.array_equal(ev[0]["predictions"], ev[1]["predictions"])


def test_rate_penalty_lowers_hidden_spikes(tmp_path):
    # the knob moves the spike count (train for 2 epochs on the toy set at lambda 0 and 1)
    data = toy_data(n=36)
    spikes = {}
    for lam in (0.0, 1.0):
        t, run = _train(tmp_path, f"lam{lam}", config(epochs=2, learn=LearnSpec(learn_period=PERIOD,
                                                                               rate_penalty=lam)), data)
        spikes[lam] = run.read_metrics()[-1]["train_hidden_spikes_per_sample"]
    assert spikes[1.0] < 0.8 * spikes[0.0]


def test_dropout_is_refused_on_dask_workers(tmp_path):
    cfg = config(reg=RegConfig(hidden_dropout=0.2))
    run = RunDir.create(tmp_path, "dask", config=cfg.to_dict(), seed=cfg.seed)
    with pytest.raises(ConfigError, match=r"reg\.hidden_dropout.*0\.2"):
        Trainer(cfg, toy_data(n=12), run, progress=False, backend=object())


# --------------------------------------------------------------------------- 6. configuration
def test_configuration_fields_are_validated_and_round_trip():
    for bad in (1.0, -0.1, float("nan"), "0.2", True, None):
        with pytest.raises(ConfigError, match=r"reg\.hidden_dropout") as err:
            RegConfig(hidden_dropout=bad)
        assert ">= 0 and < 1" in str(err.value)
    for bad in (-1.0, "x", False):
        with pytest.raises(ConfigError, match=r"learn\.rate_penalty"):
            TrainConfig.from_dict({"learn": {"rate_penalty": bad}})
    with pytest.raises(ConfigError, match=r"unknown reg option"):
        TrainConfig.from_dict({"reg": {"dropout": 0.1}})
    with pytest.raises(ConfigError, match=r"'online' needs the 'mean' or 'mse' loss, got 'onset'"):
        TrainConfig.from_dict({"schedule": "online", "learn": {"loss": "onset"}})
    d = {"reg": {"hidden_dropout": 0.25}, "learn": {"loss": "onset", "rate_penalty": 0.01}}
    cfg = TrainConfig.from_dict(d)
    assert cfg.reg.hidden_dropout == 0.25 and cfg.learn.loss == "onset" and cfg.learn.rate_penalty == 0.01
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    old = TrainConfig().to_dict()  # a run directory written before these options: the defaults (off)
    del old["reg"], old["learn"]["rate_penalty"]
    assert TrainConfig.from_dict(old) == TrainConfig()
    assert TrainConfig().reg.hidden_dropout == 0.0 and TrainConfig().learn.rate_penalty == 0.0
