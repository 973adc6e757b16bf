"""Synthetic renderer: OpenCV finds the rendered board where the camera model projects it, and
every drawn joint disc sits at the joint's projection."""

import cv2
import numpy as np
import pytest

from capture.render import SceneRenderer, joint_colors, render_person, render_scene
from calibration import detect_board, opencv_charuco_board
from geometry import Board, get_skeleton
from geometry.synthetic import (SYNTHETIC_BOARD, camera_board_poses, person_motion, person_view_camera, random_poses,
                                ring_rig)

CORNER_MEDIAN_TOL_PX = 0.3  # the brief: detected ChArUco corners vs camera.project, median
CORNER_MAX_TOL_PX = 1.0  # no single corner far off (antialiasing is symmetric)
MIN_CORNERS_FOUND = 0.9  # share of the board's corners OpenCV finds on a face-on-ish board
MIN_JOINTS_VISIBLE = 0.7  # self-occlusion hides some joints, most are drawn
# Mean detected-minus-projected corner over ~300 corners of small (~14 px) squares: the detector's
# own scatter (~0.25 px RMS) leaves ~0.015 px of chance in the mean; a renderer that puts the
# squares off by a tenth of a pixel (as a mip level misaligned with the squares did) fails it.
CORNER_BIAS_TOL_PX = 0.04


def _facing_pose(camera, board, rng, *, distance_m, max_tilt_deg=45.0):
    """world_from_board of a board in the middle of ``camera``'s image, tilted up to ``max_tilt_deg``."""
    R, t = camera_board_poses(camera, 1, rng=rng, board=board, distance_m=(distance_m, distance_m),
                              centre_range=(0.3, 0.7), max_tilt_deg=max_tilt_deg)
    return R[0], t[0]


def _charuco_detector(board):
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, board.dictionary))
    charuco = cv2.aruco.CharucoBoard(board.squares, board.square_length_m, board.marker_length_m, dictionary)
    charuco.setLegacyPattern(board.legacy)
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.CharucoDetector(charuco, cv2.aruco.CharucoParameters(), parameters)


@pytest.mark.parametrize("lens,board", [
    ("distorted", Board(type="charuco", squares=(7, 5), square_length_m=0.08, marker_length_m=0.06,
                       dictionary="DICT_5X5_100", margin_m=0.04)),
    ("fisheye", Board(type="charuco", squares=(6, 6), square_length_m=0.07, marker_length_m=0.05,
                      dictionary="DICT_4X4_50", legacy=True, margin_m=0.04)),
])
def test_rendered_charuco_is_detected_where_the_camera_projects_it(lens, board):
    camera = ring_rig(4, size=(1280, 720), lens=lens, rng=np.random.default_rng(0))[0]
    renderer = SceneRenderer(camera)
    detector = _charuco_detector(board)
    rng = np.random.default_rng(1)
    errors = []
    for i in range(5):
        R, t = _facing_pose(camera, board, rng, distance_m=rng.uniform(1.2, 2.2))
        image = renderer.render(board=board, world_from_board=(R, t), noise_seed=i).image
        corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        assert ids is not None and len(ids) >= MIN_CORNERS_FOUND * len(board.corners_in_board())
        truth = camera.project(board.corners_in_board()[ids.ravel()] @ R.T + t)
        errors.append(np.hypot(*(corners.reshape(-1, 2) - truth).T))
    errors = np.concatenate(errors)
    assert np.median(errors) < CORNER_MEDIAN_TOL_PX
    assert errors.max() < CORNER_MAX_TOL_PX


