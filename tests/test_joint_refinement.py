"""The joint refinement of intrinsics with the poses (calibration.board_validation): held by the
lens priors and by each camera's own solve, and saying how far it moved each camera from it."""

from __future__ import annotations

import numpy as np

from calibration.board_validation import validated_board_extrinsics
from calibration.lens_model import IntrinsicsAnchor
from geometry import Rig
from tests.calibration_scenes import board_scene

FOCAL_TOL = 0.01  # relative focal error after the joint refinement; 60 poses, 0.3 px noise, 4 cameras


def _scene():
    rig, corners, R, t, pixels = board_scene(4, 60, seed=7, spread_m=0.8, max_tilt_deg=70.0)
    start = Rig([c.replace(K=np.diag([1.04, 1.04, 1.0]) @ c.K) for c in rig])  # focal 4% long, as a thin
    return rig, start, corners, pixels                                          # per-camera solve gives


def _anchors(start, sigma_px):
    return {c.name: IntrinsicsAnchor(theta=np.r_[c.K[0, 0], c.K[1, 1], c.K[0, 2], c.K[1, 2], c.dist_padded],
                                     sqrt_information=np.diag(np.r_[np.full(4, 1 / sigma_px), np.full(8, 100.0)]))
            for c in start}


def test_joint_refinement_with_loose_anchors_recovers_the_focal_lengths_and_reports_the_shift():
    truth, start, corners, pixels = _scene()
    complexity = {n: "pinhole" for n in start.names}
    validated = validated_board_extrinsics(start, pixels, corners, lens_complexity=complexity,
                                           lens_anchors=_anchors(start, 500.0), final_on_all=False)
    assert validated.joint.freed, validated.joint.reason
    for est, true in zip(validated.result.rig, truth):
        assert abs(est.K[0, 0] / true.K[0, 0] - 1) < FOCAL_TOL
    assert set(validated.joint.shift_sigma) == set(start.names)
    assert "moved from each camera's own solve" in validated.joint.reason
    assert validated.verdict.good, validated.verdict  # 4% of ~1400 px over 500 px sigmas: well inside


def test_a_camera_moved_far_from_its_own_solve_gets_a_verdict_line():
    truth, start, corners, pixels = _scene()
    complexity = {n: "pinhole" for n in start.names}
    anchors = _anchors(start, 500.0)
    anchors[start.names[2]] = _anchors(start, 2.0)[start.names[2]]  # its own solve claims +-2 px
    validated = validated_board_extrinsics(start, pixels, corners, lens_complexity=complexity,
                                           lens_anchors=anchors, final_on_all=False)
    assert validated.joint.freed
    assert validated.joint.shift_sigma[start.names[2]] > 5.0
    flagged = [line for line in validated.verdict.lines if line.startswith(f"check camera {start.names[2]}")]
    assert flagged and "sigma from its own board views' solve" in flagged[0], validated.verdict
    assert not any(line.startswith(f"check camera {start.names[0]}") for line in validated.verdict.lines)
