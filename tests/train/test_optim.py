"""Optimisers: hand-computed updates, a naive Adam twin, clipping, schedules, resume, errors."""

import math

import numpy as np
import pytest

from sgevent.errors import ConfigError, DataError, TrainingError
from sgevent.train.optim import SGD, Adam, OptimConfig, make_optimizer


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 4)), rng.normal(size=(5,)), rng.normal(size=(2, 3, 2))]


def _grads(rng, params):
    return [rng.normal(size=p.shape) for p in params]


def naive_adamw(params, grad_seq, lr_seq, b1, b2, eps, wd):
    """Textbook AdamW, one scalar at a time (loops, no in-place tricks)."""
    out = []
    for k, p0 in enumerate(params):
        flat = p0.ravel().tolist()
        m = [0.0] * len(flat)
        v = [0.0] * len(flat)
        for t, (grads, lr) in enumerate(zip(grad_seq, lr_seq), start=1):
            g = grads[k].ravel().tolist()
            for j in range(len(flat)):
                flat[j] = flat[j] - lr * wd * flat[j]
                m[j] = b1 * m[j] + (1 - b1) * g[j]
                v[j] = b2 * v[j] + (1 - b2) * g[j] ** 2
                mhat = m[j] / (1 - b1**t)
                vhat = v[j] / (1 - b2**t)
                flat[j] = flat[j] - lr * mhat / (math.sqrt(vhat) + eps)
        out.append(np.array(flat).reshape(p0.shape))
    return out


def test_sgd_plain_step_equals_hand_computation():
    p = [np.array([1.0, -2.0]), np.array([[0.5]])]
    g = [np.array([0.1, 0.2]), np.array([[-1.0]])]
    opt = make_optimizer(OptimConfig(name="sgd", lr=0.5), p)
    assert isinstance(opt, SGD)
    info = opt.step(g)
    np.testing.assert_array_equal(p[0], [1.0 - 0.05, -2.0 - 0.1])
    np.testing.assert_array_equal(p[1], [[0.5 + 0.5]])
    assert info["lr"] == 0.5 and info["step"] == 1
    assert info["grad_norm"] == pytest.approx(math.sqrt(0.01 + 0.04 + 1.0), rel=1e-15)


def test_sgd_momentum_and_l2_equal_hand_computation():
    p = [np.array([1.0, 2.0])]
    cfg = OptimConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.01)
    opt = make_optimizer(cfg, p)
    g1, g2 = np.array([0.5, -1.0]), np.array([0.25, 0.0])
    # step 1: d = g + wd p; b = d; p -= lr b
    p1 = np.array([1.0, 2.0])
    b = g1 + 0.01 * p1
    p1 = p1 - 0.1 * b
    opt.step([g1])
    np.testing.assert_allclose(p[0], p1, rtol=0, atol=1e-15)  # same operations, rounding only
    # step 2: b = mu b + (g + wd p)
    b = 0.9 * b + (g2 + 0.01 * p1)
    p1 = p1 - 0.1 * b
    opt.step([g2])
    np.testing.assert_allclose(p[0], p1, rtol=0, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_equals_naive_reimplementation(wd):
    params = _params(1)
    start = [p.copy() for p in params]
    cfg = OptimConfig(name="adam", lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd,
                      schedule="step", step_size=2, gamma=0.5)
    opt = make_optimizer(cfg, params)
    assert isinstance(opt, Adam)
    rng = np.random.default_rng(7)
    grad_seq = [_grads(rng, params) for _ in range(6)]
    lrs = []
    for grads in grad_seq:
        lrs.append(opt.step(grads)["lr"])
    assert lrs == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]
    want = naive_adamw(start, grad_seq, lrs, 0.8, 0.95, 1e-6, wd)
    for got, exp in zip(params, want):
        # vectorised vs scalar evaluation order differ by a few ulps per step
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-14)


def test_params_are_updated_in_place():
    params = _params()
    ids = [id(p) for p in params]
    opt = make_optimizer(OptimConfig(), params)
    opt.step(_grads(np.random.default_rng(0), params))
    assert [id(p) for p in opt.params] == ids


