"""Slow, obvious twins of sgevent's kernels (STUMPY style): loops, scipy.linalg.expm, heapq,
dense time grids. Tests compare the kernels against these."""

from __future__ import annotations

import heapq

import numpy as np
import scipy.linalg


def naive_cascade_matrix(taus):
    K = len(taus)
    A = np.zeros((K, K))
    for k in range(K):
        A[k, k] = -1.0 / taus[k]
        if k >= 1:
            A[k, k - 1] = 1.0 / taus[k]
    return A


def naive_grid_step(taus, dt):
    K = len(taus)
    D = np.zeros((K, K))
    for k in range(K):
        D[k, k] = np.exp(-dt / taus[k])
        if k >= 1:
            D[k, k - 1] = 1.0 - D[k, k]  # rows sum to exactly 1, as in the kernels
    return D


def naive_propagator(taus, s):
    """exp(A s) by scipy.linalg.expm (accurate for distinct or equal taus; see below)."""
    return scipy.linalg.expm(naive_cascade_matrix(taus) * s)


def naive_propagator_rotated(taus, s):
    """exp(A s) by scipy.linalg.expm, applied to an orthogonally rotated copy of A.

    scipy's expm recognises a triangular argument and recomputes its first superdiagonal with a
    formula that loses up to ~1e-9 relative accuracy when taus are nearly equal (measured
    against 50-digit mpmath). Rotating A by a fixed orthogonal Q hides the structure, so expm
    runs its plain, normwise-accurate Pade scaling and squaring: exp(A) = Q exp(Q^T A Q) Q^T.
    The price: accuracy is relative to the largest intermediate, so tiny results (long s) lose
    relative accuracy; use it for short horizons.
    """
    A = naive_cascade_matrix(taus) * s
    Q = _rotation(A.shape[0])
    return Q @ scipy.linalg.expm(Q.T @ A @ Q) @ Q.T


_ROT = {}


def _rotation(K):
    if K not in _ROT:
        q, _ = np.linalg.qr(np.random.default_rng(K).standard_normal((K, K)))
        _ROT[K] = q
    return _ROT[K]


def naive_grid_propagator(taus, dt, n):
    """D^n by n explicit matrix products."""
    D = naive_grid_step(taus, dt)
    P = np.eye(len(taus))
    for _ in range(n):
        P = D @ P
    return P


def mp_propagator(taus, s, dps=50):
    """exp(A s) in mpmath at ``dps`` digits (exact reference for nearly equal taus)."""
    import mpmath

    with mpmath.workdps(dps):
        A = mpmath.matrix(naive_cascade_matrix(taus).tolist()) * s
        return np.array(mpmath.expm(A).tolist(), dtype=float)


def mp_grid_power(D, n, dps=50):
    """D^n in mpmath at ``dps`` digits, for the float64 matrix ``D`` taken as exact.

    (alpha^n has condition number n in alpha: the oracle must power the same rounded step
    matrix as the kernel, or it measures the rounding of alpha, not the algorithm.)"""
    import mpmath

    with mpmath.workdps(dps):
        M = mpmath.matrix([[mpmath.mpf(float(x)) for x in row] for row in D])
        return np.array((M ** n).tolist(), dtype=float)


class NaiveHeap:
    """heapq-based twin of sgevent.numerics.queue."""

    def __init__(self):
        self.h = []

    def push(self, t, seq, nid, ver):
        heapq.heappush(self.h, (t, seq, nid, ver))

    def pop(self):
        return heapq.heappop(self.h)

    def __len__(self):
        return len(self.h)


def naive_f(s, z, c, b, theta_0, y0, thd, lam0, lam_th, taus):
    """f(s) = x(s) - yhat0(s) - theta(s) of one neuron, continuous time, by expm."""
    P = naive_propagator_rotated(taus, s)  # accurate for nearly equal taus too (s <= 0.1 s here)
    x = b + sum(c[r] @ (P @ z[r]) for r in range(z.shape[0]))
    return x - y0 * np.exp(-lam0 * s) - theta_0 - thd * np.exp(-lam_th * s)


