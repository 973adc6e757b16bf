"""A detector-noise model: what a real 2D keypoint detector makes of known 3D joints.

Conventions in :mod:`geometry.camera` (V views, F frames, J joints; distorted pixels; NaN where
not observed). The model, in the order it is applied to the projection of every joint:

1. A joint is detectable in a view when it projects inside the image (``[-0.5, size - 0.5]``,
   the pixel-centre convention) and lies in front of the camera; otherwise it is NaN. With a
   skeleton, joints hidden by the person's own body in that view (:func:`self_occlusion`) are
   *occluded*: noisier, more often missed and less confident, as with real detectors.
2. Gaussian pixel noise of ``pixel_sigma_px`` per coordinate (times ``occluded_sigma_scale``
   for occluded joints).
3. Left/right swaps: with ``swap_rate`` per view, frame and symmetric pair (when both joints are
   detectable), the two detections trade places, as detectors do with a person's back to them.
4. Gross outliers: with ``outlier_rate`` per detectable observation, the detection is replaced by
   one of (weights ``outlier_kinds``) another body part of the same person, a far displacement
   (a fraction of the person's 2D size), or a uniform random point in the image; every outlier is
   at least ``min_outlier_distance_px`` from the truth. A swapped joint drawn as an outlier counts
   as an outlier (``is_swapped`` is False there).
5. Missing: each observation with ``missing_rate`` (occluded ones also with
   ``occluded_missing_rate``), and a whole view of a frame with ``missing_view_rate`` (the
   detector found no person), become NaN.
6. Confidences in (0, 1) from Beta distributions: high for correct detections, lower for
   occluded ones and swaps, lowest for outliers, with overlap (a detector is often confidently
   wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import as_float_array
from ..options import check_fields, option
from ..rig import Rig
from ..skeletons import Skeleton, get_skeleton
from .occlusion import self_occlusion

__all__ = ["DetectorNoise", "SimulatedDetections", "simulate_detections", "in_image"]


@dataclass(frozen=True, kw_only=True)
class DetectorNoise:
    """Parameters of :func:`simulate_detections` (see the module docstring).

    pixel_sigma_px: standard deviation of the Gaussian noise per coordinate, pixels.
    outlier_rate, swap_rate, missing_rate, missing_view_rate: probabilities in [0, 1].
    outlier_kinds: relative weights of (another body part, far displacement, uniform in image).
    far_displacement: range of the far displacement as a fraction of the person's 2D bounding
        box diagonal in that view (at least ``min_outlier_distance_px``).
    min_outlier_distance_px: every outlier is at least this far from the truth, pixels.
    occluded_sigma_scale, occluded_missing_rate: extra noise and misses of occluded joints.
    score_correct, score_occluded, score_swapped, score_outlier: Beta ``(a, b)`` parameters of
        the confidences.
    """

    pixel_sigma_px: float = option(2.0, low=0)
    outlier_rate: float = option(0.1, low=0, high=1)
    swap_rate: float = option(0.05, low=0, high=1)
    missing_rate: float = option(0.02, low=0, high=1)
    missing_view_rate: float = option(0.0, low=0, high=1)
    outlier_kinds: tuple[float, float, float] = option((0.4, 0.35, 0.25), low=0, note="weights")
    far_displacement: tuple[float, float] = option((0.1, 0.6), low=0, low_open=True, ordered=True)
    min_outlier_distance_px: float = option(20.0, low=0, low_open=True)
    occluded_sigma_scale: float = option(2.0, low=1)
    occluded_missing_rate: float = option(0.15, low=0, high=1)
    score_correct: tuple[float, float] = option((8.0, 2.0), low=0, low_open=True, note="Beta parameters")
    score_occluded: tuple[float, float] = option((4.0, 3.0), low=0, low_open=True, note="Beta parameters")
    score_swapped: tuple[float, float] = option((5.0, 3.0), low=0, low_open=True, note="Beta parameters")
    score_outlier: tuple[float, float] = option((2.5, 3.5), low=0, low_open=True, note="Beta parameters")

    def __post_init__(self) -> None:
        check_fields(self)
        if not sum(self.outlier_kinds) > 0:
            raise ValueError(f"outlier_kinds is {self.outlier_kinds}, expected weights that are not all 0")


@dataclass(frozen=True, kw_only=True)
class SimulatedDetections:
    """What the simulated detector reported, with the ground truth beside it.

    points_2d: (V, ..., J, 2) float64 distorted pixels; NaN where ``visible`` is False.
    scores: (V, ..., J) float64 confidences in (0, 1); NaN where ``visible`` is False.
    truth_2d: (V, ..., J, 2) float64 exact projections; NaN only behind a camera (outside the
        image they are kept).
    is_outlier, is_swapped, is_occluded, visible: (V, ..., J) bool. ``visible``: a detection was
        reported; ``is_occluded``: the person's own body hides the joint in that view (also
        where it was not reported).
    camera_names: V names; skeleton: the joint layout (None when not given).
    ``is_swapped`` marks every swap, also where the two joints project close together (then the
    detection is barely wrong): judge wrongness by ``|points_2d - truth_2d|`` where it matters.
    The ``...`` axes are those of the ``joints_in_world`` given (usually ``F``).
    """

    points_2d: np.ndarray
    scores: np.ndarray
    truth_2d: np.ndarray
    is_outlier: np.ndarray
    is_swapped: np.ndarray
    is_occluded: np.ndarray
    visible: np.ndarray
    camera_names: tuple[str, ...]
    skeleton: Skeleton | None


def in_image(points_2d: np.ndarray, sizes: np.ndarray, *, margin_px: float = 0.0) -> np.ndarray:
    """Which pixels lie inside their view's image.

    points_2d: (V, ..., 2) pixels; sizes: (V, 2) ``(width, height)``. The image spans
    ``[-0.5, width - 0.5] x [-0.5, height - 0.5]`` (pixel centres at integers), shrunk by
    ``margin_px``. Returns (V, ...) bool; False where NaN.
    """
    sizes = np.asarray(sizes, dtype=np.float64).reshape((len(sizes),) + (1,) * (points_2d.ndim - 2) + (2,))
    low = -0.5 + margin_px
    high = sizes - 0.5 - margin_px
    with np.errstate(invalid="ignore"):
        inside = (points_2d >= low) & (points_2d <= high)
    return inside.all(axis=-1)


def simulate_detections(rig: Rig, joints_in_world: np.ndarray, *, skeleton: str | Skeleton | None = None,
                        noise: DetectorNoise = DetectorNoise(),
                        rng: np.random.Generator) -> SimulatedDetections:
    """Simulate a 2D keypoint detector on every view of known 3D joints.

    rig: the V cameras.
    joints_in_world: (..., J, 3) float64 world metres, usually (F, J, 3); NaN joints are never
        detected.
    skeleton: the joint layout; needed for left/right swaps and self-occlusion (neither without
        it) and checked against J.
    noise: the :class:`DetectorNoise` parameters. rng: all randomness.
    Returns a :class:`SimulatedDetections` with arrays shaped (V, ..., J[, 2]).
    """
    points = as_float_array(joints_in_world, "joints_in_world")
    if points.ndim < 2 or points.shape[-1] != 3:
        raise ValueError(f"joints_in_world has shape {points.shape}, expected (..., J, 3)")
    skeleton = None if skeleton is None else get_skeleton(skeleton)
    J = points.shape[-2]
    if skeleton is not None and skeleton.num_joints != J:
        raise ValueError(f"joints_in_world has {J} joints, skeleton {skeleton.name} has {skeleton.num_joints}")
    leading = points.shape[:-2]
    flat = points.reshape(-1, J, 3)
    V, M = len(rig), flat.shape[0]
    truth = rig.project(flat)  # (V, M, J, 2)
    sizes = rig.sizes.astype(np.float64)
    detectable = in_image(truth, rig.sizes)
    if skeleton is not None:
        occluded = self_occlusion(rig, flat, skeleton=skeleton) & detectable
    else:
        occluded = np.zeros((V, M, J), dtype=bool)

    sigma_px = noise.pixel_sigma_px * np.where(occluded, noise.occluded_sigma_scale, 1.0)
    detected = truth + sigma_px[..., None] * rng.standard_normal(truth.shape)

    is_swapped = np.zeros((V, M, J), dtype=bool)
    for left, right in (skeleton.symmetric_pairs if skeleton is not None else ()):
        swap = (rng.random((V, M)) < noise.swap_rate) & detectable[..., left] & detectable[..., right]
        a, b = detected[:, :, left].copy(), detected[:, :, right].copy()
        detected[:, :, left] = np.where(swap[..., None], b, a)
        detected[:, :, right] = np.where(swap[..., None], a, b)
        is_swapped[..., left] |= swap
        is_swapped[..., right] |= swap

    is_outlier = (rng.random((V, M, J)) < noise.outlier_rate) & detectable
    detected[is_outlier] = _outliers(truth, detectable, is_outlier, sizes, noise, rng)
    is_swapped &= ~is_outlier

    missing_view = rng.random((V, M)) < noise.missing_view_rate
    miss = rng.random((V, M, J))
    missed = (miss < noise.missing_rate) | (occluded & (miss >= 1 - noise.occluded_missing_rate))
    visible = detectable & ~missed & ~missing_view[..., None]

    scores = np.empty((V, M, J))
    correct = ~is_outlier & ~is_swapped
    for mask, (a, b) in ((correct & ~occluded, noise.score_correct), (correct & occluded, noise.score_occluded),
                         (is_swapped, noise.score_swapped), (is_outlier, noise.score_outlier)):
        scores[mask] = rng.beta(a, b, size=int(mask.sum()))
    detected[~visible] = np.nan
    scores[~visible] = np.nan
    is_outlier &= visible
    is_swapped &= visible

    def shaped(x, trailing=()):
        return x.reshape((V,) + leading + (J,) + trailing)

    return SimulatedDetections(points_2d=shaped(detected, (2,)), scores=shaped(scores),
                               truth_2d=shaped(truth, (2,)), is_outlier=shaped(is_outlier),
                               is_swapped=shaped(is_swapped), is_occluded=shaped(occluded),
                               visible=shaped(visible),
                               camera_names=rig.names, skeleton=skeleton)


def _outliers(truth: np.ndarray, detectable: np.ndarray, is_outlier: np.ndarray, sizes: np.ndarray,
              noise: DetectorNoise, rng: np.random.Generator) -> np.ndarray:
    """Replacement pixels (K, 2) for the K observations flagged in ``is_outlier`` (V, M, J)."""
    V, M, J = is_outlier.shape
    v, m, j = np.nonzero(is_outlier)
    K = v.size
    if K == 0:
        return np.zeros((0, 2))
    own = truth[v, m, j]
    size = sizes[v]
    # The person's 2D extent in that view (bounding box diagonal of the detectable joints).
    boxed = np.where(detectable[..., None], truth, np.nan)
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduce(boxed, axis=2)
        high = np.fmax.reduce(boxed, axis=2)
    diagonal = np.hypot(*(high - low)[v, m].T)
    diagonal = np.where(np.isfinite(diagonal), np.maximum(diagonal, 2 * noise.min_outlier_distance_px),
                        4 * noise.min_outlier_distance_px)
    weights = np.asarray(noise.outlier_kinds, dtype=np.float64)
    kind = rng.choice(3, size=K, p=weights / weights.sum())

    # Kind 0: another body part of the same person in that view (with detector noise).
    other = (j + rng.integers(1, max(J, 2), size=K)) % J
    part = truth[v, m, other] + noise.pixel_sigma_px * rng.standard_normal((K, 2))
    part_ok = detectable[v, m, other] & (J > 1)
    # Kind 1: a far displacement in a random direction.
    angle = rng.uniform(0, 2 * np.pi, K)
    distance = np.maximum(rng.uniform(*noise.far_displacement, K) * diagonal, noise.min_outlier_distance_px)
    far = own + distance[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    far = np.clip(far, 0.0, size - 1.0)
    # Kind 2: anywhere in the image.
    uniform = rng.uniform(0.0, 1.0, (K, 2)) * (size - 1.0)

    out = np.where((kind == 0)[:, None] & part_ok[:, None], part,
                   np.where((kind == 2)[:, None], uniform, far))
    # Whatever landed too close to the truth is pushed towards the image centre instead.
    too_close = np.hypot(*(out - own).T) < noise.min_outlier_distance_px
    if np.any(too_close):
        centre = (size - 1.0) / 2
        direction = centre - own
        norm = np.hypot(*direction.T)
        direction = np.where((norm > 1e-9)[:, None], direction / np.where(norm > 1e-9, norm, 1.0)[:, None],
                             np.array([1.0, 0.0]))
        pushed = own + 2 * noise.min_outlier_distance_px * direction
        out[too_close] = pushed[too_close]
    return out
