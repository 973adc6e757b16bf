"""Seeded scene and rig generators with ground truth, for tests, benchmarks and the demo.

Randomness only through an explicit ``rng: np.random.Generator``. Conventions in
:mod:`geometry.camera`.
"""

from .rigs import Lens, arc_rig, ceiling_rig, look_at, ring_rig, synthetic_camera
from .two_view import TwoViewScene, person_volume_points, two_view_scene

__all__ = ["Lens", "arc_rig", "ceiling_rig", "look_at", "ring_rig", "synthetic_camera",
           "TwoViewScene", "person_volume_points", "two_view_scene"]
