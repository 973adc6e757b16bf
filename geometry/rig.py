"""The rig: an ordered set of named cameras, with stacked arrays for vectorized work.

Conventions (frames, units, dimension letters) are in :mod:`geometry.camera`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .arrays import as_float_array, flatten_leading, require_shape
from .camera import Camera
from .lens import apply_K, distort_normalized, normalized_from_cam, remove_K, undistort_normalized

__all__ = ["Rig"]


class Rig:
    """Ordered, named cameras. Order is the ``V`` axis of every array in rigkit.

    cameras: V >= 1 cameras with unique names.

    Stacked views (read-only): ``K (V, 3, 3)``, ``R (V, 3, 3)``, ``t (V, 3)``,
    ``centers (V, 3)``, ``sizes (V, 2)`` int, ``names`` tuple of V str.
    """

    def __init__(self, cameras: Sequence[Camera]):
        cameras = tuple(cameras)
        if not cameras:
            raise ValueError("a rig needs at least one camera")
        for cam in cameras:
            if not isinstance(cam, Camera):
                raise ValueError(f"rig cameras must be geometry.Camera, got {type(cam).__name__}")
        names = [c.name for c in cameras]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique in a rig, repeated: {', '.join(duplicates)}")
        self._cameras = cameras
        self.names: tuple[str, ...] = tuple(names)
        self.K = _readonly(np.stack([c.K for c in cameras]))
        self.R = _readonly(np.stack([c.R for c in cameras]))
        self.t = _readonly(np.stack([c.t for c in cameras]))
        self.centers = _readonly(np.stack([c.center for c in cameras]))
        self.sizes = _readonly(np.array([c.size for c in cameras], dtype=np.int64))
        self._models = tuple(c.model for c in cameras)
        # One group per distortion model, so that projection is vectorized over the views.
        self._groups = []
        for model in ("opencv", "fisheye"):
            index = np.array([i for i, m in enumerate(self._models) if m == model], dtype=np.int64)
            if index.size:
                dist = np.stack([cameras[i].dist_padded for i in index])
                self._groups.append((model, index, dist))

    # -- container protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self._cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            return self._cameras[self.index(key)]
        return self._cameras[key]

    def __repr__(self) -> str:
        return f"Rig({len(self)} cameras: {', '.join(self.names)})"

    @property
    def cameras(self) -> tuple[Camera, ...]:
        return self._cameras

    def index(self, name: str) -> int:
        """Position of the camera called ``name``; ValueError listing the names otherwise."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no camera named {name!r} in the rig (cameras: {', '.join(self.names)})") from None

    def subset(self, names_or_indices: Sequence[str | int]) -> "Rig":
        """A rig of some of the cameras, in the order given."""
        return Rig([self[k] for k in names_or_indices])

    def with_poses(self, R: np.ndarray, t: np.ndarray) -> "Rig":
        """Same cameras and intrinsics with new poses. R: (V, 3, 3), t: (V, 3)."""
        R = as_float_array(R, "R")
        t = as_float_array(t, "t")
        require_shape(R, "R", f"({len(self)}, 3, 3)", trailing=(len(self), 3, 3), ndim=3)
        require_shape(t, "t", f"({len(self)}, 3)", trailing=(len(self), 3), ndim=2)
        return Rig([c.replace(R=R[i], t=t[i]) for i, c in enumerate(self._cameras)])

    # -- vectorized geometry ------------------------------------------------------------------
    def to_cam(self, points_in_world: np.ndarray) -> np.ndarray:
        """World points into every camera's frame: (..., 3) -> (V, ..., 3), metres."""
        points = as_float_array(points_in_world, "points_in_world")
        require_shape(points, "points_in_world", "(..., 3)", trailing=(3,))
        flat, leading = flatten_leading(points, 1)
        in_cam = np.einsum("vij,nj->vni", self.R, flat) + self.t[:, None, :]
        return in_cam.reshape((len(self),) + tuple(leading) + (3,))

    def project(self, points_in_world: np.ndarray) -> np.ndarray:
        """Project world points into every camera.

        points_in_world: (..., 3) float64, metres.
        Returns (V, ..., 2) float64 distorted pixels; NaN where a point is not in front of a camera.
        """
        in_cam = self.to_cam(points_in_world)
        flat = in_cam.reshape(len(self), -1, 3)
        pixels = np.empty(flat.shape[:2] + (2,))
        xy, seen = normalized_from_cam(flat)
        for model, index, dist in self._groups:
            distorted = distort_normalized(xy[index], dist[:, None, :], model)
            pixels[index] = apply_K(distorted, self.K[index][:, None])
        pixels[~seen] = np.nan
        return pixels.reshape(in_cam.shape[:-1] + (2,))

    def normalize(self, points_2d: np.ndarray) -> np.ndarray:
        """Distorted pixels seen by each camera -> undistorted normalized coordinates.

        points_2d: (V, ..., 2) float64 pixels, NaN where not observed.
        Returns (V, ..., 2) float64 ``(X/Z, Y/Z)`` in each camera's frame; NaN where the input is
        NaN or the lens model cannot be inverted there.
        """
        points_2d = as_float_array(points_2d, "points_2d")
        if points_2d.ndim < 2 or points_2d.shape[0] != len(self) or points_2d.shape[-1] != 2:
            raise ValueError(f"points_2d has shape {points_2d.shape}, expected ({len(self)}, ..., 2)")
        flat = points_2d.reshape(len(self), -1, 2)
        out = np.empty_like(flat)
        for model, index, dist in self._groups:
            distorted = remove_K(flat[index], self.K[index][:, None])
            out[index] = undistort_normalized(distorted, dist[:, None, :], model)
        return out.reshape(points_2d.shape)

    def undistort_points(self, points_2d: np.ndarray) -> np.ndarray:
        """Distorted pixels -> undistorted pixels per camera: (V, ..., 2) -> (V, ..., 2)."""
        normalized = self.normalize(points_2d)
        flat = normalized.reshape(len(self), -1, 2)
        return apply_K(flat, self.K[:, None]).reshape(normalized.shape)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array