def naive_f_curve(s_grid, z, c, b, theta_0, y0, thd, lam0, lam_th, Ps):
    """f on a dense grid given precomputed propagators ``Ps`` (n_s, K, K)."""
    zs = np.einsum("sij,rj->sri", Ps, z)
    x = b + np.einsum("rk,srk->s", c, zs)
    return x - y0 * np.exp(-lam0 * s_grid) - theta_0 - thd * np.exp(-lam_th * s_grid)


def naive_first_crossing_dense(f_of_s, s_grid, f_grid, tol=1e-12):
    """First crossing seen on a dense grid, refined by bisection between grid points.

    Returns inf if no grid point has f >= 0. Misses excursions shorter than the grid spacing.
    """
    idx = np.flatnonzero(f_grid >= 0)
    if idx.size == 0:
        return np.inf
    i = idx[0]
    if i == 0:
        return s_grid[0]
    lo, hi = s_grid[i - 1], s_grid[i]
    while hi - lo > tol:
        m = 0.5 * (lo + hi)
        if f_of_s(m) >= 0:
            hi = m
        else:
            lo = m
    return hi


def naive_grid_first_crossing(n_max, z, c, b, theta_0, y0, thd, a0, a_th, taus, dt):
    """First step u in 1..n_max with f[u] >= 0, stepping the discrete recursion one step at a time."""
    D = naive_grid_step(taus, dt)
    zc = z.copy()
    for u in range(1, n_max + 1):
        zc = zc @ D.T
        x = b + np.sum(c * zc)
        f = x - y0 * a0 ** u - theta_0 - thd * a_th ** u
        if f >= 0:
            return u, f
    return None, None


