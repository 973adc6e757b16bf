"""SLEAP analysis HDF5 (``sleap-convert --format analysis``), one file per camera.

Datasets as h5py reads them (SLEAP writes them transposed for MATLAB):
``tracks (n_tracks, 2, n_nodes, n_frames)`` float pixels, NaN missing; ``node_names (n_nodes,)``
bytes; ``track_occupancy (n_frames, n_tracks)`` uint8; ``point_scores (n_tracks, n_nodes,
n_frames)`` (optional; 1 where absent). Frame k of the file is frame k of the video. Each track
becomes a candidate; a track not occupied in a frame is NaN there. The camera name is the file
name up to the first ``.`` (``cam01.analysis.h5`` -> ``cam01``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..association import PersonCandidates
from .common import bad_file, candidates_from_frames, match_cameras

__all__ = ["read_sleap", "read_sleap_file"]


def read_sleap_file(path: str | Path) -> tuple[dict[int, np.ndarray], tuple[str, ...]]:
    """One analysis file -> ({frame: (n_tracks, n_nodes, 3) x, y, score}, node names)."""
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise bad_file(path, f"is not a readable HDF5 file ({error})") from error
    with handle:
        if "tracks" not in handle or "node_names" not in handle:
            raise bad_file(path, "has no 'tracks' and 'node_names' datasets, so it is not a SLEAP "
                                 "analysis file")
        tracks = np.asarray(handle["tracks"][:], dtype=np.float64)
        nodes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in handle["node_names"][:])
        if tracks.ndim != 4 or tracks.shape[1] != 2 or tracks.shape[2] != len(nodes):
            raise bad_file(path, f"has tracks of shape {tracks.shape}, expected (n_tracks, 2, "
                                 f"{len(nodes)}, n_frames)")
        T, _, N, F = tracks.shape
        scores = (np.asarray(handle["point_scores"][:], dtype=np.float64)
                  if "point_scores" in handle else np.ones((T, N, F)))
        if scores.shape != (T, N, F):
            raise bad_file(path, f"has point_scores of shape {scores.shape}, expected {(T, N, F)}")
        if "track_occupancy" in handle:
            occupancy = np.asarray(handle["track_occupancy"][:]).astype(bool)
            if occupancy.shape == (T, F) and (F, T) != (T, F):
                occupancy = occupancy.T
            if occupancy.shape != (F, T):
                raise bad_file(path, f"has track_occupancy of shape {occupancy.shape}, expected "
                                     f"({F}, {T})")
        else:
            occupancy = np.isfinite(tracks[:, 0]).any(axis=1).T
    people = np.concatenate([tracks.transpose(3, 0, 2, 1), scores.transpose(2, 0, 1)[..., None]],
                            axis=-1)  # (F, T, N, 3)
    people[~occupancy] = np.nan
    people[~np.isfinite(people[..., :2]).all(axis=-1)] = np.nan
    people[..., 2] = np.clip(people[..., 2], 0, 1)
    return {f: people[f] for f in range(F)}, nodes


def read_sleap(path: str | Path, *, camera_names=None, fps: float | None = None
               ) -> PersonCandidates:
    """Candidates from a folder of one SLEAP analysis ``.h5`` per camera (or one file)."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".h5", ".hdf5")) \
        if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise ValueError(f"{path} has no SLEAP analysis .h5 files")
    per_camera, nodes = {}, None
    for file in files:
        frames, names = read_sleap_file(file)
        if nodes is not None and names != nodes:
            raise bad_file(file, f"has nodes {names}, other cameras have {nodes}")
        per_camera[file.name.split(".")[0]], nodes = frames, names
    pairs = match_cameras(list(per_camera), camera_names, source=str(path))
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=nodes,
                                  source=f"SLEAP analysis {path}", fps=fps)
