"""Toy tasks for precise timing with few spikes (the paper's first research question).

Two tasks, each a library function that returns a plain results dict:

* :func:`sgevent.studies.toy_delay.run_delay_task` -- **delay learning**. One input channel
  carries one spike at a random ``t0`` in ``[5, 50]`` ms. A 1 -> H -> 1 network learns (MSE, a
  learning event every 1 ms) to make its readout a Gaussian bump peaking exactly ``d`` ms after
  the input. The figure of merit is the timing error ``|t_peak - (t0 + d)|`` where ``t_peak`` is
  the readout's argmax refined by parabolic interpolation
  (:func:`sgevent.studies.toy_delay.peak_time`).
* :func:`sgevent.studies.toy_itd.run_itd_task` -- **delayed coincidence detection** (interaural
  time difference, barn owl). Two channels carry the same random spike pattern, channel 1
  shifted by an ITD from a set of classes; the network classifies the ITD (time-averaged
  cross-entropy).

Both are evaluated in the continuous model and on grids of 1 ms and 0.1 ms (DESIGN.md 1.3), and
one network per task is also trained on a 1 ms grid and evaluated continuously.

The tasks are :mod:`sgevent.studies.toy_delay` and :mod:`sgevent.studies.toy_itd`; this module
holds what they share (configuration from dicts, cascades, trainable parameters, time-model
keys) and :func:`write_task_outputs`, which the commands ``sgevent toy delay`` and
``sgevent toy itd`` (:mod:`sgevent.cli`) use to write ``results.json``, ``networks.json`` and a
PNG figure.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.errors import ConfigError
from sgevent.model.network import Network

__all__ = ["config_from_dict", "cascade_taus", "trainable_params", "time_model_key", "write_task_outputs"]


def config_from_dict(cls, d: dict[str, Any]):
    """``cls(**d)`` of a task's config dataclass; unknown keys refused, lists turned into tuples."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} option(s) {unknown}; expected some of {sorted(names)}")
    d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
    return cls(**d)


def cascade_taus(n_buckets: int, tau_0: float, tau_stage: float) -> list[float]:
    """Time constants (s) of a ``n_buckets`` cascade: ``tau_0``, then ``tau_stage`` for every stage k >= 1."""
    return [float(tau_0)] + [float(tau_stage)] * (int(n_buckets) - 1)


def trainable_params(net: Network) -> tuple[list[np.ndarray], list[bool]]:
    """The network's arrays in optimiser order (``w[0], v[0], b[0], w[1], ...``) and which are trained."""
    params, mask = [], []
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            params.append(getattr(net, key)[l])
            mask.append(key != "b" or net.bias[l])
    return params, mask


def time_model_key(dt: float | None) -> str:
    """``"continuous"`` or ``"grid_<dt in ms>ms"`` (e.g. ``"grid_0.1ms"``): the key of a time model in results."""
    return "continuous" if dt is None else f"grid_{dt * 1e3:g}ms"


def write_task_outputs(results: dict[str, Any], out: Path, plot) -> list[Path]:
    """Write ``results.json`` (without the networks), ``networks.json`` and ``plot``'s figure into ``out``.

    ``plot(results, path)`` draws the task's figure (:mod:`sgevent.report.plots_tasks`); returns
    the three paths written.
    """
    from sgevent.train.rundir import to_jsonable

    out.mkdir(parents=True, exist_ok=True)
    slim = dict(results)
    slim["runs"] = [{k: v for k, v in r.items() if k != "network"} for r in results["runs"]]
    p_json = out / "results.json"
    p_json.write_text(json.dumps(to_jsonable(slim, "results"), indent=2) + "\n")
    nets = {f"run{i}": r["network"] for i, r in enumerate(results["runs"])}
    p_net = out / "networks.json"
    p_net.write_text(json.dumps(to_jsonable(nets, "networks")) + "\n")
    p_png = plot(results, out / f"toy_{results['task']}.png")
    return [p_json, p_net, Path(p_png)]
