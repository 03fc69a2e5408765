"""Dataset folders -> rosbag2 converters (EuRoC/ASL, ActRecTut, BorealTC).

Each converter writes one rosbag2 recording (mcap by default) with standard messages, stamped with the
dataset's own clock, so that replay feeds the pipelines exactly like a robot would. See docs/logs.md.
"""

from robossl.data.convert.report import ConvertReport

__all__ = ["ConvertReport"]