def test_clipping_scales_global_norm_to_clip_norm_exactly():
    params = [np.zeros(3), np.zeros((2, 2))]
    g = [np.array([3.0, 0.0, 4.0]), np.array([[0.0, 12.0], [0.0, 0.0]])]  # norm 13
    opt = make_optimizer(OptimConfig(name="sgd", lr=1.0, clip_norm=2.6), params)
    info = opt.step(g)
    assert info["grad_norm"] == pytest.approx(13.0, rel=1e-15)
    assert info["clip_scale"] == pytest.approx(0.2, rel=1e-15)
    applied = np.sqrt(sum(float(np.sum(p * p)) for p in params))  # lr = 1: update = -clipped grad
    assert applied == pytest.approx(2.6, rel=1e-14)
    np.testing.assert_allclose(params[0], [-0.6, 0.0, -0.8], rtol=1e-14)
    # below the threshold nothing is scaled
    params2 = [np.zeros(3)]
    info = make_optimizer(OptimConfig(name="sgd", lr=1.0, clip_norm=10.0), params2).step([np.array([3.0, 0.0, 4.0])])
    assert info["clip_scale"] == 1.0
    np.testing.assert_array_equal(params2[0], [-3.0, 0.0, -4.0])


def test_schedules_values_at_given_steps():
    c = OptimConfig(lr=1.0)
    assert [c.lr_at(s) for s in (0, 5, 10**6)] == [1.0, 1.0, 1.0]
    w = OptimConfig(lr=2.0, warmup_steps=4)
    assert [w.lr_at(s) for s in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    cos = OptimConfig(lr=1.0, schedule="cosine", warmup_steps=2, total_steps=12)
    assert cos.lr_at(0) == 0.5 and cos.lr_at(1) == 1.0
    assert cos.lr_at(2) == 1.0                      # start of the cosine
    assert cos.lr_at(7) == pytest.approx(0.5, abs=1e-15)   # half-way: (1 + cos(pi/2)) / 2
    assert cos.lr_at(12) == pytest.approx(0.0, abs=1e-15)
    assert cos.lr_at(100) == pytest.approx(0.0, abs=1e-15)
    assert cos.lr_at(4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.2)), rel=1e-15)
    st = OptimConfig(lr=1.0, schedule="step", step_size=3, gamma=0.1)
    assert [st.lr_at(s) for s in (0, 2, 3, 5, 6)] == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01], rel=1e-15)
    st_w = OptimConfig(lr=1.0, schedule="step", step_size=3, gamma=0.5, warmup_steps=2)
    assert [st_w.lr_at(s) for s in range(7)] == [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5]
    # the optimiser applies lr_at(steps taken so far)
    opt = make_optimizer(w, [np.zeros(1)])
    assert [opt.step([np.zeros(1)])["lr"] for _ in range(5)] == [0.5, 1.0, 1.5, 2.0, 2.0]
    assert opt.lr_at(0) == 0.5


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_state_dict_round_trip_gives_identical_updates(name):
    cfg = OptimConfig(name=name, lr=0.01, momentum=0.9 if name == "sgd" else 0.0, weight_decay=1e-3,
                      schedule="cosine", warmup_steps=2, total_steps=20, clip_norm=1.0)
    rng = np.random.default_rng(3)
    pa = _params(2)
    opt_a = make_optimizer(cfg, pa)
    for _ in range(4):
        opt_a.step(_grads(rng, pa))
    state = opt_a.state_dict()
    pb = [p.copy() for p in pa]
    opt_b = make_optimizer(OptimConfig.from_dict(cfg.to_dict()), pb)
    opt_b.load_state_dict(state)
    assert opt_b.n_steps == 4
    for _ in range(3):
        g = _grads(rng, pa)
        ia, ib = opt_a.step(g), opt_b.step([x.copy() for x in g])
        assert ia == ib
    for a, b in zip(pa, pb):
        np.testing.assert_array_equal(a, b)
    # state_dict returns copies, not views of live buffers
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    opt_a.step(_grads(rng, pa))
    for k in state:
        np.testing.assert_array_equal(state[k], before[k])


