"""Training loop: mini-batches, evaluation, checkpoints and exact resume.

Schedules (DESIGN.md 3): ``batch`` averages the gradients of a mini-batch's samples (run in
parallel, reduced in sample order) and applies them once; ``online`` runs the samples in order
and applies the optimiser every ``update_every`` learning events inside each sample. Everything
random is derived from the seed: the validation split, each epoch's sample order (``seed,
epoch``) and each sample's augmentation and hidden-dropout mask (``seed, epoch, sample``), so a run resumed from
``checkpoint_last.h5`` (weights, optimiser moments, epoch, batch position and the epoch's running
sums) ends with the same weights as an uninterrupted one.

Safety (issue 12). A checkpoint records the *resolved* configuration (the window actually used)
and fingerprints of the data, so ``sgevent eval`` reproduces the run's test score and a resume
refuses other data, another configuration or another network shape. Each write of
``checkpoint_last.h5`` keeps the one before as ``checkpoint_prev.h5``; a resume falls back to it
when the latest fails its checksums. A non-finite or exploding loss (above ``max_loss``),
non-finite weights or an engine failure stop the run with a TrainingError naming the last good
checkpoint (one that exists, verifies, and holds weights from before the failure).

With ``backend=`` (a :class:`sgevent.train.distributed.DaskBackend`) the samples of each mini-batch
and the evaluations run on Dask worker processes, on this machine or many; the backend is a
runtime option, not configuration (a run may be resumed with or without it), and only the
float summation order of the shards differs from in-process training (see that module).

Run directory (see :class:`sgevent.train.rundir.RunDir`): ``config.json``, ``provenance.json``,
``metrics.jsonl`` (one line per epoch), ``checkpoint_last.h5``, ``checkpoint_best.h5`` (best
validation accuracy) and ``results.json``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.data.augment import Augment
from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import speaker_split
from sgevent.engine.simulate import simulate
from sgevent.errors import BurstLimitError, ConfigError, DataError, EngineError, TrainingError
from sgevent.model.network import Network
from sgevent.train.batch import (
    BatchResult,
    MaskedOptimizer,
    batch_gradients,
    budget_kwargs,
    evaluate,
    masked_network,
    one_blas_thread,
    predict_from_readout,
    sample_masks,
)
from sgevent.train.checkpoint import load_checkpoint, network_to_payload, payload_to_network, save_checkpoint
from sgevent.train.config import TrainConfig, config_diff, resume_config
from sgevent.train.distributed import fingerprint
from sgevent.train.optim import make_optimizer
from sgevent.train.rundir import RunDir

__all__ = ["Trainer", "default_window", "network_from_config", "check_data_fits", "checkpoint_network"]


def default_window(data: SpikeDataset, learn_period: float) -> float:
    """99th percentile of the samples' last spike times, rounded up to ``learn_period``."""
    last = data.durations()
    q = float(np.percentile(last, 99)) if last.size else learn_period
    return max(learn_period, float(np.ceil(q / learn_period - 1e-9)) * learn_period)


def network_from_config(config: TrainConfig, n_in: int, n_out: int) -> Network:
    """The initial network of a run (seeded by ``config.seed``)."""
    c = config.net
    kw = dict(n_buckets=c.n_buckets, seed=config.seed, tau_0=c.tau_0, tau_delay=c.tau_delay,
              theta_0=c.theta_0, m_f=c.m_f, tau_theta=c.tau_theta, spike_gain=c.spike_gain, max_burst=c.max_burst,
              per_synapse=c.per_synapse, hidden_bias=c.hidden_bias, readout_bias=c.readout_bias,
              weight_gain=c.weight_gain, taus=_taus_argument(c.taus))
    if c.conv:
        if int(np.prod(c.in_shape)) != n_in:
            raise ConfigError(f"config field 'net.in_shape': {list(c.in_shape)} is {int(np.prod(c.in_shape))} "
                              f"input channels but the data has {n_in}")
        return Network.create_conv(c.in_shape, c.conv, n_out, dense=c.hidden, **kw)
    return Network.create(n_in, c.hidden, n_out, **kw)


def _taus_argument(taus: tuple[tuple[float, ...], ...] | None) -> list | None:
    """``NetConfig.taus`` as :meth:`Network.create` takes it (one row: the same for every source)."""
    if taus is None:
        return None
    return list(taus[0]) if len(taus) == 1 else [list(r) for r in taus]


