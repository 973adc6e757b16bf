"""The synthetic scene a synthetic rig records: a ChArUco board pass, then a person moving.

Everything is a pure function of the scene time ``time_s`` (s since the recording started), so
every camera process renders the same instant without talking to the others, and the session's
ground truth can be written once by the recorder. The script repeats with period
``board_s + person_s``. World frame: Z-up, metres, floor at ``z = 0`` (as
:mod:`geometry.synthetic`); board frame: OpenCV's ChArUco object frame (origin at the board's
outer corner, x along columns, y along rows, z into the board).
"""

from __future__ import annotations

import numpy as np

from geometry import Rig
from geometry.synthetic import arc_rig, ceiling_rig, ring_rig

from .rigfile import SyntheticSpec

__all__ = ["COCO17_JOINTS", "COCO17_BONES", "synthetic_rig", "world_from_board_at", "joints_at", "light_gain_at",
           "scene_truth"]

COCO17_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                 "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO17_BONES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
                (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))

_WALK_RADIUS_M = 1.0
_WALK_SPEED_M_S = 0.6
_STEP_HZ = 0.9


def synthetic_rig(spec: SyntheticSpec) -> Rig:
    """The true cameras of a synthetic rig (seeded by ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    make = {"ring": ring_rig, "arc": arc_rig, "ceiling": ceiling_rig}[spec.layout]
    return make(spec.num_cameras, size=spec.size, lens=spec.lens, rng=rng)


def _local_time(time_s: float, spec: SyntheticSpec) -> float:
    period = spec.board_s + spec.person_s
    return time_s % period if period > 0 else 0.0


def world_from_board_at(time_s: float, spec: SyntheticSpec) -> np.ndarray | None:
    """(4, 4) float64 world_from_board at ``time_s``, or None when the board is not in the scene.

    The board's centre circles 0.5 m around the volume centre while it turns a full yaw circle per
    pass (so every camera of a ring sees its front), tilting +-25 deg and rolling +-20 deg.
    """
    t = _local_time(time_s, spec)
    if t >= spec.board_s:
        return None
    yaw = 2 * np.pi * t / max(spec.board_s, 1e-9)
    tilt, roll = np.radians(25) * np.sin(2 * np.pi * t / 1.7), np.radians(20) * np.sin(2 * np.pi * t / 2.3)
    outward = np.array([np.cos(yaw) * np.cos(tilt), np.sin(yaw) * np.cos(tilt), np.sin(tilt)])
    tangent = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
    z_b = -outward
    x_b = np.cos(roll) * tangent + np.sin(roll) * np.cross(z_b, tangent)
    y_b = np.cross(z_b, x_b)
    R = np.stack([x_b, y_b, z_b], axis=1)
    centre = np.array([0.5 * np.cos(1.3 * yaw), 0.5 * np.sin(1.3 * yaw), 1.2 + 0.25 * np.sin(2 * np.pi * t / 3.1)])
    columns, rows = spec.board.squares
    half = np.array([columns, rows, 0.0]) * spec.board.square_length_m / 2
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, centre - R @ half
    return T


def joints_at(time_s: float, spec: SyntheticSpec) -> np.ndarray | None:
    """(17, 3) float64 COCO-17 joints in the world (m) at ``time_s``, or None when nobody is there.

    A 1.75 m person walks a circle of radius 1 m around the volume centre, legs and arms swinging.
    """
    t = _local_time(time_s, spec)
    if t < spec.board_s:
        return None
    t -= spec.board_s
    angle = _WALK_SPEED_M_S * t / _WALK_RADIUS_M
    position = np.array([_WALK_RADIUS_M * np.cos(angle), _WALK_RADIUS_M * np.sin(angle), 0.0])
    forward = np.array([-np.sin(angle), np.cos(angle), 0.0])
    left = np.array([-forward[1], forward[0], 0.0])
    up = np.array([0.0, 0.0, 1.0])
    swing = np.radians(25) * np.sin(2 * np.pi * _STEP_HZ * t)
    bob = 0.02 * np.cos(4 * np.pi * _STEP_HZ * t)

    def at(f: float, l: float, u: float) -> np.ndarray:
        return position + f * forward + l * left + (u + bob) * up

    def limb(root: np.ndarray, length: float, phi: float) -> np.ndarray:
        return root + length * (np.sin(phi) * forward - np.cos(phi) * up)

    hips = [at(0, 0.10, 0.95), at(0, -0.10, 0.95)]
    knees = [limb(hips[0], 0.45, swing), limb(hips[1], 0.45, -swing)]
    ankles = [limb(knees[0], 0.45, swing - abs(swing) * 0.6), limb(knees[1], 0.45, -swing - abs(swing) * 0.6)]
    shoulders = [at(0, 0.19, 1.45), at(0, -0.19, 1.45)]
    elbows = [limb(shoulders[0], 0.29, -swing), limb(shoulders[1], 0.29, swing)]
    wrists = [limb(elbows[0], 0.26, -swing + 0.4), limb(elbows[1], 0.26, swing + 0.4)]
    head = [at(0.10, 0, 1.62), at(0.08, 0.035, 1.66), at(0.08, -0.035, 1.66), at(0.0, 0.08, 1.64),
            at(0.0, -0.08, 1.64)]
    # COCO-17 order: head (nose, eyes, ears), then left/right shoulders, elbows, wrists, hips, knees, ankles.
    return np.stack(head + shoulders + elbows + wrists + hips + knees + ankles)


_FLICKER_HZ = (0.41, 0.97, 1.73)  # incommensurate, so the light never repeats within a recording
_FLICKER_PHASE = (0.3, 1.9, 4.1)


def light_gain_at(time_s: float, spec: SyntheticSpec) -> float:
    """Brightness factor of the room light at ``time_s``: 1 without flicker, else 1 +- 0.2, smooth."""
    if not spec.flicker:
        return 1.0
    return 1.0 + 0.2 * sum(np.sin(2 * np.pi * f * time_s + p) for f, p in zip(_FLICKER_HZ, _FLICKER_PHASE)) / 3


def scene_truth(spec: SyntheticSpec, fps: float, duration_s: float) -> dict[str, np.ndarray]:
    """The scene sampled at the nominal frame times ``k / fps``, k = 0 .. ceil(duration * fps).

    Returns ``time_s (F,)`` s; ``joints_in_world (F, 17, 3)`` m, NaN where nobody is in the scene;
    ``world_from_board (F, 4, 4)``, NaN where the board is not. Frame ``k`` of every synthetic
    camera (its sequence number) shows the scene at ``time_s[k]``.
    """
    count = int(np.ceil(duration_s * fps)) + 1
    times = np.arange(count) / fps
    joints = np.full((count, len(COCO17_JOINTS), 3), np.nan)
    boards = np.full((count, 4, 4), np.nan)
    for k, t in enumerate(times):
        j, b = joints_at(t, spec), world_from_board_at(t, spec)
        if j is not None:
            joints[k] = j
        if b is not None:
            boards[k] = b
    return {"time_s": times, "joints_in_world": joints, "world_from_board": boards}
