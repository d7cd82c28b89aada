"""The ``traces`` backward option and the linearised model (``quantiser="identity"``) of the
clock-driven reference (definition: the Notes of ``sgevent.reference.learner.ReferenceLearner``).

1. exactness: with ``quantiser="identity"`` and one hidden layer the ``traces`` gradients of
   every parameter are the derivatives of the reference's own loss (central finite
   differences), for distinct, repeated and mixed time constants;
2. structure: the ``k = 0`` term of the traces rule is the ``instant`` rule, so the two agree
   when no error reaches buckets ``k >= 1`` and differ otherwise;
3. a scalar-loop twin (``tests/naive.py::naive_traces_run``) on the spiking model, one and two
   hidden layers, every loss, both bucket-weight layouts;
4. the online schedule: traces survive weight updates; online differs from batch;
5. errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from naive import naive_traces_run

from sgevent.errors import ConfigError
from sgevent.learn.spec import LearnSpec
from sgevent.model.network import Network
from sgevent.reference.clock import simulate_reference
from sgevent.train.optim import OptimConfig, make_optimizer

DT = 1e-3
T_END = 0.15
PERIOD = 5e-3
N_EV = 30  # learning events of T_END / PERIOD
LOSSES = ("mean", "last", "max", "mse")
# (input cascade, hidden cascade[, second hidden cascade]) in seconds
TAUS = {
    "distinct": ([4e-3, 9e-3, 20e-3], [3e-3, 7e-3, 15e-3], [5e-3, 11e-3, 6e-3]),
    "repeated": ([10e-3] * 3, [8e-3] * 3, [6e-3] * 3),
    "mixed": ([5e-3, 15e-3, 15e-3, 15e-3], [4e-3, 12e-3, 12e-3, 12e-3], [6e-3, 9e-3, 9e-3, 9e-3]),
}


# --------------------------------------------------------------------------- helpers
def tiny_net(per_synapse: bool, taus: str = "mixed", hidden=(5,), seed: int = 0, hidden_bias: bool = True) -> Network:
    """6 inputs -> hidden -> 3 readouts, hidden biases (if used) random, not near 0."""
    t = TAUS[taus][: len(hidden) + 1]
    net = Network.create(6, hidden, 3, n_buckets=len(t[0]), seed=seed, per_synapse=per_synapse,
                         hidden_bias=hidden_bias, taus=[list(r) for r in t])
    rng = np.random.default_rng(seed + 100)
    for l in range(len(hidden)):
        if hidden_bias:
            net.b[l][:] = rng.choice([-1.0, 1.0], hidden[l]) * rng.uniform(0.05, 0.2, hidden[l])
    return net


def spikes(seed: int, n: int = 25, t_end: float = T_END):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, t_end, n), rng.integers(0, 6, n)


def targets(t_end: float = T_END) -> np.ndarray:
    return np.random.default_rng(7).normal(size=(int(round(t_end / PERIOD)), 3))


def run(net, t, u, loss="mean", backward="traces", quantiser="sigma-delta", t_end=T_END, **kw):
    spec = LearnSpec(loss=loss, backward=backward, learn_period=PERIOD)
    return simulate_reference(net, t, u, DT, t_end=t_end, learn=spec, label=1, target=targets(t_end),
                              quantiser=quantiser, **kw)


def params(net):
    return [a for l in range(net.n_layers) for a in (net.w[l], net.v[l], net.b[l])]


# --------------------------------------------------------------------------- 1. exact in the linearised model
def gate_margin(net: Network, info: dict, eps: float) -> float:
    """Smallest ``|x_i[n]|`` in units of the most one parameter step ``eps`` can move it.

    ``|dx_i/dw[i,m]| <= max|v| sum |yhat|``, ``|dx_i/dv| <= max|w| sum |yhat|``, ``dx_i/db_i = 1``;
    entries with ``x = 0`` and nothing to move it (no input yet, no bias) are exempt.
    """
    reach = eps * ((np.abs(net.w[0]).max() + np.abs(net.v[0]).max()) * np.abs(info["y_in"]).sum(axis=(1, 2))
                   + float(net.bias[0]))
    x = info["x"][0]
    live = np.broadcast_to((reach > 0)[:, None], x.shape)
    assert np.all(x[~live] == 0.0)
    return float((np.abs(x[live]) / np.broadcast_to(reach[:, None], x.shape)[live]).min())


@pytest.mark.parametrize("loss,per_synapse,taus", [
    ("mean", False, "mixed"), ("mse", False, "distinct"), ("mean", True, "repeated"), ("mse", True, "distinct"),
])
def test_traces_are_the_exact_gradient_of_the_linearised_model(loss, per_synapse, taus):
    # eps = 1e-6: the identity-model loss is smooth between gate flips (o is bilinear in each
    # layer's (w, v) and the loss smooth in o), so the central difference's truncation error is
    # O(eps^2) ~ 1e-12 relative, and its rounding error ~ 1e-16 |L| / eps ~ 1e-10 absolute.
    # gate_margin > 5 proves (it is a bound) that no perturbation flips a gate [x > 0].
    # every entry of every array is differenced: a short sample keeps the ~400 runs fast
    t_end = 0.1
    net = tiny_net(per_synapse, taus)
    t, u = spikes(seed=3, n=20, t_end=t_end)
    res = run(net, t, u, loss, quantiser="identity", t_end=t_end)
    assert sum(res.n_spikes) == 0
    _, _, info = naive_traces_run(net, t, u, DT, t_end, PERIOD, loss, 1, targets(t_end), quantiser="identity")
    eps = 1e-6
    assert gate_margin(net, info, eps) > 5
    x = info["x"][0]
    assert (x > 0).mean() > 0.2 and (x < 0).mean() > 0.2  # both sides of the ReLU are exercised
    for l in range(net.n_layers):
        for name in ("w", "v", "b"):
            arr = getattr(net, name)[l]
            an = res.grads[l][name]
            fd = np.zeros_like(arr)
            if name == "b" and not net.bias[l]:
                assert np.all(an == 0)
                continue
            for idx in np.ndindex(arr.shape):
                keep = arr[idx]
                arr[idx] = keep + eps
                lp = run(net, t, u, loss, quantiser="identity", t_end=t_end).loss
                arr[idx] = keep - eps
                lm = run(net, t, u, loss, quantiser="identity", t_end=t_end).loss
                arr[idx] = keep
                fd[idx] = (lp - lm) / (2 * eps)
            scale = np.abs(fd).max()
            assert scale > 1e-4, (l, name)
            # atol for entries that are exactly zero (or nearly) analytically: rounding of FD
            np.testing.assert_allclose(an, fd, rtol=1e-6, atol=1e-7 * scale, err_msg=f"layer {l} d/d{name}")
            assert np.linalg.norm(an - fd) <= 1e-6 * np.linalg.norm(fd)


def test_instant_is_not_exact_in_the_linearised_model():
    """The reason traces exist: with K > 1 the ``instant`` hidden gradient misses buckets k >= 1."""
    net = tiny_net(False, "mixed")
    t, u = spikes(seed=3)
    tr = run(net, t, u, quantiser="identity")
    ins = run(net, t, u, backward="instant", quantiser="identity")
    assert tr.loss == ins.loss
    for name in ("w", "v", "b"):
        a, b = tr.grads[0][name], ins.grads[0][name]
        assert np.linalg.norm(a - b) > 0.1 * np.linalg.norm(a)


@pytest.mark.parametrize("quantiser", ["sigma-delta", "identity"])
def test_gate_is_strict(quantiser):
    # a neuron with zero weights and no bias has x = 0 while its inputs are busy: [x > 0] = 0
    # (relu'(0) = 0, as in the instant rule), so its traces and hidden gradients stay zero
    net = tiny_net(False, "mixed", hidden_bias=False)
    net.w[0][2] = 0.0
    t, u = spikes(seed=3)
    res = run(net, t, u, quantiser=quantiser)
    assert res.grads[0]["w"][2].max() == res.grads[0]["w"][2].min() == 0.0
    assert res.grads[0]["v"][2].max() == res.grads[0]["v"][2].min() == 0.0
    assert np.abs(res.grads[0]["w"]).max() > 0


# --------------------------------------------------------------------------- 2. k = 0 is the instant rule
def zero_delay_buckets(v: np.ndarray) -> np.ndarray:
    v = v.copy()
    v[..., 1:] = 0.0
    return v


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
def test_traces_reduce_to_instant_without_error_at_delayed_buckets(per_synapse):
    # one hidden layer: readout v[:, k >= 1] = 0 gives g_i[k >= 1] = 0, leaving the k = 0 term
    net = tiny_net(per_synapse, "distinct")
    t, u = spikes(seed=4)
    tr, ins = run(net, t, u), run(net, t, u, backward="instant")
    assert sum(tr.n_spikes) > 20
    np.testing.assert_array_equal(tr.grads[1]["w"], ins.grads[1]["w"])  # readout: same rule
    for name in ("w", "v", "b"):
        a, b = tr.grads[0][name], ins.grads[0][name]
        assert np.linalg.norm(a - b) > 0.05 * np.linalg.norm(a), name
    net.v[1][:] = zero_delay_buckets(net.v[1])
    tr, ins = run(net, t, u), run(net, t, u, backward="instant")
    for l in range(2):
        for name in ("w", "v", "b"):
            a, b = tr.grads[l][name], ins.grads[l][name]
            assert np.abs(b).max() > 0
            # same terms, summed in another order
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max(), err_msg=f"{l} {name}")


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
def test_two_hidden_layers_pass_the_instant_error_between_hidden_layers(per_synapse):
    # readout v[:, k >= 1] = 0: the top hidden layer gets only g[k = 0] (its gradient is the
    # instant one), but layer 0 still gets g[k >= 1] through the hidden layer's own v[:, k >= 1];
    # zeroing those too makes every layer instant.
    net = tiny_net(per_synapse, "mixed", hidden=(5, 4), seed=2)
    t, u = spikes(seed=5, n=40)
    net.v[2][:] = zero_delay_buckets(net.v[2])
    tr, ins = run(net, t, u), run(net, t, u, backward="instant")
    assert min(tr.n_spikes) > 5
    close = lambda a, b: np.allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max())  # noqa: E731
    assert all(close(tr.grads[l][k], ins.grads[l][k]) for l in (1, 2) for k in "wvb")
    assert not close(tr.grads[0]["w"], ins.grads[0]["w"])
    net.v[1][:] = zero_delay_buckets(net.v[1])
    tr, ins = run(net, t, u), run(net, t, u, backward="instant")
    assert all(close(tr.grads[l][k], ins.grads[l][k]) for l in range(3) for k in "wvb")


# --------------------------------------------------------------------------- 3. naive twin
CASES = [(loss, (5,), "sigma-delta", taus) for loss, taus in zip(LOSSES, ("distinct", "repeated", "mixed", "mixed"))]
CASES += [("mean", (5, 4), "sigma-delta", "mixed"), ("max", (5, 4), "sigma-delta", "distinct"),
          ("mse", (5,), "identity", "repeated"), ("last", (5, 4), "identity", "mixed")]


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
@pytest.mark.parametrize("loss,hidden,quantiser,taus", CASES)
def test_traces_match_naive_twin(loss, hidden, quantiser, taus, per_synapse):
    net = tiny_net(per_synapse, taus, hidden=hidden, seed=2)
    t, u = spikes(seed=5, n=40)
    res = run(net, t, u, loss, quantiser=quantiser)
    L, grads, info = naive_traces_run(net, t, u, DT, T_END, PERIOD, loss, 1, targets(), quantiser=quantiser)
    assert res.n_spikes == info["n_spikes"]
    if quantiser == "sigma-delta":
        assert min(res.n_spikes) > 5
    # readout and loss: sums in another order, 1e-12
    np.testing.assert_allclose(res.readout, info["readout"], rtol=1e-12, atol=1e-12)
    assert res.loss == pytest.approx(L, rel=1e-12)
    # gradients: a few hundred products summed in another order; 1e-10 leaves room for
    # cancellation in entries much smaller than the largest of their array
    for l in range(net.n_layers):
        for name in ("w", "v", "b"):
            a, b = res.grads[l][name], grads[l][name]
            assert a.shape == b.shape
            assert np.all(np.isfinite(a))
            if net.bias[l] or name != "b":
                assert np.abs(b).max() > 0, (l, name)
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max(), err_msg=f"layer {l} d/d{name}")


# --------------------------------------------------------------------------- 4. online schedule
class Recorder:
    """A stand-in optimiser: records the gradients it is given, never moves the weights."""

    def __init__(self):
        self.steps = []

    def step(self, grads, mask=None):
        self.steps.append([g.copy() for g in grads])
        return {}


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
def test_online_keeps_traces_across_updates(per_synapse):
    # with weights that do not move, the online chunks must add up to the batch gradient:
    # the traces are neither reset nor disturbed by an update
    net = tiny_net(per_synapse, "mixed", hidden=(5, 4), seed=2)
    t, u = spikes(seed=5, n=40)
    batch = run(net, t, u)
    rec = Recorder()
    res = run(net, t, u, optimizer=rec, update_every=4)
    assert res.grads is None and len(rec.steps) == 8  # 30 events: 7 of 4, then the rest
    total = [sum(s[q] for s in rec.steps) for q in range(len(rec.steps[0]))]
    for q, want in enumerate(g for l in range(net.n_layers) for g in batch.grads[l].values()):
        np.testing.assert_allclose(total[q], want, rtol=1e-12, atol=1e-14 * max(np.abs(want).max(), 1e-300))


@pytest.mark.parametrize("per_synapse", [False, True], ids=["per_neuron", "per_synapse"])
def test_online_with_traces_runs_and_differs_from_batch(per_synapse):
    net = tiny_net(per_synapse, "distinct", hidden=(5, 4), seed=2)
    t, u = spikes(seed=5, n=40)
    lr = 0.2
    batch = run(net, t, u)
    batch_grads = [g for l in range(net.n_layers) for g in batch.grads[l].values()]
    after_batch = [p - lr * g for p, g in zip(params(net), batch_grads)]
    for every, same in ((N_EV, True), (3, False)):
        online = net.copy()
        res = run(online, t, u, optimizer=make_optimizer(OptimConfig(name="sgd", lr=lr), params(online)),
                  update_every=every)
        assert np.isfinite(res.loss)
        for q, (a, b, p0) in enumerate(zip(params(online), after_batch, params(net))):
            assert np.all(np.isfinite(a))
            if same:  # one update at the end: the batch step
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        if not same:
            trained = [k != "b" or net.bias[l] for l in range(net.n_layers) for k in "wvb"]
            moved = [not np.array_equal(a, p0) for a, p0 in zip(params(online), params(net))]
            assert all(m for m, flag in zip(moved, trained) if flag)
            diff = max(np.abs(a - b).max() for a, b in zip(params(online), after_batch))
            assert diff > 1e-4


def test_two_hidden_layers_give_finite_gradients_for_every_loss():
    net = tiny_net(False, "repeated", hidden=(5, 4), seed=2)
    t, u = spikes(seed=5, n=40)
    for loss in LOSSES:
        res = run(net, t, u, loss)
        assert np.isfinite(res.loss)
        for l in range(net.n_layers):
            assert all(np.all(np.isfinite(res.grads[l][k])) for k in "wvb")
            assert np.abs(res.grads[l]["w"]).max() > 0


# --------------------------------------------------------------------------- 5. errors
def test_quantiser_is_validated():
    net = tiny_net(False)
    t, u = spikes(seed=1)
    for bad in ("bogus", "Identity", "sigma_delta", None, 1):
        with pytest.raises(ConfigError, match="quantiser") as err:
            simulate_reference(net, t, u, DT, t_end=T_END, quantiser=bad)
        assert repr(bad) in str(err.value)
    res = simulate_reference(net, t, u, DT, t_end=T_END, quantiser="identity")
    assert res.n_spikes == [0] and res.layers[0].times.size == 0