def check_data_fits(net: Network, data: SpikeDataset, role: str, what: str = "the network") -> None:
    """DataError unless ``data`` has exactly the network's input channels and classes.

    A wider network would accept narrower data silently (its extra inputs never fire) and a
    narrower readout would fail only when a label past it is scored, after all the work.
    """
    if data.n_channels != net.n_in:
        raise DataError(f"{data.source}: the {role} data has {data.n_channels} input channels but {what} has "
                        f"n_in = {net.n_in}; expected data with {net.n_in} channels")
    if data.n_classes != net.n_out:
        raise DataError(f"{data.source}: the {role} data has {data.n_classes} classes but {what} has "
                        f"{net.n_out} outputs; expected data with {net.n_out} classes")


def _check_same_shape(expected: Network, got: Network, path) -> None:
    shapes = [tuple(np.shape(a)) for l in range(expected.n_layers) for a in (expected.w[l], expected.v[l])]
    other = [tuple(np.shape(a)) for l in range(got.n_layers) for a in (got.w[l], got.v[l])]
    if expected.sizes != got.sizes or shapes != other:
        raise ConfigError(f"{path}: the checkpoint's network has layer sizes {got.sizes} (weights {other}); the run's "
                          f"configuration and data give {expected.sizes} (weights {shapes}). Refusing to train a "
                          "checkpoint of another network shape")


def checkpoint_network(d: dict[str, Any], path) -> Network:
    """The network stored in a loaded checkpoint ``d`` (DataError naming ``path`` if unusable)."""
    try:
        net = payload_to_network(d["net"])
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}: the checkpoint has no usable network ({type(e).__name__}: {e})") from None
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    params, names, _ = _params(net)
    for name, p in zip(names, params):
        if not np.all(np.isfinite(p)):
            raise DataError(f"{path}: parameter {name} holds non-finite values; the checkpoint is unusable")
    return net


