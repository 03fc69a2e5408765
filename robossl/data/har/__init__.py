"""Multi-device human-activity-recognition datasets (ColloSSL's data) in their real on-disk formats.

- :mod:`robossl.data.actrectut`: ActRecTut (the project's bundled real data);
- :mod:`.realworld`: RealWorld HAR, 7 body positions (Sztyler and Stuckenschmidt 2016);
- :mod:`.opportunity`: OPPORTUNITY, 5 body-worn IMUs (Roggen et al. 2010);
- :mod:`.pamap2`: PAMAP2, 3 IMUs (Reiss and Stricker 2012).

Every loader returns :class:`MultiDeviceRecording`.
"""

from robossl.data.har.opportunity import OPPORTUNITY_URL, load_opportunity, load_opportunity_file
from robossl.data.har.pamap2 import PAMAP2_URL, load_pamap2, load_pamap2_file
from robossl.data.har.realworld import REALWORLD_URL, load_realworld_subject
from robossl.data.har.recording import MultiDeviceRecording
from robossl.data.har.sync import fill_short_gaps, synchronise_streams

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
