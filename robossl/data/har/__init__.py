"""Multi-device human-activity-recognition datasets (ColloSSL's data) in their real on-disk formats."""

from robossl.data.har.recording import MultiDeviceRecording

__all__ = ["MultiDeviceRecording"]
