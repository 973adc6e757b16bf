"""The torch mirror against the numpy reference, gradcheck in float64, dtype/device kept."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from geometry import TriangulationOptions, reprojection_error, triangulate
from geometry.differentiable import project, reprojection_loss, rig_tensors, undistort_points
from geometry.differentiable import triangulate as torch_triangulate
from geometry.synthetic import ring_rig

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

AGREE_PX = 1e-9  # float64 torch vs numpy: same formulas, rounding only
AGREE_M = 1e-9
FLOAT32_PX = 0.05  # float32 pixels at ~1000 px carry ~1e-4 px rounding; 0.05 px is generous


def _scene(lens, num_points=60, seed=0):
    rng = np.random.default_rng(seed)
    rig = ring_rig(4, lens=lens, rng=rng)
    truth = rng.normal([0.0, 0.0, 1.0], [0.6, 0.6, 0.5], (num_points, 3))
    return rig, truth, rng


@pytest.mark.parametrize("lens", ["distorted", "fisheye", "pinhole"])
def test_project_and_undistort_agree_with_numpy(lens):
    rig, truth, _ = _scene(lens)
    K, dist, R, t, model = rig_tensors(rig)
    points = torch.as_tensor(truth)
    pixels = project(points, K, dist, R, t, model=model)
    np.testing.assert_allclose(pixels.numpy(), rig.project(truth), atol=AGREE_PX)
    behind = rig[0].center + (rig[0].center - np.array([0.0, 0.0, 1.0]))
    assert torch.isnan(project(torch.as_tensor(behind), K, dist, R, t, model=model)[0]).all()
    normalized = undistort_points(pixels, K, dist, model=model)
    np.testing.assert_allclose(normalized.numpy(), rig.normalize(rig.project(truth)), atol=1e-10)


@pytest.mark.parametrize("lens", ["distorted", "fisheye"])
def test_triangulate_agrees_with_the_numpy_linear_solution(lens):
    rig, truth, rng = _scene(lens)
    K, dist, R, t, model = rig_tensors(rig)
    observed = rig.project(truth) + rng.normal(0, 1.0, (4, len(truth), 2))
    observed[1, :7] = np.nan
    observed[2:, 0] = np.nan  # seen once (views 0 and... only 0)
    observed[1, 0] = np.nan
    weights = rng.uniform(0.2, 1.0, (4, len(truth)))
    ours = torch_triangulate(torch.as_tensor(observed), K, dist, R, t, weights=torch.as_tensor(weights),
                             model=model).numpy()
    linear = triangulate(rig, observed, weights=weights,
                         options=TriangulationOptions(iterations=0, undistort_iterations=6, min_ray_angle_deg=0))
    assert np.isnan(ours[0]).all()
    np.testing.assert_allclose(ours[1:], linear[1:], atol=AGREE_M)
    exact = torch_triangulate(torch.as_tensor(rig.project(truth)), K, dist, R, t, model=model).numpy()
    np.testing.assert_allclose(exact, truth, atol=AGREE_M)
    batched = torch_triangulate(torch.as_tensor(rig.project(truth.reshape(6, 10, 3))), K, dist, R, t, model=model)
    assert batched.shape == (6, 10, 3)


def test_reprojection_loss_agrees_with_numpy():
    rig, truth, rng = _scene("distorted")
    K, dist, R, t, model = rig_tensors(rig)
    observed = rig.project(truth) + rng.normal(0, 2.0, (4, len(truth), 2))
    observed[3, :5] = np.nan
    weights = rng.uniform(0.2, 1.0, (4, len(truth)))
    error = reprojection_error(rig, truth, observed)
    seen = np.isfinite(error)
    expected = np.sum(weights[seen] * error[seen] ** 2) / weights[seen].sum()
    loss = reprojection_loss(torch.as_tensor(truth), torch.as_tensor(observed), K, dist, R, t,
                             weights=torch.as_tensor(weights), model=model)
    assert abs(loss.item() - expected) < 1e-9 * expected
    per_obs = reprojection_loss(torch.as_tensor(truth), torch.as_tensor(observed), K, dist, R, t,
                                model=model, reduction="none")
    np.testing.assert_allclose(per_obs.numpy(), np.where(seen, error ** 2, 0.0), atol=1e-9)
    with pytest.raises(ValueError, match="reduction"):
        reprojection_loss(torch.as_tensor(truth), torch.as_tensor(observed), K, dist, R, t, reduction="max")


@pytest.mark.parametrize("lens", ["distorted", "fisheye"])
def test_gradcheck_float64(lens):
    rig, truth, rng = _scene(lens, num_points=2, seed=1)
    K, dist, R, t, model = rig_tensors(rig)
    K.requires_grad_(True)
    dist.requires_grad_(True)
    t.requires_grad_(True)
    points = torch.as_tensor(truth).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda X, K, d, t: project(X, K, d, R, t, model=model),
                                    (points, K, dist, t))
    observed = torch.as_tensor(rig.project(truth) + rng.normal(0, 1.0, (4, 2, 2))).requires_grad_(True)
    weights = torch.as_tensor(rng.uniform(0.5, 1.0, (4, 2))).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p, w: torch_triangulate(p, K, dist, R, t, weights=w, model=model, undistort_iterations=4),
        (observed, weights))
    assert torch.autograd.gradcheck(
        lambda X, p: reprojection_loss(X, p, K, dist, R, t, weights=weights, model=model), (points, observed))


def test_masked_points_give_finite_gradients():
    rig, truth, _ = _scene("distorted", num_points=4)
    K, dist, R, t, model = rig_tensors(rig)
    observed = torch.as_tensor(rig.project(truth))
    observed[1:, 0] = float("nan")  # point 0 seen once -> NaN output
    observed.requires_grad_(True)
    points = torch_triangulate(observed, K, dist, R, t, model=model)
    valid = torch.isfinite(points).all(dim=-1)
    assert valid.tolist() == [False, True, True, True]
    points[valid].sum().backward()
    assert torch.isfinite(torch.nan_to_num(observed.grad, nan=0.0)).all()
    assert torch.isfinite(observed.grad[:, 1:]).all()


def test_dtype_and_device_are_kept():
    rig, truth, _ = _scene("distorted")
    K, dist, R, t, model = rig_tensors(rig)  # float64 cameras
    points = torch.as_tensor(truth, dtype=torch.float32)
    pixels = project(points, K, dist, R, t, model=model)
    assert pixels.dtype == torch.float32 and pixels.device == points.device
    np.testing.assert_allclose(pixels.numpy(), rig.project(truth), atol=FLOAT32_PX)
    back = torch_triangulate(pixels, K, dist, R, t, model=model)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(back.numpy(), truth, atol=1e-3)


def test_contract_violations_raise():
    rig, truth, _ = _scene("distorted")
    K, dist, R, t, model = rig_tensors(rig)
    points = torch.as_tensor(truth)
    with pytest.raises(ValueError, match="expected"):
        project(points[:, :2], K, dist, R, t)
    with pytest.raises(ValueError, match="dist has 3 coefficients"):
        project(points, K, dist[:, :3], R, t)
    with pytest.raises(ValueError, match="model"):
        project(points, K, dist, R, t, model="kannala")
    with pytest.raises(ValueError, match="points_2d has shape"):
        torch_triangulate(torch.zeros(3, 5, 2, dtype=torch.float64), K, dist, R, t)
    with pytest.raises(ValueError, match="torch.Tensor"):
        project(truth, K, dist, R, t)
    mixed = ring_rig(2, lens="fisheye").subset([0]).cameras + ring_rig(2).subset([1]).cameras
    from geometry import Rig
    with pytest.raises(ValueError, match="one lens model"):
        rig_tensors(Rig(mixed))


def test_geometry_does_not_import_torch():
    code = "import sys, geometry; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=".").returncode == 0
