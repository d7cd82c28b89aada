"""Datasets: flat-array splits, SHD/SSC readers and the tonic adapter.

Importing this package does not import h5py or tonic; they are imported when a file is read or
a download is needed.
"""

from sgevent.data.dataset import SpikeDataset
from sgevent.data.shd import (
    SHD,
    SSC,
    HSDMeta,
    clear_cache,
    find_or_download,
    load_h5,
    load_split,
    speaker_split,
    split_files,
)
from sgevent.data.tonic_adapter import events_to_channels, from_tonic

__all__ = [
    "SpikeDataset",
    "HSDMeta",
    "SHD",
    "SSC",
    "load_h5",
    "load_split",
    "find_or_download",
    "speaker_split",
    "split_files",
    "clear_cache",
    "from_tonic",
    "events_to_channels",
]
