"""Backbones: output shapes, documented parameter budget, input validation, ColloSSL layer layout."""

from __future__ import annotations

import pytest
import torch

from robossl.backbones import ImageCNN, ImuConvEncoder, MLPEncoder, SpectrogramEncoder


def test_imu_encoder_matches_collossl_layers_and_shapes() -> None:
    encoder = ImuConvEncoder(6)
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == [(32, 24), (64, 16), (96, 8)]
    assert [m.p for m in encoder.modules() if isinstance(m, torch.nn.Dropout)] == [0.1, 0.1, 0.1]
    encoder.eval()
    x = torch.randn(4, 32, 6)
    out = encoder(x)
    assert out.shape == (4, encoder.out_dim) == (4, 96)
    # Global max pool after ReLU: non-negative, and time-padding "same" keeps the sample independent.
    assert (out >= 0).all()
    assert torch.allclose(encoder(x[:1]), out[:1], atol=1e-6)


def test_imu_encoder_rejects_channel_first_and_short_valid_windows() -> None:
    with pytest.raises(ValueError, match="transpose"):
        ImuConvEncoder(6)(torch.randn(2, 6, 32))
    with pytest.raises(ValueError, match="shorter"):
        ImuConvEncoder(6, padding="valid")(torch.randn(2, 32, 6))
    assert ImuConvEncoder(6, padding="valid")(torch.randn(2, 46, 6)).shape == (2, 96)
    with pytest.raises(ValueError, match="padding"):
        ImuConvEncoder(6, padding="causal")


def test_image_cnn_has_about_one_million_parameters() -> None:
    model = ImageCNN()
    count = sum(p.numel() for p in model.parameters())
    assert 0.8e6 < count < 1.2e6
    assert model(torch.rand(2, 3, 64, 48)).shape == (2, model.out_dim)
    with pytest.raises(ValueError, match="permute"):
        model(torch.rand(2, 64, 64, 3))


def test_spectrogram_encoder_accepts_any_clip_length() -> None:
    model = SpectrogramEncoder().eval()
    assert model(torch.randn(2, 1, 40, 17)).shape == (2, model.out_dim)
    assert model(torch.randn(2, 1, 64, 101)).shape == (2, model.out_dim)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(2, 40, 17))


def test_mlp_encoder_shapes_and_validation() -> None:
    model = MLPEncoder(10, hidden_dims=(32, 16))
    assert model.out_dim == 16
    assert model(torch.randn(1, 10)).shape == (1, 16)
    with pytest.raises(ValueError, match="in_features"):
        model(torch.randn(3, 11))
