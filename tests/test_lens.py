"""geometry.lens, the one lens model: analytic Jacobians, the one "in front" rule, and the kernels
and the torch mirror agreeing with it over the whole image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geometry import Camera, Rig
from geometry import _kernels, differentiable, lens
from geometry.synthetic import ring_rig

JACOBIAN_REL_TOL = 1e-6  # analytic vs central differences (step 1e-6): truncation ~1e-10, rounding ~1e-10
KERNEL_TOL_PX = 1e-9  # the compiled kernels reproduce the numpy lens (strict IEEE, same formulas)
TORCH_TOL_PX = 1e-9  # float64 torch mirror, same formulas
UNDISTORT_TOL = 1e-9  # normalized units: Newton to ~1e-14, kernels 2 steps over a typical image


def _image_grid(rig: Rig, step_px: int = 40) -> np.ndarray:
    """(V, N, 2) pixels covering every camera's whole image, corners included."""
    grids = []
    for w, h in rig.sizes:
        u, v = np.meshgrid(np.linspace(0, w - 1, w // step_px), np.linspace(0, h - 1, h // step_px))
        grids.append(np.stack([u.ravel(), v.ravel()], axis=-1))
    n = min(len(g) for g in grids)
    return np.stack([g[:n] for g in grids])


def _rigs():
    rng = np.random.default_rng(3)
    skewed = Camera("skewed", (1920, 1080), [[1400.0, 2.0, 960.0], [0, 1390.0, 540.0], [0, 0, 1]],
                    np.array([-0.1, 0.02, 1e-4, -2e-4, 0.0, 0.01, 0.0, 0.001]))
    return {"opencv": Rig(list(ring_rig(3, lens="distorted", rng=rng)) + [skewed.replace(R=np.eye(3))]),
            "fisheye": ring_rig(3, lens="fisheye", rng=rng)}


@pytest.mark.parametrize("model", ["opencv", "fisheye"])
def test_analytic_jacobians_match_central_differences_over_the_whole_image(model):
    rig = _rigs()[model]
    xy = rig.normalize(_image_grid(rig))  # (V, N, 2): every pixel's undistorted coordinates
    assert np.isfinite(xy).all()
    dist = np.stack([c.dist_padded for c in rig])[:, None, :]
    distorted, jac = lens.distort_jacobian(xy, dist, model)
    np.testing.assert_allclose(distorted, lens.distort_normalized(xy, dist, model), rtol=0, atol=0)
    step = 1e-6
    for j in range(2):
        delta = np.zeros(2)
        delta[j] = step
        numeric = (lens.distort_normalized(xy + delta, dist, model)
                   - lens.distort_normalized(xy - delta, dist, model)) / (2 * step)
        np.testing.assert_allclose(jac[..., j], numeric, atol=JACOBIAN_REL_TOL * np.abs(numeric).max())
    coeff = lens.distortion_coefficient_jacobian(xy, dist, model)
    assert coeff.shape == xy.shape[:-1] + (2, lens.PADDED_LENGTHS[model])
    for j in range(coeff.shape[-1]):
        plus, minus = dist.copy(), dist.copy()
        plus[..., j] += step
        minus[..., j] -= step
        numeric = (lens.distort_normalized(xy, plus, model) - lens.distort_normalized(xy, minus, model)) / (2 * step)
        np.testing.assert_allclose(coeff[..., j], numeric, atol=JACOBIAN_REL_TOL * max(1.0, np.abs(numeric).max()))


def test_the_one_in_front_rule():
    limit = lens.MAX_NORMALIZED
    points_in_cam = np.array([[0, 0, 1.0], [0, 0, 0.0], [0, 0, -1.0], [0, 0, lens.MIN_DEPTH_M / 2],
                              [0.999 * limit, 0, 1.0], [1.001 * limit, 0, 1.0], [0, -1.001 * limit, 1.0],
                              [np.nan, 0, 1.0]])
    expected = np.array([True, False, False, False, True, False, False, False])
    np.testing.assert_array_equal(lens.in_front(points_in_cam), expected)
    cam = Camera("c", (640, 480), [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], [-0.1, 0.01, 0, 0])
    rig = Rig([cam])
    params = _kernels.pack_rig(rig)
    u, v = _kernels.project_points(params, points_in_cam)  # R = I, t = 0: world = camera frame
    torch_pixels = differentiable.project(torch.tensor(points_in_cam), *differentiable.rig_tensors(rig)[:4])
    for pixels in (cam.project(points_in_cam), rig.project(points_in_cam)[0], np.stack([u[0], v[0]], -1),
                   torch_pixels[0].numpy()):
        np.testing.assert_array_equal(np.isfinite(pixels).all(axis=-1), expected)


def test_kernels_compiled_with_the_lens_constants():
    """numba's cache watches only _kernels.py: a changed constant in lens.py must not go unseen."""
    assert _kernels.compiled_lens_constants() == (lens.MIN_DEPTH_M, lens.MAX_NORMALIZED, lens.FISHEYE_SMALL_R2)


@pytest.mark.parametrize("model", ["opencv", "fisheye"])
def test_kernels_and_torch_mirror_agree_with_the_lens_over_the_whole_image(model):
    rig = _rigs()[model]
    pixels = _image_grid(rig)
    xy = rig.normalize(pixels)
    dist = np.stack([c.dist_padded for c in rig])[:, None, :]
    # projection: normalized -> pixels, through the lens, the kernels and torch
    reference = lens.apply_K(lens.distort_normalized(xy, dist, model), rig.K[:, None])
    np.testing.assert_allclose(reference, pixels, atol=1e-6)  # normalize inverts the lens
    params = _kernels.pack_rig(rig)
    xd, yd, (d00, d01, d11) = _kernels.distort_packed(params, xy[..., 0], xy[..., 1])
    kernel_pixels = lens.apply_K(np.stack([xd, yd], -1), rig.K[:, None])
    np.testing.assert_allclose(kernel_pixels, reference, atol=KERNEL_TOL_PX)
    _, jac = lens.distort_jacobian(xy, dist, model)
    np.testing.assert_allclose(np.stack([d00, d01, d11], -1), jac[..., [0, 0, 1], [0, 1, 1]], atol=1e-9)
    K, d, _, _, torch_model = differentiable.rig_tensors(rig)
    torch_distorted = differentiable._distort(torch.tensor(xy), d[:, None, :], torch_model)
    np.testing.assert_allclose(differentiable._apply_K(torch_distorted, K[:, None]).numpy(), reference,
                               atol=TORCH_TOL_PX)
    # undistortion: pixels -> normalized, kernels and torch with 8 Newton steps (torch: unrolled).
    # (The triangulators' 2 steps are a start for Gauss-Newton on the exact forward model: in the
    # far corners of a strong lens they are still ~1e-2 off, everywhere else ~1e-12.)
    x, y, _ = _kernels.undistort_pixels(params, pixels[..., 0], pixels[..., 1], 8)
    np.testing.assert_allclose(np.stack([x, y], -1), xy, atol=UNDISTORT_TOL)
    torch_xy = differentiable.undistort_points(torch.tensor(pixels), K, d, model=torch_model)
    np.testing.assert_allclose(torch_xy.numpy(), xy, atol=UNDISTORT_TOL)


def test_distortion_lengths_are_one_rule_for_camera_and_torch():
    K = torch.eye(3)[None].double()
    for model, lengths in (("opencv", lens.OPENCV_DISTORTION_LENGTHS), ("fisheye", lens.FISHEYE_DISTORTION_LENGTHS)):
        for n in range(10):
            ok = n in lengths
            for check in (lambda: lens.pad_distortion(np.zeros(n), model),
                          lambda: differentiable._cameras(K, K, torch.zeros(1, n), None, None, model)):
                if ok:
                    check()
                else:
                    with pytest.raises(ValueError):
                        check()
