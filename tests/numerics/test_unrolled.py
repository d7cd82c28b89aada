"""The K-specialised cascade kernels (sgevent.numerics.unrolled) against the generic loop."""

from pathlib import Path

import numpy as np
import pytest

from sgevent.numerics import gen_unrolled
from sgevent.numerics.propagator import propagator
from sgevent.numerics.unrolled import K_UNROLLED, propagate_rows


def test_generated_file_is_current():
    path = Path(gen_unrolled.__file__).with_name("unrolled.py")
    assert path.read_text() == gen_unrolled.render(), "run: python -m sgevent.numerics.gen_unrolled"
    assert K_UNROLLED == gen_unrolled.K_MAX


def _naive_rows(P, z, start, n_rows, K):
    out = z.copy()
    for row in range(n_rows):
        a = start + row * K
        for i in range(K):
            acc = 0.0
            for c in range(i + 1):
                acc += P[i, c] * z[a + c]
            out[a + i] = acc
    return out


@pytest.mark.parametrize("K", list(range(1, K_UNROLLED + 3)))
def test_rows_bitwise_equal_to_loop(K):
    rng = np.random.default_rng(K)
    taus = np.sort(rng.uniform(1e-3, 5e-2, K))
    P = propagator(taus, 3e-3)
    n_rows, start = 7, 3
    z = rng.normal(size=start + n_rows * K + 5)
    z[start + 2] = -0.0
    want = _naive_rows(P, z, start, n_rows, K)
    got = z.copy()
    propagate_rows(P, got, start, n_rows, K, np.empty(K))
    assert np.array_equal(got.view(np.int64), want.view(np.int64))  # bit for bit, signs of zero included
    assert np.array_equal(got[:start], z[:start]) and np.array_equal(got[start + n_rows * K:], z[start + n_rows * K:])