def test_load_state_dict_rejects_mismatched_state():
    params = _params()
    adam = make_optimizer(OptimConfig(name="adam"), params)
    sgd = make_optimizer(OptimConfig(name="sgd"), params)
    with pytest.raises(DataError, match="exp_avg.0"):
        adam.load_state_dict(sgd.state_dict())
    bad = adam.state_dict()
    bad["exp_avg.1"] = np.zeros(7)
    with pytest.raises(DataError, match=r"exp_avg.1.*shape"):
        adam.load_state_dict(bad)
    with pytest.raises(DataError, match="step"):
        adam.load_state_dict({})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradient_raises_naming_parameter(bad):
    params = _params()
    start = [p.copy() for p in params]
    opt = make_optimizer(OptimConfig(), params, names=["w[0]", "b[0]", "v[0]"])
    g = [np.zeros_like(p) for p in params]
    g[2][1, 0, 1] = bad
    with pytest.raises(TrainingError, match=r"parameter 2 \(v\[0\]\)"):
        opt.step(g)
    for p, s in zip(params, start):  # nothing was updated
        np.testing.assert_array_equal(p, s)
    assert opt.n_steps == 0
    opt2 = make_optimizer(OptimConfig(name="sgd", lr=0.1), [np.zeros(2)])
    with pytest.raises(TrainingError, match="parameter 0"):
        opt2.step([np.array([0.0, bad])])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_mask_leaves_params_untouched(name):
    params = _params()
    start = [p.copy() for p in params]
    cfg = OptimConfig(name=name, lr=0.1, momentum=0.5 if name == "sgd" else 0.0, weight_decay=0.1, clip_norm=0.5)
    opt = make_optimizer(cfg, params)
    rng = np.random.default_rng(0)
    mask = [True, False, True]
    for _ in range(3):
        g = _grads(rng, params)
        g[1][0] = np.nan  # a masked gradient is not even looked at
        info = opt.step(g, mask=mask)
        assert info["grad_norm"] == pytest.approx(np.sqrt(np.sum(g[0] ** 2) + np.sum(g[2] ** 2)), rel=1e-12)
    np.testing.assert_array_equal(params[1], start[1])
    assert not np.array_equal(params[0], start[0]) and not np.array_equal(params[2], start[2])
    for k, v in opt.state_dict().items():
        if k.endswith(".1"):
            assert np.all(v == 0)


def test_config_validation_and_round_trip():
    cfg = OptimConfig(name="sgd", lr=0.1, momentum=0.9, betas=[0.5, 0.6], clip_norm=2.0,
                      schedule="step", step_size=5, gamma=0.5, warmup_steps=3, total_steps=100)
    assert cfg.betas == (0.5, 0.6)
    d = cfg.to_dict()
    assert d["betas"] == [0.5, 0.6]
    assert OptimConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="unknown optimiser option"):
        OptimConfig.from_dict({**d, "learning_rate": 1})
    for kw, msg in [
        (dict(name="rmsprop"), "name"), (dict(lr=0.0), "lr"), (dict(lr=np.nan), "lr"),
        (dict(momentum=1.0), "momentum"), (dict(betas=(0.9,)), "betas"), (dict(betas=(0.9, 1.0)), "betas"),
        (dict(eps=0), "eps"), (dict(weight_decay=-1), "weight_decay"), (dict(clip_norm=0), "clip_norm"),
        (dict(schedule="linear"), "schedule"), (dict(warmup_steps=-1), "warmup_steps"),
        (dict(warmup_steps=1.5), "warmup_steps"), (dict(schedule="cosine"), "total_steps"),
        (dict(schedule="cosine", total_steps=5, warmup_steps=5), "total_steps"),
        (dict(step_size=0), "step_size"), (dict(gamma=0), "gamma"), (dict(gamma=1.5), "gamma"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            OptimConfig(**kw)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="floating-point"):
        make_optimizer(OptimConfig(), [np.zeros(3, dtype=np.int64)])
    with pytest.raises(ConfigError, match="at least one"):
        make_optimizer(OptimConfig(), [])
    opt = make_optimizer(OptimConfig(), [np.zeros(3)])
    with pytest.raises(ConfigError, match="shape"):
        opt.step([np.zeros(4)])
    with pytest.raises(ConfigError, match="gradients"):
        opt.step([np.zeros(3), np.zeros(3)])
    with pytest.raises(ConfigError, match="mask"):
        opt.step([np.zeros(3)], mask=[True, False])
    with pytest.raises(ConfigError, match="step"):
        OptimConfig().lr_at(-1)


def test_network_parameters_with_bias_mask():
    from sgevent import Network

    net = Network.create(6, 5, 3, n_buckets=3, seed=0)
    params = net.w + net.v + net.b
    mask = [True] * (len(net.w) + len(net.v)) + list(net.bias)
    opt = make_optimizer(OptimConfig(lr=0.01), params)
    rng = np.random.default_rng(1)
    opt.step(_grads(rng, params), mask=mask)
    assert np.all(net.b[0] == 0)   # hidden bias disabled by default
    assert np.any(net.b[1] != 0)   # readout bias trained
    net.validate()
