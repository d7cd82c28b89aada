"""``NetConfig.taus``: explicit cascade time constants per source reach the network (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from sgevent.errors import ConfigError
from sgevent.train.config import NetConfig, TrainConfig
from sgevent.train.trainer import network_from_config


def test_one_list_of_taus_serves_every_source():
    taus = list(np.geomspace(5e-3, 150e-3, 4))
    cfg = TrainConfig(net=NetConfig(hidden=(6,), n_buckets=4, taus=taus))
    net = network_from_config(cfg, n_in=5, n_out=3)
    assert len(net.taus) == 2
    for row in net.taus:
        np.testing.assert_array_equal(row, taus)  # exactly the configured values


def test_one_list_per_source_and_round_trip():
    rows = [[2e-3, 4e-3, 8e-3], [5e-3, 20e-3, 80e-3], [1e-3, 1e-3, 1e-3]]
    cfg = TrainConfig(net=NetConfig(hidden=(6, 4), n_buckets=3, taus=rows))
    net = network_from_config(cfg, n_in=5, n_out=3)
    for got, want in zip(net.taus, rows):
        np.testing.assert_array_equal(got, want)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.to_dict()["net"]["taus"] == rows


def test_default_taus_unchanged():
    plain = network_from_config(TrainConfig(net=NetConfig(hidden=(6,), n_buckets=3)), n_in=5, n_out=3)
    assert TrainConfig().net.taus is None
    np.testing.assert_allclose(plain.taus[0], [5e-3, 15e-3, 15e-3])


@pytest.mark.parametrize("bad, match", [
    ([0.01, 0.02], r"net\.taus'.*n_buckets = 3"),  # wrong K
    ([[0.01, 0.02, 0.03]] * 3, r"net\.taus'.*2 such lists"),  # rows != sources
    ([0.01, -0.02, 0.03], r"net\.taus\[1\]"),
    ([0.01, "0.02", 0.03], r"net\.taus\[1\]"),
    ([0.01, True, 0.03], r"net\.taus\[1\]"),
    ("abc", r"net\.taus'"),
    ([[0.01, 0.02, 0.03], [0.01, 0.02]], r"net\.taus'"),
])
def test_bad_taus_are_refused_naming_the_field(bad, match):
    with pytest.raises(ConfigError, match=match):
        NetConfig(hidden=(6,), n_buckets=3, taus=bad)
