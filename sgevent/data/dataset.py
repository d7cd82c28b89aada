"""One split of a spiking dataset held in flat arrays.

A :class:`SpikeDataset` stores every sample of a split back to back, the same way a CSR sparse
matrix stores its rows:

* ``times[offsets[i]:offsets[i + 1]]`` are the spike times (float64 seconds) of sample ``i``,
  sorted (stable) within the sample;
* ``units[offsets[i]:offsets[i + 1]]`` are the input channels (int32, ``0..n_channels-1``) of
  those spikes, in the same order.

Flat arrays make a whole split one allocation (no per-sample Python objects), make subsets a
vectorised gather and can be handed to Numba kernels unchanged. The arrays are made read-only on
construction, so a dataset can be cached and shared safely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgevent.errors import DataError

__all__ = ["SpikeDataset", "sample_of_event", "gather_ranges", "sort_within_samples", "check_input_shape",
           "INPUT_SHAPE_ATTR"]

#: Name of the spatial input shape ``(P, H, W)``: the :class:`SpikeDataset` field and the HDF5 file
#: attribute (:mod:`sgevent.data.shd_writer`).
INPUT_SHAPE_ATTR = "input_shape"


def check_input_shape(where: str, input_shape: Any, n_channels: int) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints whose product is ``n_channels``.

    Raises
    ------
    DataError
        Naming ``where`` and the field ``input_shape``.
    """
    arr = np.asarray(input_shape)
    if arr.ndim != 1 or arr.size < 1 or arr.dtype.kind not in "iu" or (arr < 1).any():
        raise DataError(f"{where}: field '{INPUT_SHAPE_ATTR}': got {input_shape!r}; expected positive integers "
                        "such as (P, H, W)")
    shape = tuple(int(v) for v in arr)
    if int(np.prod(shape)) != n_channels:
        raise DataError(f"{where}: field '{INPUT_SHAPE_ATTR}': {shape} holds {int(np.prod(shape))} channels; "
                        f"expected n_channels = {n_channels}")
    return shape


def sample_of_event(offsets: np.ndarray, event_idx: int | np.ndarray) -> int | np.ndarray:
    """Return the sample that holds a flat event index.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_samples + 1,)
        Sample boundaries in the flat event arrays.
    event_idx : int or ndarray of int
        Index (or indices) into the flat event arrays.

    Returns
    -------
    int or ndarray of int
        Sample index ``i`` with ``offsets[i] <= event_idx < offsets[i + 1]``.
    """
    return np.searchsorted(offsets, event_idx, side="right") - 1


