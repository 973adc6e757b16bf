"""Synthetic board images through an exact lens model: known answers for tests and benchmarks.

Conventions in :mod:`geometry.camera` and :mod:`calibration.boards` (board frame). A
:class:`BoardRenderer` traces every pixel of a camera (2 x 2 samples per pixel, through the
camera's own distortion model) to the board plane and looks up the printed board texture there,
so corner positions in the image equal ``camera.project`` of the board corners to within the
detector's accuracy (~0.1 px), for any lens rigkit models, fisheye included.
"""

from __future__ import annotations

import cv2
import numpy as np

from geometry import Camera, rotation_from_rvec

from .boards import Board

__all__ = ["BoardRenderer", "random_board_poses"]

_SAMPLE_OFFSETS = (-0.25, 0.25)  # 2 x 2 samples per pixel


class BoardRenderer:
    """Images of ``board`` as seen by ``camera`` at given board poses.

    background: gray level where the board is not.
    The rays of the camera are computed once (the costly part); each :meth:`render` is then one
    plane intersection and 4 texture lookups per pixel. The board texture is picked per pose at
    about 2 texels per image pixel (a mip-map), so the bilinear lookup stays smooth (no aliasing)
    whether the board is near or far.
    """

    def __init__(self, camera: Camera, board: Board, *, background: int = 110):
        self.camera, self.board, self.background = camera, board, int(background)
        self._textures: dict[int, tuple[np.ndarray, float, int]] = {}
        w, h = camera.size
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        self.rays = []
        for du in _SAMPLE_OFFSETS:
            for dv in _SAMPLE_OFFSETS:
                xy = camera.normalize(np.stack([u + du, v + dv], axis=-1))
                self.rays.append(np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1))

    def _texture(self, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float, int]:
        """(texture, texels per metre, margin in texels) for the board's size in this view."""
        centre = np.array([self.board.size_m[0] / 2, self.board.size_m[1] / 2, 0.0])
        depth = max(float((R @ centre + t)[2]), 1e-3)
        square_in_image_px = self.camera.K[0, 0] * self.board.square_length_m / depth
        level = int(np.clip(np.round(2 * np.log2(max(2.0 * square_in_image_px, 8.0))), 6, 20))  # half-octaves
        if level not in self._textures:
            texels = int(round(2 ** (level / 2)))
            dpi = texels / self.board.square_length_m * 0.0254
            texture = self.board.render(dpi=dpi, margin_m=self.board.square_length_m / 2, label=False)
            texels_per_m = self.board.square_px(dpi) / self.board.square_length_m
            self._textures[level] = (texture, texels_per_m, round(self.board.square_length_m / 2 * texels_per_m))
        return self._textures[level]

    def render(self, R: np.ndarray, t: np.ndarray, *, noise_sigma: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """(H, W) uint8 image of the board at pose ``cam_from_board = (R (3, 3), t (3,) metres)``.

        noise_sigma: Gaussian image noise, gray levels (needs ``rng``).
        """
        R = np.asarray(R, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        texture, texels_per_m, margin_px = self._texture(R, t)
        normal = R[:, 2]
        total = np.zeros(self.rays[0].shape[:2])
        for rays in self.rays:
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = (normal @ t) / (rays @ normal)  # where the ray meets z_board = 0
            points_in_board = (rays * scale[..., None] - t) @ R  # R.T @ (X_cam - t), row-wise
            map_x = (points_in_board[..., 0] * texels_per_m + margin_px - 0.5).astype(np.float32)
            map_y = (points_in_board[..., 1] * texels_per_m + margin_px - 0.5).astype(np.float32)
            behind = ~np.isfinite(map_x) | ~np.isfinite(map_y) | ~(scale > 0)
            map_x[behind], map_y[behind] = -1e6, -1e6
            total += cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=self.background)
        image = total / len(self.rays)
        if noise_sigma > 0:
            if rng is None:
                raise ValueError("noise_sigma > 0 needs an rng")
            image = image + rng.normal(0.0, noise_sigma, image.shape)
        return np.clip(image + 0.5, 0, 255).astype(np.uint8)

    def project_corners(self, R: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(C, 2) true pixel positions of the board corners at that pose (NaN when behind)."""
        return self.camera.project_from_cam(self.board.corners_in_board() @ np.asarray(R).T + np.asarray(t))


def random_board_poses(board: Board, num_poses: int, *, rng: np.random.Generator,
                       distance_m: tuple[float, float] = (0.35, 0.6), max_tilt_rad: float = 0.7,
                       max_offset_m: tuple[float, float] = (0.12, 0.09)):
    """Board poses cam_from_board spread over the view: a list of ``(R (3, 3), t (3,))``.

    The board centre is at ``distance_m`` along the optical axis, shifted sideways by up to
    ``max_offset_m`` (x, y), and tilted about x and y by up to ``max_tilt_rad`` (half that in-plane).
    """
    centre = np.array([board.size_m[0] / 2, board.size_m[1] / 2, 0.0])
    poses = []
    for _ in range(num_poses):
        R = rotation_from_rvec(rng.uniform(-max_tilt_rad, max_tilt_rad, 3) * np.array([1.0, 1.0, 0.5]))
        offset = np.array([rng.uniform(-max_offset_m[0], max_offset_m[0]),
                           rng.uniform(-max_offset_m[1], max_offset_m[1]), rng.uniform(*distance_m)])
        poses.append((R, offset - R @ centre))
    return poses
