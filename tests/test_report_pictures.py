"""Pictures a person reads at a glance (issue 15): the residual field shows the pattern, the rig
plot has equal axes fitted to the scene with readable camera names, labels stand out."""

from __future__ import annotations

import numpy as np

from calibration.report import _rig_figure, residual_field
from geometry.synthetic import ring_rig

MEAN_TOL_PX = 0.05  # 0.3 px noise, >= 100 points per region: the mean's standard error is ~0.03 px


def test_residual_field_recovers_a_systematic_pattern_under_noise():
    rng = np.random.default_rng(0)
    size = (640, 480)
    observed = rng.uniform(0, 1, (20000, 2)) * size
    pattern = np.where(observed[:, :1] < 320, [[0.5, 0.0]], [[-0.5, 0.2]])  # a bias that differs left / right
    residual = pattern + rng.normal(0, 0.3, observed.shape)
    centres, mean, rms, count = residual_field(observed, residual, size, grid=(8, 6))
    assert len(centres) == 48 and count.sum() == 20000
    left = centres[:, 0] < 320
    np.testing.assert_allclose(mean[left], [[0.5, 0.0]] * int(left.sum()), atol=MEAN_TOL_PX)
    np.testing.assert_allclose(mean[~left], [[-0.5, 0.2]] * int((~left).sum()), atol=MEAN_TOL_PX)
    # A region with too few points has no arrow.
    sparse = residual_field(observed[:2], residual[:2], size, min_count=3)
    assert len(sparse[0]) == 0


def test_rig_plot_has_equal_axes_fitted_to_the_scene_and_names_apart():
    rig = ring_rig(8, rng=np.random.default_rng(1))
    scene = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 1.8]])

    def draw(ax):
        ax.scatter(*scene.T)
        return scene

    figure = _rig_figure(rig, "test", draw)
    ax = figure.axes[0]
    limits = np.array([ax.get_xlim(), ax.get_ylim(), ax.get_zlim()])
    spans = limits[:, 1] - limits[:, 0]
    aspect = np.array(ax.get_box_aspect())
    np.testing.assert_allclose(aspect / aspect.max(), spans / spans.max(), rtol=1e-6)  # 1 m is 1 m on every axis
    everything = np.vstack([rig.centers, scene])
    extent = everything.max(axis=0) - everything.min(axis=0)
    assert np.all(spans <= extent + 0.35 * extent.max())  # fitted: no empty cube around a flat scene
    labels = np.array([t.get_position_3d() for t in ax.texts])
    assert [t.get_text() for t in ax.texts] == list(rig.names)
    gaps = np.linalg.norm(labels[:, None] - labels[None], axis=-1)[np.triu_indices(len(labels), 1)]
    assert gaps.min() > 0.1 * np.linalg.norm(rig.centers - rig.centers.mean(axis=0), axis=1).max()
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_reprojected_labels_stand_out_against_a_limb_of_any_colour():
    from geometry.synthetic import ring_rig as make_rig
    from labeling.report import draw_overlay

    rig = make_rig(2, rng=np.random.default_rng(2))
    joint = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.2]])
    points_2d = rig.project(joint)  # (V, J, 2)
    labels = {"keypoints_3d": joint[None].astype(np.float32), "valid": np.ones((1, 2), bool),
              "keypoints_2d": points_2d[None].astype(np.float32), "scores_2d": np.ones((1, 2, 2), np.float32),
              "inliers": np.ones((1, 2, 2), bool), "frame_index": np.array([0])}
    for colour in ((255, 0, 0), (0, 255, 0), (200, 60, 200), (255, 255, 255)):  # limbs of the renderer, a white wall
        images = [np.full((cam.size[1], cam.size[0], 3), colour, np.uint8) for cam in rig]
        canvas = draw_overlay(rig, labels, 0, bones=np.array([[0, 1]]), min_score=0.5, images=images)
        panel = canvas[30:-24, : canvas.shape[1] // 2 - 4]  # below the title, above the legend, before the gap
        # The label's cross: white strokes on a black outline, whatever the colour under it.
        white = (panel == 255).all(axis=2)
        black = (panel == 0).all(axis=2)
        assert white.sum() > 20 and black.sum() > 20, colour
