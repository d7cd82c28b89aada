"""The ``onset`` loss and the spike-rate penalty in the clock reference (sgevent.learn.spec;
definition also in the module notes of sgevent.reference.learner).

1. exactness: with ``quantiser="identity"``, one hidden layer and ``traces`` the gradients of the
   penalised ``onset``, ``mean`` and ``mse`` losses are the derivatives of the loss (central
   finite differences of every entry), so the penalty enters the hidden errors before they are
   passed on exactly as its definition says;
2. values: loss = the scalar-loop twin's cross-entropy over the events from the first input's
   step, plus ``lambda / (E' N_h)`` times the summed ``relu(x)`` of those events;
3. ``instant`` and ``steady`` take the penalty the same way (their hidden gradients move by the
   same amount, the penalty's gradient being exact for both with one hidden layer).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from naive import naive_traces_run

from sgevent.learn.spec import LearnSpec, learning_times
from sgevent.model.network import Network
from sgevent.reference.clock import simulate_reference

DT = 1e-3
PERIOD = 5e-3
T_END = 0.1
TAUS = ([5e-3, 15e-3, 15e-3, 15e-3], [4e-3, 12e-3, 12e-3, 12e-3])


def tiny_net(per_synapse: bool, seed: int = 0) -> Network:
    net = Network.create(6, (5,), 3, n_buckets=4, seed=seed, per_synapse=per_synapse, hidden_bias=True,
                         taus=[list(r) for r in TAUS])
    rng = np.random.default_rng(seed + 100)
    net.b[0][:] = rng.choice([-1.0, 1.0], 5) * rng.uniform(0.05, 0.2, 5)
    return net


def spikes(seed: int, n: int = 20, t0: float = 0.0, t_end: float = T_END):
    rng = np.random.default_rng(seed)
    return rng.uniform(t0, t_end, n), rng.integers(0, 6, n)


def targets() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(int(round(T_END / PERIOD)), 3))


def run(net, t, u, loss, rate, backward="traces", quantiser="identity"):
    spec = LearnSpec(loss=loss, backward=backward, learn_period=PERIOD, rate_penalty=rate)
    return simulate_reference(net, t, u, DT, t_end=T_END, learn=spec, label=1, target=targets(), quantiser=quantiser)


@pytest.mark.parametrize("loss,per_synapse", [("onset", False), ("onset", True), ("mean", False), ("mse", True)])
def test_penalised_traces_are_the_exact_gradient_of_the_linearised_model(loss, per_synapse):
    # as in test_learner_traces.py: eps = 1e-6 on a loss smooth between gate flips (truncation
    # O(eps^2), rounding ~1e-10); the inputs start at 23 ms so that 'onset' drops 4 events
    net = tiny_net(per_synapse)
    t, u = spikes(seed=3, t0=0.023)
    rate = 0.5
    res = run(net, t, u, loss, rate)
    base = run(net, t, u, loss, 0.0)
    assert res.loss > base.loss
    eps = 1e-6
    for l in range(net.n_layers):
        for name in ("w", "v", "b"):
            arr = getattr(net, name)[l]
            an = res.grads[l][name]
            if l == 0:  # the penalty moves every hidden gradient ...
                assert not np.allclose(an, base.grads[l][name])
            else:  # ... and no readout gradient
                assert np.array_equal(an, base.grads[l][name])
            fd = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                keep = arr[idx]
                arr[idx] = keep + eps
                lp = run(net, t, u, loss, rate).loss
                arr[idx] = keep - eps
                lm = run(net, t, u, loss, rate).loss
                arr[idx] = keep
                fd[idx] = (lp - lm) / (2 * eps)
            scale = np.abs(fd).max()
            assert scale > 1e-4, (l, name)
            np.testing.assert_allclose(an, fd, rtol=1e-6, atol=1e-7 * scale, err_msg=f"layer {l} d/d{name}")


@pytest.mark.parametrize("loss", ["onset", "mean", "last"])
@pytest.mark.parametrize("quantiser", ["sigma-delta", "identity"])
def test_loss_values_against_the_scalar_twin(loss, quantiser):
    net = tiny_net(False, seed=2)
    t, u = spikes(seed=4, n=40, t0=0.0312)
    t[0] = 0.0312
    rate = 0.7
    res = run(net, t, u, loss, rate, backward="instant", quantiser=quantiser)
    _, _, info = naive_traces_run(net, t, u, DT, T_END, PERIOD, "mean", 1, quantiser=quantiser)
    o = info["readout"]
    times = learning_times(T_END, PERIOD)
    steps = [int(math.floor(te / DT + 1e-9)) for te in times]
    first_step = math.ceil(t.min() / DT - 1e-9)  # 32: the first input's step
    e0 = {"mean": 0, "last": len(times) - 1, "onset": next(e for e, n in enumerate(steps) if n >= first_step)}[loss]
    assert loss != "onset" or e0 == 6  # events at 5 .. 30 ms read steps before 32
    ce = [math.log(sum(math.exp(c) for c in o[e])) - o[e][1] for e in range(e0, len(times))]
    relu = [sum(max(x, 0.0) for x in info["x"][0][steps[e]]) for e in range(e0, len(times))]
    n = len(times) - e0
    want = sum(ce) / n + rate * sum(relu) / (n * sum(net.hidden))
    assert res.loss == pytest.approx(want, rel=1e-12)


def test_instant_and_steady_take_the_same_penalty():
    # with one hidden layer the penalty's gradient does not depend on the backward option
    net = tiny_net(True, seed=5)
    t, u = spikes(seed=6, n=30)
    d = {}
    for bw in ("instant", "steady"):
        d[bw] = [{k: a[k] - b[k] for k in a} for a, b in zip(run(net, t, u, "mean", 0.4, bw, "sigma-delta").grads,
                                                             run(net, t, u, "mean", 0.0, bw, "sigma-delta").grads)]
    for key in ("w", "v", "b"):
        np.testing.assert_allclose(d["instant"][0][key], d["steady"][0][key], rtol=1e-9, atol=1e-15)
        assert np.abs(d["instant"][0][key]).max() > 0
