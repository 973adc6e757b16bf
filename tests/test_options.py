"""geometry.options: the validation helper of every options dataclass; options hold their thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from geometry.options import check_choice, check_range, check_type, describe_range


@dataclass(frozen=True)
class _Options:
    count: object = 3
    ratio: object = 0.5
    maybe: object = None
    mode: object = "a"


@pytest.mark.parametrize("value, ok", [(1, True), (np.int64(4), True), (0, False), (-1, False), (2.0, False),
                                       (True, False), ("3", False), (None, False)])
def test_integer_at_least_one(value, ok):
    options = _Options(count=value)
    if ok:
        check_range(options, "count", low=1, integer=True)
    else:
        with pytest.raises(ValueError, match=r"count is .*, expected an integer >= 1"):
            check_range(options, "count", low=1, integer=True)


@pytest.mark.parametrize("value, ok", [(0.0, True), (0.999, True), (1.0, False), (-0.1, False),
                                       (float("nan"), False), (np.float32(0.5), True)])
def test_half_open_interval(value, ok):
    options = _Options(ratio=value)
    if ok:
        check_range(options, "ratio", low=0, high=1, high_open=True)
    else:
        with pytest.raises(ValueError, match=r"ratio is .*, expected in \[0, 1\)"):
            check_range(options, "ratio", low=0, high=1, high_open=True)


def test_optional_finite_choice_and_type():
    check_range(_Options(), "maybe", low=0, low_open=True, optional=True)
    with pytest.raises(ValueError, match="maybe is inf, expected None or > 0"):
        check_range(_Options(maybe=float("inf")), "maybe", low=0, low_open=True, optional=True, finite=True)
    with pytest.raises(ValueError, match="ratio is 2, expected >= 3"):  # the first broken field is named
        check_range(_Options(count=5, ratio=2), "count", "ratio", low=3)
    check_choice(_Options(), "mode", ("a", "b"))
    with pytest.raises(ValueError, match="mode is 'c', expected 'a', 'b' or 'x'"):
        check_choice(_Options(mode="c"), "mode", ("a", "b", "x"))
    with pytest.raises(ValueError, match="count must be builtins.str, got int"):
        check_type(_Options(), "count", str)
    assert describe_range(low=0, high=1, low_open=True) == "in (0, 1]"


def test_every_options_class_rejects_a_broken_field():
    """Spot checks through the real classes (the rules moved to the helper, not away)."""
    from calibration.bundle_adjustment import BundleAdjustmentOptions
    from calibration.intrinsics import IntrinsicsOptions
    from capture.grouping import GroupingOptions
    from geometry import RansacOptions, RelativePoseOptions, RobustTriangulationOptions, TriangulationOptions

    for make, match in ((lambda: RansacOptions(threshold_px=float("inf")), "threshold_px"),
                        (lambda: RansacOptions(lo_iterations=0), "lo_iterations"),
                        (lambda: TriangulationOptions(threads=0), "threads"),
                        (lambda: RobustTriangulationOptions(error_weight=1.0), "error_weight"),
                        (lambda: RelativePoseOptions(refine_rounds=0), "refine_rounds"),
                        (lambda: BundleAdjustmentOptions(num_free_distortion=9), "num_free_distortion"),
                        (lambda: IntrinsicsOptions(grid_cells=0), "grid_cells"),
                        (lambda: GroupingOptions(period_s=0.04, wait_s=-1.0), "wait_s")):
        with pytest.raises(ValueError, match=match):
            make()


def test_thresholds_live_in_the_options_and_are_never_overwritten_silently():
    from geometry import RansacOptions, RelativePoseOptions, RobustTriangulationOptions, triangulate_robust
    from geometry.relative_pose import relative_pose
    from geometry.synthetic import ring_rig

    rig = ring_rig(3, rng=np.random.default_rng(0))
    points = rig.project(np.array([[0.1, 0.2, 1.0], [0.0, -0.1, 1.2]]))
    # the argument is a shorthand for the options' field ...
    by_argument = triangulate_robust(rig, points, threshold_px=5.0)
    by_options = triangulate_robust(rig, points, options=RobustTriangulationOptions(threshold_px=5.0))
    np.testing.assert_array_equal(by_argument.points_3d, by_options.points_3d)
    triangulate_robust(rig, points, threshold_px=5.0, options=RobustTriangulationOptions(threshold_px=5.0))
    # ... and never silently wins over options that say otherwise
    with pytest.raises(ValueError, match="threshold_px is 5.0 as an argument but 15.0 in the options"):
        triangulate_robust(rig, points, threshold_px=5.0, options=RobustTriangulationOptions())
    with pytest.raises(ValueError, match="min_views"):
        triangulate_robust(rig, points, min_views=3, options=RobustTriangulationOptions())
    K = rig.K[0]
    options = RelativePoseOptions(ransac=RansacOptions(threshold_px=2.0))
    with pytest.raises(ValueError, match="threshold_px is 1.0 as an argument but 2.0 in the options"):
        relative_pose(points[0], points[1], K, K, threshold_px=1.0, options=options)


def test_option_rules_on_the_fields():
    from dataclasses import dataclass

    from geometry.options import check_fields, option

    @dataclass(frozen=True, kw_only=True)
    class Options:
        count: int = option(3, low=1)
        window: int = option(9, low=3, odd=True)
        mode: str = option("a", choices=("a", "b"))
        beta: tuple[float, float] = option((2.0, 4.0), low=0, low_open=True, note="Beta parameters")
        span_m: tuple[float, float] = option((0.1, 0.6), low=0, low_open=True, ordered=True)

        def __post_init__(self) -> None:
            check_fields(self)

    Options()
    for bad, words in (({"count": 0}, "count is 0, expected an integer >= 1"),
                       ({"count": 2.0}, "count is 2.0, expected an integer >= 1"),
                       ({"window": 4}, "window is 4, expected an odd integer >= 3"),
                       ({"mode": "c"}, "mode is 'c', expected 'a' or 'b'"),
                       ({"beta": (2.0, 0.0)}, "beta is (2.0, 0.0), expected 2 numbers, each > 0 (Beta parameters)"),
                       ({"beta": (2.0,)}, "expected 2 numbers"),
                       ({"span_m": (0.6, 0.1)}, "each > 0, in increasing order")):
        with pytest.raises(ValueError) as info:
            Options(**bad)
        assert words in str(info.value), str(info.value)
