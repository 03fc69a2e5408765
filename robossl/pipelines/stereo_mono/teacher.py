"""Stereo teacher: OpenCV semi-global block matching with a left-right check and per-pixel confidence.

Disparity (pixels) becomes metric depth with ``depth = focal_px * baseline_m / disparity``.
Confidence in [0, 1] multiplies three cues, each a standard failure sign of block matching:

- validity: SGBM found a unique match that passed the left-right consistency check;
- texture: the local intensity gradient (flat, untextured regions match ambiguously);
- smoothness: the local disparity spread (speckles and occlusion borders are unreliable).

Left-right consistency: ``"internal"`` uses SGBM's own check (``disp12MaxDiff``, computed from the same
cost volume, nearly free); ``"full"`` also matches right-to-left on mirrored images and drops pixels where
``|d_L(x) - d_R(x - d_L(x))| > lr_tolerance_px`` (about twice the cost).

Full width: OpenCV's SGBM gives no disparity in the leftmost ``min_disparity + num_disparities`` columns
(the whole search range must fit in the image). With ``full_width`` both images are padded on the left by
that many replicated columns, so those columns are searched too; a disparity ``d`` at column ``x`` is kept
only when ``d <= x`` (its match lies inside the real right image, not in the padding). Near obstacles at
the left of the view, which a drone turning or drifting left runs into, are then seen.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

SGBM_MODES = {
    "sgbm": cv2.STEREO_SGBM_MODE_SGBM,
    "3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    "hh": cv2.STEREO_SGBM_MODE_HH,
}


@dataclass
class SGBMConfig:
    """Semi-global block matching settings (defaults tuned for 160x120 to 376x240 grey images)."""

    num_disparities: int = 32  # disparity search range, pixels; multiple of 16
    min_disparity: int = 0  # smallest disparity searched, pixels
    block_size: int = 5  # odd matching window side, pixels
    smoothness_small: int = 8  # P1 per channel per block pixel: penalty for disparity changes of 1
    smoothness_large: int = 32  # P2 per channel per block pixel: penalty for larger jumps (> P1 factor)
    uniqueness_ratio: int = 10  # percent margin the best cost must win by
    speckle_window: int = 50  # largest speckle region removed, pixels (0 disables)
    speckle_range: int = 2  # disparity variation inside a connected region, pixels
    prefilter_cap: int = 31  # clip of the x-derivative prefilter
    mode: str = "3way"  # "sgbm" (5 paths), "3way" (fast, 4 paths) or "hh" (full 8 paths, slow)
    lr_check: str = "internal"  # "internal" (disp12MaxDiff), "full" (mirrored right match) or "none"
    lr_tolerance_px: float = 1.0  # largest left-right disagreement kept, pixels
    full_width: bool = True  # also match the leftmost num_disparities columns (padding, see module doc)
    texture_scale: float = 6.0  # mean |gradient| (grey levels/pixel) at which texture confidence saturates
    spread_scale_px: float = 1.0  # local disparity std (pixels) at which smoothness confidence is 1/e
    min_depth_m: float = 0.1  # depths below this are invalid
    max_depth_m: float = 20.0  # depths above this are invalid (tiny disparities are noise)

    def __post_init__(self) -> None:
        if self.num_disparities <= 0 or self.num_disparities % 16:
            raise ValueError(f"num_disparities must be a positive multiple of 16, got {self.num_disparities}")
        if self.block_size < 1 or self.block_size % 2 == 0:
            raise ValueError(f"block_size must be odd and >= 1, got {self.block_size}")
        if self.mode not in SGBM_MODES:
            raise ValueError(f"unknown SGBM mode {self.mode!r}; use one of {sorted(SGBM_MODES)}")
        if self.lr_check not in ("internal", "full", "none"):
            raise ValueError(f"lr_check must be 'internal', 'full' or 'none', got {self.lr_check!r}")


@dataclass
class StereoResult:
    """Output of the stereo teacher for one rectified pair."""

    disparity: np.ndarray  # (H, W) float32 pixels, NaN where invalid
    confidence: np.ndarray  # (H, W) float32 in [0, 1], 0 where invalid
    depth: np.ndarray  # (H, W) float32 metres, NaN where invalid

    @property
    def valid(self) -> np.ndarray:
        """(H, W) bool mask of pixels with a depth."""
        return np.isfinite(self.depth)


def _to_grey(image: np.ndarray, side: str) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f"{side} image must be (H, W) grey or (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number):
            raise ValueError(f"{side} image has dtype {image.dtype}; send 8-bit grey (mono8) or RGB (rgb8)")
        finite = np.isfinite(image)
        if not finite.all():
            raise ValueError(f"{side} image contains NaN or inf pixels; drop the frame")
        top = 1.0 if image.dtype.kind == "f" and image.max() <= 1.0 else 255.0
        image = np.clip(image.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


class StereoTeacher:
    """Disparity, confidence and depth from rectified pairs.

    Args:
        focal_px: rectified focal length, pixels (``Rectifier.focal_px``).
        baseline_m: stereo baseline, metres (``Rectifier.baseline_m``).
        config: SGBM settings.
    """

    def __init__(self, focal_px: float, baseline_m: float, config: SGBMConfig | None = None) -> None:
        if focal_px <= 0 or baseline_m <= 0:
            raise ValueError(f"focal length ({focal_px}) and baseline ({baseline_m}) must be positive")
        self.focal_px = float(focal_px)
        self.baseline_m = float(baseline_m)
        self.config = config or SGBMConfig()
        # OpenCV's SGBM keeps scratch buffers in the matcher object: one matcher per thread, so frames can
        # be matched concurrently (ParallelFrames)
        self._local = threading.local()

    @property
    def _left_matcher(self) -> cv2.StereoSGBM:
        matcher = getattr(self._local, "matcher", None)
        if matcher is None:
            matcher = self._local.matcher = self._matcher(self.config.min_disparity)
        return matcher

    def _matcher(self, min_disparity: int) -> cv2.StereoSGBM:
        c = self.config
        area = c.block_size * c.block_size
        return cv2.StereoSGBM.create(
            minDisparity=min_disparity,
            numDisparities=c.num_disparities,
            blockSize=c.block_size,
            P1=c.smoothness_small * area,
            P2=c.smoothness_large * area,
            disp12MaxDiff=int(np.ceil(c.lr_tolerance_px)) if c.lr_check == "internal" else -1,
            preFilterCap=c.prefilter_cap,
            uniquenessRatio=c.uniqueness_ratio,
            speckleWindowSize=c.speckle_window,
            speckleRange=c.speckle_range,
            mode=SGBM_MODES[c.mode],
        )

    def disparity(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """(H, W) float32 disparity of the left image in pixels, NaN where invalid (LR check applied)."""
        if self.config.full_width:
            pad = self.config.min_disparity + self.config.num_disparities
            padded = self._disparity(
                cv2.copyMakeBorder(left, 0, 0, pad, 0, cv2.BORDER_REPLICATE),
                cv2.copyMakeBorder(right, 0, 0, pad, 0, cv2.BORDER_REPLICATE),
            )
            disparity = np.ascontiguousarray(padded[:, pad:])
            columns = np.arange(disparity.shape[1], dtype=np.float32)[None, :]
            # a larger disparity matched into the padding: the right camera does not see that point
            disparity[~(disparity <= columns)] = np.nan
            return disparity
        return self._disparity(left, right)

    def _disparity(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        raw = self._left_matcher.compute(left, right)
        invalid_code = (self.config.min_disparity - 1) * 16
        disparity = raw.astype(np.float32) / 16.0
        disparity[raw <= invalid_code] = np.nan
        if self.config.lr_check == "full":
            # the right image's disparity: match mirrored images, mirror back
            raw_right = self._left_matcher.compute(
                np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1])
            )[:, ::-1]
            right_disp = raw_right.astype(np.float32) / 16.0
            right_disp[raw_right <= invalid_code] = np.nan
            height, width = disparity.shape
            columns = np.arange(width, dtype=np.float32)[None, :] - np.nan_to_num(disparity, nan=0.0)
            columns = np.clip(np.rint(columns), 0, width - 1).astype(np.intp)
            rows = np.arange(height)[:, None]
            disagreement = np.abs(disparity - right_disp[rows, columns])
            disparity[~(disagreement <= self.config.lr_tolerance_px)] = np.nan
        return disparity

    def confidence(self, left: np.ndarray, disparity: np.ndarray) -> np.ndarray:
        """(H, W) float32 confidence in [0, 1] (0 where ``disparity`` is NaN)."""
        # OpenCV's SIMD filters and in-place numpy: this runs on every frame next to SGBM (~0.4 ms at 376x240)
        c = self.config
        valid = np.isfinite(disparity)
        # texture: mean |d/dx| over the matching window, in grey levels / pixel, saturating at texture_scale
        texture = np.abs(cv2.Sobel(left, cv2.CV_32F, 1, 0, ksize=3, scale=0.25 / c.texture_scale))
        texture = cv2.blur(texture, (c.block_size, c.block_size))
        np.minimum(texture, 1.0, out=texture)
        # smoothness: local disparity spread over the valid pixels of a 3x3 window
        filled = cv2.patchNaNs(disparity.copy(), 0.0)
        # fraction of valid neighbours (np.asarray: no copy, a float32 array type for the in-place steps)
        count = np.asarray(cv2.blur(valid.view(np.uint8).astype(np.float32), (3, 3)), np.float32)
        inverse_count = 1.0 / np.maximum(count, 1e-6)
        mean = np.asarray(cv2.blur(filled, (3, 3)), np.float32)
        mean *= inverse_count
        mean_sq = np.asarray(cv2.blur(filled * filled, (3, 3)), np.float32)
        mean_sq *= inverse_count
        mean_sq -= mean * mean
        np.maximum(mean_sq, 0.0, out=mean_sq)
        spread = cv2.sqrt(mean_sq)
        smooth = np.asarray(cv2.exp(spread * (-1.0 / c.spread_scale_px)), np.float32)
        smooth *= count
        smooth *= texture
        smooth[~valid] = 0.0
        return smooth

    def __call__(self, left: np.ndarray, right: np.ndarray) -> StereoResult:
        """Run the teacher on a rectified pair (grey uint8 or RGB; other dtypes are scaled to 8 bit).

        Raises:
            ValueError: for mismatched sizes, NaN pixels or unsupported layouts.
        """
        left_grey, right_grey = _to_grey(left, "left"), _to_grey(right, "right")
        if left_grey.shape != right_grey.shape:
            raise ValueError(
                f"stereo pair sizes differ: left {left_grey.shape[1]}x{left_grey.shape[0]}, right "
                f"{right_grey.shape[1]}x{right_grey.shape[0]}; rectify both with the same calibration"
            )
        disparity = self.disparity(left_grey, right_grey)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = (self.focal_px * self.baseline_m / disparity).astype(np.float32)
        out_of_range = ~((depth >= self.config.min_depth_m) & (depth <= self.config.max_depth_m))
        depth[out_of_range] = np.nan
        disparity[out_of_range] = np.nan
        confidence = self.confidence(left_grey, disparity)
        return StereoResult(disparity=disparity, confidence=confidence, depth=depth)


def flight_distance(
    depth: np.ndarray,
    valid: np.ndarray | None = None,
    window: float = 0.5,
    min_valid_fraction: float = 0.05,
    percentile: float = 0.0,
) -> float:
    """The coarse output: the distance in the flight direction, metres.

    With ``percentile=0`` this is the paper's average: inverse depth (i.e. disparity, as the original
    persistent-SSL work used) averaged over the central ``window`` fraction of the image width and height,
    then inverted, so near obstacles dominate. With ``percentile=p > 0`` it is the p-th percentile of depth in
    the window instead: an obstacle filling more than p % of the window sets the distance even when the
    rest of the view is far away (more conservative for collision avoidance).

    Args:
        depth: (H, W) metres (NaN = unknown).
        valid: optional (H, W) bool mask of pixels to use.
        window: side fraction of the central window in (0, 1].
        min_valid_fraction: below this fraction of usable pixels the answer is NaN (unknown).
        percentile: 0 for the inverse-depth average, else the depth percentile in (0, 100).
    """
    if not 0.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}")
    height, width = depth.shape
    dy, dx = int(round(height * (1 - window) / 2)), int(round(width * (1 - window) / 2))
    crop = depth[dy : height - dy, dx : width - dx]
    usable = (crop > 0) & (crop < np.inf)  # also False for NaN
    if valid is not None:
        usable &= valid[dy : height - dy, dx : width - dx]
    values = crop[usable]
    if values.size < max(1, min_valid_fraction * crop.size):
        return float("nan")
    if percentile > 0:
        return float(np.percentile(values, percentile))
    return float(1.0 / np.mean(1.0 / values))


def corridor_distance(
    depth: np.ndarray,
    valid: np.ndarray | None,
    intrinsics: tuple[float, float, float, float],
    half_width_m: float,
    half_height_m: float,
    percentile: float = 10.0,
    min_points: int = 30,
    min_valid_fraction: float = 0.05,
    clear_m: float = math.inf,
) -> float:
    """Distance to what lies in the robot's swept corridor ahead, metres.

    Every usable pixel is back-projected with the pinhole ``intrinsics`` (fx, fy, cx, cy); a point counts
    when its lateral offset ``|z (u - cx) / fx|`` is within ``half_width_m`` and its vertical offset
    ``|z (v - cy) / fy|`` within ``half_height_m`` of the optical axis, i.e. when the robot, flying
    straight on, would touch it. The answer is the ``percentile`` of those points' depths. Unlike a fixed
    central window (:func:`flight_distance`), an obstacle corner the robot's side will clip counts however
    few pixels it fills in the view, and the floor and far walls beside the corridor never do.

    Args:
        depth: (H, W) metres along the optical axis (NaN = unknown).
        valid: optional (H, W) bool mask of pixels to use.
        intrinsics: (fx, fy, cx, cy) of ``depth``'s pixel grid.
        half_width_m: half the corridor's width (robot half-width plus a margin), metres, > 0.
        half_height_m: half the corridor's height, metres, > 0 (keeps the floor out).
        percentile: depth percentile of the corridor points in [0, 100).
        min_points: fewer corridor points than this = nothing in the way (``clear_m``).
        min_valid_fraction: below this fraction of usable pixels the answer is NaN (unknown).
        clear_m: the distance reported when nothing is in the corridor (e.g. the sensor's range).
    """
    if half_width_m <= 0 or half_height_m <= 0:
        raise ValueError(
            f"corridor half width and half height must be > 0 metres, got {half_width_m}, {half_height_m}"
        )
    if not 0.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}")
    fx, fy, cx, cy = intrinsics
    height, width = depth.shape
    usable = (depth > 0) & (depth < np.inf)
    if valid is not None:
        usable &= valid
    if usable.sum() < max(1, min_valid_fraction * depth.size):
        return float("nan")
    rows, cols = np.nonzero(usable)
    z = depth[rows, cols]
    inside = (np.abs(z * (cols - cx) / fx) <= half_width_m) & (np.abs(z * (rows - cy) / fy) <= half_height_m)
    points = z[inside]
    if points.size < min_points:
        return float(clear_m)
    return float(np.percentile(points, percentile))
