"""Tests of the learning path of the clock-driven reference (``simulate_reference(learn=...)``).

The reference is the oracle of the loss and gradients (``sgevent.reference.learner``), so it
is checked here against things that do not share its code:

1. readout gradients against central finite differences of the loss (exact: perturbing readout
   parameters cannot change a hidden spike, and the loss is smooth in them);
2. hidden gradients (``instant`` and ``steady``) against a scalar-loop twin that recomputes
   every recorded quantity independently: the input buckets from the spikes, the hidden buckets
   ``Y^s_e`` through "probe" networks whose readout copies them, and the drives ``x^l_e`` from
   those buckets;
3. the linearised-model property: with a tiny threshold ``yhat_j[0]`` tracks ``relu(x_j)``, so
   for K = 1 the ``instant`` hidden gradient is the derivative of the loss;
4. loss values computed by hand on a two-event example;
5. input errors.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgevent.errors import ConfigError, InputError  # noqa: E402
from sgevent.learn.spec import LearnSpec, learning_times, loss_and_output_error  # noqa: E402
from sgevent.model.network import HiddenParams, Network  # noqa: E402
from sgevent.reference.clock import simulate_reference  # noqa: E402

DT = 1e-3
T_END = 0.1
PERIOD = 5e-3
E = 20  # learning events of T_END / PERIOD
LOSSES = ("mean", "last", "max", "mse")


# --------------------------------------------------------------------------- helpers
def input_spikes(n_in: int, n: int, seed: int, t_end: float = T_END) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, t_end, n), rng.integers(0, n_in, n)


def with_params(net: Network, **changes) -> Network:
    """A copy of ``net`` with some fields replaced (arrays are copied)."""
    d = {
        "n_in": net.n_in, "hidden": net.hidden, "n_out": net.n_out,
        "taus": tuple(t.copy() for t in net.taus),
        "w": [a.copy() for a in net.w], "v": [a.copy() for a in net.v], "b": [a.copy() for a in net.b],
        "hidden_params": net.hidden_params, "per_synapse": net.per_synapse, "bias": net.bias,
        "h_in": net.h_in,
    }
    d.update(changes)
    return Network(**d)


def run(net, t, u, spec, label=None, target=None, t_end=T_END):
    return simulate_reference(net, t, u, DT, t_end=t_end, learn=spec, label=label, target=target)


def perturbed_loss(net, t, u, spec, label, target, layer, name, idx, delta, t_end=T_END):
    arrs = {"w": [a.copy() for a in net.w], "v": [a.copy() for a in net.v], "b": [a.copy() for a in net.b]}
    arrs[name][layer][idx] += delta
    return run(with_params(net, **arrs), t, u, spec, label, target, t_end=t_end).loss


def central_fd(net, t, u, spec, label, target, layer, name, idx, eps, t_end=T_END):
    lp = perturbed_loss(net, t, u, spec, label, target, layer, name, idx, eps, t_end)
    lm = perturbed_loss(net, t, u, spec, label, target, layer, name, idx, -eps, t_end)
    return (lp - lm) / (2 * eps)


def small_net(per_synapse: bool, hidden=(10,), K: int = 4, seed: int = 3, hidden_bias: bool = False) -> Network:
    return Network.create(12, hidden, 4, n_buckets=K, seed=seed, per_synapse=per_synapse, hidden_bias=hidden_bias)


# --------------------------------------------------------------------------- 1. readout vs FD
@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
@pytest.mark.parametrize("loss", LOSSES)
def test_readout_gradients_match_finite_differences(loss, per_synapse):
    net = small_net(per_synapse)
    t, u = input_spikes(12, 150, seed=1)
    target = np.random.default_rng(2).normal(size=(E, 4))
    spec = LearnSpec(loss=loss, learn_period=PERIOD)
    res = run(net, t, u, spec, label=2, target=target)
    assert res.readout.shape == (E, 4)
    assert sum(res.n_spikes) > 50  # the readout sees a working hidden layer
    L = net.n_layers - 1
    g = res.grads[L]
    rng = np.random.default_rng(5)
    eps = 1e-6
    for name in ("w", "v", "b"):
        arr = getattr(net, name)[L]
        idxs = list(np.ndindex(arr.shape))
        if len(idxs) > 40:  # per-synapse v: a random subset keeps the test fast
            idxs = [idxs[i] for i in rng.choice(len(idxs), 40, replace=False)]
        fd = np.array([central_fd(net, t, u, spec, 2, target, L, name, i, eps) for i in idxs])
        an = np.array([g[name][i] for i in idxs])
        scale = np.abs(an).max()
        assert scale > 1e-3
        np.testing.assert_allclose(an, fd, rtol=1e-6, atol=1e-6 * scale, err_msg=f"{loss} d/d{name}")


# --------------------------------------------------------------------------- 2. hidden vs naive twin
def naive_input_buckets(net: Network, t, u, n_last: int, steps: list[int]) -> dict[int, np.ndarray]:
    """Input buckets ``Y^0`` at the given steps, from a scalar loop over the cascade recursion."""
    K = net.n_buckets
    alpha = [math.exp(-DT / tau) for tau in net.taus[0]]
    count = np.zeros((n_last + 1, net.n_in))
    for ti, ui in zip(t, u):
        n = math.ceil(ti / DT - 1e-9)
        if n <= n_last:
            count[n, ui] += 1
    y = [[0.0] * K for _ in range(net.n_in)]
    out = {}
    for n in range(n_last + 1):
        for i in range(net.n_in):
            old = y[i][:]
            y[i][0] = alpha[0] * old[0] + net.h_in * count[n, i]
            for k in range(1, K):
                y[i][k] = alpha[k] * old[k] + (1.0 - alpha[k]) * old[k - 1]
        if n in steps:
            out[n] = np.array(y)
    return out


def probe_hidden_buckets(net: Network, l: int, t, u, t_end: float, times) -> np.ndarray:
    """Buckets of hidden layer ``l`` at ``times``: shape (n_t, n_l, K).

    The probe keeps hidden layers ``0..l`` unchanged (same spikes) and replaces the rest by a
    readout whose unit ``(i, k)`` has ``w = e_i`` and ``v = e_k``, so it reads ``yhat_i[k]``
    exactly (products with 1, sums with 0).
    """
    n_l, K = net.hidden[l], net.n_buckets
    n_out = n_l * K
    w = np.zeros((n_out, n_l))
    v = np.zeros((n_out, n_l, K)) if net.per_synapse else np.zeros((n_out, K))
    for i in range(n_l):
        for k in range(K):
            w[i * K + k, i] = 1.0
            v[i * K + k, ..., k] = 1.0
    probe = Network(
        n_in=net.n_in, hidden=net.hidden[: l + 1], n_out=n_out, taus=net.taus[: l + 2],
        w=[*net.w[: l + 1], w], v=[*net.v[: l + 1], v], b=[*net.b[: l + 1], np.zeros(n_out)],
        hidden_params=net.hidden_params[: l + 1], per_synapse=net.per_synapse,
        bias=(*net.bias[: l + 1], False), h_in=net.h_in,
    )
    res = simulate_reference(probe, t, u, DT, t_end=t_end, readout_times=times)
    return res.readout.reshape(len(times), n_l, K)


def naive_gradients(net: Network, o: np.ndarray, Ys: list[np.ndarray], spec: LearnSpec, label, target):
    """Loss and gradients by scalar loops; ``Ys[s]`` has shape (E, n_s, K)."""
    n_ev, n_out = o.shape
    K = net.n_buckets
    sizes = net.sizes
    # drives x^l_e of the hidden layers, from their source buckets
    xs = []
    for l in range(len(net.hidden)):
        x = np.zeros((n_ev, sizes[l + 1]))
        for e in range(n_ev):
            for j in range(sizes[l + 1]):
                acc = net.b[l][j]
                for i in range(sizes[l]):
                    for k in range(K):
                        vv = net.v[l][j, i, k] if net.per_synapse else net.v[l][j, k]
                        acc += net.w[l][j, i] * vv * Ys[l][e, i, k]
                x[e, j] = acc
        xs.append(x)
    # output errors dL/do_e and the loss
    dL = np.zeros_like(o)

    def softmax(z):
        ex = [math.exp(a - max(z)) for a in z]
        s = sum(ex)
        return [a / s for a in ex]

    if spec.loss == "mse":
        loss = sum(0.5 * (o[e, c] - target[e, c]) ** 2 for e in range(n_ev) for c in range(n_out)) / n_ev
        dL = (o - target) / n_ev
    elif spec.loss == "mean":
        loss = 0.0
        for e in range(n_ev):
            p = softmax(o[e])
            loss -= math.log(p[label]) / n_ev
            for c in range(n_out):
                dL[e, c] = (p[c] - (c == label)) / n_ev
    elif spec.loss == "last":
        p = softmax(o[-1])
        loss = -math.log(p[label])
        for c in range(n_out):
            dL[-1, c] = p[c] - (c == label)
    else:
        arg = [int(np.argmax(o[:, c])) for c in range(n_out)]  # first maximum
        p = softmax([o[arg[c], c] for c in range(n_out)])
        loss = -math.log(p[label])
        for c in range(n_out):
            dL[arg[c], c] = p[c] - (c == label)
    grads = [{"w": np.zeros_like(net.w[l]), "v": np.zeros_like(net.v[l]), "b": np.zeros_like(net.b[l])}
             for l in range(net.n_layers)]
    for e in range(n_ev):
        delta = dL[e]
        for l in range(net.n_layers - 1, -1, -1):
            Y = Ys[l][e]
            gw, gv, gb = grads[l]["w"], grads[l]["v"], grads[l]["b"]
            for j in range(sizes[l + 1]):
                if net.bias[l]:
                    gb[j] += delta[j]
                for i in range(sizes[l]):
                    for k in range(K):
                        if net.per_synapse:
                            gw[j, i] += delta[j] * net.v[l][j, i, k] * Y[i, k]
                            gv[j, i, k] += delta[j] * net.w[l][j, i] * Y[i, k]
                        else:
                            gw[j, i] += delta[j] * net.v[l][j, k] * Y[i, k]
                            gv[j, k] += delta[j] * net.w[l][j, i] * Y[i, k]
            if l == 0:
                break
            below = np.zeros(sizes[l])
            for i in range(sizes[l]):
                if xs[l - 1][e, i] > 0:
                    for j in range(sizes[l + 1]):
                        if net.per_synapse:
                            vv = net.v[l][j, i]
                        else:
                            vv = net.v[l][j]
                        g = vv[0] if spec.backward == "instant" else sum(vv)
                        below[i] += delta[j] * net.w[l][j, i] * g
            delta = below
    return loss, grads


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
@pytest.mark.parametrize("backward", ["instant", "steady"])
@pytest.mark.parametrize("loss", LOSSES)
def test_hidden_gradients_match_naive_twin(loss, backward, per_synapse):
    net = small_net(per_synapse, hidden=(9, 7), K=3, seed=4, hidden_bias=True)
    net = with_params(net, b=[np.full(9, 0.02), np.full(7, -0.01), np.zeros(4)])
    t_end = 0.06
    t, u = input_spikes(12, 120, seed=6, t_end=t_end)
    times = learning_times(t_end, PERIOD)
    n_ev = times.size
    target = np.random.default_rng(7).normal(size=(n_ev, 4))
    spec = LearnSpec(loss=loss, backward=backward, learn_period=PERIOD)
    res = run(net, t, u, spec, label=1, target=target, t_end=t_end)
    assert all(n > 20 for n in res.n_spikes)

    steps = [int(math.floor(te / DT + 1e-9)) for te in times]
    y0 = naive_input_buckets(net, t, u, int(math.floor(t_end / DT + 1e-9)), steps)
    Ys = [np.stack([y0[n] for n in steps])]
    Ys += [probe_hidden_buckets(net, l, t, u, t_end, times) for l in range(len(net.hidden))]
    # the recorded readout is the readout layer applied to the probed last hidden buckets
    L = net.n_layers - 1
    vL = net.v[L]
    mix = "jik,ji,ik->j" if per_synapse else "jk,ji,ik->j"
    o_check = np.array([net.b[L] + np.einsum(mix, vL, net.w[L], Y) for Y in Ys[-1]])
    np.testing.assert_allclose(res.readout, o_check, rtol=1e-12, atol=1e-12)

    loss_n, grads_n = naive_gradients(net, res.readout, Ys, spec, 1, target)
    assert res.loss == pytest.approx(loss_n, rel=1e-12)
    for l in range(net.n_layers):
        for name in ("w", "v", "b"):
            a, b = res.grads[l][name], grads_n[l][name]
            assert a.shape == getattr(net, name)[l].shape
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(b).max()),
                                       err_msg=f"layer {l} d/d{name}")
        assert np.abs(res.grads[l]["w"]).max() > 0
    if backward == "steady" and loss == "mean":
        # the two backward modes differ below the readout, agree on it
        other = run(net, t, u, LearnSpec(loss=loss, backward="instant", learn_period=PERIOD), label=1, t_end=t_end)
        np.testing.assert_array_equal(other.grads[L]["w"], res.grads[L]["w"])
        assert not np.allclose(other.grads[0]["w"], res.grads[0]["w"])


def test_unused_bias_gradient_is_zero():
    net = small_net(False, hidden_bias=False)
    t, u = input_spikes(12, 150, seed=1)
    res = run(net, t, u, LearnSpec(learn_period=PERIOD), label=0)
    assert not net.bias[0] and net.bias[1]
    assert np.all(res.grads[0]["b"] == 0) and res.grads[0]["b"].shape == (10,)
    assert np.any(res.grads[1]["b"] != 0)


# --------------------------------------------------------------------------- 3. linearised model
def test_instant_gradient_is_exact_in_the_linearised_model():
    """K = 1, tiny threshold: ``yhat0`` tracks ``relu(x)``, so ``instant`` is the true gradient.

    The forward pass is then ``o_e = b + v w relu(x_e) + O(theta)``, exactly the function the
    ``instant`` backward differentiates (with K = 1 every path goes through bucket 0). Tracking
    needs the drive never to fall faster than ``yhat0`` decays (spikes only push ``yhat0`` up):
    hidden weights are positive (>= 0.2, more than any perturbation), no hidden bias, and input and
    hidden cascades share their time constant, so between input spikes ``x`` and ``yhat0`` decay
    alike; upward jumps of ``x`` are followed within one step by a burst. The residual,
    ``|yhat0 - relu(x)| <= theta``, makes the loss piecewise constant on a scale ``theta``; a
    finite-difference step ``eps`` sees it as noise of relative size about ``theta / (eps |Y|)`` at
    worst (in practice much less: the quantisation residuals of the two perturbed runs are strongly
    correlated). ``theta = 1e-3`` (bursts of a few hundred spikes keep the python burst loop fast)
    and ``eps = 3e-2`` on weights of order 0.5 and bucket weights 1 leave a few 1e-3 of disagreement
    (measured: at most 2.5e-3), hence the 1e-2 relative tolerance; the curvature error of the
    central difference, O(eps^2), is smaller still.
    """
    theta = 1e-3
    n_in, n_h, n_out = 8, 6, 3
    rng = np.random.default_rng(11)
    taus = tuple(np.array([5e-3]) for _ in range(2))
    net = Network(
        n_in=n_in, hidden=(n_h,), n_out=n_out, taus=taus,
        w=[0.2 + np.abs(rng.normal(0, 0.4, (n_h, n_in))), rng.normal(0, 1.0, (n_out, n_h))],
        v=[np.ones((n_h, 1)), rng.uniform(0.5, 1.5, (n_out, 1))],
        b=[np.zeros(n_h), np.zeros(n_out)],
        hidden_params=(HiddenParams(theta_0=theta, spike_gain=2.0, max_burst=10**7),),
        bias=(False, True),
    )
    t_end = 0.05
    t, u = input_spikes(n_in, 60, seed=12, t_end=t_end)
    spec = LearnSpec(loss="mean", backward="instant", learn_period=PERIOD)
    label = 1  # a badly classified sample: large gradients
    res = run(net, t, u, spec, label=label, t_end=t_end)

    # premise: the hidden bucket 0 tracks relu(x) within theta at every learning event
    times = learning_times(t_end, PERIOD)
    steps = [int(math.floor(te / DT + 1e-9)) for te in times]
    y0 = naive_input_buckets(net, t, u, int(math.floor(t_end / DT + 1e-9)), steps)
    x = np.array([net.w[0] @ y0[n][:, 0] for n in steps])
    yh = probe_hidden_buckets(net, 0, t, u, t_end, times)[:, :, 0]
    assert np.abs(yh - np.maximum(x, 0)).max() <= theta * (1 + 1e-9)
    assert np.abs(x).max() > 100 * theta

    g = res.grads[0]
    eps = 3e-2
    # the largest entries of dL/dw and every dL/dv ...
    top = np.argsort(-np.abs(g["w"]).ravel())[:4]
    for flat in top:
        idx = np.unravel_index(flat, g["w"].shape)
        fd = central_fd(net, t, u, spec, label, None, 0, "w", idx, eps, t_end)
        assert g["w"][idx] == pytest.approx(fd, rel=1e-2)
    for j in range(n_h):
        fd = central_fd(net, t, u, spec, label, None, 0, "v", (j, 0), eps, t_end)
        assert g["v"][j, 0] == pytest.approx(fd, rel=1e-2, abs=1e-2 * np.abs(g["v"]).max())
    # ... and the derivative along the gradient itself, all hidden weights at once (a random
    # direction cancels most of the signal and leaves the theta noise). Every perturbation stays
    # below 0.2 <= w: a negative weight would make x fall faster than yhat0 can follow.
    D = g["w"] / np.abs(g["w"]).max()
    lp = run(with_params(net, w=[net.w[0] + eps * D, net.w[1]]), t, u, spec, label, t_end=t_end).loss
    lm = run(with_params(net, w=[net.w[0] - eps * D, net.w[1]]), t, u, spec, label, t_end=t_end).loss
    assert float(np.sum(g["w"] * D)) == pytest.approx((lp - lm) / (2 * eps), rel=1e-2)


# --------------------------------------------------------------------------- 4. hand-computed losses
def two_event_net() -> Network:
    """1 input -> 1 hidden -> 3 readouts, K = 1: one hidden spike of height 2 at t = 0.

    The input spike gives ``x = 1.5`` (theta = 1) through input bucket 0; the neuron spikes once
    (``yhat0 = 2``) and never again (``x - yhat0 = -0.5 alpha^n``, same tau). Readout:
    ``o[n] = b + a * 2 alpha^n`` with ``a = w v``.
    """
    taus = (np.array([5e-3]), np.array([5e-3]))
    return Network(
        n_in=1, hidden=(1,), n_out=3, taus=taus,
        w=[np.array([[1.5]]), np.array([[1.0], [-1.0], [0.5]])],
        v=[np.ones((1, 1)), np.array([[1.0], [1.0], [2.0]])],
        b=[np.zeros(1), np.array([0.1, 0.2, -0.3])],
        hidden_params=(HiddenParams(theta_0=1.0),), bias=(False, True),
    )


def test_loss_values_by_hand():
    net = two_event_net()
    t, u = np.array([0.0]), np.array([0])
    alpha = math.exp(-DT / 5e-3)
    a, b = [1.0, -1.0, 1.0], [0.1, 0.2, -0.3]
    o = [[b[c] + a[c] * 2 * alpha ** n for c in range(3)] for n in (5, 10)]  # events at 5, 10 ms

    def ce(z, y):
        return -z[y] + math.log(sum(math.exp(zc) for zc in z))

    spec = lambda loss: LearnSpec(loss=loss, learn_period=PERIOD)  # noqa: E731
    r = simulate_reference(net, t, u, DT, t_end=0.01, learn=spec("mean"), label=1)
    np.testing.assert_allclose(r.readout, o, rtol=1e-14)
    np.testing.assert_allclose(r.readout_times, [0.005, 0.01])
    assert r.loss == pytest.approx(0.5 * (ce(o[0], 1) + ce(o[1], 1)), rel=1e-13)
    r = simulate_reference(net, t, u, DT, t_end=0.01, learn=spec("last"), label=2)
    assert r.loss == pytest.approx(ce(o[1], 2), rel=1e-13)
    # max: classes 0 and 2 peak at the first event, class 1 (negative weight) at the second
    m = [o[0][0], o[1][1], o[0][2]]
    r = simulate_reference(net, t, u, DT, t_end=0.01, learn=spec("max"), label=0)
    assert r.loss == pytest.approx(ce(m, 0), rel=1e-13)
    # its readout bias gradient is softmax(m) - onehot (one event per class)
    p = [math.exp(mc) / sum(math.exp(z) for z in m) for mc in m]
    np.testing.assert_allclose(r.grads[1]["b"], [p[0] - 1, p[1], p[2]], rtol=1e-12)
    T = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]
    r = simulate_reference(net, t, u, DT, t_end=0.01, learn=spec("mse"), target=T)
    se = sum((o[e][c] - T[e][c]) ** 2 for e in range(2) for c in range(3))
    assert r.loss == pytest.approx(se / 4, rel=1e-13)
    # without learn: no loss, no gradients, same readout at the same times
    r0 = simulate_reference(net, t, u, DT, t_end=0.01, readout_times=[0.005, 0.01])
    assert r0.loss is None and r0.grads is None
    np.testing.assert_array_equal(r0.readout, r.readout)


@pytest.mark.parametrize("loss", LOSSES)
def test_several_events_per_step_and_agreement_with_learning_module(loss):
    """``learn_period < dt``: events sharing a step each count; loss and readout-bias gradient
    (``sum_e dL/do_e``) agree with :func:`sgevent.learn.spec.loss_and_output_error`."""
    net = small_net(False)
    t, u = input_spikes(12, 40, seed=8, t_end=0.02)
    times = learning_times(0.02, 4e-4)
    target = np.random.default_rng(9).normal(size=(times.size, 4))
    res = run(net, t, u, LearnSpec(loss=loss, learn_period=4e-4), label=3, target=target, t_end=0.02)
    assert times.size == 50 and res.readout.shape == (50, 4)
    plain = simulate_reference(net, t, u, DT, t_end=0.02, readout_times=times)
    np.testing.assert_array_equal(res.readout, plain.readout)
    L, d = loss_and_output_error(res.readout, loss, label=3, target=target)
    assert res.loss == pytest.approx(L, rel=1e-12)
    np.testing.assert_allclose(res.grads[-1]["b"], d.sum(axis=0), rtol=1e-10, atol=1e-15)


# --------------------------------------------------------------------------- 5. errors
def test_input_errors():
    net = two_event_net()
    t, u = np.array([0.0]), np.array([0])
    mean = LearnSpec(learn_period=PERIOD)
    for bad in (-1, 3, 1.5, None, True, "a"):
        with pytest.raises(InputError, match="label"):
            simulate_reference(net, t, u, DT, t_end=0.01, learn=mean, label=bad)
    mse = LearnSpec(loss="mse", learn_period=PERIOD)
    for bad in (None, np.zeros((3, 3)), np.zeros((2, 2)), np.zeros(6)):
        with pytest.raises(InputError, match="target"):
            simulate_reference(net, t, u, DT, t_end=0.01, learn=mse, target=bad)
    with pytest.raises(InputError, match="readout_times"):
        simulate_reference(net, t, u, DT, t_end=0.01, readout_times=[0.005], learn=mean, label=0)
    with pytest.raises(InputError, match="learning event"):
        simulate_reference(net, t, u, DT, t_end=0.004, learn=mean, label=0)
    with pytest.raises(ConfigError, match="quantiser"):
        simulate_reference(net, t, u, DT, t_end=0.01, learn=mean, label=0, quantiser="bogus")
    with pytest.raises(ConfigError, match="LearnSpec"):
        simulate_reference(net, t, u, DT, t_end=0.01, learn={"loss": "mean"}, label=0)