def gather_ranges(offsets: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat event indices of the chosen samples, in the order of ``indices``.

    Parameters
    ----------
    offsets : ndarray of int64, shape (n_samples + 1,)
        Sample boundaries in the flat event arrays.
    indices : ndarray of int64, shape (n_chosen,)
        Samples to gather (repeats allowed).

    Returns
    -------
    event_idx : ndarray of int64, shape (n_events_chosen,)
        Indices into the flat event arrays, sample by sample.
    new_offsets : ndarray of int64, shape (n_chosen + 1,)
        Sample boundaries of the gathered events.
    """
    starts = offsets[indices]
    counts = offsets[indices + 1] - starts
    new_offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    # event k of the output belongs to output sample s: its source index is
    # starts[s] + (k - new_offsets[s]).
    shift = np.repeat(starts - new_offsets[:-1], counts)
    event_idx = np.arange(new_offsets[-1], dtype=np.int64) + shift
    return event_idx, new_offsets


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the caller's own array keeps its flags)."""
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view


def _is_count(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_counts(where: str, n_channels: Any, n_classes: Any) -> tuple[int, int]:
    if not _is_count(n_channels):
        raise DataError(f"{where}: n_channels must be an int, got {n_channels!r}")
    if not _is_count(n_classes):
        raise DataError(f"{where}: n_classes must be an int, got {n_classes!r}")
    if n_channels < 1 or n_classes < 1:
        raise DataError(
            f"{where}: n_channels and n_classes must be >= 1, got {n_channels} and {n_classes}"
        )
    return int(n_channels), int(n_classes)


def _check_kinds(where: str, times: np.ndarray, units: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                 speakers: np.ndarray) -> None:
    fields = (("times", times), ("units", units), ("offsets", offsets), ("labels", labels), ("speakers", speakers))
    for field, arr in fields:
        if arr.ndim != 1:
            raise DataError(f"{where}: field '{field}' must be 1-D, got shape {arr.shape}")
    if times.size and not (
        np.issubdtype(times.dtype, np.floating) or np.issubdtype(times.dtype, np.integer)
    ):
        raise DataError(f"{where}: field 'times' must hold real seconds, got {times.dtype}")
    for field, arr in fields[1:]:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise DataError(
                f"{where}: field '{field}' must hold integers, got dtype {arr.dtype}"
            )


def _check_offsets(where: str, offsets: np.ndarray, n_samples: int, n_speakers: int, n_times: int,
                   n_units: int) -> np.ndarray:
    if offsets.shape[0] != n_samples + 1:
        raise DataError(
            f"{where}: field 'offsets' has {offsets.shape[0]} entries; expected "
            f"n_samples + 1 = {n_samples + 1}"
        )
    if n_speakers != n_samples:
        raise DataError(
            f"{where}: field 'speakers' has {n_speakers} entries; expected one per "
            f"sample ({n_samples})"
        )
    if n_times != n_units:
        raise DataError(
            f"{where}: fields 'times' and 'units' have {n_times} and "
            f"{n_units} events; expected the same number"
        )
    offsets = offsets.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != n_times:
        raise DataError(
            f"{where}: field 'offsets' must start at 0 and end at the number of events "
            f"({n_times}), got {offsets[0]} and {offsets[-1]}"
        )
    bad = np.flatnonzero(np.diff(offsets) < 0)
    if bad.size:
        raise DataError(
            f"{where}: sample {bad[0]}, field 'offsets': offsets must be non-decreasing "
            f"(got {offsets[bad[0]]} then {offsets[bad[0] + 1]})"
        )
    return offsets


def _check_sorted(where: str, offsets: np.ndarray, times: np.ndarray) -> None:
    if times.size <= 1:
        return
    descending = np.diff(times) < 0
    # A descent across a sample boundary is fine; only descents inside a sample count.
    boundary = offsets[1:-1] - 1
    boundary = boundary[(boundary >= 0) & (boundary < descending.size)]
    descending[boundary] = False
    bad = np.flatnonzero(descending)
    if bad.size:
        i = int(sample_of_event(offsets, bad[0]))
        raise DataError(
            f"{where}: sample {i}, field 'times': times must be sorted within a sample "
            f"(event {bad[0] + 1 - offsets[i]} at {float(times[bad[0] + 1])} s follows "
            f"{float(times[bad[0]])} s); build with SpikeDataset.from_lists, which sorts"
        )


@dataclass(frozen=True, eq=False)
class SpikeDataset:
    """One split of a spiking dataset in flat (CSR-like) arrays.

    Parameters
    ----------
    times : ndarray of float64, shape (n_events,)
        Spike times in seconds of all samples concatenated; finite, >= 0 and sorted within each
        sample. Any real dtype is accepted and cast to float64.
    units : ndarray of int32, shape (n_events,)
        Input channel of each spike, ``0 <= unit < n_channels``.
    offsets : ndarray of int64, shape (n_samples + 1,)
        Sample ``i`` owns events ``offsets[i]:offsets[i + 1]``; ``offsets[0] == 0`` and
        ``offsets[-1] == n_events``.
    labels : ndarray of int64, shape (n_samples,)
        Class of each sample, ``0 <= label < n_classes``.
    speakers : ndarray of int64, shape (n_samples,)
        Speaker (or subject) id of each sample, ``-1`` when unknown.
    n_channels : int
        Number of input channels.
    n_classes : int
        Number of classes.
    class_names : tuple of str, length n_classes
        Name of each class; empty means ``("0", "1", ...)``.
    name : str
        Short name used in summaries, e.g. ``"SHD train"``.
    source : str
        Where the data came from (a file path or a description); used in error messages.
    input_shape : tuple of int, optional
        Spatial shape of the channels, e.g. ``(2, H, W)`` for an event camera with channel
        ``p * H * W + y * W + x``; its product is ``n_channels``. None (SHD, SSC) means a flat
        channel axis.

    Raises
    ------
    DataError
        If shapes disagree, a unit is out of range, a time is non-finite, negative or out of
        order within its sample, or a label is out of range. The message names the source, the
        sample index and the field.

    Notes
    -----
    Use :meth:`from_lists` to build a dataset from per-sample arrays: it sorts each sample's
    events by time (stable sort) before construction.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    n_channels: int
    n_classes: int
    class_names: tuple[str, ...] = ()
    name: str = "dataset"
    source: str = "<memory>"
    input_shape: tuple[int, ...] | None = None

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        where = self.source or self.name
        n_channels, n_classes = _check_counts(where, self.n_channels, self.n_classes)
        object.__setattr__(self, "n_channels", n_channels)
        object.__setattr__(self, "n_classes", n_classes)
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", check_input_shape(where, self.input_shape, n_channels))
        names = tuple(str(c) for c in self.class_names) or tuple(str(i) for i in range(n_classes))
        if len(names) != n_classes:
            raise DataError(
                f"{where}: field 'class_names' has {len(names)} names but n_classes is {n_classes}"
            )
        object.__setattr__(self, "class_names", names)

        times, units, offsets, labels, speakers = (
            np.asarray(a) for a in (self.times, self.units, self.offsets, self.labels, self.speakers)
        )
        _check_kinds(where, times, units, offsets, labels, speakers)
        offsets = _check_offsets(where, offsets, labels.shape[0], speakers.shape[0], times.shape[0],
                                 units.shape[0])
        # Validate in float64 / int64 before narrowing anything.
        times = times.astype(np.float64, copy=False)
        self._check_events(offsets, times, units, n_channels)
        _check_sorted(where, offsets, times)
        labels = labels.astype(np.int64, copy=False)
        bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
        if bad.size:
            raise DataError(
                f"{where}: sample {bad[0]}, field 'labels': got {labels[bad[0]]}; expected a "
                f"class in 0..{n_classes - 1} (n_classes={n_classes})"
            )
        speakers = speakers.astype(np.int64, copy=False)
        bad = np.flatnonzero(speakers < -1)
        if bad.size:
            raise DataError(
                f"{where}: sample {bad[0]}, field 'speakers': got {speakers[bad[0]]}; expected "
                "a speaker id >= 0, or -1 for unknown"
            )

        object.__setattr__(self, "times", _readonly(times))
        object.__setattr__(self, "units", _readonly(units.astype(np.int32, copy=False)))
        object.__setattr__(self, "offsets", _readonly(offsets))
        object.__setattr__(self, "labels", _readonly(labels))
        object.__setattr__(self, "speakers", _readonly(speakers))

    def _check_events(self, offsets: np.ndarray, times: np.ndarray, units: np.ndarray, n_channels: int) -> None:
        bad = np.flatnonzero(~np.isfinite(times))
        if bad.size:
            self._raise_event(offsets, bad[0], "times", times[bad[0]], "a finite time in seconds")
        bad = np.flatnonzero(times < 0)
        if bad.size:
            self._raise_event(offsets, bad[0], "times", times[bad[0]], "a time >= 0 s")
        if units.size:
            units64 = units.astype(np.int64, copy=False)
            bad = np.flatnonzero((units64 < 0) | (units64 >= n_channels))
            if bad.size:
                self._raise_event(
                    offsets, bad[0], "units", units64[bad[0]],
                    f"a channel in 0..{n_channels - 1} (n_channels={n_channels})",
                )

    def _raise_event(
        self, offsets: np.ndarray, event_idx: int, field: str, value: Any, expected: str
    ) -> None:
        i = int(sample_of_event(offsets, event_idx))
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"{self.source or self.name}: sample {i}, field '{field}': event "
            f"{event_idx - offsets[i]} is {value!r}; expected {expected}"
        )

    @classmethod
    def from_lists(
        cls,
        times_list: Sequence[Any],
        units_list: Sequence[Any],
        labels: Sequence[int] | np.ndarray,
        speakers: Sequence[int] | np.ndarray | None = None,
        *,
        n_channels: int,
        n_classes: int,
        class_names: Sequence[str] | None = None,
        name: str = "dataset",
        source: str = "<memory>",
        input_shape: Sequence[int] | None = None,
    ) -> SpikeDataset:
        """Build a dataset from one ``(times, units)`` pair of arrays per sample.

        Parameters
        ----------
        times_list : sequence of array_like, each shape (n_spikes_i,)
            Spike times of each sample in seconds, any order. Float16 input is cast to float64
            before anything else is done with it.
        units_list : sequence of array_like of int, each shape (n_spikes_i,)
            Channel of each spike.
        labels : array_like of int, shape (n_samples,)
            Class of each sample.
        speakers : array_like of int, shape (n_samples,), optional
            Speaker id of each sample; ``None`` means unknown (all ``-1``).
        n_channels, n_classes : int
            Number of input channels and of classes.
        class_names : sequence of str, optional
            Name of each class (default ``"0"``, ``"1"``, ...).
        name, source : str
            Short name and origin, used in summaries and error messages.
        input_shape : sequence of int, optional
            Spatial shape of the channels (see the class), None for a flat channel axis.

        Returns
        -------
        SpikeDataset
            Each sample's events sorted by time with a stable sort (events at the same time keep
            their given order).

        Raises
        ------
        DataError
            If the lists differ in length, a sample's times and units differ in length, or any
            check of the constructor fails.
        """
        n_samples = len(labels)
        if len(times_list) != n_samples or len(units_list) != n_samples:
            raise DataError(
                f"{source}: got {len(times_list)} time arrays, {len(units_list)} unit arrays "
                f"and {n_samples} labels; expected one of each per sample"
            )
        t_parts = []
        u_parts = []
        for i, (t, u) in enumerate(zip(times_list, units_list)):
            t = np.asarray(t)
            u = np.asarray(u)
            if t.ndim != 1 or u.ndim != 1:
                raise DataError(
                    f"{source}: sample {i}, fields 'times'/'units': expected 1-D arrays, got "
                    f"shapes {t.shape} and {u.shape}"
                )
            if t.shape[0] != u.shape[0]:
                raise DataError(
                    f"{source}: sample {i}, field 'units': {u.shape[0]} units for "
                    f"{t.shape[0]} times; expected one unit per spike time"
                )
            if u.size and not np.issubdtype(u.dtype, np.integer):
                raise DataError(
                    f"{source}: sample {i}, field 'units': expected integer channels, got "
                    f"dtype {u.dtype}"
                )
            if t.size and not (
                np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)
            ):
                raise DataError(
                    f"{source}: sample {i}, field 'times': expected real seconds, got dtype "
                    f"{t.dtype}"
                )
            t_parts.append(t.astype(np.float64))
            u_parts.append(u.astype(np.int64))
        counts = np.array([t.shape[0] for t in t_parts], dtype=np.int64)
        offsets = np.zeros(n_samples + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        times = np.concatenate(t_parts) if t_parts else np.zeros(0, np.float64)
        units = np.concatenate(u_parts) if u_parts else np.zeros(0, np.int64)
        times, units = sort_within_samples(times, units, offsets)
        if speakers is None:
            speakers = np.full(n_samples, -1, dtype=np.int64)
        return cls(
            times=times,
            units=units,
            offsets=offsets,
            labels=np.asarray(labels, dtype=np.int64) if n_samples else np.zeros(0, np.int64),
            speakers=np.asarray(speakers),
            n_channels=n_channels,
            n_classes=n_classes,
            class_names=tuple(class_names) if class_names is not None else (),
            name=name,
            source=source,
            input_shape=None if input_shape is None else tuple(input_shape),
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (
            f"SpikeDataset(name={self.name!r}, n_samples={len(self)}, "
            f"n_events={self.times.shape[0]}, n_channels={self.n_channels}, "
            f"n_classes={self.n_classes}, source={self.source!r})"
        )

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Return one sample's events and label.

        Parameters
        ----------
        i : int
            Sample index; negative values count from the end.

        Returns
        -------
        times : ndarray of float64, shape (n_spikes,)
            Read-only view of the spike times in seconds, sorted.
        units : ndarray of int32, shape (n_spikes,)
            Read-only view of the channels.
        label : int
            Class of the sample.
        """
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise IndexError(f"{self.name}: sample index must be an int, got {i!r}")
        if not -n <= i < n:
            raise IndexError(f"{self.name}: sample index {i} out of range for {n} samples")
        i = int(i) % n
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.times[a:b], self.units[a:b], int(self.labels[i])

    def counts(self) -> np.ndarray:
        """Number of spikes of each sample, shape (n_samples,), int64."""
        return np.diff(self.offsets)

    def durations(self) -> np.ndarray:
        """Time of the last spike of each sample in seconds, shape (n_samples,); 0 if empty."""
        counts = self.counts()
        out = np.zeros(len(self), dtype=np.float64)
        nonempty = counts > 0
        out[nonempty] = self.times[self.offsets[1:][nonempty] - 1]
        return out

    def subset(self, indices: Sequence[int] | np.ndarray) -> SpikeDataset:
        """Return the chosen samples as a new dataset (events copied, order of ``indices``).

        Parameters
        ----------
        indices : array_like of int, shape (n_chosen,)
            Sample indices (negative values count from the end; repeats allowed) or a boolean
            mask of shape (n_samples,).

        Returns
        -------
        SpikeDataset
            Same channels, classes, names, source and input shape.
        """
        idx = np.asarray(indices)
        n = len(self)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(
                    f"{self.name}: boolean mask has shape {idx.shape}, expected ({n},)"
                )
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = np.zeros(0, dtype=np.int64)
        elif not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
            raise IndexError(f"{self.name}: indices must be a 1-D integer array or a bool mask")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"{self.name}: indices out of range for {n} samples")
        idx = idx % max(n, 1)
        event_idx, offsets = gather_ranges(self.offsets, idx)
        return SpikeDataset(
            times=self.times[event_idx],
            units=self.units[event_idx],
            offsets=offsets,
            labels=self.labels[idx],
            speakers=self.speakers[idx],
            n_channels=self.n_channels,
            n_classes=self.n_classes,
            class_names=self.class_names,
            name=self.name,
            source=self.source,
            input_shape=self.input_shape,
        )

    # ------------------------------------------------------------------ summaries
    def stats(self) -> dict[str, Any]:
        """Summary numbers of the split.

        Returns
        -------
        dict
            ``n_samples``, ``n_events``, ``n_classes``, ``n_channels``, ``spikes_mean``,
            ``spikes_median``, ``spikes_max`` (spikes per sample), ``duration_mean_s``,
            ``duration_max_s`` (time of the last spike, seconds) and ``n_speakers`` (distinct
            known speakers; 0 when all are unknown).
        """
        counts = self.counts()
        durations = self.durations()
        known = self.speakers[self.speakers >= 0]
        empty = len(self) == 0
        return {
            "n_samples": len(self),
            "n_events": int(self.times.shape[0]),
            "n_classes": self.n_classes,
            "n_channels": self.n_channels,
            "spikes_mean": 0.0 if empty else float(counts.mean()),
            "spikes_median": 0.0 if empty else float(np.median(counts)),
            "spikes_max": 0 if empty else int(counts.max()),
            "duration_mean_s": 0.0 if empty else float(durations.mean()),
            "duration_max_s": 0.0 if empty else float(durations.max()),
            "n_speakers": int(np.unique(known).size),
        }

    def format_stats(self) -> str:
        """Short human-readable summary of :meth:`stats` (three lines)."""
        s = self.stats()
        speakers = f"{s['n_speakers']} speakers" if s["n_speakers"] else "speakers unknown"
        return (
            f"{self.name} ({self.source}): {s['n_samples']} samples, {s['n_classes']} classes, "
            f"{s['n_channels']} channels, {speakers}\n"
            f"  spikes/sample: mean {s['spikes_mean']:.1f}, median {s['spikes_median']:.0f}, "
            f"max {s['spikes_max']} ({s['n_events']} in total)\n"
            f"  duration: mean {s['duration_mean_s']:.3f} s, max {s['duration_max_s']:.3f} s"
        )


def sort_within_samples(
    times: np.ndarray, units: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sort events by time inside each sample with a stable sort.

    Parameters
    ----------
    times : ndarray of float64, shape (n_events,)
        Spike times in seconds, samples concatenated.
    units : ndarray, shape (n_events,)
        Channels, same order as ``times``.
    offsets : ndarray of int64, shape (n_samples + 1,)
        Sample boundaries.

    Returns
    -------
    times, units : ndarray
        New arrays when anything was out of order, otherwise the inputs themselves. Events with
        equal times keep their order; NaN times (rejected later) sort last in their sample.
    """
    if times.shape[0] < 2:
        return times, units
    descending = np.diff(times) < 0
    boundary = offsets[1:-1] - 1
    boundary = boundary[(boundary >= 0) & (boundary < descending.size)]
    descending[boundary] = False
    if not descending.any() and not np.isnan(times).any():
        return times, units
    sample_id = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    order = np.lexsort((times, sample_id))  # lexsort is stable
    return times[order], units[order]
