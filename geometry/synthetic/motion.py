"""Seeded human motion with human proportions: walking, turning, reaching, squatting, waving.

Conventions in :mod:`geometry.camera`; Z-up synthetic world, metres, floor at ``z = 0``, capture
volume centred on the origin (:mod:`geometry.synthetic.rigs`). The body model (rigid segments, so
bone lengths are constant over time) is in :mod:`geometry.synthetic.body`.

Two generators:

- :func:`person_motion`: one person over ``F`` frames: walks between random waypoints in a disc
  around ``center_xy_m`` (turning smoothly, gait with arm swing), and now and then stops for an
  action (wave, reach, squat, bend down, stretch, kick, arms crossed, look around, turn on the
  spot, a random gesture), with slow random variation on every joint angle on top.
- :func:`random_poses`: ``N`` independent poses (random people, places, headings), a third of them
  walking, the rest drawn across each joint's range of motion: variety for training detectors and
  2D->3D lifters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import check_fields, option
from ..skeletons import Skeleton, get_skeleton
from .body import ANGLE_LIMITS_DEG, ANGLE_NAMES, BodyShape, body_joint_map, forward_kinematics

__all__ = ["MotionOptions", "PersonMotion", "PoseSample", "ACTIONS", "person_motion", "random_poses"]

ACTIONS = ("wave", "reach", "squat", "bend", "stretch", "kick", "arms_crossed", "look_around",
           "turn", "gesture")


@dataclass(frozen=True, kw_only=True)
class MotionOptions:
    """How a synthetic person moves.

    center_xy_m: centre of the walking area on the floor, world metres.
    area_radius_m: the pelvis stays within this distance of ``center_xy_m``.
    walking_speed_mps: range of walking speeds (one drawn per walk), metres per second.
    action_probability: chance of an action at each waypoint (otherwise walk on).
    action_duration_s: range of action durations, seconds.
    turn_rate_deg_s: largest heading change while walking, degrees per second.
    variation_deg: amplitude (standard deviation) of the slow random variation of joint angles.
    """

    center_xy_m: tuple[float, float] = (0.0, 0.0)
    area_radius_m: float = option(1.5, low=0, low_open=True)
    walking_speed_mps: tuple[float, float] = option((0.6, 1.5), low=0, low_open=True, ordered=True)
    action_probability: float = option(0.6, low=0, high=1)
    action_duration_s: tuple[float, float] = option((1.5, 4.0), low=0, low_open=True, ordered=True)
    turn_rate_deg_s: float = option(150.0, low=0, low_open=True)
    variation_deg: float = option(8.0, low=0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class PersonMotion:
    """One synthetic person over time.

    joints_in_world: (F, J, 3) float64 world metres, J in ``skeleton`` order.
    skeleton: the joint layout.
    fps: frames per second (frame f is at ``f / fps`` seconds).
    height_m: standing height, metres.
    activity: F labels, ``"walk"``, ``"stand"`` or one of :data:`ACTIONS`.
    """

    joints_in_world: np.ndarray
    skeleton: Skeleton
    fps: float
    height_m: float
    activity: tuple[str, ...]

    @property
    def timestamp_s(self) -> np.ndarray:
        """(F,) float64 seconds of each frame."""
        return np.arange(self.joints_in_world.shape[0]) / self.fps


@dataclass(frozen=True, kw_only=True)
class PoseSample:
    """Independent static poses. joints_in_world: (N, J, 3) world metres; height_m: (N,)."""

    joints_in_world: np.ndarray
    skeleton: Skeleton
    height_m: np.ndarray


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _gait(phase: np.ndarray, amount: np.ndarray, speed_mps: np.ndarray) -> dict[str, np.ndarray]:
    """Joint angles of walking at gait ``phase`` (radians), scaled by ``amount`` in [0, 1]."""
    stride = np.clip(speed_mps / 1.2, 0.4, 1.4) * amount
    out = {}
    for s, offset in (("l", 0.0), ("r", np.pi)):
        phi = phase + offset
        swing = np.maximum(0.0, np.cos(phi + 0.4)) ** 2
        out[f"{s}_hip_flex"] = stride * 22 * np.sin(phi) + amount * 4
        out[f"{s}_knee_flex"] = amount * (6 + 8 * np.maximum(0.0, np.sin(phi)) ** 4) + stride * 45 * swing
        out[f"{s}_foot_pitch"] = stride * 14 * np.sin(phi)
        out[f"{s}_shoulder_flex"] = -stride * 20 * np.sin(phi)
        out[f"{s}_shoulder_abd"] = amount * 6
        out[f"{s}_elbow_flex"] = amount * 12 + stride * 10 * (1 - np.sin(phi)) / 2
    out["trunk_twist"] = stride * 5 * np.sin(phase)
    out["trunk_lean"] = amount * 4
    return out


def _action_angles(action: str, t_s: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Joint angle offsets (degrees) of one action at times ``t_s`` from its start."""
    u = rng.uniform
    s = "l" if rng.random() < 0.5 else "r"
    o = "r" if s == "l" else "l"
    if action == "wave":
        freq = u(1.5, 3.0)
        return {f"{s}_shoulder_abd": u(110, 165), f"{s}_shoulder_flex": u(-10, 40),
                f"{s}_elbow_flex": u(35, 70) + u(15, 30) * np.sin(2 * np.pi * freq * t_s),
                "head_yaw": u(-30, 30)}
    if action == "reach":
        both = rng.random() < 0.4
        angles = {f"{s}_shoulder_flex": u(60, 170), f"{s}_shoulder_abd": u(-10, 50),
                  f"{s}_elbow_flex": u(0, 40), "trunk_lean": u(0, 40), "trunk_twist": u(-25, 25),
                  "head_pitch": u(-25, 30)}
        if both:
            angles.update({f"{o}_shoulder_flex": u(60, 170), f"{o}_shoulder_abd": u(-10, 50),
                           f"{o}_elbow_flex": u(0, 40)})
        return angles
    if action == "squat":
        depth = u(0.4, 1.0)
        return {"l_hip_flex": 105 * depth, "r_hip_flex": 105 * depth, "l_knee_flex": 130 * depth,
                "r_knee_flex": 130 * depth, "l_hip_abd": u(5, 25), "r_hip_abd": u(5, 25),
                "trunk_lean": u(15, 45) * depth, "l_shoulder_flex": u(20, 100),
                "r_shoulder_flex": u(20, 100), "l_elbow_flex": u(0, 90), "r_elbow_flex": u(0, 90)}
    if action == "bend":
        lean = u(45, 90)
        return {"trunk_lean": lean, "l_knee_flex": u(0, 40), "r_knee_flex": u(0, 40),
                "l_hip_flex": u(0, 20), "r_hip_flex": u(0, 20),
                "l_shoulder_flex": lean + u(-15, 40), "r_shoulder_flex": lean + u(-15, 40),
                "l_elbow_flex": u(0, 50), "r_elbow_flex": u(0, 50), "head_pitch": u(-40, 0)}
    if action == "stretch":
        return {"l_shoulder_abd": u(120, 175), "r_shoulder_abd": u(120, 175),
                "l_shoulder_flex": u(0, 60), "r_shoulder_flex": u(0, 60),
                "l_elbow_flex": u(0, 30), "r_elbow_flex": u(0, 30), "head_pitch": u(-35, -5),
                "trunk_side": u(-20, 20) * np.sin(2 * np.pi * 0.4 * t_s)}
    if action == "kick":
        freq = u(0.5, 1.2)
        swing = np.sin(2 * np.pi * freq * t_s)
        return {f"{s}_hip_flex": u(30, 80) * np.maximum(swing, 0) + u(-20, 0) * np.maximum(-swing, 0),
                f"{s}_knee_flex": u(5, 60) * np.abs(swing), f"{s}_hip_abd": u(0, 30),
                "l_shoulder_abd": u(20, 60), "r_shoulder_abd": u(20, 60), "trunk_lean": u(-10, 15)}
    if action == "arms_crossed":
        return {"l_shoulder_flex": u(20, 50), "r_shoulder_flex": u(20, 50),
                "l_shoulder_abd": u(-25, 0), "r_shoulder_abd": u(-25, 0),
                "l_shoulder_twist": u(40, 70), "r_shoulder_twist": u(40, 70),
                "l_elbow_flex": u(90, 130), "r_elbow_flex": u(90, 130), "head_yaw": u(-40, 40)}
    if action == "look_around":
        freq = u(0.2, 0.5)
        return {"head_yaw": u(40, 70) * np.sin(2 * np.pi * freq * t_s),
                "head_pitch": u(-30, 30) * np.sin(2 * np.pi * 0.7 * freq * t_s + u(0, 6)),
                "trunk_twist": u(10, 35) * np.sin(2 * np.pi * freq * t_s)}
    if action == "gesture":
        angles = {}
        for side in "lr":
            for name in ("shoulder_flex", "shoulder_abd", "shoulder_twist", "elbow_flex"):
                lo, hi = ANGLE_LIMITS_DEG[f"{side}_{name}"]
                start, end = u(lo, hi, size=2)
                angles[f"{side}_{name}"] = start + (end - start) * _smoothstep(t_s / max(t_s[-1], 1e-9))
        angles["trunk_lean"] = u(-10, 30)
        angles["head_yaw"] = u(-50, 50)
        return angles
    if action == "turn":
        return {"head_yaw": u(-20, 20)}
    raise ValueError(f"unknown action {action!r}, expected one of {', '.join(ACTIONS)}")


