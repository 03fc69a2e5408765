"""Stream synchronisation for the ColloSSL pipeline; the implementation lives in :mod:`robossl.data.har.sync`."""

from robossl.data.har.sync import fill_short_gaps, synchronise_streams

__all__ = ["fill_short_gaps", "synchronise_streams"]
