"""The one gating rule of pseudo-labeling: thresholds from the data's own noise, and presence.

Conventions in :mod:`geometry.camera` (V views, F framesets, J joints, pixels). ``G`` is the
number of joint groups (:func:`joint_groups`).

Noise. A detector's pixel noise differs by camera (resolution, distance, blur, a calibration
that fits one camera less well) and by body part (a nose is sharper than a hip). Each camera's
noise per joint group is estimated from the take itself: the robust triangulation is run on (an
evenly spread subset of, just enough for every camera and group: :func:`estimate_noise`) its
framesets, and the residuals of the inlier views of points with
``n >= 3`` inlier views, scaled by ``sqrt(2 / (2 - h))`` with ``h`` the view's leverage on its
point (its block's trace in the hat matrix of the weighted least-squares fit: a point fitted to
``n`` views takes 3 of their ``2n`` degrees of freedom, and more from a view that pins it alone,
which the opposite cameras of a ring do not), give a robust standard deviation per coordinate,
``sigma = median(residual) / sqrt(2 ln 2)`` (the median of a 2D Gaussian error's length). The
first pass runs at the ceiling threshold, the second at the threshold the first one gives.
Where a camera and group have fewer than ``min_noise_samples`` residuals, the camera's pooled
estimate stands in, then the take's.

Thresholds, one rule: ``threshold = clip(threshold_sigmas * sigma, floor, ceiling)`` with the
floor and the ceiling fractions of the camera's image diagonal. The same number is the robust
triangulation's inlier threshold and the label gate (the largest reprojection error an inlier
view of an accepted label may have), so a view that is an inlier never gets its label rejected
for its error. ``gating="fixed"`` keeps the fixed pixel thresholds instead (``threshold_px``
for the inliers, ``max_reprojection_error_px`` for the gate, in every camera).

Per-camera thresholds in one robust triangulation: each camera's pixels are expressed in units
of its own threshold (its ``K`` and its detections scaled by ``t_ref / t_v``, which moves no
ray), so one threshold ``t_ref`` is every camera's own; the least-squares refinement then weighs
each view by its score over the square of its threshold, i.e. of its noise, as maximum
likelihood does (up to the ceiling).

Presence. False detections where nobody is (a board, a timecode, a poster) can agree in two
views; they have low confidence (median 0.32 against 0.82 on the real person in the recording
of issue 15). A frameset shows the person when the median confidence of the detections its
triangulated joints use, taken as a running median over ``presence_window_frames`` consecutive
framesets, is at least ``presence_min_score``; labels of other framesets are rejected
(``RejectReason.NO_PERSON``). A frameset where nothing triangulates counts as 0 in the median.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["GatingMode", "JOINT_GROUPS", "joint_groups", "NoiseEstimate", "estimate_noise",
           "thresholds_from_sigma", "triangulate_gated", "person_present", "fixed_noise_estimate"]

GatingMode = Literal["adaptive", "fixed"]
log = logging.getLogger(__name__)

# Joint groups by (a word in) the joint's name; first match wins, the rest is "other".
JOINT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", ("nose", "eye", "ear", "head", "mouth", "chin")),
    ("torso", ("shoulder", "hip", "pelvis", "neck", "thorax", "spine", "chest", "sternum")),
    ("arms", ("elbow", "wrist", "hand", "finger", "thumb", "pinky", "palm")),
    ("legs", ("knee", "ankle", "foot", "toe", "heel")),
)
_RAYLEIGH_MEDIAN = math.sqrt(2.0 * math.log(2.0))  # median of |e| for a 2D N(0, sigma^2 I) error


def joint_groups(joint_names) -> tuple[tuple[str, ...], np.ndarray]:
    """``(group names (G,), group of each joint (J,) int64)``: only the groups that occur."""
    labels = []
    for name in joint_names:
        key = str(name).lower()
        labels.append(next((g for g, words in JOINT_GROUPS if any(w in key for w in words)), "other"))
    names = tuple(dict.fromkeys(g for g, _ in JOINT_GROUPS + (("other", ()),) if g in labels))
    return names, np.array([names.index(g) for g in labels], dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class NoiseEstimate:
    """Noise and thresholds per camera and joint group (recorded in index.json and every shard).

    mode: the gating mode they come from. camera_names (V,), group_names (G,),
    joint_group (J,) int64: each joint's group.
    sigma_px (V, G) float64: robust noise per pixel coordinate (NaN where not estimable).
    num_samples (V, G) int64: residuals behind each estimate (below ``min_noise_samples`` the
        camera's or the take's pooled estimate was used).
    threshold_px (V, G) float64: the robust triangulation's inlier threshold.
    gate_px (V, G) float64: the largest reprojection error an inlier view of a label may have.
    """

    mode: str
    camera_names: tuple[str, ...]
    group_names: tuple[str, ...]
    joint_group: np.ndarray
    sigma_px: np.ndarray
    num_samples: np.ndarray
    threshold_px: np.ndarray
    gate_px: np.ndarray

    def per_joint(self, values: np.ndarray) -> np.ndarray:
        """(V, G) -> (V, J)."""
        return np.asarray(values)[:, self.joint_group]

    def to_json(self) -> dict:
        def rounded(a):
            return [[None if not np.isfinite(x) else round(float(x), 4) for x in row] for row in a]

        return {"mode": self.mode, "camera_names": list(self.camera_names),
                "group_names": list(self.group_names), "joint_group": self.joint_group.tolist(),
                "sigma_px": rounded(self.sigma_px), "num_samples": self.num_samples.tolist(),
                "threshold_px": rounded(self.threshold_px), "gate_px": rounded(self.gate_px)}

    @classmethod
    def from_json(cls, data: dict) -> "NoiseEstimate":
        def array(rows):
            return np.array([[np.nan if x is None else x for x in row] for row in rows], dtype=np.float64)

        return cls(mode=str(data["mode"]), camera_names=tuple(data["camera_names"]),
                   group_names=tuple(data["group_names"]),
                   joint_group=np.asarray(data["joint_group"], dtype=np.int64),
                   sigma_px=array(data["sigma_px"]),
                   num_samples=np.asarray(data["num_samples"], dtype=np.int64),
                   threshold_px=array(data["threshold_px"]), gate_px=array(data["gate_px"]))


def _diagonals_px(rig) -> np.ndarray:
    sizes = np.asarray(rig.sizes, dtype=np.float64)
    return np.hypot(sizes[:, 0], sizes[:, 1])


def thresholds_from_sigma(sigma_px: np.ndarray, rig, options) -> np.ndarray:
    """The one rule: ``clip(threshold_sigmas * sigma, floor, ceiling)`` per camera, (V, G) px.
    NaN sigmas give the ceiling."""
    diagonal = _diagonals_px(rig)[:, None]
    floor = options.threshold_min_fraction * diagonal
    ceiling = options.threshold_max_fraction * diagonal
    raw = options.threshold_sigmas * np.asarray(sigma_px, dtype=np.float64)
    return np.clip(np.where(np.isfinite(raw), raw, ceiling), floor, ceiling)


def fixed_noise_estimate(rig, joint_names, options, sigma_px=None, num_samples=None) -> NoiseEstimate:
    """The fixed pixel thresholds of ``options`` in the :class:`NoiseEstimate` layout."""
    groups, joint_group = joint_groups(joint_names)
    shape = (len(rig), len(groups))
    return NoiseEstimate(
        mode="fixed", camera_names=tuple(rig.names), group_names=groups, joint_group=joint_group,
        sigma_px=np.full(shape, np.nan) if sigma_px is None else sigma_px,
        num_samples=np.zeros(shape, np.int64) if num_samples is None else num_samples,
        threshold_px=np.full(shape, float(options.threshold_px)),
        gate_px=np.full(shape, float(options.max_reprojection_error_px)))


def triangulate_gated(rig, points_2d: np.ndarray, weights: np.ndarray, threshold_px: np.ndarray):
    """Robust triangulation of (V, F, J, 2) detections with a threshold per camera and joint.

    weights: (V, F, J), 0 where a detection is not used. threshold_px: (V, J) pixels.
    Returns ``(points_3d (F, J, 3), inliers (V, F, J), reprojection_error_px (V, F, J),
    triangulated (F, J))``; errors in each camera's own pixels.
    """
    from geometry.robust_triangulation import triangulate_robust

    V, F, J, _ = points_2d.shape
    threshold_px = np.asarray(threshold_px, dtype=np.float64)
    points = np.full((F, J, 3), np.nan)
    inliers = np.zeros((V, F, J), dtype=bool)
    error = np.full((V, F, J), np.nan)
    valid = np.zeros((F, J), dtype=bool)
    patterns, which = np.unique(threshold_px.T, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):  # one call per distinct set of camera thresholds
        joints = np.flatnonzero(which.reshape(-1) == k)
        reference = float(np.median(pattern))
        scale = reference / pattern  # (V,) camera pixels -> units where every threshold is `reference`
        scaled = rig if np.allclose(scale, 1.0) else type(rig)(
            [cam.replace(K=np.diag([s, s, 1.0]) @ cam.K) for cam, s in zip(rig, scale)])
        result = triangulate_robust(scaled, points_2d[:, :, joints] * scale[:, None, None, None],
                                    weights=weights[:, :, joints], threshold_px=reference, min_views=2)
        points[:, joints] = result.points_3d
        inliers[:, :, joints] = result.inliers
        error[:, :, joints] = result.reprojection_error_px / scale[:, None, None]
        valid[:, joints] = result.valid
    return points, inliers, error, valid


def _leverage(rig, points_3d: np.ndarray, inliers: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(V, F, J) leverage of each inlier view on its point: ``tr(H_vv)`` of the hat matrix of the
    weighted least-squares fit (pinhole Jacobians; the lens barely changes them), in [0, 2].
    ``E|residual_v|^2 = sigma^2 (2 - h_v)``: a view that pins the point alone keeps no residual.

    With ``a_x, a_y`` (3,) the two rows of d pixel / d world point of a view and
    ``N = sum_v w_v (a_x a_x^T + a_y a_y^T)`` the normal matrix, ``h_v = w_v (a_x^T N^-1 a_x +
    a_y^T N^-1 a_y)``; N^-1 from its cofactors (symmetric 3x3), every step elementwise over
    (V, F, J) (no stacked small matrices: 3-4x faster than matmul and inv, equal to 1e-14).
    """
    K = np.asarray(rig.K)  # (V, 3, 3)
    R, t = np.asarray(rig.R), np.asarray(rig.t)
    X = np.nan_to_num(points_3d)  # (F, J, 3)
    in_cam = X[None] @ np.swapaxes(R, 1, 2)[:, None] + t[:, None, None, :]  # (V, F, J, 3)
    z = np.where(np.abs(in_cam[..., 2]) > 1e-9, in_cam[..., 2], 1e-9)
    fx, skew, fy = K[:, None, None, 0, 0], K[:, None, None, 0, 1], K[:, None, None, 1, 1]
    # d pixel / d camera coordinates (rows (fx, skew, x_depth) / z and (0, fy, y_depth) / z),
    # times R: d pixel / d world point, (V, F, J, 3) each
    x_depth = -(fx * in_cam[..., 0] + skew * in_cam[..., 1]) / z ** 2
    y_depth = -fy * in_cam[..., 1] / z ** 2
    R0, R1, R2 = (R[:, None, None, k, :] for k in range(3))  # (V, 1, 1, 3) rows of R
    row_x = (fx / z)[..., None] * R0 + (skew / z)[..., None] * R1 + x_depth[..., None] * R2
    row_y = (fy / z)[..., None] * R1 + y_depth[..., None] * R2
    w = np.where(inliers, weights, 0.0)  # (V, F, J)

    def normal(k, m):  # (F, J) entry (k, m) of N
        return (w * (row_x[..., k] * row_x[..., m] + row_y[..., k] * row_y[..., m])).sum(axis=0)

    a, b, c, d, e, f = (normal(0, 0), normal(0, 1), normal(0, 2), normal(1, 1), normal(1, 2),
                        normal(2, 2))
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    size = np.maximum.reduce([np.ones_like(a)] + [np.abs(m) for m in (a, b, c, d, e, f)])
    ok = np.abs(det) > 1e-12 * size ** 3

    def quadratic(r):  # r^T adj(N) r, (V, F, J)
        x, y, z_ = r[..., 0], r[..., 1], r[..., 2]
        return (c00 * x * x + c11 * y * y + c22 * z_ * z_
                + 2 * (c01 * x * y + c02 * x * z_ + c12 * y * z_))

    with np.errstate(divide="ignore", invalid="ignore"):
        h = (quadratic(row_x) + quadratic(row_y)) * np.where(ok, 1.0 / det, 0.0) * w
    return np.where(inliers & ok[None], np.clip(h, 0.0, 1.999), np.nan)


