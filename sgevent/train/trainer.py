"""Training loop: mini-batches, evaluation, checkpoints and exact resume.

Schedules (DESIGN.md 3): ``batch`` averages the gradients of a mini-batch's samples (run in
parallel, reduced in sample order) and applies them once; ``online`` runs the samples in order
and applies the optimiser every ``update_every`` learning events inside each sample. Everything random is derived from the
seed: the validation split, each epoch's sample order (``seed, epoch``) and each sample's
augmentation (``seed, epoch, sample``), so a run resumed from ``checkpoint_last.h5`` (weights,
optimiser moments, epoch, batch position and the epoch's running sums) ends with the same
weights as an uninterrupted one.

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
import time
from typing import Any

import numpy as np

from sgevent.data.augment import Augment
from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import speaker_split
from sgevent.engine.simulate import simulate
from sgevent.errors import TrainingError
from sgevent.model.network import Network
from sgevent.train.batch import BatchResult, batch_gradients, evaluate, one_blas_thread, predict_from_readout
from sgevent.train.checkpoint import load_checkpoint, network_to_payload, payload_to_network, save_checkpoint
from sgevent.train.config import TrainConfig
from sgevent.train.optim import make_optimizer
from sgevent.train.rundir import RunDir

__all__ = ["Trainer", "default_window", "network_from_config"]


def default_window(data: SpikeDataset, learn_period: float) -> float:
    """99th percentile of the samples' last spike times, rounded up to ``learn_period``."""
    last = np.array([data.sample(i)[0][-1] if data.offsets[i + 1] > data.offsets[i] else 0.0 for i in range(len(data))])
    q = float(np.percentile(last, 99)) if last.size else learn_period
    return max(learn_period, float(np.ceil(q / learn_period - 1e-9)) * learn_period)


