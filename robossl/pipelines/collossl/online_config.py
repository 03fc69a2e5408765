"""Settings of the online ColloSSL learner (:class:`robossl.pipelines.collossl.online.ColloSSLOnlineLearner`):
which devices stream, the window grid they are cut on, the replay and the optimiser."""

from __future__ import annotations

from dataclasses import dataclass

from robossl.data.recording import ACCELEROMETER_CHANNELS, channel_indices

__all__ = ["OnlineLearnerConfig"]


@dataclass(frozen=True)
class OnlineLearnerConfig:
    """Settings of the online ColloSSL learner."""

    device_names: tuple[str, ...]  # every device that streams, in a fixed order (>= 2)
    anchor_device: str  # device the classifier and predict() use
    channels: int  # channels per device (e.g. 6: acc xyz + gyro xyz)
    num_classes: int = 0  # activity classes for the classifier head; 0 = embeddings only
    sample_rate_hz: float = 32.0  # grid rate of the aligned windows in Hz
    window_s: float = 1.0  # window length in seconds
    overlap_s: float = 0.5  # overlap between consecutive windows in seconds
    buffer_windows: int = 2048  # replay capacity in aligned windows (reservoir sampling)
    stream_horizon_s: float = 10.0  # raw samples kept per device while waiting for the others (seconds)
    max_gap_s: float = 0.1  # largest hole (seconds) in a device's samples inside a window
    min_windows: int = 16  # aligned windows needed before training starts
    batch_size: int = 64  # windows per training step
    learning_rate: float = 1e-3  # Adam learning rate
    temperature: float = 0.05  # ColloSSL temperature
    policy: str = "closest"  # device selection policy: closest | all | random
    supervised_weight: float = 1.0  # weight of the cross-entropy term on labelled windows
    seed: int = 0  # seed of initialisation, replay and batch randomness
    # names of a device's channels in column order; the accelerometer is found by name (acc_x, acc_y,
    # acc_z). Empty: the first 3 channels are the accelerometer (the har_node's order).
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        if self.channel_names and len(self.channel_names) != self.channels:
            raise ValueError(
                f"channel_names has {len(self.channel_names)} names for {self.channels} channels; "
                "name every channel in column order"
            )
        if self.channel_names:  # refuse a layout without an accelerometer now, naming the missing channel
            channel_indices(self.channel_names, ACCELEROMETER_CHANNELS, "OnlineLearnerConfig.channel_names")
        if len(self.device_names) < 2 or len(set(self.device_names)) != len(self.device_names):
            raise ValueError(f"device_names must name >= 2 distinct devices, got {self.device_names}")
        if self.anchor_device not in self.device_names:
            raise ValueError(f"anchor_device {self.anchor_device!r} is not one of {self.device_names}")
        if self.channels < 3:
            raise ValueError(f"channels must be >= 3 (accelerometer x, y, z), got {self.channels}")
        if self.sample_rate_hz <= 0 or self.window_s <= 0 or not 0 <= self.overlap_s < self.window_s:
            raise ValueError(
                "need sample_rate_hz > 0, window_s > 0 and 0 <= overlap_s < window_s, got "
                f"{self.sample_rate_hz}, {self.window_s}, {self.overlap_s}"
            )
        if self.stream_horizon_s < 2 * self.window_s:
            raise ValueError(f"stream_horizon_s must be >= 2 * window_s, got {self.stream_horizon_s}")
        if self.min_windows < 2 or self.batch_size < 2 or self.buffer_windows < self.min_windows:
            raise ValueError("need min_windows >= 2, batch_size >= 2 and buffer_windows >= min_windows")

    @property
    def acc_channels(self) -> tuple[int, ...]:
        """Accelerometer x, y, z columns: by name from ``channel_names``, else the first three."""
        if not self.channel_names:
            return (0, 1, 2)
        return channel_indices(
            self.channel_names, ACCELEROMETER_CHANNELS, "OnlineLearnerConfig.channel_names"
        )

    @property
    def window_samples(self) -> int:
        """Window length in grid samples."""
        return max(1, int(round(self.window_s * self.sample_rate_hz)))