def _residual_sigma(error, leverage, inliers, num_inliers, joint_group, num_groups, min_samples):
    """Robust sigma per (V, G), pooled fallbacks, and the sample counts (see module docstring)."""
    V = error.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = error * np.sqrt(2.0 / (2.0 - leverage))
    use = inliers & np.isfinite(corrected)
    use3 = use & (num_inliers >= 3)[None]

    def robust(values, use, use3):  # n >= 3 points' residuals if there are enough, else all
        chosen = values[use3] if np.count_nonzero(use3) >= min_samples else values[use]
        sigma = float(np.median(chosen)) / _RAYLEIGH_MEDIAN if chosen.size else np.nan
        return sigma, int(chosen.size)

    sigma = np.full((V, num_groups), np.nan)
    count = np.zeros((V, num_groups), dtype=np.int64)
    take_sigma, take_count = robust(corrected, use, use3)
    for v in range(V):  # one camera's (F, J) slices, then its groups' columns
        camera_sigma, camera_count = robust(corrected[v], use[v], use3[v])
        for g in range(num_groups):
            columns = joint_group == g
            s, c = robust(corrected[v][:, columns], use[v][:, columns], use3[v][:, columns])
            count[v, g] = c
            sigma[v, g] = (s if c >= min_samples else camera_sigma if camera_count >= min_samples
                           else take_sigma if take_count >= min_samples else np.nan)
    return sigma, count


