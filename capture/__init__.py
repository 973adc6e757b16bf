"""Capture: synchronized multi-camera recording, session files and their checks.

Knows nothing of labeling. Conventions in :mod:`geometry.camera`.
"""

from .render import RenderedFrame, SceneRenderer, joint_colors, render_scene

__all__ = ["RenderedFrame", "SceneRenderer", "joint_colors", "render_scene"]
