"""SLEAP: analysis HDF5 (both array layouts), ``.slp`` project/prediction files, sessions.

Files, recognised by their content (not their suffix):

analysis HDF5 (``sleap-convert --format analysis``, ``sleap_io.save_analysis_h5``)
    ``tracks`` float pixels (NaN missing), ``node_names (N,)``, optional ``track_names (T,)``,
    ``track_occupancy (F, T)`` and ``point_scores``. SLEAP writes ``tracks (T, 2, N, F)`` (its
    MATLAB-friendly order, ``preset="matlab"``); sleap-io can also write ``preset="standard"``:
    ``tracks (F, T, N, 2)``, ``point_scores (F, T, N)``. The order is read from the file's own
    metadata (each dataset's ``dims`` attribute, else the root ``preset`` attribute); without
    them it is decided by the shape of ``tracks`` when only one order fits, and refused when both
    fit (``layout="matlab"|"standard"`` settles it). Frame k of the file is frame k of the video.
    ``point_scores`` are NaN where a person placed the point (a user-labelled instance): those
    points are kept with score 1.
``.slp`` (SLEAP's project / predictions file, HDF5)
    ``frames``, ``instances``, ``points`` (user-labelled) and ``pred_points`` (predicted) tables,
    the skeleton in ``metadata``'s JSON, the tracks in ``tracks_json``, the videos in
    ``videos_json``. Read with h5py alone. A user instance replaces the predicted instance it was
    made from (or the predicted instance of the same track), as SLEAP's own analysis export does;
    invisible points are missing. A file with several videos gives one camera per video.

Layouts of ``path``: one file; a folder of one file per camera (camera = the file name up to its
first ``.``); a session with one sub-folder per camera (sleap-anipose; camera = the folder name)
each holding one SLEAP file; or a glob pattern (``DIR/*/*.analysis.h5``) naming the files, which
is how to choose when a camera folder holds more than one SLEAP file.

Each track becomes a candidate, with its track index as ``track_hint`` and the track names in
``metadata["track_names"]``.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from ..association import PersonCandidates
from .common import Decisions, DenseFrames, bad_file, candidates_from_frames, dense_from_rows, match_cameras

__all__ = ["read_sleap", "read_sleap_file", "SleapLayout"]

SleapLayout = Literal["auto", "matlab", "standard"]
_SUFFIXES = (".h5", ".hdf5", ".slp")
_CANONICAL = ("track", "xy", "node", "frame")  # the matlab order, which the code below works in
_ORDERS = {"matlab": {"tracks": ("track", "xy", "node", "frame"),
                      "point_scores": ("track", "node", "frame")},
           "standard": {"tracks": ("frame", "track", "node", "xy"),
                        "point_scores": ("frame", "track", "node")}}

PerCamera = DenseFrames  # one camera's frames, people (F, P, N, 3) and track ids (F, P)


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _dims(dataset, path: Path) -> tuple[str, ...] | None:
    raw = dataset.attrs.get("dims")
    if raw is None:
        return None
    try:
        dims = tuple(json.loads(_text(raw)))
    except (json.JSONDecodeError, TypeError) as error:
        raise bad_file(path, f"has an unreadable 'dims' attribute on {dataset.name} ({error})") from error
    if len(dims) != dataset.ndim:
        raise bad_file(path, f"{dataset.name} has dims {list(dims)} for {dataset.ndim} axes")
    return dims


def _to_order(array: np.ndarray, dims: tuple[str, ...], wanted: tuple[str, ...], path: Path,
              name: str) -> np.ndarray:
    if sorted(dims) != sorted(wanted):
        raise bad_file(path, f"{name} has dims {list(dims)}, expected the axes {list(wanted)}")
    return np.transpose(array, [dims.index(d) for d in wanted])


def _layout(handle, tracks_shape: tuple[int, ...], n_nodes: int, path: Path, layout: SleapLayout,
            decisions: Decisions) -> str | None:
    """'matlab'/'standard' from the file's metadata, the option, or the one order that fits;
    None when the datasets carry their own ``dims``."""
    if _dims(handle["tracks"], path) is not None:
        return None
    preset = _text(handle.attrs.get("preset", "")).strip().lower()
    if preset in _ORDERS:
        return preset
    if layout in _ORDERS:
        return layout
    fits = [name for name, order in _ORDERS.items()
            if tracks_shape[order["tracks"].index("xy")] == 2
            and tracks_shape[order["tracks"].index("node")] == n_nodes]
    if len(fits) == 1:
        decisions.defer(f"layout-{fits[0]}", "no 'dims' or 'preset' metadata; read in the "
                        f"{'SLEAP (matlab)' if fits[0] == 'matlab' else 'sleap-io standard'} axis "
                        "order, the only one the shape of 'tracks' fits with the node count",
                        f"{path} {tracks_shape}")
        return fits[0]
    if not fits:
        raise bad_file(path, f"has tracks of shape {tracks_shape}, which fits neither SLEAP's "
                             f"(tracks, 2, {n_nodes} nodes, frames) nor sleap-io's standard "
                             f"(frames, tracks, {n_nodes} nodes, 2) order")
    raise bad_file(path, f"has tracks of shape {tracks_shape}, which fits both SLEAP's matlab order "
                         "(tracks, xy, nodes, frames) and sleap-io's standard order (frames, tracks, "
                         "nodes, xy), and no 'dims' or 'preset' metadata decides; pass "
                         "layout=matlab or layout=standard (rigkit label --detections-option "
                         "layout=...)")


def _read_analysis(handle, path: Path, layout: SleapLayout, decisions: Decisions
                   ) -> tuple[PerCamera, tuple[str, ...], list[str]]:
    if "node_names" not in handle:
        raise bad_file(path, "has 'tracks' but no 'node_names', so it is not a SLEAP analysis file")
    nodes = tuple(_text(n) for n in np.asarray(handle["node_names"][()]).reshape(-1))
    raw = np.asarray(handle["tracks"][()], dtype=np.float64)
    if raw.ndim != 4:
        raise bad_file(path, f"has tracks of shape {raw.shape}, expected 4 axes")
    order = _layout(handle, raw.shape, len(nodes), path, layout, decisions)
    dims = _dims(handle["tracks"], path) if order is None else _ORDERS[order]["tracks"]
    tracks = _to_order(raw, dims, _CANONICAL, path, "tracks")
    T, two, N, F = tracks.shape
    if two != 2 or N != len(nodes):
        raise bad_file(path, f"has tracks of shape {raw.shape}, which in the order {list(dims)} is "
                             f"not (.., 2 coordinates, {len(nodes)} nodes, ..)")
    if "point_scores" in handle:
        raw_scores = np.asarray(handle["point_scores"][()], dtype=np.float64)
        score_dims = (_dims(handle["point_scores"], path)
                      or tuple(d for d in dims if d != "xy")) if order is None \
            else _ORDERS[order]["point_scores"]
        if score_dims is None or raw_scores.ndim != 3:
            raise bad_file(path, f"has point_scores of shape {raw_scores.shape} without readable dims")
        scores = _to_order(raw_scores, score_dims, ("track", "node", "frame"), path, "point_scores")
        if scores.shape != (T, N, F):
            raise bad_file(path, f"has point_scores of shape {raw_scores.shape}, expected "
                                 f"{(T, N, F)} in the order track, node, frame")
    else:
        scores = np.ones((T, N, F))
    if "track_occupancy" in handle:
        occupancy = np.asarray(handle["track_occupancy"][()])
        occupancy_dims = _dims(handle["track_occupancy"], path) or ("frame", "track")
        if occupancy.ndim != 2:
            raise bad_file(path, f"has track_occupancy of shape {occupancy.shape}, expected ({F}, {T})")
        occupancy = _to_order(occupancy, occupancy_dims, ("frame", "track"), path,
                              "track_occupancy").astype(bool)
        if occupancy.shape != (F, T):
            raise bad_file(path, f"has track_occupancy of shape {occupancy.shape}, expected ({F}, {T})")
    else:
        occupancy = np.isfinite(tracks[:, 0]).any(axis=1).T
    names = []
    if "track_names" in handle:
        names = [_text(n) for n in np.asarray(handle["track_names"][()]).reshape(-1)]
        if names and len(names) != T:
            raise bad_file(path, f"has {len(names)} track_names for {T} tracks")
    people = np.concatenate([tracks.transpose(3, 0, 2, 1), scores.transpose(2, 0, 1)[..., None]],
                            axis=-1)  # (F, T, N, 3)
    people[~occupancy] = np.nan
    located = np.isfinite(people[..., :2]).all(axis=-1)
    user = located & np.isnan(people[..., 2])
    if user.any():
        decisions.defer("user-points", "points with NaN point_scores, which SLEAP writes for "
                        "user-labelled points, are kept with score 1", f"{path}: {int(user.sum())}")
        people[..., 2] = np.where(user, 1.0, people[..., 2])
    people[~located] = np.nan
    people[..., 2] = np.clip(people[..., 2], 0, 1)
    ids = np.arange(T) if names else np.full(T, -1)
    dense = DenseFrames(frames=np.arange(F, dtype=np.int64), people=people,
                        hints=np.broadcast_to(ids, (F, T)).astype(np.int64))
    return dense, nodes, names


def _node_names(metadata: dict, path: Path) -> tuple[str, ...]:
    try:
        names = [n["name"] for n in metadata["nodes"]]
        skeletons = metadata["skeletons"]
        if len(skeletons) != 1:
            raise bad_file(path, f"has {len(skeletons)} skeletons; rigkit reads files with one")
        order = []
        for entry in skeletons[0]["nodes"]:
            node = entry["id"]
            if isinstance(node, int):
                order.append(names[node])
            elif isinstance(node, dict) and "py/state" in node:
                order.append(str(node["py/state"]["py/tuple"][0]))
            else:
                raise bad_file(path, f"has a skeleton node {node!r} rigkit cannot resolve")
        return tuple(order)
    except (KeyError, IndexError, TypeError) as error:
        raise bad_file(path, f"has a SLEAP metadata JSON without a readable skeleton ({error})") from error


def _read_slp(handle, path: Path) -> tuple[list[tuple[str, PerCamera]], tuple[str, ...], list[str]]:
    try:
        metadata = json.loads(_text(handle["metadata"].attrs["json"]))
    except (KeyError, json.JSONDecodeError) as error:
        raise bad_file(path, f"is not a SLEAP .slp file: no readable metadata JSON ({error})") from error
    nodes = _node_names(metadata, path)
    N = len(nodes)
    try:
        frames = handle["frames"][()]
        instances = handle["instances"][()]
        user_points = handle["points"][()] if "points" in handle else None
        predicted_points = handle["pred_points"][()] if "pred_points" in handle else None
        track_names = [json.loads(_text(t))[1] for t in handle["tracks_json"][()]] \
            if "tracks_json" in handle else []
        videos = [json.loads(_text(v)) for v in handle["videos_json"][()]] \
            if "videos_json" in handle else [{}]
        start, stop = instances["point_id_start"].astype(np.int64), instances["point_id_end"].astype(np.int64)
        kind = instances["instance_type"].astype(np.int64)
        track = instances["track"].astype(np.int64)
        instance_id = instances["instance_id"].astype(np.int64)
        from_predicted = instances["from_predicted"].astype(np.int64)
        frame_of = instances["frame_id"].astype(np.int64)
        video = frames["video"].astype(np.int64)
        frame_idx = frames["frame_idx"].astype(np.int64)
        frame_id = frames["frame_id"].astype(np.int64)
    except (KeyError, ValueError, TypeError, json.JSONDecodeError, IndexError) as error:
        raise bad_file(path, f"is not a readable SLEAP .slp file ({error})") from error
    if np.any((stop - start) != N) and len(instances):
        raise bad_file(path, f"has instances whose point count differs from the skeleton's {N} nodes")
    people = np.full((len(instances), N, 3), np.nan)
    for wanted, table, scored in ((0, user_points, False), (1, predicted_points, True)):
        rows = np.flatnonzero(kind == wanted)
        if not len(rows):
            continue
        if table is None or (len(rows) and stop[rows].max() > len(table)):
            raise bad_file(path, "has instances pointing past its points table")
        index = start[rows, None] + np.arange(N)
        points = table[index]
        xy = np.stack([points["x"], points["y"]], axis=-1).astype(np.float64)
        score = points["score"].astype(np.float64) if scored else np.ones(xy.shape[:2])
        visible = points["visible"].astype(bool) & np.isfinite(xy).all(axis=-1)
        people[rows] = np.where(visible[..., None], np.concatenate([xy, score[..., None]], -1), np.nan)
    people[..., 2] = np.clip(people[..., 2], 0, 1)
    # a user instance replaces the predicted instance it came from, or the one of its track
    keep = np.ones(len(instances), dtype=bool)
    user = np.flatnonzero(kind == 0)
    if len(user):
        keep &= ~np.isin(instance_id, from_predicted[user][from_predicted[user] >= 0])
        tracked = user[track[user] >= 0]
        shadowed = set(zip(frame_of[tracked].tolist(), track[tracked].tolist()))
        for r in np.flatnonzero((kind == 1) & (track >= 0)):
            if (int(frame_of[r]), int(track[r])) in shadowed:
                keep[r] = False
    # each instance's frame: the row of the frames table with its frame_id
    by_id = np.argsort(frame_id, kind="stable")
    where = np.searchsorted(frame_id[by_id], frame_of)
    where = np.clip(where, 0, max(len(frame_id) - 1, 0))
    if len(instances) and (not len(frame_id) or np.any(frame_id[by_id][where] != frame_of)):
        raise bad_file(path, "has instances of frames missing from its frames table")
    frame_row = by_id[where] if len(instances) else np.zeros(0, np.int64)
    per_video: dict[int, PerCamera] = {}
    if np.any((video < 0) | (video >= len(videos))):
        raise bad_file(path, f"has a frame of a video beyond its {len(videos)} videos")
    untracked = np.iinfo(np.int64).max
    for v in range(len(videos)):
        rows_of_video = np.flatnonzero(video == v)
        numbers = frame_idx[rows_of_video]
        unique, first = np.unique(numbers, return_index=True)
        local = np.full(len(frames), -1, dtype=np.int64)  # frames-table row -> position in video
        local[rows_of_video] = np.searchsorted(unique, numbers)
        chosen = np.flatnonzero(keep & (local[frame_row] >= 0)) if len(instances) else np.zeros(0, np.int64)
        position = local[frame_row[chosen]]
        order = np.lexsort((chosen, np.where(track[chosen] < 0, untracked, track[chosen]), position))
        chosen, position = chosen[order], position[order]
        per_video[v] = dense_from_rows(unique, position, people[chosen],
                                       np.where(track[chosen] < len(track_names), track[chosen], -1))
    named = []
    for v, entry in enumerate(videos):
        filename = str((entry.get("backend") or {}).get("filename", "")) if isinstance(entry, dict) else ""
        named.append((Path(filename).stem or f"video{v}", per_video[v]))
    return named, nodes, [str(n) for n in track_names]


def read_sleap_file(path: str | Path, *, layout: SleapLayout = "auto",
                    decisions: Decisions | None = None
                    ) -> tuple[list[tuple[str, PerCamera]], tuple[str, ...], list[str]]:
    """One SLEAP file -> ([(video name, DenseFrames)], node names, track names).

    Each video's frames with people (F, P, N, 3) x, y, score and track index hints (F, P), -1 none.
    An analysis file holds one video (named after the file up to its first ``.``).
    """
    path = Path(path)
    decisions = decisions if decisions is not None else Decisions()
    if layout not in ("auto", "matlab", "standard"):
        raise ValueError(f"layout={layout!r}, expected auto, matlab or standard")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise bad_file(path, f"is not a readable HDF5 file ({error})") from error
    try:
        with handle:
            if "tracks" in handle:
                content, nodes, names = _read_analysis(handle, path, layout, decisions)
                return [(path.name.split(".")[0], content)], nodes, names
            if "frames" in handle and "instances" in handle:
                return _read_slp(handle, path)
    except (OSError, KeyError) as error:  # truncated datasets, missing fields
        raise bad_file(path, f"is a damaged SLEAP file ({error})") from error
    raise bad_file(path, "has neither 'tracks' (a SLEAP analysis file) nor 'frames' and "
                         "'instances' (a SLEAP .slp file)")


def _files(path: Path) -> list[tuple[str | None, Path]]:
    """[(camera name from the layout or None, file)]"""
    if any(c in str(path) for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not files:
            raise ValueError(f"{path} matches no files")
        parents = {f.parent for f in files}
        by_folder = len(parents) == len(files) and len(files) > 1
        return [(f.parent.name if by_folder else None, f) for f in files]
    if path.is_file():
        return [(None, path)]
    if not path.is_dir():
        raise ValueError(f"{path} is neither a SLEAP file nor a folder of them")
    direct = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
    if direct:
        return [(None, f) for f in direct]
    found = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        inside = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if len(inside) > 1:
            raise ValueError(f"camera folder {folder} holds {len(inside)} SLEAP files "
                             f"({', '.join(p.name for p in inside)}); name the ones to read with a "
                             f"pattern, e.g. sleap:{path}/*/*{''.join(inside[0].suffixes)}")
        if inside:
            found.append((folder.name, inside[0]))
    if not found:
        raise ValueError(f"{path} has no SLEAP files (.slp, .h5) nor camera folders holding one")
    return found


def read_sleap(path: str | Path, *, camera_names=None, fps: float | None = None,
               layout: SleapLayout = "auto") -> PersonCandidates:
    """Candidates from SLEAP files (see the module docstring for the layouts read).

    layout: the axis order of analysis files without metadata (``"auto"``: from the metadata,
        else the shape when it decides, else refused).
    """
    path = Path(path)
    decisions = Decisions()
    per_camera: dict[str, DenseFrames] = {}
    nodes, track_names = None, []
    for camera, file in _files(path):
        videos, names, tracks = read_sleap_file(file, layout=layout, decisions=decisions)
        if nodes is not None and names != nodes:
            raise bad_file(file, f"has nodes {names}, other cameras have {nodes}")
        nodes = names
        if len(tracks) > len(track_names):
            track_names = tracks
        for video_name, dense in videos:
            name = video_name if len(videos) > 1 else camera or file.name.split(".")[0]
            if name in per_camera:
                raise ValueError(f"{path}: two SLEAP files/videos give camera {name!r}; name the "
                                 "files to read with a pattern (sleap:DIR/*/*.slp)")
            per_camera[name] = dense
    pairs = match_cameras(list(per_camera), camera_names, source=str(path), decisions=decisions)
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=nodes,
                                  source=f"SLEAP {path}", fps=fps,
                                  track_names=track_names or None, decisions=decisions)