def estimate_noise(rig, detections, options, *, max_framesets: int = 2000,
                   detections_per_group: int = 4000) -> NoiseEstimate:
    """Noise per camera and joint group and the thresholds of ``options.gating`` (module docstring).

    rig: the detections' cameras in order; detections: ``labeling.Detections``; options:
    ``labeling.LabelOptions``. Uses the fewest framesets (samples, when several people give
    one each per frameset), spread evenly over the take, that hold about
    ``detections_per_group`` usable detections in every camera and joint group, and at most
    ``max_framesets``. Why 4000: 64-89% of them become residuals of the estimate
    (``bench_multiperson``'s scenes), and the median of n residual lengths gives sigma to a
    relative standard error of ``1 / (2 f(m) m sqrt(n)) = 0.72 / sqrt(n)`` (f the Rayleigh
    density at its median m), ~1.4% at 2600; measured: within 0.9-3.6% (median over cameras and
    groups 0.3-1.1%) of the estimate from 2000 samples, which itself moves by up to 3.7% between
    two spreads of 1800 and 2000 samples. A single person's 600 framesets hold fewer, so they
    are all used (as before); 5 people in 8 views give 3000 samples per 600 framesets, of which
    ~1400 are used.
    """
    V, F, J = detections.num_views, detections.num_frames, detections.num_joints
    groups, joint_group = joint_groups(detections.joint_names)
    G = len(groups)
    if F == 0:
        sigma, count = np.full((V, G), np.nan), np.zeros((V, G), np.int64)
    else:
        pick = np.unique(np.linspace(0, F - 1, _noise_framesets(
            detections.scores >= options.min_score, joint_group, G, max_framesets,
            detections_per_group)).round().astype(np.int64))
        points_2d = detections.points_2d[:, pick]
        scores = detections.scores[:, pick]
        usable = scores >= options.min_score
        points_2d = np.where(usable[..., None], points_2d, np.nan)
        weights = np.where(usable, scores, 0.0)
        diagonal = _diagonals_px(rig)[:, None]
        thresholds = np.broadcast_to(options.threshold_max_fraction * diagonal, (V, G))
        for _ in range(2):  # at the ceiling, then at the thresholds the first pass gives
            per_joint = thresholds[:, joint_group]  # (V, J)
            points_3d, inliers, error, valid = triangulate_gated(rig, points_2d, weights, per_joint)
            present = person_present(scores, inliers, detections.frame_index[pick], options)
            inliers = inliers & valid[None] & present[None, :, None]
            # The fit weighs each view by its score / threshold^2 (triangulate_gated).
            leverage = _leverage(rig, points_3d, inliers, weights / per_joint[:, None, :] ** 2)
            sigma, count = _residual_sigma(error, leverage, inliers, inliers.sum(axis=0),
                                           joint_group, G, options.min_noise_samples)
            thresholds = thresholds_from_sigma(sigma, rig, options)
        triangulated = valid.any(axis=1)
        if options.presence_min_score > 0 and triangulated.any() and present[triangulated].mean() < 0.5:
            log.warning("the presence test finds a person in only %.0f%% of the framesets where "
                        "joints triangulate (median confidence of the detections used below %.2f); "
                        "if this detector's confidences run low, lower --presence-min-score",
                        100 * present[triangulated].mean(), options.presence_min_score)
    if options.gating == "fixed":
        return fixed_noise_estimate(rig, detections.joint_names, options, sigma, count)
    thresholds = thresholds_from_sigma(sigma, rig, options)
    return NoiseEstimate(mode="adaptive", camera_names=tuple(rig.names), group_names=groups,
                         joint_group=joint_group, sigma_px=sigma, num_samples=count,
                         threshold_px=thresholds, gate_px=thresholds.copy())


