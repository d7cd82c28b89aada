"""The event engine: grid mode == clock reference spike for spike, continuous mode is the
dt -> 0 limit, closed-form single neurons, determinism (incl. NUMBA_DISABLE_JIT) and errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import lambertw

import sgevent
from sgevent import BurstLimitError, ConfigError, InputError, Network, simulate, simulate_reference


def _inputs(rng, n_in, n_spikes, t_max):
    t = rng.uniform(0, t_max, n_spikes)
    u = rng.integers(0, n_in, n_spikes)
    return t, u


def _assert_same_spikes(a, b, what):
    for l, (la, lb) in enumerate(zip(a.layers, b.layers)):
        if not (np.array_equal(la.times, lb.times) and np.array_equal(la.neurons, lb.neurons)
                and np.array_equal(la.counts, lb.counts)):
            n = min(la.n_events, lb.n_events)
            diff = np.flatnonzero((la.times[:n] != lb.times[:n]) | (la.neurons[:n] != lb.neurons[:n]))
            k = int(diff[0]) if diff.size else n
            pytest.fail(
                f"{what}: layer {l} spike trains differ at event {k} "
                f"(engine {la.n_events} events, reference {lb.n_events}); "
                f"engine {la.times[k:k+2]}, {la.neurons[k:k+2]} vs reference {lb.times[k:k+2]}, {lb.neurons[k:k+2]}"
            )
        np.testing.assert_allclose(la.heights, lb.heights, rtol=1e-12)


def _sorted_by_time_neuron(res):
    layers = []
    for la in res.layers:
        o = np.lexsort((la.neurons, la.times))
        layers.append(sgevent.LayerSpikes(la.times[o], la.neurons[o], la.heights[o], la.counts[o]))
    return layers


@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_grid_mode_equals_clock_reference(per_synapse, adaptive, dt):
    rng = np.random.default_rng(hash((per_synapse, adaptive, dt)) % 2**32)
    for trial in range(2):
        K = int(rng.integers(4, 9))
        taus = np.sort(rng.uniform(2e-3, 0.03, K)) if trial else None  # distinct, then the default gamma memory
        net = Network.create(
            50, 32, 10, n_buckets=K, seed=int(rng.integers(1 << 30)), taus=taus, theta_0=0.05,
            m_f=0.5 if adaptive else 0.0, tau_theta=0.05, per_synapse=per_synapse,
            hidden_bias=bool(trial), weight_gain=2.0,
        )
        t, u = _inputs(rng, 50, 600, 0.2)
        eng = simulate(net, t, u, dt=dt, t_end=0.2)
        ref = simulate_reference(net, t, u, dt=dt, t_end=0.2)
        eng.layers[:] = _sorted_by_time_neuron(eng)
        assert sum(eng.n_spikes) > 50  # the comparison is not vacuous
        if not adaptive:  # bursts (several spikes at one step) are part of what is compared
            assert max(la.counts.max() for la in eng.layers) > 1
        _assert_same_spikes(eng, ref, f"dt={dt} per_synapse={per_synapse} adaptive={adaptive}")
        scale = max(1.0, np.abs(ref.readout).max())
        assert np.abs(eng.readout - ref.readout).max() <= 1e-9 * scale


def test_grid_two_hidden_layers_and_bursts_equal_reference():
    rng = np.random.default_rng(3)
    net = Network.create(30, (24, 16), 5, n_buckets=5, seed=4, theta_0=0.03, m_f=0.2, weight_gain=3.0)
    t, u = _inputs(rng, 30, 500, 0.15)
    for dt in (1e-3, 1e-4):
        eng = simulate(net, t, u, dt=dt, t_end=0.15)
        ref = simulate_reference(net, t, u, dt=dt, t_end=0.15)
        eng.layers[:] = _sorted_by_time_neuron(eng)
        assert all(n > 20 for n in eng.n_spikes)
        assert any(la.counts.max() > 1 for la in eng.layers)  # bursts happen and match
        _assert_same_spikes(eng, ref, f"two layers dt={dt}")
        assert np.abs(eng.readout - ref.readout).max() <= 1e-9 * max(1.0, np.abs(ref.readout).max())


def test_continuous_is_the_limit_of_the_grid():
    rng = np.random.default_rng(8)
    net = Network.create(10, 8, 3, n_buckets=4, seed=9, theta_0=0.1, weight_gain=1.5)
    t, u = _inputs(rng, 10, 60, 0.08)
    T = 0.1
    ro = np.arange(1, 1001) * 1e-4
    cont = simulate(net, t, u, t_end=T, readout_times=ro)
    assert cont.layers[0].n_spikes > 100
    ro_err, st_err = [], []
    for dt in (1e-3, 1e-4, 1e-5):
        ref = simulate_reference(net, t, u, dt=dt, t_end=T, readout_times=ro)
        # time-averaged readout error: a spike displaced by d changes o(t) only over d, so the
        # *max* error stays of the size of one jump, while the average shrinks like dt
        ro_err.append(np.abs(ref.readout - cont.readout).mean())
        errs = []
        for j in np.unique(cont.layers[0].neurons):
            a = cont.layers[0].times[cont.layers[0].neurons == j]
            b = ref.layers[0].times[ref.layers[0].neurons == j]
            m = min(a.size, b.size)
            if m:
                errs.append(np.abs(a[:m] - b[:m]).mean())
        st_err.append(np.mean(errs))
    # first-order convergence: each factor 10 in dt buys a factor >= 4 in error (measured:
    # ~4.5x and ~16x for the readout, ~10x and ~100x for spike times)
    assert ro_err[1] < ro_err[0] / 4 and ro_err[2] < ro_err[1] / 4, ro_err
    assert st_err[1] < st_err[0] / 4 and st_err[2] < st_err[1] / 4, st_err
    assert st_err[2] < 2e-5


def _one_neuron_net(v_row, w_in, theta_0, taus, w_out=1.0):
    K = len(taus)
    return Network(
        n_in=1, hidden=(1,), n_out=1, taus=(np.asarray(taus), np.asarray(taus)),
        w=[np.array([[w_in]]), np.array([[w_out]])],
        v=[np.asarray(v_row, float)[None, :], np.eye(K)[:1]],
        b=[np.zeros(1), np.zeros(1)],
        hidden_params=(sgevent.HiddenParams(theta_0=theta_0),), bias=(False, False),
    )


def test_single_neuron_fires_at_closed_form_time():
    # one input spike at t0 through bucket 1 of an equal-tau cascade:
    # x(t) = w (t'/tau) exp(-t'/tau), t' = t - t0; the first crossing of theta solves
    # t'/tau = -W0(-theta/w) (principal branch of Lambert's W)
    tau, w, theta, t0 = 0.01, 1.0, 0.2, 0.003
    net = _one_neuron_net([0, 1, 0, 0], w, theta, [tau] * 4)
    res = simulate(net, [t0], [0], t_end=0.1)
    t_pred = t0 - tau * np.real(lambertw(-theta / w, 0))
    assert res.layers[0].times[0] == pytest.approx(t_pred, abs=2e-9)
    # distinct taus: x(t) = w lam1/(lam1-lam0) (e^{-lam0 t'} - e^{-lam1 t'}), crossing by brentq
    taus = [0.004, 0.012, 0.02]
    net = _one_neuron_net([0, 1, 0], w, 0.15, taus)  # the bucket-1 peak is 0.19
    res = simulate(net, [t0], [0], t_end=0.1)
    l0, l1 = 1 / taus[0], 1 / taus[1]
    x = lambda s: w * l1 / (l1 - l0) * (np.exp(-l0 * s) - np.exp(-l1 * s)) - 0.15  # noqa: E731
    s_peak = np.log(l1 / l0) / (l1 - l0)
    assert res.layers[0].times[0] == pytest.approx(t0 + brentq(x, 0, s_peak, xtol=1e-15), abs=2e-9)


def test_delayed_bucket_fires_after_input_stops():
    tau = 0.01
    t_in = np.arange(0, 0.0101, 0.002)  # 6 spikes, the last at 10 ms
    net = _one_neuron_net([0, 0, 0, 1], 0.5, 0.5, [tau] * 4)
    res = simulate(net, t_in, np.zeros(t_in.size, int), t_end=0.2)
    first = res.layers[0].times[0]
    assert first > t_in[-1] + 0.005
    # closed form: bucket 3 of an equal-tau cascade is an Erlang(4) kernel
    lam = 1 / tau
    x = lambda t: sum(0.5 * lam**3 * (t - s) ** 3 / 6 * np.exp(-lam * (t - s)) for s in t_in if s < t) - 0.5  # noqa
    assert first == pytest.approx(brentq(x, t_in[-1], first + 1e-6, xtol=1e-15), abs=2e-9)


def test_deterministic_and_unsorted_input_is_sorted():
    rng = np.random.default_rng(1)
    net = Network.create(20, 16, 4, n_buckets=6, seed=2, theta_0=0.05)
    t, u = _inputs(rng, 20, 300, 0.2)
    a = simulate(net, t, u, t_end=0.2)
    b = simulate(net, t, u, t_end=0.2)
    o = np.argsort(t, kind="stable")
    c = simulate(net, t[o], u[o], t_end=0.2)
    for r in (b, c):
        for la, lb in zip(a.layers, r.layers):
            assert np.array_equal(la.times, lb.times) and np.array_equal(la.neurons, lb.neurons)
        assert np.array_equal(a.readout, r.readout)


_NOJIT_SCRIPT = """
import json, numpy as np, sgevent
net = sgevent.Network.create(8, 6, 2, n_buckets=3, seed=5, theta_0=0.05, per_synapse={ps})
rng = np.random.default_rng(0)
t = rng.uniform(0, 0.05, 40); u = rng.integers(0, 8, 40)
r = sgevent.simulate(net, t, u, dt={dt}, t_end=0.05)
l0 = r.layers[0]
print(json.dumps([l0.times.tolist(), l0.neurons.tolist(), l0.counts.tolist(), r.readout.tolist()]))
"""


@pytest.mark.parametrize("dt,ps", [(None, False), (1e-4, True)])
def test_small_identical_without_jit(dt, ps):
    script = _NOJIT_SCRIPT.format(dt=dt, ps=ps)
    out = {}
    for flag in ("0", "1"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=flag)
        p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        out[flag] = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out["0"][0]) > 3
    assert out["0"][:3] == out["1"][:3]  # identical spikes
    np.testing.assert_allclose(out["0"][3], out["1"][3], rtol=1e-12, atol=1e-15)


def test_bad_input_errors():
    net = Network.create(5, 4, 2, n_buckets=3, seed=0)
    with pytest.raises(InputError, match="non-finite"):
        simulate(net, [0.1, np.nan], [0, 1])
    with pytest.raises(InputError, match="negative"):
        simulate(net, [-0.1], [0])
    with pytest.raises(InputError, match="channel 5"):
        simulate(net, [0.1], [5])
    with pytest.raises(InputError, match="2 entries but units has 1"):
        simulate(net, [0.1, 0.2], [0])
    with pytest.raises(InputError, match="dt"):
        simulate(net, [0.1], [0], dt=0.0)
    with pytest.raises(InputError, match="after t_end"):
        simulate(net, [0.1], [0], t_end=0.1, readout_times=[0.2])
    with pytest.raises(ConfigError, match="taus"):
        Network.create(5, 4, 2, n_buckets=3, taus=[0.01, -0.01, 0.02])
    with pytest.raises(ConfigError, match=r"w\[0\] must have shape"):
        Network(n_in=5, hidden=(4,), n_out=2, taus=(np.ones(3) * 0.01,) * 2,
                w=[np.zeros((4, 6)), np.zeros((2, 4))], v=[np.zeros((4, 3)), np.zeros((2, 3))],
                b=[np.zeros(4), np.zeros(2)], hidden_params=(sgevent.HiddenParams(),))


def test_burst_past_max_burst_raises():
    net = _one_neuron_net([1, 0, 0], 10.0, 0.1, [0.01] * 3)
    net = Network.from_dict({**net.to_dict(), "hidden_params": [dict(theta_0=0.1, max_burst=20)]})
    with pytest.raises(BurstLimitError, match="max_burst=20"):
        simulate(net, [0.01], [0], t_end=0.02)
    with pytest.raises(BurstLimitError, match="max_burst=20"):
        simulate(net, [0.01], [0], dt=1e-3, t_end=0.02)
    ok = Network.from_dict({**net.to_dict(), "hidden_params": [dict(theta_0=0.1, max_burst=100)]})
    res = simulate(ok, [0.01], [0], t_end=0.02)
    assert res.layers[0].counts[0] == 50  # 10 / (2 * 0.1): the burst brings yhat0 up to x


def test_spike_budget_stops_runaway_activity():
    # weights x 1e3 (diverged training): every input spike drives huge bursts; the default
    # budget stops the sample early with an error naming the layer and the time
    net = Network.create(10, (8, 6), 3, n_buckets=3, seed=0, theta_0=0.05, max_burst=10**9)
    for w in net.w:
        w *= 1e3
    t, u = _inputs(np.random.default_rng(0), 10, 2000, 1.0)
    for dt in (None, 1e-3):
        with pytest.raises(sgevent.EngineError, match=r"spike_budget=10000000 .*hidden layer [01], neuron \d+ at "
                           r"t=[0-9.e-]+ s.*raise simulate\(\.\.\., spike_budget=N\)") as err:
            simulate(net, t, u, dt=dt, t_end=1.0)
        t_stop = float(str(err.value).split(" at t=")[1].split(" s")[0])
        assert 0.0 <= t_stop < 1.0


def test_spike_budget_counts_every_hidden_spike():
    net = Network.create(12, (10, 8), 3, n_buckets=3, seed=1, theta_0=0.02)
    t, u = _inputs(np.random.default_rng(1), 12, 300, 0.1)
    for dt in (None, 1e-4):
        r = simulate(net, t, u, dt=dt, t_end=0.1)
        n = sum(la.n_spikes for la in r.layers)
        assert n > 50
        again = simulate(net, t, u, dt=dt, t_end=0.1, spike_budget=n)  # exactly the budget: fine
        assert np.array_equal(again.readout, r.readout)
        with pytest.raises(sgevent.EngineError, match=f"spike_budget={n - 1} "):
            simulate(net, t, u, dt=dt, t_end=0.1, spike_budget=n - 1)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError, match="spike_budget"):
            simulate(net, t, u, t_end=0.1, spike_budget=bad)
