"""Batch Styles Standardization: a hand-computed 1-D case and a 2-D case against a DFT written with loops."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch

from robossl.methods.bss import BatchStyleViews, standardize_image_styles, standardize_series_styles


def test_series_hand_computed() -> None:
    # x0 = [1, 0, 0, 0]: rfft [1, 1, 1] (phases 0). x1 = [0, 2, 0, 0]: rfft [2, -2i, -2] (amplitudes 2).
    # Bins 0 and 1 of x0 take amplitude 2 with x0's phase 0: spectrum [2, 2, 1], whose inverse is
    # x[n] = (2 + 4 cos(pi n / 2) + (-1)^n) / 4 = [7/4, 1/4, -1/4, 1/4]. x1 is the reference: unchanged.
    x = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0]], dtype=torch.float64).unsqueeze(-1)
    out = standardize_series_styles(x, reference=1, band=1)
    assert torch.allclose(out[0, :, 0], torch.tensor([1.75, 0.25, -0.25, 0.25], dtype=torch.float64))
    assert torch.allclose(out[1], x[1])


def test_series_keeps_each_mean_when_asked() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 16, 3, generator=g, dtype=torch.float64) + torch.arange(5.0).view(5, 1, 1)
    out = standardize_series_styles(x, reference=2, band=3, keep_zero_frequency=True)
    assert torch.allclose(out.mean(1), x.mean(1))
    spectrum_out, spectrum_ref = torch.fft.rfft(out, dim=1).abs(), torch.fft.rfft(x[2], dim=0).abs()
    assert torch.allclose(spectrum_out[:, 1:4], spectrum_ref[1:4].expand(5, 3, 3))  # the style band
    assert torch.allclose(spectrum_out[:, 4:], torch.fft.rfft(x, dim=1).abs()[:, 4:])  # the rest untouched


def _dft2(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return np.array(
        [
            [
                sum(
                    a[y, x] * cmath.exp(-2j * math.pi * (u * y / h + v * x / w))
                    for y in range(h)
                    for x in range(w)
                )
                for v in range(w)
            ]
            for u in range(h)
        ]
    )


def _idft2(f: np.ndarray) -> np.ndarray:
    h, w = f.shape
    return np.array(
        [
            [
                sum(
                    f[u, v] * cmath.exp(2j * math.pi * (u * y / h + v * x / w))
                    for u in range(h)
                    for v in range(w)
                ).real
                / (h * w)
                for x in range(w)
            ]
            for y in range(h)
        ]
    )


def test_image_matches_loop_dft_reference() -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(0.3, 0.7, size=(2, 1, 4, 4))
    out = standardize_image_styles(torch.from_numpy(images), reference=1, band=1).numpy()
    # the band: frequencies -1, 0, 1 on both axes (indices 3, 0, 1 of an unshifted 4-point spectrum)
    band = [3, 0, 1]
    own, ref = _dft2(images[0, 0]), _dft2(images[1, 0])
    mixed = own.copy()
    for u in band:
        for v in band:
            mixed[u, v] = abs(ref[u, v]) * cmath.exp(1j * cmath.phase(own[u, v]))
    expected = np.clip(_idft2(mixed), 0, 1)
    assert np.allclose(out[0, 0], expected, atol=1e-10)
    assert np.allclose(out[1], images[1])


def test_views_share_one_style_and_reject_bad_bands() -> None:
    views = BatchStyleViews(lambda x, generator=None: x, band_ratio=(0.2, 0.2))
    x = torch.randn(6, 20, 2, dtype=torch.float64)
    out = views(x, torch.Generator().manual_seed(3))
    low = torch.fft.rfft(out, dim=1).abs()[:, :5]  # band = int(0.2 * 20) = 4 -> bins 0..4
    assert torch.allclose(low, low[:1].expand_as(low))
    with pytest.raises(ValueError, match="band ratios"):
        BatchStyleViews(lambda x, generator=None: x, band_ratio=(0.3, 0.1))
