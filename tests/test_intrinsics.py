"""Intrinsics: synthetic renders of a distorted camera (known answer), the real lab photos against
the lab's Qualisys calibration, view selection, failure flags, and the frame readers."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration import (Board, BoardView, ImageFolderSource, IntrinsicsOptions, SynchronizedFrames,
                         VideoSource, calibrate_intrinsics, detect_board, image_coverage, load_rig,
                         parse_camera_args, select_views, solve_intrinsics)
from calibration.inputs import frame_indices
from geometry import Camera

from board_views import board_poses_in_view, render_board_views
from shared_data import POSE2SIM

DATA = POSE2SIM
PHOTOS = DATA / "calibration" / "intrinsics"
LAB = DATA / "calibration" / "Calib_qualisys.toml"

# Real photos: 5-7 views of a 4x7-corner checkerboard per camera, against the lab's Qualisys system.
LAB_FOCAL_TOL = 0.01  # relative; few, mostly central views constrain f to ~0.5%
LAB_PRINCIPAL_POINT_TOL_PX = 50.0  # 5-7 views constrain (cx, cy) to a few % of the image width
REAL_RMS_MAX_PX = 0.5  # sharp 2 MP photos, subpixel corners: the lab's own error is ~0.3 px
# Synthetic renders (capture.render, 2 grey levels of sensor noise): ChArUco corners ~0.13 px RMS.
SYNTH_FOCAL_TOL = 0.001  # relative; measured 2e-5 with 24 views
SYNTH_PRINCIPAL_POINT_TOL_PX = 0.75  # measured 0.27 px
SYNTH_REPROJECTION_TOL_PX = 0.35  # lens model error where the views cover the image; measured 0.24
SYNTH_RMS_MAX_PX = 0.2  # ChArUco corners on the anti-aliased, noisy renders: ~0.13 px
SYNTH_HELDOUT_MAX_PX = 0.3  # corners of views left out of the fit: noise plus the lens model's error
SYNTH_UNCERTAINTY_CENTRE_MAX_PX = 0.2  # 24 well-spread views pin the image centre far below the noise

BOARD = Board(type="charuco", squares=(9, 7), square_length_m=0.03, marker_length_m=0.022,
              dictionary="DICT_5X5_100")


@pytest.fixture(scope="module")
def synthetic_views():
    camera = Camera(name="synth", size=(640, 480),
                    K=np.array([[520.0, 0.0, 322.5], [0.0, 518.0, 236.0], [0.0, 0.0, 1.0]]),
                    dist=np.array([-0.28, 0.11, 0.0008, -0.0005, -0.02]))
    poses = board_poses_in_view(BOARD, 24, rng=np.random.default_rng(11))
    return camera, render_board_views(camera, BOARD, poses)


class _ListSource:
    """A FrameSource over images in memory (what a session or a renderer provides)."""

    def __init__(self, name, frames):
        self.name, self.path, self.frames_list = name, Path("memory"), frames
        self.num_frames = len(frames)
        self.size = (frames[0].shape[1], frames[0].shape[0])

    def frames(self, indices):
        for i in indices:
            yield int(i), self.frames_list[int(i)]


@pytest.mark.parametrize("model", ["standard", "auto"])
def test_synthetic_distorted_camera_is_recovered(synthetic_views, model):
    truth, frames = synthetic_views
    result = calibrate_intrinsics(BOARD, _ListSource("synth", frames), options=IntrinsicsOptions(model=model))
    # auto: cross-validated; 24 views at 79% coverage of a k1..k3 lens need its distortion
    assert result.model in (("radial", "standard", "rational") if model == "auto" else ("standard",))
    assert result.heldout_rms_px < SYNTH_HELDOUT_MAX_PX
    assert result.uncertainty is not None and result.uncertainty.centre_px < SYNTH_UNCERTAINTY_CENTRE_MAX_PX
    assert result.success, result.message
    K = result.camera.K
    assert abs(K[0, 0] / truth.K[0, 0] - 1) < SYNTH_FOCAL_TOL
    assert abs(K[1, 1] / truth.K[1, 1] - 1) < SYNTH_FOCAL_TOL
    assert np.hypot(K[0, 2] - truth.K[0, 2], K[1, 2] - truth.K[1, 2]) < SYNTH_PRINCIPAL_POINT_TOL_PX
    assert result.rms_px < SYNTH_RMS_MAX_PX
    # the whole lens model where the views cover the image, up to the small rotation that a
    # principal-point offset trades with the board poses (extrinsics absorb it)
    u, v = np.meshgrid(np.linspace(80, 560, 16), np.linspace(60, 420, 12))
    pixels = np.stack([u.ravel(), v.ravel()], axis=-1)
    rays_true = np.concatenate([truth.normalize(pixels), np.ones((len(pixels), 1))], axis=-1)
    rays_ours = np.concatenate([result.camera.normalize(pixels), np.ones((len(pixels), 1))], axis=-1)
    a = rays_true / np.linalg.norm(rays_true, axis=-1, keepdims=True)
    b = rays_ours / np.linalg.norm(rays_ours, axis=-1, keepdims=True)
    U, _, Vt = np.linalg.svd(a.T @ b)
    align = Vt.T @ np.diag([1.0, 1.0, np.linalg.det(Vt.T @ U.T)]) @ U.T  # a -> b
    error = np.linalg.norm(result.camera.project_from_cam(a @ align.T) - pixels, axis=-1)
    assert np.percentile(error, 95) < SYNTH_REPROJECTION_TOL_PX
    assert result.camera.model == "opencv" and np.allclose(result.camera.R, np.eye(3))
    assert result.per_view_rms_px.shape == (result.views_used,)
    assert 0.3 < result.coverage <= 1.0
    assert result.advice == () and result.max_tilt_deg > 30  # a good recording: nothing to advise


def test_selection_keeps_few_distinct_views_from_many_duplicates(synthetic_views):
    _, frames = synthetic_views
    views = []
    for i, image in enumerate(frames[:6]):
        detection = detect_board(BOARD, image)
        for k in range(50):  # a static board held for 50 frames: near-identical views
            views.append(BoardView(frame_index=i * 50 + k, detection=detection, sharpness=100.0 + k))
    chosen = select_views(BOARD, views, (640, 480), max_views=6)
    assert len(chosen) == 6
    assert sorted({v.frame_index // 50 for v in chosen}) == [0, 1, 2, 3, 4, 5]  # one per pose


def test_blurred_views_are_not_selected(synthetic_views):
    _, frames = synthetic_views
    views = []
    for i, image in enumerate(frames[:12]):
        blurred = i % 3 == 0
        shown = cv2.GaussianBlur(image, (0, 0), 2.5) if blurred else image
        detection = detect_board(BOARD, shown)
        if detection.success:
            gray = shown
            x0, y0 = detection.corners_px.min(0).astype(int)
            x1, y1 = detection.corners_px.max(0).astype(int)
            sharp = cv2.Laplacian(gray[y0:y1, x0:x1], cv2.CV_64F).var()
            views.append(BoardView(frame_index=i, detection=detection, sharpness=float(sharp)))
    chosen = select_views(BOARD, views, (640, 480), max_views=len(views) - 1)
    assert all(v.frame_index % 3 != 0 for v in chosen)


def test_outlier_view_is_rejected(synthetic_views):
    _, frames = synthetic_views
    views = [BoardView(frame_index=i, detection=detect_board(BOARD, f), sharpness=1.0)
             for i, f in enumerate(frames[:14])]
    views = [v for v in views if v.detection.num_corners >= 8]
    bad = views[3].detection
    shuffled = bad.corners_px + np.random.default_rng(0).normal(0, 6.0, bad.corners_px.shape)
    views[3] = BoardView(frame_index=views[3].frame_index, sharpness=1.0, detection=type(bad)(
        ids=bad.ids, corners_px=shuffled, image_size=bad.image_size, marker_ids=bad.marker_ids,
        marker_corners_px=bad.marker_corners_px))
    result = solve_intrinsics(BOARD, views, (640, 480), options=IntrinsicsOptions(model="standard"))
    assert result.success
    assert views[3].frame_index in result.rejected_frames.tolist()
    assert result.rms_px < SYNTH_RMS_MAX_PX


def test_fisheye_model_runs_on_the_same_views(synthetic_views):
    truth, frames = synthetic_views
    result = calibrate_intrinsics(BOARD, _ListSource("synth", frames), options=IntrinsicsOptions(model="fisheye"))
    assert result.success and result.camera.model == "fisheye" and result.camera.dist.shape == (4,)
    assert abs(result.camera.K[0, 0] / truth.K[0, 0] - 1) < 0.05  # a different lens model, same optics


def test_no_board_is_a_flagged_failure_with_a_reason(synthetic_views):
    _, frames = synthetic_views
    wrong = Board(type="charuco", squares=(9, 7), square_length_m=0.03, marker_length_m=0.022,
                  dictionary="DICT_6X6_250")
    result = calibrate_intrinsics(wrong, _ListSource("synth", frames[:8]))
    assert not result.success and result.camera is None and np.isnan(result.rms_px)
    assert "no board corners found in any of 8 frames" in result.message
    assert 'dictionary = "DICT_5X5_50"' in result.message


def test_fronto_parallel_views_get_advice():
    camera = Camera(name="c", size=(640, 480), K=np.array([[520.0, 0, 320], [0, 520.0, 240], [0, 0, 1]]),
                    dist=np.array([-0.2, 0.05, 0, 0, 0]))
    poses = board_poses_in_view(BOARD, 12, rng=np.random.default_rng(4), max_tilt_rad=0.08,
                                max_offset_m=(0.03, 0.02), distance_m=(0.55, 0.6))
    result = calibrate_intrinsics(BOARD, _ListSource("c", render_board_views(camera, BOARD, poses)))
    assert result.success and result.max_tilt_deg < 10
    assert any("never tilted" in a for a in result.advice)
    assert any("covered only" in a for a in result.advice)


def test_too_few_views_is_flagged(synthetic_views):
    _, frames = synthetic_views
    result = calibrate_intrinsics(BOARD, _ListSource("synth", frames[:2]))
    assert not result.success and "only 2 usable board views" in result.message


@pytest.mark.parametrize("cam", ["cam01", "cam04"])
def test_real_photos_match_the_lab_calibration(cam):
    lab = load_rig(LAB)[cam]
    source = ImageFolderSource(cam, PHOTOS / f"int_{cam}_img")
    assert source.size == (1088, 1920)  # portrait photos, as the lab calibration says
    board = Board(type="checkerboard", squares=(5, 8), square_length_m=0.06)  # 4x7 inner corners, 60 mm
    result = calibrate_intrinsics(board, source)
    assert result.success, result.message
    assert result.views_used >= 5
    K = result.camera.K
    assert abs(K[0, 0] / lab.K[0, 0] - 1) < LAB_FOCAL_TOL
    assert abs(K[1, 1] / lab.K[1, 1] - 1) < LAB_FOCAL_TOL
    assert abs(K[0, 2] - lab.K[0, 2]) < LAB_PRINCIPAL_POINT_TOL_PX
    assert abs(K[1, 2] - lab.K[1, 2]) < LAB_PRINCIPAL_POINT_TOL_PX
    assert result.rms_px < REAL_RMS_MAX_PX
    assert any(a.startswith(f"only {result.views_used} views") for a in result.advice)  # 5-7 photos


def test_image_coverage():
    corners = [np.array([[5.0, 5.0], [15.0, 5.0]]), np.array([[95.0, 95.0]])]
    assert image_coverage(corners, (100, 100), cells=10) == pytest.approx(3 / 100)
    assert image_coverage([np.array([[-3.0, 200.0]])], (100, 100), cells=2) == pytest.approx(1 / 4)


# -- inputs ---------------------------------------------------------------------------------------
def test_video_frames_by_index_match_sequential_decoding():
    source = VideoSource("cam01", DATA / "videos" / "cam01.mp4")
    assert source.num_frames == 100 and source.size == (1080, 1920)
    capture = cv2.VideoCapture(str(DATA / "videos" / "cam01.mp4"))
    reference = {}
    for i in range(30):
        ok, image = capture.read()
        if i in (0, 7, 14, 21, 28):
            reference[i] = image
    capture.release()
    got = dict(source.frames(frame_indices(source.num_frames, stride=7, limit=5)))
    assert sorted(got) == [0, 7, 14, 21, 28]
    for i, image in got.items():
        np.testing.assert_array_equal(image, reference[i])


def test_synchronized_frames_and_camera_args(tmp_path):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), np.full((48, 64, 3), i * 10, np.uint8))
    sources = parse_camera_args([f"a={tmp_path}", f"b={DATA / 'videos' / 'cam03.mp4'}"])
    assert [s.kind for s in sources] == ["images", "video"]
    from calibration import open_source
    frames = SynchronizedFrames([open_source(s) for s in sources], start=1, stride=2)
    assert len(frames) == 2 and frames.names == ("a", "b")
    seen = [(index, {k: v.shape for k, v in images.items()}) for index, images in frames]
    assert seen == [(1, {"a": (48, 64, 3), "b": (1920, 1088, 3)}), (3, {"a": (48, 64, 3), "b": (1920, 1088, 3)})]


@pytest.mark.parametrize("values, message", [
    (["cam01"], "is not NAME=PATH"),
    (["=x"], "is not NAME=PATH"),
    (["a=/nonexistent/video.mp4"], "camera a: /nonexistent/video.mp4 does not exist"),
    ([f"a={LAB}", f"a={LAB}"], "--camera a is given twice"),
    ([], "no cameras given"),
])
def test_camera_args_errors(values, message):
    with pytest.raises((ValueError, OSError), match=message):
        parse_camera_args(values)


def test_unreadable_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        ImageFolderSource("a", tmp_path / "empty")
    (tmp_path / "fake.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a readable video|neither an image folder nor a video"):
        VideoSource("a", tmp_path / "fake.mp4")
