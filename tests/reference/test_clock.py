"""Tests of the clock-driven reference (DESIGN.md sections 1.4 and 4).

Checked independently of the event engine: against closed forms of the discrete recursion,
hand-computed spike steps, and a scalar-loop twin (``naive_reference`` below) that spells out
DESIGN.md section 1.4 neuron by neuron.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgevent.errors import BurstLimitError, InputError  # noqa: E402
from sgevent.model.network import HiddenParams, Network  # noqa: E402
from sgevent.reference.clock import simulate_reference  # noqa: E402

LONG_TAU = 1e3  # s: a cascade that barely decays over a test (alpha = exp(-1e-6) at dt = 1 ms)


# --------------------------------------------------------------------------- helpers
def make_net(
    w: list,
    v: list,
    taus: list,
    hidden_params: list[HiddenParams],
    *,
    b: list | None = None,
    per_synapse: bool = False,
    h_in: float = 1.0,
) -> Network:
    """A network from explicit weights (sizes inferred from ``w``; biases zero by default)."""
    w = [np.asarray(a, dtype=np.float64) for a in w]
    sizes = [w[0].shape[1]] + [a.shape[0] for a in w]
    if b is None:
        b = [np.zeros(n) for n in sizes[1:]]
    bias = tuple(bool(np.any(np.asarray(x) != 0)) for x in b)
    return Network(
        n_in=sizes[0], hidden=tuple(sizes[1:-1]), n_out=sizes[-1],
        taus=tuple(np.asarray(t, dtype=np.float64) for t in taus),
        w=w, v=[np.asarray(a, dtype=np.float64) for a in v], b=[np.asarray(x, dtype=np.float64) for x in b],
        hidden_params=tuple(hidden_params), per_synapse=per_synapse, bias=bias, h_in=h_in,
    )


def single_spike_net(K: int, hidden_taus, theta: float = 1.0) -> Network:
    """1 input -> 1 hidden -> K readouts; readout c reads hidden bucket c (w = 1, v = e_c).

    An input spike at t = 0 drives x = 1.5 theta through input bucket 0 only; the neuron spikes
    once (height 2 theta) and never again, because input and own bucket 0 share tau[0], so
    x - yhat0 = -0.5 theta alpha0^n afterwards.
    """
    hidden_taus = np.asarray(hidden_taus, dtype=np.float64)
    in_taus = np.full(K, 7e-3)
    in_taus[0] = hidden_taus[0]
    v_hidden = np.zeros((1, K))
    v_hidden[0, 0] = 1.0
    return make_net(
        w=[[[1.5 * theta]], np.ones((K, 1))],
        v=[v_hidden, np.eye(K)],
        taus=[in_taus, hidden_taus],
        hidden_params=[HiddenParams(theta_0=theta)],
    )


def naive_cascade(alpha: np.ndarray, impulses: dict[int, float], n_steps: int) -> np.ndarray:
    """Scalar loop of the discrete cascade; ``impulses[n]`` is added to bucket 0 at step n."""
    K = alpha.shape[0]
    out = np.zeros((n_steps, K))
    y = [0.0] * K
    for n in range(n_steps):
        new = [0.0] * K
        new[0] = alpha[0] * y[0] + impulses.get(n, 0.0)
        for k in range(1, K):
            new[k] = alpha[k] * y[k] + (1.0 - alpha[k]) * y[k - 1]
        y = new
        out[n] = y
    return out


def naive_reference(net: Network, times, units, dt: float, t_end: float):
    """Scalar-loop twin of ``simulate_reference`` (DESIGN.md 1.4 written neuron by neuron).

    Returns ``(spikes, readout)``: ``spikes[l]`` is a list of (step, neuron, count, height) in
    (step, neuron) order; ``readout`` has shape (N + 1, n_out), one row per step.
    """
    K = net.n_buckets
    n_hidden = len(net.hidden)
    n_last = math.floor(t_end / dt + 1e-9)
    counts_in: dict[tuple[int, int], int] = {}
    for t, u in zip(times, units):
        n = math.ceil(t / dt - 1e-9)
        counts_in[(n, int(u))] = counts_in.get((n, int(u)), 0) + 1
    alpha = [[math.exp(-dt / tau) for tau in net.taus[s]] for s in range(n_hidden + 1)]
    sizes = net.sizes
    yhat = [[[0.0] * K for _ in range(sizes[s])] for s in range(n_hidden + 1)]
    theta_dyn = [[0.0] * n for n in net.hidden]
    spikes: list[list[tuple]] = [[] for _ in range(n_hidden)]
    readout = np.zeros((n_last + 1, net.n_out))

    def advance(y, a):
        new = [0.0] * K
        new[0] = a[0] * y[0]
        for k in range(1, K):
            new[k] = a[k] * y[k] + (1.0 - a[k]) * y[k - 1]
        return new

    def drive(l, j):
        w, v, pre = net.w[l], net.v[l], yhat[l]
        if net.per_synapse:
            return net.b[l][j] + sum(
                w[j, i] * sum(v[j, i, k] * pre[i][k] for k in range(K)) for i in range(len(pre))
            )
        return net.b[l][j] + sum(
            v[j, k] * sum(w[j, i] * pre[i][k] for i in range(len(pre))) for k in range(K)
        )

    for n in range(n_last + 1):
        for i in range(net.n_in):
            yhat[0][i] = advance(yhat[0][i], alpha[0])
            yhat[0][i][0] += net.h_in * counts_in.get((n, i), 0)
        for l in range(n_hidden):
            hp = net.hidden_params[l]
            x = [drive(l, j) for j in range(net.hidden[l])]
            for j in range(net.hidden[l]):
                yhat[l + 1][j] = advance(yhat[l + 1][j], alpha[l + 1])
                theta_dyn[l][j] *= math.exp(-dt / hp.tau_theta)
                y = max(0.0, x[j])
                count, height = 0, 0.0
                while y - yhat[l + 1][j][0] >= hp.theta_0 + theta_dyn[l][j]:
                    if count >= hp.max_burst:
                        raise BurstLimitError(f"layer {l} neuron {j} step {n}")
                    theta = hp.theta_0 + theta_dyn[l][j]
                    yhat[l + 1][j][0] += hp.spike_gain * theta
                    theta_dyn[l][j] += hp.m_f * theta
                    count += 1
                    height += hp.spike_gain * theta
                if count:
                    spikes[l].append((n, j, count, height))
        readout[n] = [drive(n_hidden, c) for c in range(net.n_out)]
    return spikes, readout


def as_tuples(layer, dt):
    return [
        (int(round(t / dt)), int(j), int(c), float(h))
        for t, j, c, h in zip(layer.times, layer.neurons, layer.counts, layer.heights)
    ]


# --------------------------------------------------------------------------- (a) cascades
@pytest.mark.parametrize("dt", [1e-3, 2.5e-4])
def test_cascade_equal_taus_matches_binomial_closed_form(dt):
    # One spike of height h at step 0 into a cascade of equal taus gives
    # yhat[k][n] = h C(n, k) (1 - alpha)^k alpha^(n - k): generating function
    # h ((1 - alpha) z)^k / (1 - alpha z)^(k + 1).
    K, tau = 5, 4e-3
    net = single_spike_net(K, np.full(K, tau))
    n_steps = 600
    t_end = (n_steps - 1) * dt
    res = simulate_reference(net, [0.0], [0], dt, t_end=t_end, readout_times=np.arange(n_steps) * dt)
    assert res.layers[0].n_spikes == 1 and res.layers[0].times[0] == 0.0
    h = res.layers[0].heights[0]
    assert h == 2.0
    alpha = math.exp(-dt / tau)
    closed = np.array(
        [[h * math.comb(n, k) * (1 - alpha) ** k * alpha ** (n - k) if n >= k else 0.0 for k in range(K)]
         for n in range(n_steps)]
    )
    # The closed form rounds differently from the recursion (powers vs repeated products):
    # relative error of a few ulps times n; 1e-12 leaves a wide margin.
    np.testing.assert_allclose(res.readout, closed, rtol=1e-12, atol=1e-15)
    # And bit for bit equal to the scalar loop (same operations in the same order).
    naive = naive_cascade(np.full(K, alpha), {0: h}, n_steps)
    np.testing.assert_array_equal(res.readout, naive)
    # Every stage k >= 1 has DC gain 1: each bucket's impulse response sums to h / (1 - alpha)
    # (a negative-binomial series); the tail past the window is below 1e-9 of it.
    np.testing.assert_allclose(res.readout.sum(axis=0), h / (1 - alpha), rtol=1e-9)


@pytest.mark.parametrize("dt", [1e-3, 3e-4])
def test_cascade_distinct_taus_matches_naive_loop(dt):
    taus = np.array([3e-3, 5e-3, 2e-3, 8e-3])
    net = single_spike_net(4, taus)
    n_steps = 80
    res = simulate_reference(
        net, [0.0], [0], dt, t_end=(n_steps - 1) * dt, readout_times=np.arange(n_steps) * dt
    )
    naive = naive_cascade(np.exp(-dt / taus), {0: 2.0}, n_steps)
    np.testing.assert_array_equal(res.readout, naive)
    for k in range(4):  # bucket k is first reached at step k
        assert np.all(res.readout[:k, k] == 0.0) and res.readout[k, k] > 0.0


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("dt", [1e-3, 5e-4])
def test_input_cascade_bucket_k_first_crossing(k, dt):
    # A hidden neuron reading only input bucket k (v = e_k, weight W) first spikes at the first
    # step with W * yhat_in[k][n] >= theta, yhat_in[k][n] = C(n, k) (1-alpha)^k alpha^(n-k).
    # (Input bucket 0, which only decays after the spike, is covered by the tests below.)
    K, tau, W, theta = 4, 10e-3, 10.0, 1.0
    v = np.zeros((1, K))
    v[0, k] = 1.0
    net = make_net(
        w=[[[W]], [[1.0]]], v=[v, np.ones((1, K))],
        taus=[np.full(K, tau), np.full(K, tau)], hidden_params=[HiddenParams(theta_0=theta)],
    )
    alpha = math.exp(-dt / tau)
    bucket = [math.comb(n, k) * (1 - alpha) ** k * alpha ** (n - k) if n >= k else 0.0 for n in range(400)]
    expected = next(n for n in range(400) if W * bucket[n] >= theta)
    assert expected > k  # not at the first step the bucket is reached
    # The crossing is no near-tie, so rounding cannot move it.
    assert W * bucket[expected] - theta > 1e-6 and theta - W * bucket[expected - 1] > 1e-6
    res = simulate_reference(net, [0.0], [0], dt, t_end=399 * dt)
    assert res.layers[0].times[0] == expected * dt
    assert res.layers[0].neurons[0] == 0


# --------------------------------------------------------------------------- (b) fixed threshold
def test_constant_rate_input_fixed_threshold_hand_computed_steps():
    # One input spike per 1 ms step, cascades that do not decay (tau = 1000 s): x[n] = w (n + 1),
    # and after m spikes yhat0 = 2m theta. Spike m happens at the first n with
    # w (n + 1) >= (2m + 1) theta, i.e. n = ceil((2m + 1) theta / w) - 1:
    # w = 0.37, theta = 1 -> 2.70, 8.11, 13.5, 18.9, 24.3, 29.7 -> n = 2, 8, 13, 18, 24, 29.
    dt = 1e-3
    net = make_net(
        w=[[[0.37]], [[1.0]]], v=[[[1.0]], [[1.0]]],
        taus=[[LONG_TAU], [LONG_TAU]], hidden_params=[HiddenParams(theta_0=1.0)],
    )
    times = np.arange(30) * dt
    res = simulate_reference(net, times, np.zeros(30, dtype=int), dt, t_end=0.03)
    layer = res.layers[0]
    np.testing.assert_array_equal(layer.times, np.array([2, 8, 13, 18, 24, 29]) * dt)
    np.testing.assert_array_equal(layer.neurons, np.zeros(6, dtype=np.int64))
    np.testing.assert_array_equal(layer.counts, np.ones(6, dtype=np.int64))
    np.testing.assert_array_equal(layer.heights, np.full(6, 2.0))
    assert res.stats["n_steps"] == 31
    assert res.stats["n_input_spikes"] == 30


def test_constant_rate_with_decay_matches_naive_twin():
    dt = 5e-4
    net = make_net(
        w=[[[0.6], [0.9]], [[1.0, -0.5]]], v=[[[1.0], [1.0]], [[1.0]]],
        taus=[[8e-3], [4e-3]], hidden_params=[HiddenParams(theta_0=0.5)],
    )
    times = np.arange(0, 0.05, 2e-3)
    units = np.zeros(times.size, dtype=int)
    res = simulate_reference(net, times, units, dt, t_end=0.06, readout_times=np.arange(121) * dt)
    spikes, readout = naive_reference(net, times, units, dt, 0.06)
    assert as_tuples(res.layers[0], dt) == spikes[0]
    assert len(spikes[0]) > 10
    # Readout: BLAS and the scalar loop sum in different orders (a few ulps).
    np.testing.assert_allclose(res.readout, readout, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- (c) bursts
def test_burst_counts_and_heights_exact():
    # x = 7.3 and 3.1 at step 0, theta = 1, spike_gain 2: spikes while x - 2c >= 1 ->
    # 4 spikes (height 8) and 2 spikes (height 4), one event each at t = 0.
    dt = 1e-3
    net = make_net(
        w=[[[7.3], [3.1]], [[1.0, 1.0]]], v=[[[1.0], [1.0]], [[1.0]]],
        taus=[[LONG_TAU], [LONG_TAU]], hidden_params=[HiddenParams(theta_0=1.0)],
    )
    res = simulate_reference(net, [0.0], [0], dt, t_end=0.005, readout_times=[0.0])
    layer = res.layers[0]
    np.testing.assert_array_equal(layer.times, [0.0, 0.0])
    np.testing.assert_array_equal(layer.neurons, [0, 1])
    np.testing.assert_array_equal(layer.counts, [4, 2])
    np.testing.assert_array_equal(layer.heights, [8.0, 4.0])
    assert layer.n_spikes == 6 and layer.n_events == 2
    assert res.readout[0, 0] == 12.0  # o[0] = own bucket 0 of both neurons = 8 + 4


def test_burst_with_adaptive_threshold_exact():
    # theta_0 = 1, m_f = 0.5: thetas 1, 1.5, 2.25 (exact in binary); yhat0 = 2, 5, 9.5.
    # x = 7.3: 7.3 >= 1, 5.3 >= 1.5, 2.3 >= 2.25, then 7.3 - 9.5 < 3.375 -> 3 spikes, height 9.5.
    # x = 3.1: 3.1 >= 1, then 1.1 < 1.5 -> 1 spike, height 2.
    dt = 1e-3
    net = make_net(
        w=[[[7.3], [3.1]], [[1.0, 1.0]]], v=[[[1.0], [1.0]], [[1.0]]],
        taus=[[LONG_TAU], [LONG_TAU]], hidden_params=[HiddenParams(theta_0=1.0, m_f=0.5)],
    )
    res = simulate_reference(net, [0.0], [0], dt, t_end=0.0)
    layer = res.layers[0]
    np.testing.assert_array_equal(layer.counts, [3, 1])
    np.testing.assert_array_equal(layer.heights, [9.5, 2.0])
    assert res.readout.shape == (0, 1)  # default readout: every ms up to t_end = 0 -> none


# --------------------------------------------------------------------------- (d) adaptation
def test_adaptive_threshold_lengthens_inter_spike_intervals():
    dt = 1e-3
    times = np.arange(60) * dt
    units = np.zeros(60, dtype=int)
    kw = dict(w=[[[0.37]], [[1.0]]], v=[[[1.0]], [[1.0]]], taus=[[LONG_TAU], [LONG_TAU]])
    fixed = simulate_reference(
        make_net(**kw, hidden_params=[HiddenParams(theta_0=1.0)]), times, units, dt, t_end=0.06
    ).layers[0]
    adapt = simulate_reference(
        make_net(**kw, hidden_params=[HiddenParams(theta_0=1.0, m_f=0.5, tau_theta=1.0)]),
        times, units, dt, t_end=0.06,
    ).layers[0]
    # Hand computation with adaptation (theta_dyn decays by 0.999 per step):
    # spike at n=2 (theta 1, yhat0 2, theta_dyn 0.5); next when 0.37 (n+1) >= 2 + ~1.4965 -> n = 9
    # (theta 1.4965, yhat0 4.993, theta_dyn 1.2448); next when 0.37 (n+1) >= ~4.993 + ~2.232 -> n = 19.
    assert round(fixed.times[0] / dt) == round(adapt.times[0] / dt) == 2
    np.testing.assert_array_equal(np.round(adapt.times[:3] / dt), [2, 9, 19])
    isi_fixed, isi_adapt = np.diff(fixed.times), np.diff(adapt.times)
    assert np.all(isi_adapt[:3] > isi_fixed[:3])
    assert np.all(np.diff(isi_adapt) >= 0)  # intervals keep growing under constant drive
    assert adapt.n_spikes < fixed.n_spikes


# --------------------------------------------------------------------------- (e) burst limit
def test_burst_limit_raises_with_layer_neuron_time():
    dt = 1e-3
    kw = dict(
        w=[[[1.0]], [[0.5], [7.3]], [[1.0, 1.0]]], v=[[[1.0]], [[1.0], [1.0]], [[1.0]]],
        taus=[[LONG_TAU], [LONG_TAU], [LONG_TAU]],
    )
    # Layer 0: x = 3.0 at t = 2 ms -> 2 spikes, total height 4; layer 1 neuron 1: x = 7.3 * 4 = 29.2
    # -> needs 15 spikes (29.2 - 2c >= 1 for c = 0..14).
    times, units = [0.002], [0]
    kw["w"][0] = [[3.0]]
    ok = simulate_reference(
        make_net(**kw, hidden_params=[HiddenParams(theta_0=1.0), HiddenParams(theta_0=1.0, max_burst=15)]),
        times, units, dt, t_end=0.003,
    )
    np.testing.assert_array_equal(ok.layers[1].counts, [1, 15])  # neuron 0: x = 2 -> 1 spike
    np.testing.assert_array_equal(ok.layers[1].times, [0.002, 0.002])
    with pytest.raises(BurstLimitError, match=r"hidden layer 1, neuron 1: at t = 0\.002 s .*max_burst = 14"):
        simulate_reference(
            make_net(**kw, hidden_params=[HiddenParams(theta_0=1.0), HiddenParams(theta_0=1.0, max_burst=14)]),
            times, units, dt, t_end=0.003,
        )


# --------------------------------------------------------------------------- (f) bad input
@pytest.mark.parametrize(
    "times, units, kwargs",
    [
        ([-0.001], [0], {}),
        ([np.nan], [0], {}),
        ([np.inf], [0], {}),
        ([0.001], [2], {}),
        ([0.001], [-1], {}),
        ([0.001, 0.002], [0], {}),
        ([0.001], [0.5], {}),
        ([[0.001]], [[0]], {}),
        ([0.001], [0], {"dt": 0.0}),
        ([0.001], [0], {"dt": -1e-3}),
        ([0.001], [0], {"dt": np.nan}),
        ([0.001], [0], {"dt": np.inf}),
        ([0.001], [0], {"dt": "fast"}),
        ([0.001], [0], {"t_end": -1.0}),
        ([0.001], [0], {"t_end": np.nan}),
        ([0.001], [0], {"t_end": 0.01, "readout_times": [0.011]}),
        ([0.001], [0], {"t_end": 0.01, "readout_times": [-0.001]}),
        ([0.001], [0], {"t_end": 0.01, "readout_times": [np.nan]}),
    ],
)
def test_bad_input_raises_input_error(times, units, kwargs):
    net = make_net(
        w=[[[1.0, 1.0]], [[1.0]]], v=[[[1.0]], [[1.0]]], taus=[[5e-3], [5e-3]],
        hidden_params=[HiddenParams()],
    )
    kwargs = {"dt": 1e-3, **kwargs}
    with pytest.raises(InputError):
        simulate_reference(net, times, units, **kwargs)


# --------------------------------------------------------------------------- (g) per synapse
def random_net(per_synapse_copy: bool, seed: int = 3) -> Network:
    rng = np.random.default_rng(seed)
    sizes, K = (5, 4, 3, 2), 3
    taus = [np.array([3e-3, 6e-3, 4e-3]), np.array([2e-3, 5e-3, 5e-3]), np.array([4e-3, 4e-3, 9e-3])]
    w = [rng.normal(0, 1.5, (sizes[l + 1], sizes[l])) for l in range(3)]
    v = [rng.uniform(0, 1, (sizes[l + 1], K)) for l in range(3)]
    b = [np.zeros(4), np.zeros(3), rng.normal(0, 0.1, 2)]
    if per_synapse_copy:
        v = [np.repeat(a[:, None, :], sizes[l], axis=1) for l, a in enumerate(v)]
    hps = [HiddenParams(theta_0=0.2, m_f=0.3, tau_theta=0.02), HiddenParams(theta_0=0.15)]
    return make_net(w=w, v=v, taus=taus, hidden_params=hps, b=b, per_synapse=per_synapse_copy, h_in=1.3)


def random_input(seed: int = 4, n: int = 60, t_max: float = 0.05):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, t_max, n), rng.integers(0, 5, n)


def test_per_synapse_with_shared_bucket_weights_equals_per_neuron():
    dt = 5e-4
    times, units = random_input()
    ro = np.arange(0, 0.06, 1e-3)
    a = simulate_reference(random_net(False), times, units, dt, t_end=0.06, readout_times=ro)
    b = simulate_reference(random_net(True), times, units, dt, t_end=0.06, readout_times=ro)
    assert min(a.n_spikes) > 5
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.times, lb.times)
        np.testing.assert_array_equal(la.neurons, lb.neurons)
        np.testing.assert_array_equal(la.counts, lb.counts)
        # Same spike sequence -> same thetas, computed by the same operations.
        np.testing.assert_array_equal(la.heights, lb.heights)
    # (w v) y summed over (i, k) vs v (w y): same sum, different rounding order.
    np.testing.assert_allclose(a.readout, b.readout, rtol=1e-12, atol=1e-13)
    assert a.stats["macs_per_step"] == [5 * 4 * 3 + 4 * 3, 4 * 3 * 3 + 3 * 3, 3 * 2 * 3 + 2 * 3]
    assert b.stats["macs_per_step"] == [5 * 4 * 3, 4 * 3 * 3, 3 * 2 * 3]
    assert a.stats["dense_ops"] == a.stats["n_steps"] * sum(a.stats["macs_per_step"])


@pytest.mark.parametrize("per_synapse", [False, True])
def test_two_hidden_layers_match_naive_twin(per_synapse):
    dt = 5e-4
    times, units = random_input()
    net = random_net(per_synapse)
    if per_synapse:  # make the per-synapse weights genuinely per synapse
        rng = np.random.default_rng(9)
        net.v = [a * rng.uniform(0.5, 1.5, a.shape) for a in net.v]
    res = simulate_reference(net, times, units, dt, t_end=0.06, readout_times=np.arange(121) * dt)
    spikes, readout = naive_reference(net, times, units, dt, 0.06)
    for l in range(2):
        got = as_tuples(res.layers[l], dt)
        assert [s[:3] for s in got] == [s[:3] for s in spikes[l]]
        np.testing.assert_array_equal([s[3] for s in got], [s[3] for s in spikes[l]])
    assert any(c > 1 for c in res.layers[0].counts) or any(c > 1 for c in res.layers[1].counts)
    # BLAS vs scalar-loop summation order: a few ulps.
    np.testing.assert_allclose(res.readout, readout, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- (h) time mapping
def test_readout_time_maps_to_floor_step():
    dt, tau = 1e-3, 4e-3
    net = single_spike_net(1, [tau])
    alpha = math.exp(-dt / tau)
    o = [2.0]
    for _ in range(10):
        o.append(alpha * o[-1])  # hidden bucket 0 after one spike of height 2 at step 0
    req = np.array([0.0025, 0.003, 0.003 - 1e-14, 0.003 - 1e-11, 0.0, 0.01, 0.0025, 0.0099999])
    steps = [2, 3, 3, 2, 0, 10, 2, 9]  # floor(t/dt + 1e-9)
    res = simulate_reference(net, [0.0], [0], dt, t_end=0.01, readout_times=req)
    np.testing.assert_array_equal(res.readout_times, req)
    np.testing.assert_array_equal(res.readout[:, 0], [o[n] for n in steps])


def test_input_time_maps_to_ceil_step_and_window():
    # The single-spike network fires at the step its input spike belongs to:
    # ceil(t/dt - 1e-9): t_n -> n, t_n + 1e-13 -> n, t_n + 1e-10 -> n + 1.
    dt = 1e-3
    net = single_spike_net(1, [4e-3])
    for t, n in [(0.003, 3), (0.003 + 1e-13, 3), (0.003 + 1e-10, 4), (0.0025, 3), (0.0, 0)]:
        res = simulate_reference(net, [t], [0], dt, t_end=0.01)
        assert res.layers[0].times.tolist() == [n * dt]
    # Default t_end is the last spike time rounded up to the grid: its step is simulated.
    res = simulate_reference(net, [0.0025], [0], dt)
    assert res.t_end == 0.003 and res.stats["n_steps"] == 4
    assert res.stats["n_input_spikes"] == 1 and res.layers[0].times.tolist() == [0.003]
    np.testing.assert_array_equal(res.readout_times, [0.001, 0.002, 0.003])
    # An explicit t_end before the last spike's step drops that spike.
    res = simulate_reference(net, [0.0025], [0], dt, t_end=0.0025)
    assert res.stats["n_steps"] == 3 and res.stats["n_input_spikes"] == 0 and res.layers[0].n_events == 0


def test_default_readout_times_every_ms_within_t_end():
    net = single_spike_net(1, [4e-3])
    res = simulate_reference(net, [0.0], [0], 1e-4, t_end=0.3)
    assert res.readout.shape == (300, 1)
    assert res.readout_times[-1] == 0.3  # 300 * 1e-3 rounds above 0.3 and is clipped to t_end
    np.testing.assert_allclose(res.readout_times, np.arange(1, 301) * 1e-3, rtol=0, atol=1e-16)
    empty = simulate_reference(net, [], [], 1e-3)
    assert empty.t_end == 0.0 and empty.stats["n_steps"] == 1
    assert empty.readout.shape == (0, 1) and empty.layers[0].n_events == 0
    assert empty.layers[0].times.dtype == np.float64 and empty.layers[0].counts.dtype == np.int64
