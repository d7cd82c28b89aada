"""Data-parallel training and independent sweep tasks on a Dask cluster (optional dependency).

Install with ``pip install "sgevent[distributed]"`` (``dask`` and ``distributed``). Importing
this module does not import dask; :func:`start_backend` does, and says how to install it when it
is missing.

One optimiser step of the ``batch`` schedule
--------------------------------------------
1. The driver (the process that runs :class:`sgevent.train.trainer.Trainer`) sends the current
   :class:`~sgevent.model.network.Network` to every worker once: ``client.scatter(net,
   broadcast=True)`` (one copy per worker per step, never one per sample).
2. The mini-batch's sample indices, with their augmentation seeds
   (``Trainer._sample_seeds``: a function of seed, epoch and sample), are cut into ``n_shards``
   contiguous pieces in sample order (``numpy.array_split``). ``n_shards`` is fixed when the
   backend starts (by default the number of workers then), so the partition is a function of
   the batch alone: it does not depend on which worker runs a shard, nor on workers lost or
   added later.
3. Each shard runs :func:`sgevent.train.batch.batch_gradients` on one thread of a worker and returns
   the shard's summed loss, gradients and counts (a :class:`~sgevent.train.batch.BatchResult`).
4. The driver adds the shards' results in shard order and applies the optimiser; the next step
   scatters the new weights.

Determinism. Inside a shard, samples are summed in sample order, as in-process. With one shard
the result is therefore bit-identical to in-process training. With ``n`` shards the batch sum is
``(0 + S_1) + S_2 + ... + S_n`` with each ``S_k`` summed in sample order: the same terms
grouped differently, so the gradients agree with in-process ones to float rounding (about 1e-16
relative per step), not bitwise. Augmentation does not depend on the sharding (per-sample seeds).

Failures. Shards are submitted with ``retries=`` (an exception inside a task, e.g. a transient
I/O error, runs it again), and the scheduler itself reruns a task whose worker died (up to
``distributed.scheduler.allowed-failures`` times). If what a shard needed died with a worker
(the scattered network or dataset held only there) or the scheduler gives up on a task
(``KilledWorker``), the driver scatters again and resubmits the missing shards, up to
``step_retries`` times. Nothing of a step is applied before every shard is back, so a lost
worker costs time, never the step, and the step's result is the same as without the failure.
Errors of the computation itself (an :class:`~sgevent.errors.SgeventError` such as
``BurstLimitError``) are raised on the driver as they are.

Datasets travel once per run, not per step (``data=``):

- ``"path"``: each worker reads the HDF5 file the dataset came from (``dataset.source``) with
  :func:`sgevent.data.load_h5` (cached per worker process) and checks a fingerprint (CRC-32 of
  its arrays) against the driver's, so a different copy of the file is an error, not a silent
  change. Nothing large crosses the network; the path must be readable on every worker (a shared
  file system, or the same path on each machine). The choice for multi-node clusters.
- ``"scatter"``: the dataset is scattered once to every worker (``broadcast=True``); a restarted
  worker fetches it from a peer, and if no worker holds it any more it is scattered again.
- ``"auto"`` (default): ``"path"`` when ``dataset.source`` is an existing ``.h5`` file,
  else ``"scatter"`` (datasets built in memory).

Sweeps (:mod:`sgevent.studies.resolution`, :mod:`sgevent.studies.sparsity`) use the same backend
through :meth:`DaskBackend.run_tasks`: one independent task per trained model.
"""

from __future__ import annotations

import os
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sgevent.data.dataset import SpikeDataset
from sgevent.errors import ClusterError, ConfigError, DataError
from sgevent.learn.spec import LearnSpec
from sgevent.model.network import Network
from sgevent.train.batch import BatchResult, batch_gradients, evaluate_samples, summarize_evaluation