def network_from_config(config: TrainConfig, n_in: int, n_out: int) -> Network:
    """The initial network of a run (seeded by ``config.seed``)."""
    c = config.net
    return Network.create(
        n_in, c.hidden, n_out, n_buckets=c.n_buckets, seed=config.seed, tau_0=c.tau_0, tau_delay=c.tau_delay,
        theta_0=c.theta_0, m_f=c.m_f, tau_theta=c.tau_theta, spike_gain=c.spike_gain, max_burst=c.max_burst,
        per_synapse=c.per_synapse, hidden_bias=c.hidden_bias, readout_bias=c.readout_bias, weight_gain=c.weight_gain,
    )


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
        Evaluated once at the end.
    progress : bool
        Show a tqdm progress bar.
    backend : sgevent.train.distributed.DaskBackend, optional
        Run mini-batch shards and evaluations on Dask workers (``batch`` schedule only;
        ConfigError with ``online``). None: in this process, on ``config.threads`` threads.
    """

    def __init__(self, config: TrainConfig, train_data: SpikeDataset, run: RunDir, *,
                 test_data: SpikeDataset | None = None, progress: bool = True, backend=None) -> None:
        if backend is not None:
            from sgevent.train.distributed import check_schedule

            check_schedule(config)
        self.backend = backend
        self.config = config
        self.data = train_data
        self.test_data = test_data
        self.run = run
        self.progress = progress
        self.spec = config.learn
        self.threads = config.threads or (os.cpu_count() or 1)
        tr, va = speaker_split(train_data, config.val_fraction, config.seed) if config.val_fraction > 0 else (
            np.arange(len(train_data)), np.zeros(0, dtype=np.int64))
        if config.max_train_samples is not None:
            tr = tr[: config.max_train_samples]
        if config.max_eval_samples is not None:
            va = va[: config.max_eval_samples]
        self.train_idx, self.val_idx = np.asarray(tr, dtype=np.int64), np.asarray(va, dtype=np.int64)
        self.window = config.window or default_window(train_data, self.spec.learn_period)
        self.net = network_from_config(config, train_data.n_channels, train_data.n_classes)
        self.augment = Augment(config.augment, train_data.n_channels) if config.augment.active else None
        self._make_optimizer()
        self.epoch = 0
        self.batch_pos = 0
        self.step = 0
        self.best_val = -np.inf
        self.sums = np.zeros(4)  # loss, correct, samples, hidden spikes of the current epoch

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
            "config": self.config.to_dict(),
        }

    def save(self, path) -> None:
        """Write a checkpoint atomically (the previous file stays readable if this fails)."""
        save_checkpoint(path, self._payload())

    def load(self, path) -> None:
        """Restore weights, optimiser state and position from a checkpoint."""
        d = load_checkpoint(path)
        self.net = payload_to_network(d["net"])
        self._make_optimizer()
        self.optimizer.load_state_dict(d["optimizer"])
        pos = d["position"]
        self.epoch, self.batch_pos, self.step = int(pos["epoch"]), int(pos["batch_pos"]), int(pos["step"])
        self.best_val = float(pos["best_val"])
        self.sums = np.asarray(pos["sums"], dtype=np.float64)

    @classmethod
    def resume(cls, run: RunDir, train_data: SpikeDataset, *, test_data=None, progress: bool = True,
               backend=None) -> "Trainer":
        """Continue the run in ``run`` exactly where its last checkpoint stopped (with or without
        a ``backend``, whatever the run started with)."""
        config = TrainConfig.from_dict(run.read_config())
        t = cls(config, train_data, run, test_data=test_data, progress=progress, backend=backend)
        if run.checkpoint_last.exists():
            t.load(run.checkpoint_last)
        return t

    # ------------------------------------------------------------------ training
    def _order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, epoch])
        return self.train_idx[rng.permutation(self.train_idx.size)]

    def _sample_seeds(self, epoch: int, idx: np.ndarray) -> list[int]:
        return [int(np.random.SeedSequence([self.config.seed, epoch, int(i)]).generate_state(1)[0]) for i in idx]

    def train_step(self, idx: np.ndarray) -> dict[str, float]:
        """One mini-batch (``batch``: one optimiser step; ``online``: steps inside every
        sample); raises TrainingError on non-finite values."""
        if self.config.schedule == "online":
            res = self._online_batch(idx)
            info = {"lr": self.optimizer.lr_at(self.optimizer.n_steps), "grad_norm": float("nan")}
            self._check_finite(res.loss)
        else:
            seeds = self._sample_seeds(self.epoch, idx)
            if self.backend is not None:  # shards on Dask workers (sgevent.train.distributed)
                res = self.backend.batch_gradients(self.net, self.data, idx, self.spec, dt=self.config.dt,
                                                   window=self.window, transform=self.augment, rng_seeds=seeds)
            else:
                res = batch_gradients(self.net, self.data, idx, self.spec, dt=self.config.dt, window=self.window,
                                      threads=self.threads, transform=self.augment, rng_seeds=seeds)
            self._check_finite(res.loss)
            grads = [g[key] / res.n_samples for g in res.grads for key in ("w", "v", "b")]
            info = self.optimizer.step(grads, mask=self.mask)
        n = res.n_samples
        for name, p in zip(self.optimizer.names, self.optimizer.params):
            if not np.all(np.isfinite(p)):
                raise TrainingError(
                    f"parameter {name} became non-finite at epoch {self.epoch}, step {self.step}; "
                    f"the last good checkpoint is {self.run.checkpoint_last}"
                )
        self.sums += [res.loss, res.correct, n, float(res.hidden_spikes.sum())]
        self.step += 1
        return {"loss": res.loss / n, "acc": res.correct / n, "spikes": float(res.hidden_spikes.sum()) / n,
                "lr": info["lr"], "grad_norm": info["grad_norm"]}

    def _check_finite(self, loss: float) -> None:
        if not np.isfinite(loss):
            raise TrainingError(
                f"non-finite loss ({loss}) at epoch {self.epoch}, step {self.step}; "
                f"the last good checkpoint is {self.run.checkpoint_last}"
            )

    def _online_batch(self, idx: np.ndarray) -> BatchResult:
        """Samples ``idx`` in order, each with online updates every ``update_every`` events."""
        seeds = self._sample_seeds(self.epoch, idx)
        loss, correct, spikes = 0.0, 0, np.zeros(len(self.net.hidden), dtype=np.int64)
        for i, seed in zip(idx, seeds):
            t, u, y = self.data.sample(int(i))
            if self.augment is not None:
                t, u = self.augment(t, u, np.random.default_rng(seed))
            with one_blas_thread():
                r = simulate(self.net, t, u, dt=self.config.dt, t_end=self.window, learn=self.spec, label=int(y),
                             optimizer=self.optimizer, update_every=self.config.update_every)
            loss += r.loss
            correct += int(predict_from_readout(r.readout) == int(y))
            spikes += np.array(r.n_spikes, dtype=np.int64)
        return BatchResult(loss=loss, grads=[], n_samples=len(idx), hidden_spikes=spikes, correct=correct)

    def fit(self, stop_after_steps: int | None = None) -> dict[str, Any]:
        """Train until ``config.epochs`` are done (or ``stop_after_steps`` more steps: tests).

        Returns the final results (also written to ``results.json``).
        """
        from tqdm.auto import tqdm

        c = self.config
        steps_left = stop_after_steps
        for epoch in range(self.epoch, c.epochs):
            self.epoch = epoch
            order = self._order(epoch)
            batches = [order[i:i + c.batch_size] for i in range(0, order.size, c.batch_size)]
            t0 = time.perf_counter()
            bar = tqdm(total=len(batches), initial=self.batch_pos, desc=f"epoch {epoch + 1}/{c.epochs}",
                       disable=not self.progress, leave=False)
            for b in range(self.batch_pos, len(batches)):
                if steps_left is not None:
                    if steps_left == 0:
                        bar.close()
                        return {"interrupted": True, "epoch": self.epoch, "batch_pos": self.batch_pos}
                    steps_left -= 1
                self.train_step(batches[b])
                self.batch_pos = b + 1
                s = self.sums
                bar.set_postfix(loss=f"{s[0] / s[2]:.3f}", acc=f"{s[1] / s[2]:.3f}", spk=f"{s[3] / s[2]:.0f}")
                bar.update(1)
                if self.step % c.checkpoint_every == 0:
                    self.save(self.run.checkpoint_last)
            bar.close()
            val = self._eval(self.val_idx, self.data) if self.val_idx.size else None
            s = self.sums
            rec = {"epoch": epoch + 1, "step": self.step, "train_loss": s[0] / max(s[2], 1),
                   "train_accuracy": s[1] / max(s[2], 1), "train_hidden_spikes_per_sample": s[3] / max(s[2], 1),
                   "epoch_seconds": time.perf_counter() - t0}
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
        return self.finish()

    def _eval(self, idx: np.ndarray, data: SpikeDataset, net: Network | None = None) -> dict[str, Any]:
        net = self.net if net is None else net
        if self.backend is not None:
            return self.backend.evaluate(net, data, idx, dt=self.config.dt, window=self.window,
                                         learn_period=self.spec.learn_period)
        return evaluate(net, data, idx, dt=self.config.dt, window=self.window,
                        learn_period=self.spec.learn_period, threads=self.threads)

    def finish(self) -> dict[str, Any]:
        """Evaluate the best checkpoint on the test split (if any) and write ``results.json``."""
        results: dict[str, Any] = {"epochs": self.epoch, "steps": self.step, "window_s": self.window,
                                   "best_val_accuracy": None if self.best_val == -np.inf else float(self.best_val)}
        if self.test_data is not None:
            best = Trainer(self.config, self.data, self.run, progress=False)
            if self.run.checkpoint_best.exists():
                best.load(self.run.checkpoint_best)
            idx = np.arange(len(self.test_data))
            if self.config.max_eval_samples is not None:
                idx = idx[: self.config.max_eval_samples]
            test = self._eval(idx, self.test_data, best.net)
            results.update({"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                            "test_hidden_spikes_per_sample": test["hidden_spikes_per_sample"],
                            "test_synaptic_ops_per_sample": test["synaptic_ops_per_sample"],
                            "test_predictions": test["predictions"].tolist(),
                            "test_labels": test["labels"].tolist()})
        self.run.write_results(results)
        return results