def naive_traces_run(net, times, units, dt, t_end, learn_period, loss, label=None, target=None,
                     quantiser="sigma-delta"):
    """Loss and ``backward="traces"`` gradients of one sample, by scalar loops over everything.

    Twin of ``simulate_reference(..., learn=LearnSpec(loss, "traces", learn_period))``
    (definition: the Notes of ``sgevent.reference.learner.ReferenceLearner``), written without its arrays: the
    forward (DESIGN.md section 1.4, neuron by neuron, spike by spike, or ``relu`` with
    ``quantiser="identity"``), the eligibility traces ``E[l][i][m][k'][k]`` and ``Eb[l][i][k]``
    per step, per neuron, per synapse, and a record of every learning event; the output errors
    are formed afterwards from the whole record (no streaming, no snapshots), then each event's
    errors are sent down layer by layer.

    Returns
    -------
    loss : float
    grads : list of dict {"w", "v", "b"}, one per layer (hidden layers, then the readout)
    info : dict
        ``x``: per hidden layer, array (N + 1, n_l) of the signals at every step;
        ``y_in``: array (N + 1, n_in, K) of the input buckets; ``n_spikes``: per hidden layer;
        ``readout``: array (E, n_out).
    """
    import copy
    import math

    K = net.n_buckets
    sizes = net.sizes
    H = len(net.hidden)
    L = H  # index of the readout layer
    N = int(math.floor(t_end / dt + 1e-9))
    n_ev = int(math.floor(t_end / learn_period + 1e-9))
    ev_steps = [int(math.floor(min((e + 1) * learn_period, t_end) / dt + 1e-9)) for e in range(n_ev)]
    count = [[0] * net.n_in for _ in range(N + 1)]
    for ti, ui in zip(times, units):
        n = math.ceil(ti / dt - 1e-9)
        if n <= N:
            count[n][int(ui)] += 1

    def cw(l, j, i, k):  # c[j,i,k] = w[j,i] v[j,(i,)k] of layer l
        vv = net.v[l][j, i, k] if net.per_synapse else net.v[l][j, k]
        return net.w[l][j, i] * vv

    alpha = [[math.exp(-dt / tau) for tau in net.taus[s]] for s in range(H + 1)]
    y = [[[0.0] * K for _ in range(sizes[s])] for s in range(H + 1)]  # y[s][i][k]
    thd = [[0.0] * sizes[l + 1] for l in range(H)]
    E = [[[[[0.0] * K for _ in range(K)] for _ in range(sizes[l])] for _ in range(sizes[l + 1])] for l in range(H)]
    Eb = [[[0.0] * K for _ in range(sizes[l + 1])] for l in range(H)]
    x_hist = [np.zeros((N + 1, sizes[l + 1])) for l in range(H)]
    y_in_hist = np.zeros((N + 1, net.n_in, K))
    n_spikes = [0] * H
    record = []  # per event: (o, x, Y, E, Eb)
    for n in range(N + 1):
        a = alpha[0]
        for i in range(net.n_in):
            old = y[0][i][:]
            y[0][i][0] = a[0] * old[0] + net.h_in * count[n][i]
            for k in range(1, K):
                y[0][i][k] = a[k] * old[k] + (1.0 - a[k]) * old[k - 1]
        y_in_hist[n] = y[0]
        xs = []
        for l in range(H):
            hp = net.hidden_params[l]
            a = alpha[l + 1]
            x = []
            for j in range(sizes[l + 1]):
                acc = net.b[l][j]
                for i in range(sizes[l]):
                    for k in range(K):
                        acc += cw(l, j, i, k) * y[l][i][k]
                x.append(acc)
            x_hist[l][n] = x
            xs.append(x)
            for j in range(sizes[l + 1]):
                gate = 1.0 if x[j] > 0 else 0.0
                for i in range(sizes[l]):
                    for kp in range(K):
                        old = E[l][j][i][kp][:]
                        E[l][j][i][kp][0] = gate * y[l][i][kp]
                        for k in range(1, K):
                            E[l][j][i][kp][k] = a[k] * old[k] + (1.0 - a[k]) * old[k - 1]
                old = Eb[l][j][:]
                Eb[l][j][0] = gate
                for k in range(1, K):
                    Eb[l][j][k] = a[k] * old[k] + (1.0 - a[k]) * old[k - 1]
            for j in range(sizes[l + 1]):
                old = y[l + 1][j][:]
                for k in range(1, K):
                    y[l + 1][j][k] = a[k] * old[k] + (1.0 - a[k]) * old[k - 1]
                relu = max(0.0, x[j])
                if quantiser == "identity":
                    y[l + 1][j][0] = relu
                    continue
                y0 = a[0] * old[0]
                td = thd[l][j] * math.exp(-dt / hp.tau_theta)
                burst = 0
                while relu - y0 >= hp.theta_0 + td:
                    if burst >= hp.max_burst:
                        raise RuntimeError("burst limit")
                    th = hp.theta_0 + td
                    y0 += hp.spike_gain * th
                    td += hp.m_f * th
                    burst += 1
                y[l + 1][j][0] = y0
                thd[l][j] = td
                n_spikes[l] += burst
        for e in range(n_ev):
            if ev_steps[e] == n:
                o = []
                for c in range(net.n_out):
                    acc = net.b[L][c]
                    for i in range(sizes[L]):
                        for k in range(K):
                            acc += cw(L, c, i, k) * y[L][i][k]
                    o.append(acc)
                record.append((o, copy.deepcopy(xs), copy.deepcopy(y), copy.deepcopy(E), copy.deepcopy(Eb)))

    # output errors dL/do_e from the whole record
    o_all = [r[0] for r in record]
    n_out = net.n_out
    dL = [[0.0] * n_out for _ in range(n_ev)]

    def softmax(z):
        mx = max(z)
        ex = [math.exp(q - mx) for q in z]
        s = sum(ex)
        return [q / s for q in ex]

    if loss == "mse":
        total = 0.0
        for e in range(n_ev):
            for c in range(n_out):
                d = o_all[e][c] - target[e][c]
                total += 0.5 * d * d / n_ev
                dL[e][c] = d / n_ev
    elif loss == "mean":
        total = 0.0
        for e in range(n_ev):
            p = softmax(o_all[e])
            total -= math.log(p[label]) / n_ev
            for c in range(n_out):
                dL[e][c] = (p[c] - (c == label)) / n_ev
    elif loss == "last":
        p = softmax(o_all[-1])
        total = -math.log(p[label])
        for c in range(n_out):
            dL[-1][c] = p[c] - (c == label)
    else:  # max: the first maximum in time of each class
        arg = []
        for c in range(n_out):
            best = 0
            for e in range(1, n_ev):
                if o_all[e][c] > o_all[best][c]:
                    best = e
            arg.append(best)
        p = softmax([o_all[arg[c]][c] for c in range(n_out)])
        total = -math.log(p[label])
        for c in range(n_out):
            dL[arg[c]][c] = p[c] - (c == label)

    grads = [{"w": np.zeros_like(net.w[l]), "v": np.zeros_like(net.v[l]), "b": np.zeros_like(net.b[l])}
             for l in range(net.n_layers)]
    for e in range(n_ev):
        _, xs, Y, Ee, Ebe = record[e]
        delta = dL[e]
        gw, gv, gb = grads[L]["w"], grads[L]["v"], grads[L]["b"]
        for c in range(n_out):
            if net.bias[L]:
                gb[c] += delta[c]
            for i in range(sizes[L]):
                for k in range(K):
                    if net.per_synapse:
                        gw[c, i] += delta[c] * net.v[L][c, i, k] * Y[L][i][k]
                        gv[c, i, k] += delta[c] * net.w[L][c, i] * Y[L][i][k]
                    else:
                        gw[c, i] += delta[c] * net.v[L][c, k] * Y[L][i][k]
                        gv[c, k] += delta[c] * net.w[L][c, i] * Y[L][i][k]
        above = L  # the layer whose error `delta` is
        for l in range(H - 1, -1, -1):
            # error at the buckets of hidden layer l's neurons, from the layer above
            g = [[0.0] * K for _ in range(sizes[l + 1])]
            for i in range(sizes[l + 1]):
                for k in range(K):
                    for j in range(sizes[above + 1]):
                        g[i][k] += delta[j] * cw(above, j, i, k)
            gw, gv, gb = grads[l]["w"], grads[l]["v"], grads[l]["b"]
            for i in range(sizes[l + 1]):
                for m in range(sizes[l]):
                    for kp in range(K):
                        G = 0.0
                        for k in range(K):
                            G += g[i][k] * Ee[l][i][m][kp][k]
                        if net.per_synapse:
                            gw[i, m] += net.v[l][i, m, kp] * G
                            gv[i, m, kp] += net.w[l][i, m] * G
                        else:
                            gw[i, m] += net.v[l][i, kp] * G
                            gv[i, kp] += net.w[l][i, m] * G
                if net.bias[l]:
                    for k in range(K):
                        gb[i] += g[i][k] * Ebe[l][i][k]
            delta = [(1.0 if xs[l][i] > 0 else 0.0) * g[i][0] for i in range(sizes[l + 1])]
            above = l
    info = {"x": x_hist, "y_in": y_in_hist, "n_spikes": n_spikes, "readout": np.array(o_all)}
    return total, grads, info


def naive_conv_signal(spec, w, v, b, Y):
    """Signals ``x (n_post,)`` of a conv layer with per-channel bucket weights from its source
    buckets ``Y (n_pre, K)``: pool the map, zero-pad it, slide the kernel (PyTorch's
    cross-correlation), one output position at a time."""
    c_in, h, wd = spec.in_shape
    q = spec.pool
    K = Y.shape[1]
    m = Y.reshape(c_in, h, wd, K)[:, :h // q * q, :wd // q * q]
    m = m.reshape(c_in, h // q, q, wd // q, q, K).sum(axis=(2, 4))
    if spec.pool_mode == "avg":
        m = m / (q * q)
    p, k, s = spec.padding, spec.kernel, spec.stride
    m = np.pad(m, ((0, 0), (p, p), (p, p), (0, 0)))
    c_out, ho, wo = spec.out_shape
    x = np.empty((c_out, ho, wo))
    for co in range(c_out):
        for oy in range(ho):
            for ox in range(wo):
                patch = m[:, oy * s:oy * s + k, ox * s:ox * s + k, :]  # (C, k, k, K)
                x[co, oy, ox] = b[co] + np.einsum("cyxk,cyx,k->", patch, w[co], v[co])
    return x.ravel()