def test_small_rendered_squares_are_not_biased():
    # The demo's A0 board at ~14 px squares (coarse mip levels; its 0.04 m margin is 17 texels,
    # off the mip grid), through a lens-free camera so only the texture sampling is tested.
    board = Board(type="charuco", squares=(7, 5), square_length_m=0.15, marker_length_m=0.1125,
                  dictionary="DICT_4X4_50", margin_m=0.04)
    camera = ring_rig(4, size=(640, 480), lens="pinhole", rng=np.random.default_rng(0))[0]
    renderer = SceneRenderer(camera)
    distance_m = board.square_length_m * camera.K[0, 0] / 14.0
    rng = np.random.default_rng(3)
    errors = []
    for i in range(14):
        R, t = _facing_pose(camera, board, rng, distance_m=distance_m * rng.uniform(0.9, 1.1), max_tilt_deg=35)
        image = renderer.render(board=board, world_from_board=(R, t), noise_seed=i).image
        detection = detect_board(board, image)
        truth = camera.project(board.corners_in_board()[detection.ids] @ R.T + t)
        errors.append(detection.corners_px - truth)
    errors = np.concatenate(errors)
    assert len(errors) >= 200  # enough corners for the mean to mean something
    assert np.all(np.abs(errors.mean(axis=0)) < CORNER_BIAS_TOL_PX), errors.mean(axis=0)


def test_rendered_checkerboard_is_found_by_find_chessboard_corners():
    camera = ring_rig(4, size=(960, 540), rng=np.random.default_rng(2))[1]
    board = Board(type="checkerboard", squares=(8, 6), square_length_m=0.06, margin_m=0.06)
    R, t = _facing_pose(camera, board, np.random.default_rng(3), distance_m=1.3, max_tilt_deg=20)
    grey = cv2.cvtColor(render_scene(camera, board=board, world_from_board=(R, t)), cv2.COLOR_BGR2GRAY)
    found, corners = cv2.findChessboardCorners(grey, (7, 5))
    assert found
    corners = cv2.cornerSubPix(grey, corners, (5, 5), (-1, -1),
                               (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)).reshape(-1, 2)
    truth = camera.project(board.corners_in_board() @ R.T + t)
    # Row-major from the image's top-left corner: our order, or reversed for an upside-down board.
    error = min(np.hypot(*(corners - truth).T).max(), np.hypot(*(corners[::-1] - truth).T).max())
    assert error < CORNER_MAX_TOL_PX


@pytest.mark.parametrize("skeleton", ["coco17", "body25", "h36m"])
def test_person_joints_are_drawn_at_their_projection(skeleton):
    rig = ring_rig(4, size=(640, 480), rng=np.random.default_rng(4))
    poses = random_poses(12, rng=np.random.default_rng(5), skeleton=skeleton, area_radius_m=1.0)
    colours = joint_colors(skeleton).astype(int)
    J = get_skeleton(skeleton).num_joints
    matched, drawn, in_image, hidden_wrong = 0, 0, 0, 0
    for v, camera in enumerate(rig):
        renderer = SceneRenderer(camera)
        for joints in poses.joints_in_world:
            frame = renderer.render(joints_in_world=joints, skeleton=skeleton)
            np.testing.assert_allclose(frame.joints_2d, camera.project(joints))
            pixel = np.round(frame.joints_2d).astype(int)
            inside = ((pixel >= 0) & (pixel < np.array(camera.size))).all(axis=1)
            in_image += inside.sum()
            for j in np.nonzero(inside)[0]:
                colour = frame.image[pixel[j, 1], pixel[j, 0]].astype(int)
                if frame.joint_visible[j]:
                    drawn += 1
                    # A nearer joint's disc may cover it only where two joints are close.
                    others = np.delete(np.arange(J), j)
                    near = np.hypot(*(frame.joints_2d[others] - frame.joints_2d[j]).T).min() < 14
                    if np.array_equal(colour, colours[j]):
                        matched += 1
                    else:
                        assert near, f"joint {j} drawn but its pixel is {colour}, expected {colours[j]}"
                elif np.array_equal(colour, colours[j]):
                    hidden_wrong += 1
    assert drawn >= MIN_JOINTS_VISIBLE * in_image
    assert matched >= 0.95 * drawn
    assert hidden_wrong == 0