def _noise_framesets(usable: np.ndarray, joint_group: np.ndarray, num_groups: int,
                     max_framesets: int, detections_per_group: int) -> int:
    """How many of the F framesets the noise estimate uses (:func:`estimate_noise`): usable (V,
    F, J) bool, joint_group (J,). Evenly spread framesets hold detections in proportion."""
    V, F, _ = usable.shape
    per_group = np.stack([usable[..., joint_group == g].sum(axis=(1, 2))
                          for g in range(num_groups)], axis=1)  # (V, G) over the whole take
    fewest = int(per_group.min()) if per_group.size else 0
    needed = F if fewest == 0 else -(-F * detections_per_group // fewest)
    return max(1, min(F, max_framesets, needed))


def _segments(frame_index: np.ndarray) -> np.ndarray:
    """(F,) int64 id of each frameset's run of consecutive frame indices."""
    F = len(frame_index)
    breaks = np.ones(F, dtype=bool)
    breaks[1:] = np.diff(np.asarray(frame_index)) != 1
    return np.cumsum(breaks) - 1


def person_present(scores: np.ndarray, inliers: np.ndarray, frame_index: np.ndarray,
                   options) -> np.ndarray:
    """(F,) bool: the framesets that show the person (module docstring).

    scores: (V, F, J) detector confidences; inliers: (V, F, J) the views each triangulated joint
    uses; frame_index: (F,) (the running median never crosses a jump in it).
    """
    V, F, J = scores.shape
    if options.presence_min_score <= 0 or F == 0:
        return np.ones(F, dtype=bool)
    used = np.where(inliers, scores, np.nan).transpose(1, 0, 2).reshape(F, V * J)
    # A frameset where nothing triangulates holds no evidence of a person: 0, not unknown (as
    # unknown, a stretch of empty framesets would take its presence from its neighbours).
    per_frameset = np.zeros(F)
    any_used = np.isfinite(used).any(axis=1)
    per_frameset[any_used] = _nanmedian_rows(used[any_used])
    half = options.presence_window_frames // 2
    segment = _segments(frame_index)
    padded = np.pad(per_frameset, half, constant_values=np.nan)
    padded_segment = np.pad(segment, half, constant_values=-1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    same = np.lib.stride_tricks.sliding_window_view(padded_segment, 2 * half + 1) == segment[:, None]
    windows = np.where(same, windows, np.nan)
    finite = np.isfinite(windows).any(axis=1)
    running = np.full(F, np.nan)
    running[finite] = _nanmedian_rows(windows[finite])
    return running >= options.presence_min_score


def _nanmedian_rows(values: np.ndarray) -> np.ndarray:
    """(N, K) -> (N,) median of each row's non-NaN values (NaN where none): ``np.nanmedian(values,
    axis=1)`` to the bit, from one sort (NaN sorts last) instead of its per-row masking (~15x
    faster on the presence test's (F, V J) rows)."""
    ordered = np.sort(values, axis=1)
    count = np.count_nonzero(~np.isnan(values), axis=1)
    rows = np.arange(values.shape[0])
    median = (ordered[rows, np.maximum(count - 1, 0) // 2] + ordered[rows, count // 2]) / 2
    return np.where(count > 0, median, np.nan)