__all__ = ["DaskBackend", "start_backend", "check_schedule", "as_backend", "H5Ref", "resolve_data",
           "shard_bounds", "fingerprint", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "sgevent[distributed]" (or: pip install dask distributed)'
#: Data transports (module docstring).
DATA_MODES = ("auto", "path", "scatter")


def _import_distributed():
    """The ``distributed`` package, or a ConfigError that says how to install it."""
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError as e:
        raise ConfigError(f"Dask workers (--workers / --scheduler) need the optional packages dask and "
                          f"distributed, which are not installed ({e}); {INSTALL_HINT}") from None
    return distributed


def check_schedule(config) -> None:
    """ConfigError unless ``config`` (a TrainConfig) can run on Dask workers (the batch schedule)."""
    if config.schedule != "batch":
        raise ConfigError(
            f"schedule {config.schedule!r} cannot run on Dask workers: online updates happen in sequence "
            "inside each sample, so there is nothing to spread over workers; use schedule 'batch' or drop "
            "--workers/--scheduler (in-process threads: --threads)")


def shard_bounds(n_samples: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` pieces of ``range(n_samples)``, as ``numpy.array_split``.

    At most ``n_shards`` non-empty pieces, in order; the first ``n_samples % n_shards`` are one
    sample longer. A function of the two counts only.
    """
    n_shards = max(1, min(int(n_shards), int(n_samples)))
    q, r = divmod(int(n_samples), n_shards)
    bounds, start = [], 0
    for k in range(n_shards):
        stop = start + q + (1 if k < r else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


# ---------------------------------------------------------------------------- data on workers
def fingerprint(data: SpikeDataset) -> str:
    """Sample and event counts and the CRC-32 of a dataset's arrays (offsets, labels, units, times)."""
    h = 0
    for a in (data.offsets, data.labels, data.units, data.times):
        h = zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"), h)
    return f"{len(data)}:{int(data.offsets[-1])}:{h:08x}"


@dataclass(frozen=True)
class H5Ref:
    """A dataset that workers read from its HDF5 file (``data="path"``)."""

    path: str
    n_channels: int
    n_classes: int
    name: str
    fingerprint: str


_RESOLVED: dict[tuple[str, str], SpikeDataset] = {}  # per worker process: datasets read and checked


def resolve_data(ref: SpikeDataset | H5Ref) -> SpikeDataset:
    """The dataset behind ``ref`` (on a worker): as is, or read from its file and checked."""
    if isinstance(ref, SpikeDataset):
        return ref
    if not isinstance(ref, H5Ref):
        raise ConfigError(f"expected a SpikeDataset or an H5Ref, got {type(ref).__name__}")
    key = (ref.path, ref.fingerprint)
    ds = _RESOLVED.get(key)
    if ds is None:
        from sgevent.data import load_h5

        host = os.uname().nodename
        try:
            ds = load_h5(ref.path, n_channels=ref.n_channels, n_classes=ref.n_classes, name=ref.name)
        except DataError as e:
            raise DataError(f"worker on {host}: {e} (with data='path' the dataset file must be readable at the "
                            f"same path on every worker; or use data='scatter')") from None
        got = fingerprint(ds)
        if got != ref.fingerprint:
            raise DataError(f"worker on {host}: {ref.path} differs from the driver's dataset (fingerprint {got}, "
                            f"expected {ref.fingerprint}); every worker must read the same file")
        _RESOLVED[key] = ds
    return ds


# ---------------------------------------------------------------------------- worker tasks
def _maybe_crash(marker: str | None) -> None:
    """Test hook: the first task that creates ``marker`` kills its worker process."""
    if marker is None:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os._exit(1)


def _shard_gradients(net: Network, data, indices: np.ndarray, seeds: list[int], spec: LearnSpec,
                     dt: float | None, window: float, transform, crash_marker: str | None = None,
                     spike_budget: int | None = None) -> BatchResult:
    """Worker task: summed loss, gradients and counts of one shard (samples in order, one thread)."""
    res = batch_gradients(net, resolve_data(data), indices, spec, dt=dt, window=window, threads=1,
                          transform=transform, rng_seeds=seeds, spike_budget=spike_budget)
    _maybe_crash(crash_marker)  # after the work: the shard's result dies with the worker
    return res


def _shard_evaluate(net: Network, data, indices: np.ndarray, dt: float | None, window: float,
                    learn_period: float, keep_results: bool, spike_budget: int | None = None) -> list[tuple]:
    """Worker task: the per-sample evaluation records of one shard."""
    return evaluate_samples(net, resolve_data(data), indices, dt=dt, window=window, learn_period=learn_period,
                            threads=1, keep_results=keep_results, spike_budget=spike_budget)


def _reduce(parts: Sequence[BatchResult]) -> BatchResult:
    """Sum of shard results in shard order (as :func:`sgevent.train.batch.batch_gradients` sums samples)."""
    loss = 0.0
    grads = [{key: np.zeros_like(a) for key, a in g.items()} for g in parts[0].grads]
    spikes = np.zeros_like(parts[0].hidden_spikes)
    correct, n = 0, 0
    for p in parts:
        loss += p.loss
        for acc, g in zip(grads, p.grads):
            for key in acc:
                acc[key] += g[key]
        spikes += p.hidden_spikes
        correct += int(p.correct)
        n += int(p.n_samples)
    return BatchResult(loss=loss, grads=grads, n_samples=n, hidden_spikes=spikes, correct=correct)


# ---------------------------------------------------------------------------- the backend
class DaskBackend:
    """Run mini-batch shards, evaluations and sweep tasks on the workers of a Dask client.

    Parameters
    ----------
    client : distributed.Client
    cluster : distributed.LocalCluster, optional
        A cluster this backend started and closes in :meth:`close`.
    n_shards : int, optional
        Shards per mini-batch (default: the number of workers when the backend starts, waiting
        up to ``timeout`` s for the first one). Fixed for the backend's lifetime.
    retries : int
        ``retries=`` of every submitted task (an exception inside the task runs it again).
    step_retries : int
        Times the driver resubmits shards lost with a worker before it gives up (ClusterError).
    data : {"auto", "path", "scatter"}
        How datasets reach the workers (module docstring).
    timeout : float
        Seconds to wait for the first worker.
    """

    def __init__(self, client, *, cluster=None, n_shards: int | None = None, retries: int = 2,
                 step_retries: int = 3, data: str = "auto", timeout: float = 60.0) -> None:
        if data not in DATA_MODES:
            raise ConfigError(f"data must be one of {DATA_MODES}, got {data!r}")
        if retries < 0 or step_retries < 0:
            raise ConfigError(f"retries and step_retries must be >= 0, got {retries} and {step_retries}")
        self.client = client
        self._cluster = cluster
        self.retries = int(retries)
        self.step_retries = int(step_retries)
        self.data_mode = data
        self._refs: dict[int, tuple[SpikeDataset, Any]] = {}
        self._crash_marker: str | None = None  # test hook (tests/train/test_distributed.py)
        if n_shards is None:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except (TimeoutError, OSError) as e:
                raise ClusterError(f"no Dask worker joined the scheduler at {self.address} within {timeout:g} s "
                                   f"({type(e).__name__}); start workers with: dask worker {self.address}") from None
            n_shards = self.n_workers
        if int(n_shards) < 1:
            raise ConfigError(f"n_shards must be >= 1, got {n_shards}")
        self.n_shards = int(n_shards)

    # ------------------------------------------------------------------ facts and lifetime
    @property
    def address(self) -> str:
        """Address of the scheduler."""
        return str(self.client.scheduler.address)

    @property
    def n_workers(self) -> int:
        """Workers connected now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def describe(self) -> dict[str, Any]:
        """What ran the steps, for ``provenance.json``."""
        from importlib import metadata

        return {"kind": "dask", "scheduler": self.address, "local_cluster": self._cluster is not None,
                "n_workers_at_start": self.n_workers, "n_shards": self.n_shards, "data": self.data_mode,
                "retries": self.retries, "step_retries": self.step_retries,
                "versions": {p: metadata.version(p) for p in ("dask", "distributed")}}

    def close(self) -> None:
        """Close the client (and the local cluster this backend started)."""
        self._refs.clear()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> "DaskBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ data
    def _transport(self, data: SpikeDataset) -> str:
        src = Path(str(data.source))
        is_file = src.suffix.lower() in (".h5", ".hdf5") and src.is_file()
        if self.data_mode == "path" and not is_file:
            raise ConfigError(f"data='path' needs a dataset read from an .h5 file; {data.name!r} comes from "
                              f"{data.source!r} (use data='scatter' or 'auto')")
        return "path" if (self.data_mode == "path" or (self.data_mode == "auto" and is_file)) else "scatter"

    def data_ref(self, data: SpikeDataset):
        """What tasks receive for ``data``: an :class:`H5Ref`, or the future of the scattered
        dataset (scattered again if no worker holds it any more). Once per dataset and run."""
        entry = self._refs.get(id(data))
        if entry is not None and entry[0] is data:
            ref = entry[1]
            if isinstance(ref, H5Ref) or ref.status == "finished":
                return ref
        if self._transport(data) == "path":
            ref = H5Ref(str(data.source), int(data.n_channels), int(data.n_classes), str(data.name), fingerprint(data))
        else:
            ref = self.client.scatter(data, broadcast=True, hash=False)
        self._refs[id(data)] = (data, ref)
        return ref

    # ------------------------------------------------------------------ running tasks
    @staticmethod
    def _is_worker_loss(exc: BaseException) -> bool:
        """True for the errors of a task lost with its worker (not raised by the task's code)."""
        from concurrent.futures import CancelledError

        from distributed.comm import CommClosedError
        from distributed.scheduler import KilledWorker

        return isinstance(exc, (KilledWorker, CancelledError, CommClosedError))

    def run_tasks(self, fn: Callable, items: Sequence[tuple], *, broadcast: Any = None,
                  datasets: Sequence[SpikeDataset] = (), what: str = "task") -> list:
        """``fn(*head, *item)`` for every item on the workers; results in the order of ``items``.

        ``head`` is ``broadcast`` (scattered once to every worker, if not None) followed by the
        data references of ``datasets`` (:meth:`data_ref`; ``fn`` passes them to
        :func:`resolve_data`). Tasks lost with a worker are resubmitted (class docstring);
        an exception raised by ``fn`` itself propagates after ``retries`` reruns.
        """
        results: list = [None] * len(items)
        pending = list(range(len(items)))
        last: BaseException | None = None
        for _attempt in range(self.step_retries + 1):
            try:
                head = [] if broadcast is None else [self.client.scatter(broadcast, broadcast=True, hash=False)]
                head += [self.data_ref(d) for d in datasets]
            except (TimeoutError, OSError) as e:  # no worker to hold the data at the moment
                last = e
                continue
            tag = uuid.uuid4().hex[:8]
            futures = {k: self.client.submit(fn, *head, *items[k], key=f"sgevent-{what}-{k}-{tag}", pure=False,
                                             retries=self.retries) for k in pending}
            failed = []
            for k, f in futures.items():  # waits for all, in order
                try:
                    results[k] = f.result()
                except Exception as e:
                    if not self._is_worker_loss(e):
                        raise
                    last = e
                    failed.append(k)
            del futures, head
            pending = failed
            if not pending:
                return results
        raise ClusterError(f"{what}s {pending} were lost with their workers {self.step_retries + 1} times; "
                           f"last error: {last!r}")

    # ------------------------------------------------------------------ training and evaluation
    def batch_gradients(self, net: Network, data: SpikeDataset, indices, spec: LearnSpec, *, dt: float | None,
                        window: float, transform=None, rng_seeds=None, spike_budget: int | None = None) -> BatchResult:
        """:func:`sgevent.train.batch.batch_gradients` over ``n_shards`` contiguous shards on the workers."""
        idx = np.asarray([int(i) for i in indices], dtype=np.int64)
        seeds = list(rng_seeds) if rng_seeds is not None else [0] * idx.size
        items = [(idx[a:b], seeds[a:b], spec, dt, window, transform, self._crash_marker, spike_budget)
                 for a, b in shard_bounds(idx.size, self.n_shards)]
        return _reduce(self.run_tasks(_shard_gradients, items, broadcast=net, datasets=[data], what="shard"))

    def evaluate(self, net: Network, data: SpikeDataset, indices=None, *, dt: float | None, window: float,
                 learn_period: float = 1e-3, keep_results: bool = False, spike_budget: int | None = None) -> dict:
        """:func:`sgevent.train.batch.evaluate` on the workers (same result, bit for bit: per-sample
        records are concatenated in sample order before the same summary)."""
        idx = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            return summarize_evaluation([], window, keep_results)
        items = [(idx[a:b], dt, window, learn_period, keep_results, spike_budget)
                 for a, b in shard_bounds(idx.size, 4 * self.n_shards)]  # smaller pieces balance the load
        parts = self.run_tasks(_shard_evaluate, items, broadcast=net, datasets=[data], what="eval")
        return summarize_evaluation([rec for p in parts for rec in p], window, keep_results)


def start_backend(workers: int | None = None, scheduler: str | None = None, *, config=None,
                  timeout: float = 30.0, **options) -> DaskBackend:
    """Start a local Dask cluster (``workers`` single-threaded processes) or join ``scheduler``.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a :class:`distributed.LocalCluster` on this machine (one thread each).
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.1:8786``.
    config : TrainConfig, optional
        Checked first (:func:`check_schedule`), before anything starts.
    timeout : float
        Seconds to wait for the scheduler (and for its first worker).
    **options
        Passed to :class:`DaskBackend` (``n_shards``, ``retries``, ``step_retries``, ``data``).

    Raises
    ------
    ConfigError
        Both or neither of ``workers``/``scheduler``; ``workers < 1``; the online schedule; dask
        not installed.
    ClusterError
        The scheduler cannot be reached within ``timeout``.
    """
    if (workers is None) == (scheduler is None):
        raise ConfigError("give either workers (a local Dask cluster) or scheduler (an existing one), not both")
    if workers is not None and int(workers) < 1:
        raise ConfigError(f"workers must be >= 1 Dask worker processes, got {workers}")
    if config is not None:
        check_schedule(config)
    distributed = _import_distributed()
    if workers is not None:
        # One thread per worker process; Dask also sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in each
        # (distributed.nanny.pre-spawn-environ), so BLAS does not oversubscribe the cores. Its
        # MALLOC_TRIM_THRESHOLD_=65536 we leave unset: it switches off glibc's adaptive mmap
        # threshold, and the engine's per-sample arrays then cost 40-50% more CPU (measured).
        import dask

        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                               dashboard_address=":0")  # any free port: never a clash
        client = distributed.Client(cluster)
        return DaskBackend(client, cluster=cluster, timeout=timeout, **options)
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {scheduler!r} within {timeout:g} s ({e}); start one "
                           "with `dask scheduler` and give the address it prints (tcp://HOST:8786)") from None
    try:
        return DaskBackend(client, timeout=timeout, **options)
    except BaseException:
        client.close()
        raise


def as_backend(x) -> DaskBackend | None:
    """None, a :class:`DaskBackend`, or a ``distributed.Client`` (wrapped) -> backend or None."""
    if x is None or isinstance(x, DaskBackend):
        return x
    distributed = _import_distributed()
    if isinstance(x, distributed.Client):
        return DaskBackend(x)
    raise ConfigError(f"expected a DaskBackend or a distributed.Client, got {type(x).__name__}")


# ---------------------------------------------------------------------------- command line