def test_joint_colours_are_distinct_and_sided():
    for name in ("coco17", "halpe26", "body25", "h36m", "mpii", "hand21"):
        colours = joint_colors(name)
        assert len({tuple(c) for c in colours}) == len(colours)
    coco = get_skeleton("coco17")
    hue = cv2.cvtColor(joint_colors(coco)[None], cv2.COLOR_BGR2HSV)[0, :, 0]
    for left, right in coco.symmetric_pairs:
        assert hue[left] <= 30 and 88 <= hue[right] <= 140


def test_render_is_deterministic_and_noise_varies_per_frame():
    camera = ring_rig(4, size=(320, 240), rng=np.random.default_rng(6))[2]
    motion = person_motion(2, rng=np.random.default_rng(7))
    args = dict(joints_in_world=motion.joints_in_world[0], skeleton="coco17")
    a = render_scene(camera, **args, noise_seed=1)
    b = SceneRenderer(camera).render(**args, noise_seed=1).image
    c = render_scene(camera, **args, noise_seed=2)
    clean = render_scene(camera, **args)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 0.5
    assert 1.0 < np.abs(a.astype(int) - clean.astype(int)).std() < 3.0  # sensor noise, 2 grey levels
    other_room = render_scene(camera, **args, background_seed=3)
    assert not np.array_equal(clean, other_room)


def test_render_rejects_incomplete_requests():
    camera = ring_rig(4, size=(320, 240), rng=np.random.default_rng(6))[0]
    with pytest.raises(ValueError, match="both board and world_from_board"):
        render_scene(camera, board=SYNTHETIC_BOARD)
    with pytest.raises(ValueError, match="needs its skeleton"):
        render_scene(camera, joints_in_world=np.zeros((17, 3)))
    with pytest.raises(ValueError, match=r"expected \(17, 3\)"):
        render_scene(camera, joints_in_world=np.zeros((16, 3)), skeleton="coco17")
    with pytest.raises(ValueError, match="expected a geometry.Board"):
        render_scene(camera, board=SYNTHETIC_BOARD.to_mapping(), world_from_board=(np.eye(3), np.ones(3)))


def test_person_views_frame_the_person():
    poses = random_poses(20, rng=np.random.default_rng(8), skeleton="halpe26")
    rng = np.random.default_rng(9)
    visible_share = []
    for joints in poses.joints_in_world:
        camera = person_view_camera(joints, rng=rng, size=(192, 256))
        assert camera.center[2] >= 0.1
        pixels = camera.project(joints)
        inside = ((pixels >= 0) & (pixels <= np.array(camera.size) - 1)).all(axis=1)
        assert inside.all()  # the whole person is in the crop
        extent = pixels.max(axis=0) - pixels.min(axis=0)
        assert extent.max() > 0.3 * min(camera.size)  # ... and fills a good part of it
        frame = SceneRenderer(camera).render(joints_in_world=joints, skeleton="halpe26", noise_seed=0)
        visible_share.append(frame.joint_visible.mean())
    assert np.mean(visible_share) > MIN_JOINTS_VISIBLE


def test_the_back_of_a_board_is_blank():
    camera = ring_rig(4, size=(960, 540), rng=np.random.default_rng(2))[1]
    board = Board(type="charuco", squares=(7, 5), square_length_m=0.06, marker_length_m=0.045,
                  dictionary="DICT_5X5_100", margin_m=0.04)
    R, t = _facing_pose(camera, board, np.random.default_rng(3), distance_m=1.3, max_tilt_deg=10)
    half = np.array([*np.array(board.size_m) / 2, 0.0])
    R_back = R @ np.diag([-1.0, 1.0, -1.0])  # turned around its vertical axis
    t_back = t + R @ half - R_back @ half
    front = render_scene(camera, board=board, world_from_board=(R, t))
    back = render_scene(camera, board=board, world_from_board=(R_back, t_back))
    detector = _charuco_detector(board)
    assert detector.detectBoard(cv2.cvtColor(front, cv2.COLOR_BGR2GRAY))[1] is not None
    assert detector.detectBoard(cv2.cvtColor(back, cv2.COLOR_BGR2GRAY))[1] is None
    centre = np.round(camera.project(R_back @ half + t_back)).astype(int)
    patch = back[centre[1] - 20:centre[1] + 20, centre[0] - 20:centre[0] + 20]
    assert patch.std() < 2.0  # uniform cardboard, no pattern


