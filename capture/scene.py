"""The synthetic scene a synthetic rig records: a ChArUco board pass, then a person moving.

One period of the script is ``intrinsics_s`` seconds per camera of a board held up close to
each camera in turn (:func:`geometry.synthetic.camera_board_poses`, a new pose every frame; 0 by
default), then ``board_s`` seconds of a board carried through the volume
(:func:`geometry.synthetic.board_trajectory`) followed by ``person_s`` seconds of a person moving
(:func:`geometry.synthetic.person_motion`, COCO-17); the script repeats. Everything is seeded by
the rig file's ``seed``, so every camera process builds the same scene on its own, and frame
``k`` (a synthetic camera's sequence number) shows scene index ``k mod period`` at ``k / fps`` s.
World frame: Z-up, metres, floor at ``z = 0``; board frame: OpenCV's ChArUco object frame.

Two ways to draw it: ``"rendered"`` (:mod:`capture.render`: a lit room, the real ChArUco
pattern, a person with coloured joints; what calibration and labeling are tested on) and
``"pattern"`` (flat shapes, a checker quad and a stick figure, an order of magnitude cheaper: for
quick checks of the transport), and ``"loop"`` (the first pattern frames painted once and
replayed in a loop: as cheap a source as a camera's DMA buffer, for throughput benchmarks; its
images do not follow the scene, so a loop session keeps no scene truth). All apply the optional
light flicker and leave the timecode to the source.
"""

from __future__ import annotations

import cv2
import numpy as np

from geometry import Camera, Rig, get_skeleton

from .rigfile import SyntheticSpec

__all__ = ["SKELETON", "synthetic_rig", "SyntheticScene", "light_gain_at"]

SKELETON = "coco17"
_FLICKER_HZ = (0.41, 0.97, 1.73)  # incommensurate, so the light never repeats within a recording
_FLICKER_PHASE = (0.3, 1.9, 4.1)


def synthetic_rig(spec: SyntheticSpec) -> Rig:
    """The true cameras of a synthetic rig (seeded by ``spec.seed``)."""
    from geometry.synthetic import arc_rig, ceiling_rig, ring_rig  # loaded only for a synthetic rig

    rng = np.random.default_rng(spec.seed)
    make = {"ring": ring_rig, "arc": arc_rig, "ceiling": ceiling_rig}[spec.layout]
    return make(spec.num_cameras, size=spec.size, lens=spec.lens, rng=rng)


def light_gain_at(time_s: float, spec: SyntheticSpec) -> float:
    """Brightness factor of the room light at ``time_s``: 1 without flicker, else 1 +- 0.2, smooth."""
    if not spec.flicker:
        return 1.0
    return 1.0 + 0.2 * sum(np.sin(2 * np.pi * f * time_s + p) for f, p in zip(_FLICKER_HZ, _FLICKER_PHASE)) / 3


class SyntheticScene:
    """One period of the scene script at ``fps``, and its ground truth for any frame index.

    board_frames / person_frames: frames of each part per period. Arrays (per period):
    ``world_from_board (P, 4, 4)`` NaN where the board is absent; ``joints_in_world (P, 17, 3)``
    metres, NaN where nobody is in the scene.
    """

    def __init__(self, spec: SyntheticSpec, fps: float):
        from geometry.synthetic import (MotionOptions, board_trajectory, camera_board_poses, person_motion,
                                        rig_volume_center)

        if not fps > 0:
            raise ValueError(f"fps is {fps}, expected > 0")
        self.spec, self.fps = spec, fps
        self.rig = synthetic_rig(spec)
        self.board = spec.board
        self.skeleton = get_skeleton(SKELETON)
        # Close-ups (``intrinsics_s`` per camera, cameras in turn) open the board pass.
        self.close_frames_per_camera = int(round(spec.intrinsics_s * fps))
        close = self.close_frames_per_camera * len(self.rig)
        self.board_frames = close + int(round(spec.board_s * fps))
        self.person_frames = int(round(spec.person_s * fps))
        period = max(self.board_frames + self.person_frames, 1)
        self.world_from_board = np.full((period, 4, 4), np.nan)
        self.joints_in_world = np.full((period, self.skeleton.num_joints, 3), np.nan)
        rng = np.random.default_rng(spec.seed + 1)
        if close:
            close_rng = np.random.default_rng(spec.seed + 2)
            for v, camera in enumerate(self.rig):
                R, t = camera_board_poses(camera, self.close_frames_per_camera, rng=close_rng, board=self.board,
                                          distance_m=(1.2, 2.4))
                start = v * self.close_frames_per_camera
                self.world_from_board[start:start + self.close_frames_per_camera] = _homogeneous(R, t)
        if self.board_frames > close:
            R, t = board_trajectory(self.rig, self.board_frames - close, fps=fps, rng=rng, board=self.board)
            self.world_from_board[close: self.board_frames] = _homogeneous(R, t)
        if self.person_frames:
            center = rig_volume_center(self.rig)
            motion = person_motion(self.person_frames, fps=fps, skeleton=self.skeleton, rng=rng,
                                   options=MotionOptions(center_xy_m=(float(center[0]), float(center[1]))))
            self.joints_in_world[self.board_frames:] = motion.joints_in_world

    @property
    def period(self) -> int:
        return self.world_from_board.shape[0]

    def board_at(self, k: int) -> np.ndarray | None:
        """(4, 4) world_from_board of frame ``k``, or None when the board is not in the scene."""
        pose = self.world_from_board[k % self.period]
        return None if np.isnan(pose).any() else pose

    def joints_at(self, k: int) -> np.ndarray | None:
        """(17, 3) COCO-17 joints of frame ``k`` in the world (m), or None when nobody is there."""
        joints = self.joints_in_world[k % self.period]
        return None if np.isnan(joints).all() else joints

    def truth(self, num_frames: int) -> dict[str, np.ndarray]:
        """Frames 0 .. num_frames-1: ``time_s (F,)``, ``joints_in_world (F, 17, 3)``,
        ``world_from_board (F, 4, 4)`` (NaN where absent), ``light_gain (F,)``."""
        index = np.arange(num_frames) % self.period
        times = np.arange(num_frames) / self.fps
        return {"time_s": times, "joints_in_world": self.joints_in_world[index],
                "world_from_board": self.world_from_board[index],
                "light_gain": np.array([light_gain_at(t, self.spec) for t in times])}


