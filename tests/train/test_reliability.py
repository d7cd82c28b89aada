"""What a hostile new user found (issue 12): each defect has a test that failed before its fix."""

import json

import numpy as np
import pytest

from sgevent.errors import ConfigError
from sgevent.train.config import TrainConfig


# ---------------------------------------------------------------------- 2: config types
@pytest.mark.parametrize("over, field", [
    ({"net": {"hidden": "16"}}, "net.hidden"),
    ({"net": {"hidden": [16.7]}}, "net.hidden[0]"),
    ({"net": {"hidden": "abc"}}, "net.hidden"),
    ({"net": {"hidden": [0]}}, "net.hidden[0]"),
    ({"net": {"hidden": [-5]}}, "net.hidden[0]"),
    ({"net": {"hidden": []}}, "net.hidden"),
    ({"net": {"hidden": [True]}}, "net.hidden[0]"),
    ({"net": {"n_buckets": "8"}}, "net.n_buckets"),
    ({"net": {"per_synapse": 1}}, "net.per_synapse"),
    ({"net": {"theta_0": None}}, "net.theta_0"),
    ({"epochs": "2"}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"dt": "0.001"}, "dt"),
    ({"dt": -1e-3}, "dt"),
    ({"seed": 1.5}, "seed"),
    ({"seed": -1}, "seed"),
    ({"batch_size": None}, "batch_size"),
    ({"window": float("nan")}, "window"),
    ({"max_train_samples": 0}, "max_train_samples"),
    ({"max_eval_samples": -3}, "max_eval_samples"),
    ({"spike_budget": 0}, "spike_budget"),
    ({"schedule": 1}, "schedule"),
    ({"learn": {"learn_period": "0.001"}}, "learn.learn_period"),
    ({"learn": {"loss": 3}}, "learn.loss"),
    ({"optim": {"lr": "0.1"}}, "optim.lr"),
    ({"optim": {"lr": True}}, "optim.lr"),
    ({"optim": {"betas": [0.9]}}, "optim.betas"),
    ({"augment": {"channel_shift": 1.5}}, "augment.channel_shift"),
    ({"augment": {"event_dropout": "0.1"}}, "augment.event_dropout"),
    ({"net": [16]}, "net"),
])
def test_every_config_field_is_type_and_range_checked(over, field):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict(over)
    msg = str(e.value)
    assert f"'{field}'" in msg and "expected" in msg
    value = over[next(iter(over))]
    value = value[next(iter(value))] if isinstance(value, dict) else value
    assert repr(value) in msg or field == "net.hidden[0]"


def test_valid_config_round_trips_in_canonical_types():
    cfg = TrainConfig.from_dict({"dt": 1, "net": {"hidden": 16}, "window": None, "optim": {"lr": 1}})
    assert cfg.net.hidden == (16,) and cfg.dt == 1.0 and isinstance(cfg.dt, float)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert np.isclose(cfg.optim.lr, 1.0)
