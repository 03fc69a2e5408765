"""Heads: layer layout, shapes, DINO prototype normalisation and last-layer freezing."""

from __future__ import annotations

import pytest
import torch

from robossl.heads import DINOHead, PredictionHead, ProjectionHead


def test_projection_head_layers_and_shapes() -> None:
    head = ProjectionHead(96, 64, 32, num_layers=3, batch_norm=True, last_batch_norm=True)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(96, 64), (64, 64), (64, 32)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules()) == 3
    out = head(torch.randn(8, 96))
    assert out.shape == (8, 32)
    # Affine-free output batch norm: each output dimension is standardised over the batch.
    assert torch.allclose(out.mean(0), torch.zeros(32), atol=1e-5)
    with pytest.raises(ValueError, match="num_layers"):
        ProjectionHead(4, 4, 4, num_layers=0)


def test_prediction_head_defaults_to_same_dimension() -> None:
    head = PredictionHead(32, 8)
    assert head(torch.randn(4, 32)).shape == (4, 32)


def test_dino_head_prototypes_have_unit_norm_and_freeze() -> None:
    head = DINOHead(16, 32, 8, num_prototypes=20, freeze_last_layer_steps=2)
    weight = head.prototypes.weight
    assert torch.allclose(weight.norm(dim=1), torch.ones(20), atol=1e-5)
    logits = head(torch.randn(5, 16))
    assert logits.shape == (5, 20)
    # Inputs to the prototype layer are unit vectors, so |logit| <= 1.
    assert logits.abs().max() <= 1.0 + 1e-5
    logits.sum().backward()
    head.cancel_last_layer_gradients(step=1)
    assert all(p.grad is None for p in head.prototypes.parameters())
    assert head.mlp.layers[0].weight.grad is not None
