"""Kept for the import path ``robossl.data.har`` (older docs and user scripts); the code lives elsewhere.

The multi-device HAR loaders are in :mod:`robossl.data.datasets` (one module per dataset), the recording type
in :mod:`robossl.data.recording` and stream synchronisation in :mod:`robossl.data.sync`.
"""

from robossl.data.datasets.opportunity import OPPORTUNITY_URL, load_opportunity, load_opportunity_file
from robossl.data.datasets.pamap2 import PAMAP2_URL, load_pamap2, load_pamap2_file
from robossl.data.datasets.realworld import REALWORLD_URL, load_realworld_subject
from robossl.data.recording import MultiDeviceRecording
from robossl.data.sync import fill_short_gaps, synchronise_streams

__all__ = [
    "OPPORTUNITY_URL",
    "PAMAP2_URL",
    "REALWORLD_URL",
    "MultiDeviceRecording",
    "fill_short_gaps",
    "load_opportunity",
    "load_opportunity_file",
    "load_pamap2",
    "load_pamap2_file",
    "load_realworld_subject",
    "synchronise_streams",
]
