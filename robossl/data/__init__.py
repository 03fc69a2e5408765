"""Bag and dataset readers/writers, windowing, synchronisation, and real-data location."""

from robossl.data.locate import DATA_ENV_VAR, data_root, require_data

__all__ = ["DATA_ENV_VAR", "data_root", "require_data"]