def _slow_noise(num_frames: int, fps: float, rng: np.random.Generator, correlation_s: float) -> np.ndarray:
    """(num_frames,) smooth zero-mean noise of unit standard deviation."""
    sigma = max(correlation_s * fps, 1.0)
    half = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    white = rng.standard_normal(num_frames + 2 * half)
    smooth = np.convolve(white, kernel, mode="valid")
    return smooth / np.sqrt(np.sum(kernel**2))


def _wrap(angle: float) -> float:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def person_motion(num_frames: int, *, fps: float = 30.0, skeleton: str | Skeleton = "coco17",
                  height_m: float | None = None, rng: np.random.Generator,
                  options: MotionOptions = MotionOptions()) -> PersonMotion:
    """A person moving through the capture volume for ``num_frames`` frames.

    height_m: standing height in metres; drawn from [1.55, 1.95] when None.
    skeleton: any built-in body skeleton (COCO_17, HALPE_26, BODY_25, BODY_25B, MPII_16, H36M_17)
        or a custom one whose joint names are :data:`geometry.synthetic.body.BODY_JOINTS`.
    Returns a :class:`PersonMotion`; the same ``rng`` state gives the same motion.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames is {num_frames}, expected >= 1")
    if not fps > 0:
        raise ValueError(f"fps is {fps}, expected > 0")
    skeleton = get_skeleton(skeleton)
    joint_map = body_joint_map(skeleton)
    if height_m is None:
        height_m = float(rng.uniform(1.55, 1.95))
    if not 0.5 < height_m < 2.5:
        raise ValueError(f"height_m is {height_m}, expected a human height in metres (0.5 .. 2.5)")
    shape = BodyShape.random(height_m, rng=rng)
    dt = 1.0 / fps
    center = np.asarray(options.center_xy_m, dtype=np.float64)
    radius = options.area_radius_m

    def waypoint() -> np.ndarray:
        r = radius * np.sqrt(rng.uniform(0.0, 1.0))
        angle = rng.uniform(-np.pi, np.pi)
        return center + r * np.array([np.cos(angle), np.sin(angle)])

    # Walk/act timeline: one scalar state update per frame (steering is inherently sequential).
    position = center + 0.6 * (waypoint() - center)
    heading = rng.uniform(-np.pi, np.pi)
    target = waypoint()
    speed = rng.uniform(*options.walking_speed_mps)
    amount = 0.0
    phase = rng.uniform(0, 2 * np.pi)
    action, action_end, turn_rate = None, 0, 0.0
    segments = []  # (action, start_frame, end_frame)
    root = np.empty((num_frames, 2))
    headings = np.empty(num_frames)
    amounts = np.empty(num_frames)
    phases = np.empty(num_frames)
    speeds = np.empty(num_frames)
    activity = []
    max_turn = np.radians(options.turn_rate_deg_s) * dt
    for f in range(num_frames):
        if action is None:
            offset = target - position
            distance = np.hypot(*offset)
            error = _wrap(np.arctan2(offset[1], offset[0]) - heading)
            heading += np.clip(error, -max_turn, max_turn)
            goal = (1.0 if abs(error) < np.radians(50) else 0.35) * np.clip(distance / 0.6, 0.25, 1.0)
            if distance < 0.3:
                if rng.random() < options.action_probability:
                    action = str(rng.choice(ACTIONS))
                    length = int(rng.uniform(*options.action_duration_s) * fps)
                    action_end = f + max(length, 2)
                    segments.append((action, f, action_end))
                    turn_rate = np.radians(rng.uniform(60, 120)) * rng.choice([-1, 1]) * dt
                target = waypoint()
                speed = rng.uniform(*options.walking_speed_mps)
        if action is not None:
            goal = 0.25 if action == "turn" else 0.0
            if action == "turn":
                heading += turn_rate
            if f >= action_end:
                action = None
        amount += (goal - amount) * min(1.0, dt / 0.35)
        position = position + amount * speed * dt * np.array([np.cos(heading), np.sin(heading)])
        # Cadence rises with speed (about 0.9 strides per second at 1.2 m/s).
        phase += 2 * np.pi * (0.75 + 0.15 * speed) * dt * (amount > 0.02)
        root[f], headings[f], amounts[f], phases[f], speeds[f] = position, heading, amount, phase, speed
        activity.append(action if action is not None else ("walk" if amount > 0.2 else "stand"))

    angles = {name: np.zeros(num_frames) for name in ANGLE_NAMES}
    angles["heading"] = np.degrees(headings)
    for name, value in _gait(phases, amounts, speeds).items():
        angles[name] += value
    t_s = np.arange(num_frames) * dt
    for name, start, end in segments:
        stop = min(end, num_frames)
        local = t_s[start:stop] - t_s[start]
        duration_s = (end - start) / fps
        ramp_s = min(0.5, duration_s / 3)  # in and out within the action's own frames
        weight = _smoothstep(local / ramp_s) * _smoothstep((duration_s - local) / ramp_s)
        for key, value in _action_angles(name, local, rng).items():
            angles[key][start:stop] += weight * value
    amplitudes = {"head_yaw": 3.0, "head_pitch": 1.5, "head_roll": 0.7, "trunk_twist": 0.6,
                  "trunk_side": 0.5, "trunk_lean": 0.5}
    for name in ANGLE_NAMES:
        if name == "heading":
            continue
        scale = amplitudes.get(name, 0.5 if ("hip" in name or "knee" in name or "foot" in name) else 1.0)
        angles[name] += options.variation_deg * scale * _slow_noise(num_frames, fps, rng, 1.0)
    _clip_to_limits(angles)
    joints = forward_kinematics(angles, root, shape)[:, joint_map]
    return PersonMotion(joints_in_world=joints, skeleton=skeleton, fps=float(fps),
                        height_m=float(height_m), activity=tuple(activity))


def _clip_to_limits(angles: dict[str, np.ndarray]) -> None:
    for name, (lo, hi) in ANGLE_LIMITS_DEG.items():
        np.clip(angles[name], lo, hi, out=angles[name])
    # Knees cannot pass straight, and a deep squat with straight hips would tip over: keep the
    # shank roughly under the body.
    for s in "lr":
        angles[f"{s}_knee_flex"] = np.minimum(angles[f"{s}_knee_flex"],
                                              np.maximum(angles[f"{s}_hip_flex"], 0) + 60)


def random_poses(num_poses: int, *, rng: np.random.Generator, skeleton: str | Skeleton = "coco17",
                 height_range_m: tuple[float, float] = (1.55, 1.95),
                 center_xy_m: tuple[float, float] = (0.0, 0.0), area_radius_m: float = 1.5,
                 walking_fraction: float = 1 / 3) -> PoseSample:
    """``num_poses`` independent, diverse static poses of different people.

    Each pose has its own height (uniform in ``height_range_m``), body proportions, position
    (uniform in the disc of ``area_radius_m`` around ``center_xy_m``) and heading. A
    ``walking_fraction`` of them are walking snapshots; the others draw every joint angle across
    its range of motion (biased towards the middle), with correlated legs so that most stand.
    """
    if num_poses < 1:
        raise ValueError(f"num_poses is {num_poses}, expected >= 1")
    lo, hi = height_range_m
    if not 0.5 < lo <= hi < 2.5:
        raise ValueError(f"height_range_m is {height_range_m}, expected human heights in metres")
    skeleton = get_skeleton(skeleton)
    joint_map = body_joint_map(skeleton)
    N = num_poses
    heights = rng.uniform(lo, hi, N)
    shape = BodyShape.random(heights, rng=rng)
    r = area_radius_m * np.sqrt(rng.uniform(0, 1, N))
    theta = rng.uniform(-np.pi, np.pi, N)
    root = np.asarray(center_xy_m, dtype=np.float64) + np.stack([r * np.cos(theta), r * np.sin(theta)], -1)
    angles = {"heading": rng.uniform(-180, 180, N)}
    for name, (a, b) in ANGLE_LIMITS_DEG.items():
        # Beta(2, 2) across the range, shifted so that the neutral pose (0) is the mode when the
        # range contains it.
        mid = np.clip(0.0, a, b)
        sample = a + (b - a) * rng.beta(2.0, 2.0, N)
        angles[name] = np.where(rng.random(N) < 0.35, mid + 0.25 * (sample - mid), sample)
    legs_relaxed = rng.random(N) < 0.6  # most people stand: small leg angles
    for s in "lr":
        for name in ("hip_flex", "hip_abd", "hip_twist", "knee_flex", "foot_pitch"):
            angles[f"{s}_{name}"] = np.where(legs_relaxed, 0.2 * angles[f"{s}_{name}"], angles[f"{s}_{name}"])
    angles["trunk_lean"] = np.where(rng.random(N) < 0.6, 0.3 * angles["trunk_lean"], angles["trunk_lean"])
    walking = rng.random(N) < walking_fraction
    gait = _gait(rng.uniform(0, 2 * np.pi, N), np.ones(N), rng.uniform(0.6, 1.6, N))
    for name, value in gait.items():
        angles[name] = np.where(walking, value + 0.3 * (angles[name] - np.clip(0.0, *ANGLE_LIMITS_DEG[name])),
                                angles[name])
    _clip_to_limits(angles)
    joints = forward_kinematics(angles, root, shape)[:, joint_map]
    return PoseSample(joints_in_world=joints, skeleton=skeleton, height_m=heights)
