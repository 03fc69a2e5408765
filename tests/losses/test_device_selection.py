"""Multi-kernel MMD device selection: reference values, closest/all/random policies, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robossl.losses.device_selection import (
    COLLOSSL_SIGMAS,
    MMD_FLOOR,
    mmd_matrix,
    multi_kernel_mmd,
    select_devices,
)
from robossl.pipelines.collossl.windows import DeviceNormalizer, WindowConfig, window_recording
from tests.pipelines.collossl.synthetic import make_recording


def _reference_mmd(x: np.ndarray, y: np.ndarray) -> float:
    def k(a, b):
        d2 = float(np.sum((a - b) ** 2))
        return sum(math.exp(-d2 / (2 * s)) for s in COLLOSSL_SIGMAS)

    kxx = np.mean([[k(a, b) for b in x] for a in x])
    kyy = np.mean([[k(a, b) for b in y] for a in y])
    kxy = np.mean([[k(a, b) for b in y] for a in x])
    return max(kxx + kyy - 2 * kxy, MMD_FLOOR)


def test_mmd_matches_double_loop_reference() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.normal(1.0, 2.0, size=(5, 4))
    got = multi_kernel_mmd(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(_reference_mmd(x, y), rel=1e-9)


def test_mmd_is_floored_for_identical_samples_and_grows_with_shift() -> None:
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    assert multi_kernel_mmd(x, x).item() == pytest.approx(MMD_FLOOR)
    near = multi_kernel_mmd(x, x + 0.3).item()
    far = multi_kernel_mmd(x, x + 3.0).item()
    assert MMD_FLOOR < near < far


def _aligned_batch() -> list[torch.Tensor]:
    windows = window_recording(make_recording("s1", seed=3), WindowConfig())
    stacked = DeviceNormalizer().fit(windows).transform(windows).stacked()
    # normalisation removes gains; re-apply them so the devices differ in acceleration magnitude
    gains = np.array([1.0, 1.1, 4.0], dtype=np.float32)[:, None, None, None]
    return [torch.from_numpy(w) for w in stacked[:, :128] * gains]


def test_closest_policy_picks_most_similar_device_and_weights_by_inverse_mmd() -> None:
    batch = _aligned_batch()
    selection = select_devices(batch, anchor=0, policy="closest")
    assert selection.positives == (1,)
    assert selection.negatives == (1, 2)
    mmd = selection.mmd
    assert mmd[1] < mmd[2]
    expected = [(1 / mmd[1]) / (1 / mmd[1]), (1 / mmd[2]) / (1 / mmd[1])]
    np.testing.assert_allclose(selection.negative_weights, expected)
    assert max(selection.negative_weights) == 1.0 and selection.negative_weights[1] < 1.0


def test_all_and_random_policies_and_two_positives() -> None:
    batch = _aligned_batch()
    assert select_devices(batch, anchor=2, policy="all").positives == (0, 1)
    assert select_devices(batch, anchor=0, policy="closest", num_positives=2).positives == (1, 2)
    picks = {
        select_devices(batch, 0, "random", generator=torch.Generator().manual_seed(s)).positives
        for s in range(20)
    }
    assert picks == {(1,), (2,)}
    assert select_devices(batch, 0, "random").negative_weights == (1.0, 1.0)


def test_mmd_matrix_is_symmetric_with_floor_diagonal() -> None:
    matrix = mmd_matrix([w.numpy() for w in _aligned_batch()])
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), MMD_FLOOR)
    assert matrix[0, 1] < matrix[0, 2]


def test_selection_errors() -> None:
    batch = _aligned_batch()
    with pytest.raises(ValueError, match="policy"):
        select_devices(batch, 0, policy="nearest")
    with pytest.raises(ValueError, match="at least 2 devices"):
        select_devices(batch[:1], 0)
    with pytest.raises(ValueError, match="num_positives"):
        select_devices(batch, 0, num_positives=3)
    with pytest.raises(ValueError, match="anchor index"):
        select_devices(batch, 5)