def test_calibration_boards_render_with_either_pose_form_legacy_and_inverted():
    """calibration.Board is geometry.Board: a board file's board renders directly (legacy layout,
    inverted print), posed by (R, t) or a (4, 4) matrix alike."""
    import calibration

    assert calibration.Board is Board
    camera = ring_rig(4, size=(960, 540), rng=np.random.default_rng(2))[1]
    board = calibration.Board(type="charuco", squares=(6, 5), square_length_m=0.07, marker_length_m=0.05,
                              dictionary="DICT_4X4_50", legacy=True)
    R, t = _facing_pose(camera, board, np.random.default_rng(4), distance_m=1.2, max_tilt_deg=20)
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = R, t
    np.testing.assert_array_equal(render_scene(camera, board=board, world_from_board=matrix),
                                  render_scene(camera, board=board, world_from_board=(R, t)))
    inverted = Board(type="charuco", squares=(6, 5), square_length_m=0.07, marker_length_m=0.05,
                     dictionary="DICT_4X4_50", legacy=True, inverted=True)
    image = render_scene(camera, board=inverted, world_from_board=(R, t))
    parameters = cv2.aruco.DetectorParameters()
    parameters.detectInvertedMarker = True
    detector = cv2.aruco.CharucoDetector(opencv_charuco_board(board), cv2.aruco.CharucoParameters(), parameters)
    corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert ids is not None and len(ids) >= MIN_CORNERS_FOUND * board.num_corners
    truth = camera.project(board.corners_in_board()[ids.ravel()] @ R.T + t)
    assert np.median(np.hypot(*(corners.reshape(-1, 2) - truth).T)) < CORNER_MEDIAN_TOL_PX


def test_missing_joints_and_boards_are_skipped():
    camera = ring_rig(4, size=(320, 240), rng=np.random.default_rng(6))[0]
    joints = person_motion(1, rng=np.random.default_rng(7)).joints_in_world[0]
    renderer = SceneRenderer(camera)
    partial = joints.copy()
    partial[9] = np.nan
    frame = renderer.render(joints_in_world=partial, skeleton="coco17")
    assert not frame.joint_visible[9] and frame.joint_visible.sum() >= 8
    empty = renderer.render(joints_in_world=np.full((17, 3), np.nan), skeleton="coco17")
    assert not empty.joint_visible.any()
    np.testing.assert_array_equal(empty.image, renderer.render().image)
    no_board = renderer.render(board=SYNTHETIC_BOARD, world_from_board=np.full((4, 4), np.nan))
    np.testing.assert_array_equal(no_board.image, renderer.render().image)


def test_render_person_draws_a_fresh_room_per_call():
    """The one-frame entry point (detector training): the same person, different looks per rng."""
    camera = ring_rig(4, size=(640, 480), rng=np.random.default_rng(2))[0]
    joints = random_poses(1, rng=np.random.default_rng(3), area_radius_m=0.5).joints_in_world[0]
    a = render_person(camera, joints, rng=np.random.default_rng(4))
    b = render_person(camera, joints, rng=np.random.default_rng(4))
    c = render_person(camera, joints, rng=np.random.default_rng(5))
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 2  # another room and clothing
    # The joints are drawn where the camera projects them, as by SceneRenderer.
    frame = SceneRenderer(camera).render(joints_in_world=joints, skeleton="coco17")
    pixel = np.round(frame.joints_2d[frame.joint_visible]).astype(int)
    colours = joint_colors("coco17")[frame.joint_visible].astype(int)
    matches = [np.abs(a[y, x].astype(int) - c_).max() <= 12 for (x, y), c_ in zip(pixel, colours)]
    assert np.mean(matches) > 0.9  # sensor noise of 2 grey levels aside