def _link_previous(last: Path, prev: Path) -> None:
    """Make ``prev`` the file ``last`` is now (a hard link, else a copy), atomically."""
    tmp = prev.with_name(f".{prev.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(last, tmp)
    except OSError:  # no hard links on this file system
        shutil.copy2(last, tmp)
    os.replace(tmp, prev)


def _params(net: Network) -> tuple[list[np.ndarray], list[str], list[bool]]:
    params, names, mask = [], [], []
    for l in range(net.n_layers):
        for key in ("w", "v", "b"):
            params.append(getattr(net, key)[l])
            names.append(f"{key}[{l}]")
            mask.append(key != "b" or net.bias[l])
    return params, names, mask


class Trainer:
    """Train a SpikingGamma network on a :class:`SpikeDataset`.

    Parameters
    ----------
    config : TrainConfig
    train_data : SpikeDataset
        Training split (the validation split is carved out of it).
    run : RunDir
        Where results and checkpoints go.
    test_data : SpikeDataset, optional
        Evaluated once at the end; checked against the network's inputs and classes up front.
    progress : bool
        Show a tqdm progress bar.
    backend : sgevent.train.distributed.DaskBackend, optional
        Run mini-batch shards and evaluations on Dask workers (``batch`` schedule only;
        ConfigError with ``online``). None: in this process, on ``config.threads`` threads.

    Raises
    ------
    ConfigError
        The split leaves no training sample.
    DataError
        The test data does not fit the network (channels or classes; names the file).
    """

    def __init__(self, config: TrainConfig, train_data: SpikeDataset, run: RunDir, *,
                 test_data: SpikeDataset | None = None, progress: bool = True, backend=None) -> None:
        if backend is not None:
            from sgevent.train.distributed import check_schedule

            check_schedule(config)
            if config.reg.active:
                raise ConfigError(f"config field 'reg.hidden_dropout': got {config.reg.hidden_dropout!r} with Dask "
                                  "workers; hidden dropout runs in this process only for now (drop --workers/"
                                  "--scheduler, or set reg.hidden_dropout to 0)")
        self.backend = backend
        self.config = config
        self.data = train_data
        self.test_data = test_data
        self.run = run
        self.progress = progress
        self.spec = config.learn
        self.threads = config.threads or (os.cpu_count() or 1)
        self.train_idx, self.val_idx = self._split(config, train_data)
        self.window = config.window or default_window(train_data, self.spec.learn_period)
        self.net = network_from_config(config, train_data.n_channels, train_data.n_classes)
        if test_data is not None:
            check_data_fits(self.net, test_data, "test", f"the network trained on {train_data.source}")
        self.augment = Augment(config.augment, train_data.n_channels) if config.augment.active else None
        self._make_optimizer()
        self.fingerprints = {"train": fingerprint(train_data), "train_source": str(train_data.source),
                             "test": None if test_data is None else fingerprint(test_data),
                             "test_source": None if test_data is None else str(test_data.source)}
        self.epoch = 0
        self.batch_pos = 0
        self.step = 0
        self.best_val = -np.inf
        self.sums = np.zeros(4)  # loss, correct, samples, hidden spikes of the current epoch

    @staticmethod
    def _split(config: TrainConfig, data: SpikeDataset) -> tuple[np.ndarray, np.ndarray]:
        tr, va = speaker_split(data, config.val_fraction, config.seed) if config.val_fraction > 0 else (
            np.arange(len(data)), np.zeros(0, dtype=np.int64))
        if config.max_train_samples is not None:
            tr = tr[: config.max_train_samples]
        if config.max_eval_samples is not None:
            va = va[: config.max_eval_samples]
        if len(tr) == 0:
            raise ConfigError(f"{data.source}: no training samples left ({len(data)} samples, val_fraction "
                              f"{config.val_fraction}, max_train_samples {config.max_train_samples}); expected at "
                              "least one")
        return np.asarray(tr, dtype=np.int64), np.asarray(va, dtype=np.int64)

    @property
    def resolved_config(self) -> TrainConfig:
        """The configuration with the window actually used (what a checkpoint records)."""
        return replace(self.config, window=self.window)

    def _make_optimizer(self) -> None:
        params, names, self.mask = _params(self.net)
        self.optimizer = make_optimizer(self.config.optim, params, names)

    # ------------------------------------------------------------------ checkpoints
    def _payload(self) -> dict[str, Any]:
        return {
            "net": network_to_payload(self.net),
            "optimizer": self.optimizer.state_dict(),
            "position": {"epoch": self.epoch, "batch_pos": self.batch_pos, "step": self.step,
                         "best_val": float(self.best_val), "sums": self.sums.tolist()},
            "config": self.resolved_config.to_dict(),
            "data": dict(self.fingerprints),
        }

    def save(self, path) -> None:
        """Write a checkpoint atomically (the previous file stays readable if this fails).

        Writing ``checkpoint_last.h5`` first keeps the file it replaces as ``checkpoint_prev.h5``.
        """
        path = Path(path)
        if path == self.run.checkpoint_last and path.exists():
            _link_previous(path, self.run.checkpoint_prev)
        save_checkpoint(path, self._payload())

    def load(self, path) -> None:
        """Restore weights, optimiser state and position from a checkpoint.

        Raises
        ------
        DataError
            The file is missing, corrupt (checksums) or incomplete (names the file).
        ConfigError
            Its network has another shape than this run's configuration and data give.
        """
        self._restore(load_checkpoint(path), path)

    def _restore(self, d: dict[str, Any], path) -> None:
        net = checkpoint_network(d, path)
        _check_same_shape(self.net, net, path)
        try:
            pos, state = d["position"], d["optimizer"]
            epoch, batch_pos, step = int(pos["epoch"]), int(pos["batch_pos"]), int(pos["step"])
            best_val, sums = float(pos["best_val"]), np.asarray(pos["sums"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: the checkpoint's position or optimiser state is missing or malformed "
                            f"({type(e).__name__}: {e})") from None
        if sums.shape != (4,) or min(epoch, batch_pos, step) < 0:
            raise DataError(f"{path}: the checkpoint's position is malformed (epoch {epoch}, batch {batch_pos}, "
                            f"step {step}, sums of shape {sums.shape})")
        self.net = net
        self._make_optimizer()
        try:
            self.optimizer.load_state_dict(state)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None
        self.epoch, self.batch_pos, self.step, self.best_val, self.sums = epoch, batch_pos, step, best_val, sums

    def _check_recorded(self, d: dict[str, Any], path) -> None:
        """ConfigError unless the checkpoint was written by this configuration on this data."""
        try:
            recorded = TrainConfig.from_dict(d["config"]).to_dict()
        except (KeyError, ConfigError) as e:
            raise DataError(f"{path}: the checkpoint's recorded configuration is missing or invalid ({e})") from None
        mine = self.resolved_config.to_dict()
        if recorded.get("window") is None:  # written before checkpoints recorded the resolved window
            mine["window"] = None
        diff = {k: v for k, v in config_diff(recorded, mine).items() if k not in ("epochs", "threads")}
        if diff:
            listed = "; ".join(f"{k}: checkpoint {a!r}, run {b!r}" for k, (a, b) in diff.items())
            raise ConfigError(f"{path} was written by another configuration than {self.run.config_path} ({listed}); "
                              "refusing to resume from it")
        for role in ("train", "test"):
            was, now = (d.get("data") or {}).get(role), self.fingerprints[role]
            if was is not None and now is not None and was != now:
                raise ConfigError(
                    f"{path}: the run's {role} data was {d['data'].get(role + '_source')!r} (fingerprint {was}); "
                    f"got {self.fingerprints[role + '_source']!r} (fingerprint {now}), another data set. Resume "
                    "with the data the run started with")

    def _resume_from_files(self) -> Path | None:
        """Load ``checkpoint_last.h5``, or ``checkpoint_prev.h5`` when the latest is damaged."""
        damaged = []
        for path in (self.run.checkpoint_last, self.run.checkpoint_prev):
            if not path.exists():
                continue
            try:
                d = load_checkpoint(path)
                self._check_recorded(d, path)
                self._restore(d, path)
            except DataError as e:
                damaged.append(str(e))
                continue
            if damaged:
                print(f"sgevent: warning: {damaged[0]}; resuming from the previous checkpoint {path} instead",
                      file=sys.stderr)
            return path
        if damaged:
            raise DataError(f"{self.run.path}: no usable checkpoint to resume from: " + "; ".join(damaged))
        return None

    @classmethod
    def resume(cls, run: RunDir, train_data: SpikeDataset, *, test_data=None, progress: bool = True,
               backend=None, overrides: dict[str, Any] | None = None, config: TrainConfig | None = None,
               argv=None, extra_provenance: dict[str, Any] | None = None) -> "Trainer":
        """Continue the run in ``run`` exactly where its last good checkpoint stopped (with or
        without a ``backend``, whatever the run started with).

        ``overrides`` are command-line settings and ``config`` a configuration given again
        (:func:`sgevent.train.config.resume_config`): one that changes the recorded one is
        refused, except more ``epochs`` (or other ``threads``), which is applied, written to
        ``config.json`` and recorded in this leg's ``provenance_resume_<n>.json``. The side
        files are repaired first (:meth:`RunDir.recover`).

        Raises
        ------
        ConfigError
            A refused change; a checkpoint of another configuration, network shape or data set.
        DataError
            No checkpoint can be read (every one fails its checksums or is incomplete).
        """
        recorded = TrainConfig.from_dict(run.read_config())
        config, changes = resume_config(recorded, config, **(overrides or {}))
        t = cls(config, train_data, run, test_data=test_data, progress=progress, backend=backend)
        source = t._resume_from_files()
        if t.epoch > config.epochs:
            raise ConfigError(f"epochs: the run has completed {t.epoch} epochs; asked for {config.epochs} in all")
        run.recover(t.epoch, seed=config.seed, argv=argv)
        if changes:
            run.write_config(config)
        extra = dict(extra_provenance or {})
        extra.update(resumed_from=None if source is None else str(source),
                     resume_changes={k: list(v) for k, v in changes.items()})
        run.record_resume(seed=config.seed, argv=argv, extra=extra)
        return t

    # ------------------------------------------------------------------ divergence
    def _last_good_checkpoint(self, bad_step: int) -> tuple[Path, int] | None:
        """The newest checkpoint that verifies and holds weights of fewer than ``bad_step`` steps."""
        best = None
        for path in (self.run.checkpoint_last, self.run.checkpoint_prev, self.run.checkpoint_best):
            if not path.exists():
                continue
            try:
                d = load_checkpoint(path)
                checkpoint_network(d, path)
                step = int(d["position"]["step"])
            except (DataError, KeyError, TypeError, ValueError):
                continue
            if step < bad_step and (best is None or step > best[1]):
                best = (path, step)
        return best

    def _diverged(self, what: str, bad_step: int) -> TrainingError:
        good = self._last_good_checkpoint(bad_step)
        where = f"at epoch {self.epoch + 1}, step {self.step + 1}"
        if good is None:
            hint = ("there is no last good checkpoint to go back to (none holds weights from before it: the "
                    "network already failed at its start); check the configuration (lr, weight_gain, theta_0)")
        else:
            hint = f"the last good checkpoint is {good[0]} (step {good[1]})"
        return TrainingError(f"training diverged {where}: {what}; {hint}")

    def _check_loss(self, loss: float, n: int) -> None:
        mean = loss / max(n, 1)
        limit = self.config.max_loss
        if not np.isfinite(loss):
            raise self._diverged(f"non-finite loss ({loss})", self.step)
        if limit is not None and mean > limit:
            raise self._diverged(f"the loss exploded ({mean:.3g} per sample > max_loss {limit:g})", self.step)

    def _check_params(self) -> None:
        for name, p in zip(self.optimizer.names, self.optimizer.params):
            if not np.all(np.isfinite(p)):
                raise self._diverged(f"parameter {name} became non-finite", self.step + 1)

    # ------------------------------------------------------------------ training
    def _order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, epoch])
        return self.train_idx[rng.permutation(self.train_idx.size)]

    def _sample_seeds(self, epoch: int, idx: np.ndarray) -> list[int]:
        return [int(np.random.SeedSequence([self.config.seed, epoch, int(i)]).generate_state(1)[0]) for i in idx]

    def _batch(self, idx: np.ndarray) -> tuple[BatchResult, dict[str, float]]:
        if self.config.schedule == "online":
            res = self._online_batch(idx)
            self._check_loss(res.loss, res.n_samples)
            return res, {"lr": self.optimizer.lr_at(self.optimizer.n_steps), "grad_norm": float("nan")}
        seeds = self._sample_seeds(self.epoch, idx)
        kw = dict(dt=self.config.dt, window=self.window, transform=self.augment, rng_seeds=seeds,
                  spike_budget=self.config.spike_budget)
        if self.backend is not None:  # shards on Dask workers (sgevent.train.distributed)
            res = self.backend.batch_gradients(self.net, self.data, idx, self.spec, **kw)
        else:
            res = batch_gradients(self.net, self.data, idx, self.spec, threads=self.threads,
                                  hidden_dropout=self.config.reg.hidden_dropout, **kw)
        self._check_loss(res.loss, res.n_samples)
        grads = [g[key] / res.n_samples for g in res.grads for key in ("w", "v", "b")]
        return res, self.optimizer.step(grads, mask=self.mask)

    def train_step(self, idx: np.ndarray) -> dict[str, float]:
        """One mini-batch (``batch``: one optimiser step; ``online``: steps inside every
        sample); raises TrainingError on non-finite or exploding values and engine failures."""
        try:
            res, info = self._batch(idx)
        except (EngineError, BurstLimitError) as e:
            raise self._diverged(f"the engine failed ({e})", self.step) from e
        self._check_params()
        n = res.n_samples
        self.sums += [res.loss, res.correct, n, float(res.hidden_spikes.sum())]
        self.step += 1
        return {"loss": res.loss / n, "acc": res.correct / n, "spikes": float(res.hidden_spikes.sum()) / n,
                "lr": info["lr"], "grad_norm": info["grad_norm"]}

    def _online_batch(self, idx: np.ndarray) -> BatchResult:
        """Samples ``idx`` in order, each with online updates every ``update_every`` events (with
        dropout: of the unmasked weights, :class:`sgevent.train.batch.MaskedOptimizer`)."""
        seeds = self._sample_seeds(self.epoch, idx)
        loss, correct, spikes = 0.0, 0, np.zeros(len(self.net.hidden), dtype=np.int64)
        budget = budget_kwargs(self.config.spike_budget)
        for i, seed in zip(idx, seeds):
            t, u, y = self.data.sample(int(i))
            if self.augment is not None:
                t, u = self.augment(t, u, np.random.default_rng(seed))
            net, opt = self.net, self.optimizer
            masks = sample_masks(net, self.config.reg.hidden_dropout, seed)
            if masks is not None:  # dropout: run the masked copy, update the unmasked weights
                net = masked_network(self.net, masks)
                opt = MaskedOptimizer(self.optimizer, self.net, net, masks)
            with one_blas_thread():
                r = simulate(net, t, u, dt=self.config.dt, t_end=self.window, learn=self.spec, label=int(y),
                             optimizer=opt, update_every=self.config.update_every, **budget)
            loss += r.loss
            correct += int(predict_from_readout(r.readout) == int(y))
            spikes += np.array(r.n_spikes, dtype=np.int64)
        return BatchResult(loss=loss, grads=[], n_samples=len(idx), hidden_spikes=spikes, correct=correct)

    def fit(self, stop_after_steps: int | None = None) -> dict[str, Any]:
        """Train until ``config.epochs`` are done (or ``stop_after_steps`` more steps: tests).

        Returns the final results (also written to ``results.json``). A fresh run first writes a
        checkpoint of its initial network, so a last good checkpoint always exists.
        """
        if self.step == 0 and self.epoch == 0 and not self.run.checkpoint_last.exists():
            self.save(self.run.checkpoint_last)
        steps_left = stop_after_steps
        for epoch in range(self.epoch, self.config.epochs):
            self.epoch = epoch
            steps_left = self._run_epoch(epoch, steps_left)
            if steps_left is not None and steps_left < 0:
                return {"interrupted": True, "epoch": self.epoch, "batch_pos": self.batch_pos}
            self._end_epoch(epoch)
        return self.finish()

    def _run_epoch(self, epoch: int, steps_left: int | None) -> int | None:
        """The epoch's remaining mini-batches; returns the steps left (-1: stopped early)."""
        from tqdm.auto import tqdm

        c = self.config
        order = self._order(epoch)
        batches = [order[i:i + c.batch_size] for i in range(0, order.size, c.batch_size)]
        self._t0 = time.perf_counter()
        bar = tqdm(total=len(batches), initial=self.batch_pos, desc=f"epoch {epoch + 1}/{c.epochs}",
                   disable=not self.progress, leave=False)
        try:
            for b in range(self.batch_pos, len(batches)):
                if steps_left is not None:
                    if steps_left == 0:
                        return -1
                    steps_left -= 1
                self.train_step(batches[b])
                self.batch_pos = b + 1
                s = self.sums
                bar.set_postfix(loss=f"{s[0] / s[2]:.3f}", acc=f"{s[1] / s[2]:.3f}", spk=f"{s[3] / s[2]:.0f}")
                bar.update(1)
                if self.step % c.checkpoint_every == 0:
                    self.save(self.run.checkpoint_last)
        finally:
            bar.close()
        return steps_left

    def _end_epoch(self, epoch: int) -> None:
        try:
            val = self._eval(self.val_idx, self.data) if self.val_idx.size else None
        except (EngineError, BurstLimitError) as e:
            raise self._diverged(f"the engine failed on the validation split ({e})", self.step) from e
        s = self.sums
        rec = {"epoch": epoch + 1, "step": self.step, "train_loss": s[0] / max(s[2], 1),
               "train_accuracy": s[1] / max(s[2], 1), "train_hidden_spikes_per_sample": s[3] / max(s[2], 1),
               "epoch_seconds": time.perf_counter() - self._t0}
        if val is not None:
            rec.update({"val_loss": val["loss"], "val_accuracy": val["accuracy"],
                        "val_hidden_spikes_per_sample": val["hidden_spikes_per_sample"]})
        self.run.log_metrics(rec)
        if self.progress:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()
                           if not isinstance(v, list)))
        self.epoch, self.batch_pos, self.sums = epoch + 1, 0, np.zeros(4)
        score = val["accuracy"] if val is not None else -rec["train_loss"]
        if score > self.best_val:
            self.best_val = score
            self.save(self.run.checkpoint_best)
        self.save(self.run.checkpoint_last)

    def _eval(self, idx: np.ndarray, data: SpikeDataset, net: Network | None = None) -> dict[str, Any]:
        net = self.net if net is None else net
        kw = dict(dt=self.config.dt, window=self.window, learn_period=self.spec.learn_period,
                  spike_budget=self.config.spike_budget)
        if self.backend is not None:
            return self.backend.evaluate(net, data, idx, **kw)
        return evaluate(net, data, idx, threads=self.threads, **kw)

    def finish(self) -> dict[str, Any]:
        """Evaluate the best checkpoint on the test split (if any) and write ``results.json``."""
        results: dict[str, Any] = {"epochs": self.epoch, "steps": self.step, "window_s": self.window,
                                   "best_val_accuracy": None if self.best_val == -np.inf else float(self.best_val)}
        if self.test_data is not None:
            best = self.run.checkpoint_best
            net = checkpoint_network(load_checkpoint(best), best) if best.exists() else self.net
            idx = np.arange(len(self.test_data))
            if self.config.max_eval_samples is not None:
                idx = idx[: self.config.max_eval_samples]
            test = self._eval(idx, self.test_data, net)
            results.update({"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                            "test_hidden_spikes_per_sample": test["hidden_spikes_per_sample"],
                            "test_synaptic_ops_per_sample": test["synaptic_ops_per_sample"],
                            "test_predictions": test["predictions"].tolist(),
                            "test_labels": test["labels"].tolist()})
        self.run.write_results(results)
        return results
