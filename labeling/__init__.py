"""Labeling: frozen 2D detector output -> robust triangulated pseudo-labels -> HDF5 shards.

Uses :mod:`geometry` (and reads sessions through :mod:`capture`, calibrations through
:mod:`calibration`). Conventions in :mod:`geometry.camera`.
"""

from .detections import Detections

__all__ = ["Detections"]