def _homogeneous(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.zeros((R.shape[0], 4, 4))
    T[:, :3, :3], T[:, :3, 3], T[:, 3, 3] = R, t, 1.0
    return T


class PatternPainter:
    """The cheap ``"pattern"`` drawing of the scene for one camera (flat shapes, no lens shading)."""

    def __init__(self, camera: Camera, scene: SyntheticScene):
        self.camera, self.scene = camera, scene
        width, height = camera.size
        self.background = np.empty((height, width, 3), np.uint8)
        self.background[:] = np.linspace(60, 110, height, dtype=np.uint8)[:, None, None]
        columns, rows = scene.board.squares
        y, x = np.mgrid[0:rows + 1, 0:columns + 1]
        self.grid_in_board = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1) * scene.board.square_length_m

    def draw(self, k: int) -> np.ndarray:
        image = self.background.copy()
        board = self.scene.board_at(k)
        if board is not None:
            self._board(image, board)
        joints = self.scene.joints_at(k)
        if joints is not None:
            self._person(image, joints)
        return image

    def _board(self, image: np.ndarray, world_from_board: np.ndarray) -> None:
        if (self.camera.R @ world_from_board[:3, 2])[2] <= 0:
            return  # the printed side faces away from this camera
        columns, rows = self.scene.board.squares
        points = self.grid_in_board @ world_from_board[:3, :3].T + world_from_board[:3, 3]
        grid = self.camera.project(points).reshape(rows + 1, columns + 1, 2)
        if np.isnan(grid).any():
            return
        outline = grid[[0, 0, -1, -1], [0, -1, -1, 0]]
        cv2.fillConvexPoly(image, np.round(outline * 16).astype(np.int32), (235, 235, 235), cv2.LINE_AA, shift=4)
        for r in range(rows):
            for c in range(r % 2, columns, 2):
                quad = np.array([grid[r, c], grid[r, c + 1], grid[r + 1, c + 1], grid[r + 1, c]])
                cv2.fillConvexPoly(image, np.round(quad * 16).astype(np.int32), (20, 20, 20), cv2.LINE_AA, shift=4)

    def _person(self, image: np.ndarray, joints: np.ndarray) -> None:
        pixels = self.camera.project(joints)
        fixed = np.round(np.nan_to_num(pixels, nan=-1e4) * 16).astype(np.int64)
        ok = np.isfinite(pixels).all(axis=1)
        for a, b in self.scene.skeleton.bones:
            if ok[a] and ok[b]:
                cv2.line(image, tuple(map(int, fixed[a])), tuple(map(int, fixed[b])), (60, 180, 255), 3, cv2.LINE_AA,
                         shift=4)
        for j in np.flatnonzero(ok):
            cv2.circle(image, tuple(map(int, fixed[j])), 6 * 16, (40, 40, 220) if j % 2 else (220, 80, 40), -1,
                       cv2.LINE_AA, shift=4)
