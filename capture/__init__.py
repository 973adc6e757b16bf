"""Capture: synchronized multi-camera recording, session files and their checks.

Knows nothing of labeling. Conventions in :mod:`geometry.camera`.
"""
