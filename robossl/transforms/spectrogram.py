"""Views of spectrogram / frame sequences ``(B, T, F)`` (frames x frequency bins or channels).

- TERA alteration policy (Liu, Li, Lee 2021): time alteration (contiguous blocks covering about 15 % of
  the frames; of the chosen blocks 80 % zeroed, 10 % replaced by random frames, 10 % left unchanged),
  frequency alteration (one random band of up to ``max_frequency_width`` bins zeroed) and magnitude
  alteration (Gaussian noise added to the whole sequence, with probability 0.1 per sequence). The 80/10/10
  choice is drawn once per sequence, as in Mockingjay/TERA.
- SpecAugment masks (Park et al. 2019): ``num_time_masks`` time masks of width <= T_max and
  ``num_frequency_masks`` frequency masks of width <= F_max, filled with zero (the mean of standardised
  log-mel input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TeraAlterationConfig:
    time_block: int = 7  # frames per time-alteration block (TERA: 7)
    time_fraction: float = 0.15  # expected fraction of frames inside altered blocks
    zero_share: float = 0.8  # share of chosen blocks set to zero (the rest: 10 % random frames, 10 % kept)
    random_share: float = 0.1  # share of chosen blocks replaced by other frames of the same sequence
    max_frequency_width: int = 8  # widest frequency band zeroed (bins); 0 disables frequency alteration
    noise_probability: float = 0.1  # chance per sequence of magnitude alteration
    noise_std: float = 0.2  # std of the added Gaussian noise (standardised units)

    def __post_init__(self) -> None:
        if self.time_block < 1 or not 0.0 <= self.time_fraction < 1.0:
            raise ValueError("need time_block >= 1 and time_fraction in [0, 1)")
        if self.zero_share + self.random_share > 1.0 or min(self.zero_share, self.random_share) < 0:
            raise ValueError("zero_share + random_share must be <= 1 and both >= 0")


def tera_alter(
    frames: torch.Tensor, config: TeraAlterationConfig | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply TERA's time, frequency and magnitude alterations.

    Args:
        frames: ``(B, T, F)`` frames.
        config: alteration policy.
        generator: random source.

    Returns:
        ``(altered (B, T, F), mask (B, T, F) bool)`` where ``mask`` marks the altered positions that the
        reconstruction loss is computed on.
    """
    cfg = config or TeraAlterationConfig()
    if frames.ndim != 3:
        raise ValueError(f"TERA expects (batch, frames, features), got {tuple(frames.shape)}")
    batch, length, features = frames.shape
    device = frames.device
    altered = frames.clone()
    # Time alteration: block starts chosen so that about time_fraction of frames are covered.
    start_probability = cfg.time_fraction / cfg.time_block
    starts = torch.rand(batch, length, generator=generator, device=device) < start_probability
    covered = _dilate_forward(starts, cfg.time_block)
    action = torch.rand(batch, 1, generator=generator, device=device)
    zero = covered & (action < cfg.zero_share)
    replace = covered & (action >= cfg.zero_share) & (action < cfg.zero_share + cfg.random_share)
    altered = torch.where(zero.unsqueeze(-1), torch.zeros_like(altered), altered)
    if replace.any():
        source = torch.randint(0, length, (batch, length), generator=generator, device=device)
        shuffled = torch.gather(frames, 1, source.unsqueeze(-1).expand(-1, -1, features))
        altered = torch.where(replace.unsqueeze(-1), shuffled, altered)
    mask = covered.unsqueeze(-1).expand(-1, -1, features).clone()
    # Frequency alteration: one band per sequence.
    if cfg.max_frequency_width > 0:
        width = torch.randint(
            0, min(cfg.max_frequency_width, features) + 1, (batch, 1), generator=generator, device=device
        )
        start = (torch.rand(batch, 1, generator=generator, device=device) * (features - width + 1)).long()
        bins = torch.arange(features, device=device).unsqueeze(0)
        band = ((bins >= start) & (bins < start + width)).unsqueeze(1)  # (B, 1, F)
        altered = altered.masked_fill(band, 0.0)
        mask = mask | band.expand(-1, length, -1)
    # Magnitude alteration: Gaussian noise over the whole sequence.
    if cfg.noise_probability > 0:
        noisy = torch.rand(batch, 1, 1, generator=generator, device=device) < cfg.noise_probability
        noise = cfg.noise_std * torch.randn(frames.shape, generator=generator, device=device)
        altered = torch.where(noisy, altered + noise, altered)
        mask = mask | noisy.expand(-1, length, features)
    return altered, mask


def _dilate_forward(starts: torch.Tensor, block: int) -> torch.Tensor:
    """Mark ``block`` frames from every start (``(B, T)`` bool)."""
    covered = starts.clone()
    for shift in range(1, block):
        covered[:, shift:] |= starts[:, :-shift]
    return covered


@dataclass
class SpecAugmentConfig:
    num_time_masks: int = 2  # time masks per sequence
    max_time_width: int = 10  # widest time mask (frames)
    num_frequency_masks: int = 2  # frequency masks per sequence
    max_frequency_width: int = 8  # widest frequency mask (bins)


def spec_augment(
    frames: torch.Tensor, config: SpecAugmentConfig | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """SpecAugment time and frequency masking of ``(B, T, F)`` frames (masked values set to 0)."""
    cfg = config or SpecAugmentConfig()
    if frames.ndim != 3:
        raise ValueError(f"SpecAugment expects (batch, frames, features), got {tuple(frames.shape)}")
    batch, length, features = frames.shape
    device = frames.device
    keep = torch.ones(batch, length, features, dtype=torch.bool, device=device)
    for axis, count, max_width in (
        (1, cfg.num_time_masks, cfg.max_time_width),
        (2, cfg.num_frequency_masks, cfg.max_frequency_width),
    ):
        size = frames.shape[axis]
        for _ in range(count):
            width = torch.randint(0, min(max_width, size) + 1, (batch, 1), generator=generator, device=device)
            start = (torch.rand(batch, 1, generator=generator, device=device) * (size - width + 1)).long()
            index = torch.arange(size, device=device).unsqueeze(0)
            band = (index >= start) & (index < start + width)
            keep &= ~(band.unsqueeze(2) if axis == 1 else band.unsqueeze(1))
    return frames * keep


class SpectrogramViews:
    """SpecAugment + light Gaussian noise views of ``(B, T, F)`` frame sequences; ``local`` crops time."""

    def __init__(
        self,
        config: SpecAugmentConfig | None = None,
        noise_std: float = 0.05,
        local_crop_fraction: float = 0.5,
    ) -> None:
        self.config = config or SpecAugmentConfig()
        self.noise_std = noise_std
        self.local_crop_fraction = local_crop_fraction

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = spec_augment(frames, self.config, generator)
        return out + self.noise_std * torch.randn(out.shape, generator=generator, device=out.device)

    def local(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        length = frames.shape[1]
        crop = max(1, int(round(self.local_crop_fraction * length)))
        start = int(torch.randint(0, length - crop + 1, (1,), generator=generator, device=frames.device))
        return self(frames[:, start : start + crop], generator)
