"""Crop, letterbox and normalize images for a detector, and map its output back exactly.

A crop is an affine map ``input_from_image``: a uniform scale ``s`` and a translation, taking a
box of the original image to the centre of the network input with its aspect ratio kept
(letterbox: the unused border is filled with ``FILL_VALUE``). Pixel centres are at integer
coordinates on both sides (:mod:`geometry.camera`), which is also OpenCV's ``warpAffine``
convention, so :func:`image_from_input` is the exact inverse of the warp.

Boxes are ``(x0, y0, x1, y1)`` float pixels of the original image (corners, inclusive of the
pixels they touch); an input size is ``(width, height)`` in pixels.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

__all__ = ["FILL_VALUE", "input_from_image_transforms", "warp_to_input", "image_from_input",
           "input_from_image", "boxes_from_points", "full_image_boxes"]

FILL_VALUE = 0  # letterbox border, uint8 (training uses the same)


def input_from_image_transforms(boxes: np.ndarray, input_size: tuple[int, int], *,
                                margin: float | np.ndarray = 1.0) -> np.ndarray:
    """Affine maps that letterbox each box into the network input.

    boxes: (B, 4) float64 ``(x0, y0, x1, y1)`` original pixels.
    input_size: ``(width, height)`` of the network input, pixels.
    margin: the box is scaled by this factor about its centre first (1.25 adds 12.5% per side);
        a scalar or (B,) per box.
    Returns (B, 2, 3) float64 ``input_from_image``: ``u = s x + tx``, ``v = s y + ty``.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes has shape {boxes.shape}, expected (B, 4) as (x0, y0, x1, y1)")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or inf")
    width_in, height_in = input_size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), (len(boxes),))[:, None]
    extent = np.maximum((boxes[:, 2:] - boxes[:, :2]) * margin, 1.0)
    scale = np.minimum(width_in / extent[:, 0], height_in / extent[:, 1])
    transforms = np.zeros((len(boxes), 2, 3))
    transforms[:, 0, 0] = scale
    transforms[:, 1, 1] = scale
    transforms[:, 0, 2] = (width_in - 1) / 2 - scale * centre[:, 0]
    transforms[:, 1, 2] = (height_in - 1) / 2 - scale * centre[:, 1]
    return transforms


def warp_to_input(images, transforms: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The network inputs: each image warped by its transform.

    images: B images (H_b, W_b, 3) uint8 (sizes may differ), or an array (B, H, W, 3).
    transforms: (B, 2, 3) from :func:`input_from_image_transforms`.
    Returns (B, height, width, 3) uint8.
    """
    width_in, height_in = input_size
    out = np.empty((len(transforms), height_in, width_in, 3), dtype=np.uint8)
    for b, (image, transform) in enumerate(zip(images, transforms)):
        # Shrinking by more than 2x: INTER_AREA avoids aliasing; otherwise bilinear.
        interpolation = cv2.INTER_AREA if transform[0, 0] < 0.5 else cv2.INTER_LINEAR
        cv2.warpAffine(image, transform, (width_in, height_in), dst=out[b], flags=interpolation,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(FILL_VALUE,) * 3)
    return out


def image_from_input(points_in_input: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Network-input pixels -> original image pixels (exact inverse of the warp).

    points_in_input: (B, J, 2) pixels of the network input; transforms: (B, 2, 3).
    Returns (B, J, 2) float64 original pixels.
    """
    scale = transforms[:, 0, 0][:, None, None]
    offset = transforms[:, :, 2][:, None, :]
    return (np.asarray(points_in_input, dtype=np.float64) - offset) / scale


def input_from_image(points_in_image: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Original image pixels -> network-input pixels: (B, J, 2) -> (B, J, 2) float64."""
    scale = transforms[:, 0, 0][:, None, None]
    offset = transforms[:, :, 2][:, None, :]
    return np.asarray(points_in_image, dtype=np.float64) * scale + offset


def boxes_from_points(points: np.ndarray, scores: np.ndarray, *, min_score: float,
                      fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes around the confident keypoints of each image.

    points: (B, J, 2) pixels; scores: (B, J); fallback: (B, 4) boxes used where fewer than two
    keypoints reach ``min_score``. A confident keypoint farther from the keypoints' median than
    four times their median distance to it (a false detection elsewhere in the frame) is left out.
    Returns ``(boxes (B, 4) float64, found (B,) bool)``.
    """
    with np.errstate(invalid="ignore"):
        confident = (scores >= min_score) & np.isfinite(points).all(axis=-1)
    masked = np.where(confident[..., None], points, np.nan)
    if confident.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # images with no confident keypoint
            centre = np.nanmedian(masked, axis=1, keepdims=True)
            distance = np.linalg.norm(masked - centre, axis=-1)
            typical = np.nanmedian(distance, axis=1, keepdims=True)
        confident &= ~(distance > 4 * typical + 1.0)
        masked = np.where(confident[..., None], points, np.nan)
    found = confident.sum(axis=1) >= 2
    boxes = np.array(fallback, dtype=np.float64, copy=True)
    if found.any():
        lo = np.nanmin(masked[found], axis=1)
        hi = np.nanmax(masked[found], axis=1)
        boxes[found] = np.concatenate([lo, hi], axis=1)
    return boxes, found


def full_image_boxes(image_sizes: np.ndarray) -> np.ndarray:
    """Boxes covering whole images: (B, 2) ``(width, height)`` -> (B, 4) ``(x0, y0, x1, y1)``.

    The box spans the outer edges of the border pixels (``-0.5 .. size - 0.5``).
    """
    image_sizes = np.asarray(image_sizes, dtype=np.float64)
    return np.concatenate([np.full_like(image_sizes, -0.5), image_sizes - 0.5], axis=1)
