"""Frames whose decoded size differs from the calibration's: what the pixels mean, said once.

A video's decoded frames can differ from the size its camera was calibrated at: codecs pad to
16-pixel macroblocks (the Pose2Sim demo's cam01/cam02 decode as 1080x1920 and are calibrated as
1088x1920). rigkit's pixel origin is the centre of the top-left pixel (:mod:`geometry.camera`),
so padding or cropping at the right and bottom edges keeps every pixel, and the principal point,
where it is: detections need no change, images are padded (black) or cropped to the calibrated
size when drawn. A size off by more than that must be a scaled frame: with the same aspect ratio
the coordinates are scaled about the pixel grid; a different aspect ratio is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .detections import Detections

__all__ = ["FrameFit", "frame_fit", "fit_detections", "fit_image", "MAX_PAD_PX",
           "ASPECT_TOLERANCE"]

log = logging.getLogger(__name__)
MAX_PAD_PX = 16  # one macroblock: what an encoder pads a frame side to
ASPECT_TOLERANCE = 0.002  # relative aspect-ratio difference still read as "the same"


@dataclass(frozen=True)
class FrameFit:
    """How one camera's decoded frames map onto its calibrated image.

    mode: ``"same"``, ``"pad_crop"`` (right/bottom edges; coordinates unchanged) or ``"scale"``.
    decoded_size, calibrated_size: ``(width, height)`` pixels. scale: calibrated / decoded.
    """

    camera: str
    mode: Literal["same", "pad_crop", "scale"]
    decoded_size: tuple[int, int]
    calibrated_size: tuple[int, int]
    scale: float = 1.0

    def sentence(self) -> str:
        (dw, dh), (cw, ch) = self.decoded_size, self.calibrated_size
        if self.mode == "pad_crop":
            return (f"camera {self.camera}: frames decode as {dw}x{dh} but are calibrated as "
                    f"{cw}x{ch}; padding/cropping at the right and bottom edges (the principal "
                    "point stays where it is)")
        return (f"camera {self.camera}: frames decode as {dw}x{dh} but are calibrated as {cw}x{ch} "
                f"(same aspect ratio); scaling pixel coordinates by {self.scale:.6g}")


def frame_fit(camera: str, decoded_size, calibrated_size) -> FrameFit:
    """The :class:`FrameFit` of one camera; ValueError when the aspect ratios differ."""
    decoded = (int(decoded_size[0]), int(decoded_size[1]))
    calibrated = (int(round(calibrated_size[0])), int(round(calibrated_size[1])))
    if decoded == calibrated:
        return FrameFit(camera, "same", decoded, calibrated)
    if abs(decoded[0] - calibrated[0]) <= MAX_PAD_PX and abs(decoded[1] - calibrated[1]) <= MAX_PAD_PX:
        return FrameFit(camera, "pad_crop", decoded, calibrated)
    ratio = (decoded[0] / decoded[1]) / (calibrated[0] / calibrated[1])
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(f"camera {camera}: frames are {decoded[0]}x{decoded[1]} but the calibration "
                         f"is {calibrated[0]}x{calibrated[1]}, a different aspect ratio; calibrate "
                         "this camera at the video's size")
    return FrameFit(camera, "scale", decoded, calibrated, calibrated[0] / decoded[0])


def fit_detections(detections: Detections, rig, frame_sizes: dict[str, tuple[int, int]]
                   ) -> tuple[Detections, list[FrameFit]]:
    """Detections in the calibrated images' pixels, and the fits that were not ``"same"``.

    frame_sizes: ``{camera: (width, height)}`` of the decoded frames (cameras absent: unchanged).
    Each differing camera is said once (a warning). A padded/cropped camera keeps its
    coordinates (points beyond the calibrated image become NaN); a scaled one is scaled about the
    pixel grid, ``x_cal = (x + 0.5) * s - 0.5``.
    """
    by_name = {camera.name: camera for camera in rig}
    points = detections.points_2d.copy()
    fits = []
    for v, name in enumerate(detections.camera_names):
        if name not in frame_sizes or name not in by_name:
            continue
        fit = frame_fit(name, frame_sizes[name], by_name[name].size)
        if fit.mode == "same":
            continue
        fits.append(fit)
        log.debug("%s", fit.sentence())  # the command says it once
        if fit.mode == "scale":
            points[v] = (points[v] + 0.5) * fit.scale - 0.5
        width, height = fit.calibrated_size
        with np.errstate(invalid="ignore"):
            outside = ((points[v] < -0.5) | (points[v] > (width - 0.5, height - 0.5))).any(axis=-1)
        points[v][outside] = np.nan
    if not fits:
        return detections, []
    fitted = Detections(points_2d=points, scores=detections.scores, camera_names=detections.camera_names,
                        joint_names=detections.joint_names, frame_index=detections.frame_index,
                        timestamp_s=detections.timestamp_s, source=detections.source,
                        metadata=dict(detections.metadata))
    return fitted, fits


def fit_image(image: np.ndarray, calibrated_size) -> np.ndarray:
    """A decoded frame in the calibrated image's pixels: padded (black) or cropped at the right and
    bottom edges, or resized when the size differs by more than :data:`MAX_PAD_PX` (same
    aspect ratio, :func:`frame_fit`)."""
    import cv2

    width, height = int(round(calibrated_size[0])), int(round(calibrated_size[1]))
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    fit = frame_fit("", (w, h), (width, height))
    if fit.mode == "scale":
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width) + image.shape[2:], dtype=image.dtype)
    out[:min(h, height), :min(w, width)] = image[:height, :width]
    return out
