"""HDF5 shards of pseudo-labels: the schema trainers rely on, the atomic writer, plain readers.

Conventions (frames, pixels, dimension letters, units) in :mod:`geometry.camera`. ``N`` is the
number of framesets (samples) in a shard, ``V`` views, ``J`` joints.

Schema (version :data:`SCHEMA_VERSION`; fields may be added, never renamed)
    ``keypoints_3d (N, J, 3) float32``  metres, world frame; NaN where rejected.
    ``valid (N, J) bool``               the label passed every gate (see ``reject_reason``).
    ``keypoints_2d (N, V, J, 2) float32`` px, distorted image coordinates of the original
                                        frames, as detected; NaN where a view has no detection.
    ``scores_2d (N, V, J) float32``     detector confidence in [0, 1]; NaN where not detected.
    ``inliers (N, V, J) bool``          the view was used for the 3D point.
    ``reprojection_error_px (N, V, J) float32``  distance between the detection and the stored
                                        ``keypoints_3d`` reprojected; NaN where either is missing.
    ``frame_index (N,) int64``          frameset index in the recording.
    ``timestamp_s (N,) float64``        seconds from the start of the recording (NaN if unknown).
    ``num_inlier_views (N, J) uint8``   (added) how many views agreed on the point.
    ``reject_reason (N, J) uint8``      (added) bit mask of :class:`RejectReason`; 0 for a kept
                                        label (the evidence for why it was kept or dropped).
    Identity (added in version 2, :data:`IDENTITY_FIELDS`; one sample per person per frameset,
    sorted by frameset then person; a version-1 shard reads as person 0 with no evidence):
    ``person_id (N,) int64``            the person (track) of the sample, stable over the take.
    ``association_candidate (N, V) int64``  which candidate (detection) of each view the
                                        association used for this person; -1 where none.
    ``association_affinity_px (N, V) float32``  median distance over joints between that
                                        candidate and the person's skeleton reprojected; NaN
                                        where none (or single-person input with no association).
    ``identity_uncertain (N,) bool``    fewer than two of the person's views were unambiguous.
    ``cameras/``                        ``K (V, 3, 3)``, ``dist (V, 8)`` (OpenCV order, zero
                                        padded; ``dist_length (V,)`` says how many are real),
                                        ``model (V,)`` str, ``R (V, 3, 3)``, ``t (V, 3)`` m
                                        (cam_from_world), ``size (V, 2)`` int (width, height),
                                        ``names (V,)`` str.
    optional ``crops_jpeg (N, V)``      variable-length uint8: JPEG bytes of a square crop of
                                        each view around the subject (empty where none) and
                                        ``crop_box_px (N, V, 4) float32`` the crop's
                                        ``(x0, y0, width, height)`` in original pixels; the crop is
                                        resized to ``crop_size_px`` square:
                                        ``u_crop = (u - x0) * crop_size_px / width``.
    attributes ``schema_version``, ``joint_names``, ``camera_names``, ``bones`` (B, 2) joint
    indices, ``options_json`` (every threshold used), ``provenance_json``, ``rigkit_version``,
    ``noise_json`` (schema 2: detection noise and the thresholds used, per camera and joint group).

Layout chosen by measurement (``benchmarks/bench_labeling.py --only layout``; 2 shared cores at
load average ~9, so absolute times are inflated; shard of 1024 framesets x 4 views x 17 joints of
real pseudo-labels, 1.46 MB raw). Noisy float32 pixels barely compress: lzf + shuffle leaves 83%
of the bytes, gzip-1 + shuffle 76-80%, while reading the whole shard back costs 3-8 ms
uncompressed against 19-29 ms (lzf) and 36-52 ms (gzip), and writing doubles. Each h5py read
call costs ~0.5 ms here whatever its size, so a 64-row chunk read of every field (~8 ms) is no
cheaper than the whole shard: readers (``labeling.dataset``) take a shard's labels in one read of
every field, and the chunk size only sets the unit by which ``ShardIterableDataset`` deals work
to ranks and workers and what a plain h5py slice touches. Default: no compression (labels are
1.5 kB a frameset; disk is not the constraint, reading is), chunks of 256 framesets; lzf is not
offered at all: the same data compressed twice in one process gave different bytes (liblzf's
uninitialised hash table), which breaks sha256-identical output. JPEG crops
are already compressed (a 256 px crop at quality 90 is ~21 kB against 192 kB raw, 9x smaller)
and stored without a filter in chunks of 16 framesets; their bytes live in HDF5's global heap,
so the chunk cache (``rdcc_nbytes``) made no measurable difference to reading them
(600-1000 samples/s from 0 to 64 MiB, within the noise).
Deterministic: identical inputs write identical bytes in any process, whatever ran before in it
(``index.json`` and ``--resume`` verify shards by sha256; a resumed run must match an
uninterrupted one). What it takes, each checked byte for byte (``tests/test_shards.py``): no
timestamps (datasets ``track_times=False``; ``libver`` low bound "earliest" gives version-1
object headers, which carry no times for groups either, whatever the h5py version's default);
creation-order tracking off everywhere, not left to the process-wide ``h5py.get_config()``;
one canonical NaN bit pattern in every float array written (labels, cameras, crop boxes); no
filter with uninitialised state (no lzf); objects and attributes created in one fixed order.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass

import numpy as np

from rigkit_files import sha256_of_file, write_atomic

__all__ = [
    "SCHEMA_VERSION", "LABEL_FIELDS", "IDENTITY_FIELDS", "identity_defaults", "RejectReason",
    "ShardLayout", "write_shard", "read_shard", "read_shard_attributes", "rig_from_shard",
    "sha256_of_file",
]

SCHEMA_VERSION = 2
# Version history (readers read every version up to SCHEMA_VERSION):
# 1: the fields and attributes above without ``noise_json``.
# 2: attribute ``noise_json`` (the noise estimate and thresholds per camera and joint group,
#    :class:`labeling.gating.NoiseEstimate`); reject bit ``NO_PERSON``; index.json ``job.noise``.
# 2 also: index.json says whether the run is complete ("complete").
# 2 also: identity fields (person_id, association evidence; version-1 shards read as person 0).

# name -> (dtype, shape letters). Every shard holds all of these.
LABEL_FIELDS: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "keypoints_3d": ("float32", ("N", "J", 3)),
    "valid": ("bool", ("N", "J")),
    "keypoints_2d": ("float32", ("N", "V", "J", 2)),
    "scores_2d": ("float32", ("N", "V", "J")),
    "inliers": ("bool", ("N", "V", "J")),
    "reprojection_error_px": ("float32", ("N", "V", "J")),
    "frame_index": ("int64", ("N",)),
    "timestamp_s": ("float64", ("N",)),
    "num_inlier_views": ("uint8", ("N", "J")),
    "reject_reason": ("uint8", ("N", "J")),
}


# Added in schema version 2; optional in ``write_shard`` (single-person defaults), filled with the
# same defaults when a version-1 shard is read.
IDENTITY_FIELDS: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "person_id": ("int64", ("N",)),
    "association_candidate": ("int64", ("N", "V")),
    "association_affinity_px": ("float32", ("N", "V")),
    "identity_uncertain": ("bool", ("N",)),
}


def identity_defaults(N: int, V: int) -> dict[str, np.ndarray]:
    """The identity fields of a single-person shard (or of a version-1 shard): person 0, no
    association evidence."""
    return {"person_id": np.zeros(N, dtype=np.int64),
            "association_candidate": np.full((N, V), -1, dtype=np.int64),
            "association_affinity_px": np.full((N, V), np.nan, dtype=np.float32),
            "identity_uncertain": np.zeros(N, dtype=bool)}


class RejectReason(enum.IntFlag):
    """Why a label is not valid (bits of ``reject_reason``); several may be set."""

    NONE = 0
    NOT_TRIANGULATED = 1      # fewer than two usable views, or no consensus among them
    TOO_FEW_INLIER_VIEWS = 2  # fewer than ``min_inlier_views`` views agreed
    REPROJECTION_ERROR = 4    # an inlier view is further than its gate (labeling.gating)
    BONE_LENGTH = 8           # a bone to this joint jumps away from its take-wide median length
    NO_PERSON = 16            # (schema 2) the frameset shows no person (labeling.gating presence test)


@dataclass(frozen=True, kw_only=True)
class ShardLayout:
    """HDF5 storage layout (see the module docstring for the measurements behind the defaults).

    chunk_framesets: rows (framesets) per chunk of every label dataset.
    compression: ``"gzip"`` or ``"none"`` for the label datasets. (Not lzf: h5py's liblzf
        leaves its hash table uninitialised, so identical data compress to different bytes
        and identical jobs would not write identical shards; measured in tests/test_shards.py.)
    gzip_level: 1..9 when ``compression == "gzip"``.
    shuffle: HDF5 byte-shuffle filter before compression.
    crop_chunk_framesets: rows per chunk of ``crops_jpeg``.
    """

    chunk_framesets: int = 256
    compression: str = "none"
    gzip_level: int = 1
    shuffle: bool = True
    crop_chunk_framesets: int = 16

    def __post_init__(self) -> None:
        if self.chunk_framesets < 1 or self.crop_chunk_framesets < 1:
            raise ValueError("chunk_framesets and crop_chunk_framesets must be >= 1")
        if self.compression not in ("gzip", "none"):
            raise ValueError(f"compression is {self.compression!r}, expected 'gzip' or 'none' "
                             "(lzf output is not reproducible byte for byte)")
        if not 1 <= self.gzip_level <= 9:
            raise ValueError(f"gzip_level is {self.gzip_level}, expected 1..9")

    def filters(self) -> dict:
        """Keyword arguments for ``h5py.Group.create_dataset``."""
        if self.compression == "none":
            return {}
        out = {"compression": self.compression, "shuffle": self.shuffle}
        if self.compression == "gzip":
            out["compression_opts"] = self.gzip_level
        return out


def _expected_shape(letters, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(sizes[x] if isinstance(x, str) else x for x in letters)


def validate_label_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Check every field of :data:`LABEL_FIELDS` is present with a consistent shape.

    Returns the sizes ``{"N": ..., "V": ..., "J": ...}``; raises ValueError naming the field.
    """
    missing = [name for name in LABEL_FIELDS if name not in arrays]
    if missing:
        raise ValueError(f"shard arrays lack {', '.join(missing)}")
    N, V, J, _ = np.shape(arrays["keypoints_2d"])
    sizes = {"N": N, "V": V, "J": J}
    for name, (_, letters) in LABEL_FIELDS.items():
        expected = _expected_shape(letters, sizes)
        if np.shape(arrays[name]) != expected:
            raise ValueError(f"{name} has shape {np.shape(arrays[name])}, expected {expected}")
    return sizes


def _write_cameras(group, rig) -> None:
    import h5py

    cameras = [camera.to_mapping() for camera in rig]  # the one camera mapping, as columns
    dist = np.zeros((len(cameras), 8))
    for v, camera in enumerate(cameras):
        dist[v, : len(camera["dist"])] = camera["dist"]
    strings = h5py.string_dtype()
    for name, value in (("K", np.array([c["K"] for c in cameras], dtype=np.float64)), ("dist", dist),
                        ("dist_length", np.array([len(c["dist"]) for c in cameras], dtype=np.int64)),
                        ("R", np.array([c["R"] for c in cameras], dtype=np.float64)),
                        ("t", np.array([c["t"] for c in cameras], dtype=np.float64)),
                        ("size", np.array([c["size"] for c in cameras], dtype=np.int64))):
        _create_dataset(group, name, data=_canonical_nan(np.ascontiguousarray(value)))
    _create_dataset(group, "model", data=np.array([c["model"] for c in cameras], dtype=object),
                    dtype=strings)
    _create_dataset(group, "names", data=np.array([c["name"] for c in cameras], dtype=object), dtype=strings)


def _create_dataset(group, name: str, **kwargs):
    """``group.create_dataset`` with every byte-affecting default pinned: no timestamps, and no
    creation-order tracking whatever ``h5py.get_config().track_order`` says in this process
    (set to True, it adds an attribute-info message to every dataset header: other bytes)."""
    return group.create_dataset(name, track_times=False, track_order=False, **kwargs)


def write_shard(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, rig,
                joint_names: tuple[str, ...], bones: np.ndarray | None = None,
                options: Mapping | None = None, provenance: Mapping | None = None,
                noise: Mapping | None = None, crops_jpeg: list[list[bytes]] | None = None,
                crop_box_px: np.ndarray | None = None,
                crop_size_px: int = 0, layout: ShardLayout = ShardLayout()) -> str:
    """Write one shard atomically and return its sha256 (hex).

    arrays: every field of :data:`LABEL_FIELDS` (module docstring), cast to the schema dtypes,
        and any of :data:`IDENTITY_FIELDS` (the others get :func:`identity_defaults`).
    rig: the ``geometry.Rig`` the labels were triangulated with (its V cameras in view order).
    joint_names: J names. bones: (B, 2) int joint indices or None.
    options, provenance: JSON-serialisable mappings recorded as attributes.
    noise: the noise estimate and thresholds (``NoiseEstimate.to_json()``), recorded as
        ``noise_json`` ("null" when None).
    crops_jpeg: optional N lists of V JPEG byte strings (b"" where no crop); with
        ``crop_box_px (N, V, 4)`` and ``crop_size_px``.
    The file is written under a temporary name in the same folder, fsync'd, then renamed, so a
    crash leaves either no shard or a complete one.
    """
    import h5py

    from rigkit_version import rigkit_version

    sizes = validate_label_arrays(arrays)
    N, V, J = sizes["N"], sizes["V"], sizes["J"]
    identity = {**identity_defaults(N, V), **{k: arrays[k] for k in IDENTITY_FIELDS if k in arrays}}
    for name, (_, letters) in IDENTITY_FIELDS.items():
        if np.shape(identity[name]) != _expected_shape(letters, sizes):
            raise ValueError(f"{name} has shape {np.shape(identity[name])}, expected "
                             f"{_expected_shape(letters, sizes)}")
    if len(rig) != V:
        raise ValueError(f"the rig has {len(rig)} cameras but the labels have {V} views")
    if len(joint_names) != J:
        raise ValueError(f"{len(joint_names)} joint names for {J} joints")
    path = Path(path)
    filters = layout.filters()
    chunk_rows = max(1, min(layout.chunk_framesets, N))
    # The HDF5 file is built in memory and written with plain file I/O: libhdf5 crashes the
    # process on a full disk (segmentation fault), Python's write raises OSError (ENOSPC).
    image = io.BytesIO()
    with h5py.File(image, "w", libver=("earliest", "v110"), track_order=False) as f:
        for name, (dtype, _) in {**LABEL_FIELDS, **IDENTITY_FIELDS}.items():
            source = identity[name] if name in IDENTITY_FIELDS else arrays[name]
            data = _canonical_nan(np.ascontiguousarray(source, dtype=dtype))
            chunks = (chunk_rows,) + data.shape[1:] if N else None
            _create_dataset(f, name, data=data, chunks=chunks,
                            **(filters if N else {}))
        _write_cameras(f.create_group("cameras", track_order=False), rig)
        if crops_jpeg is not None:
            _write_crops(f, crops_jpeg, crop_box_px, crop_size_px, N, V, layout)
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["joint_names"] = list(joint_names)
        f.attrs["camera_names"] = list(rig.names)
        f.attrs["bones"] = (np.zeros((0, 2), np.int64) if bones is None
                            else np.asarray(bones, dtype=np.int64).reshape(-1, 2))
        f.attrs["options_json"] = json.dumps(dict(options or {}), sort_keys=True)
        f.attrs["provenance_json"] = json.dumps(dict(provenance or {}), sort_keys=True)
        f.attrs["noise_json"] = json.dumps(None if noise is None else dict(noise), sort_keys=True)
        f.attrs["rigkit_version"] = rigkit_version()
    data = image.getbuffer()
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(path, data)
    return digest


def _canonical_nan(data: np.ndarray) -> np.ndarray:
    """Every NaN as the one canonical quiet NaN. Arithmetic makes NaNs whose sign bit depends on
    the SIMD path taken (and so on memory alignment): the same labels would compress to different
    bytes from one process to the next, breaking sha256-verified resume."""
    if data.dtype.kind == "f":
        missing = np.isnan(data)
        if missing.any():
            data = data.copy()
            data[missing] = np.nan
    return data


def _write_crops(f, crops_jpeg, crop_box_px, crop_size_px, N, V, layout: ShardLayout) -> None:
    import h5py

    if len(crops_jpeg) != N or any(len(row) != V for row in crops_jpeg):
        raise ValueError(f"crops_jpeg must be {N} lists of {V} JPEG byte strings")
    boxes = _canonical_nan(np.ascontiguousarray(crop_box_px, dtype=np.float32))
    if boxes.shape != (N, V, 4):
        raise ValueError(f"crop_box_px has shape {boxes.shape}, expected ({N}, {V}, 4)")
    if crop_size_px <= 0:
        raise ValueError(f"crop_size_px is {crop_size_px}, expected > 0 with crops")
    data = np.empty((N, V), dtype=object)
    for n in range(N):
        for v in range(V):
            data[n, v] = np.frombuffer(crops_jpeg[n][v], dtype=np.uint8)
    rows = max(1, min(layout.crop_chunk_framesets, N))
    _create_dataset(f, "crops_jpeg", data=data, dtype=h5py.vlen_dtype(np.uint8),
                    chunks=(rows, V) if N else None)
    _create_dataset(f, "crop_box_px", data=boxes, chunks=(rows, V, 4) if N else None)
    f.attrs["crop_size_px"] = int(crop_size_px)


def read_shard_attributes(f) -> dict:
    """Decoded attributes of an open shard (``h5py.File``): names, bones, options, provenance."""
    def strings(value):
        return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in value)

    version = int(f.attrs["schema_version"])
    if version > SCHEMA_VERSION:
        raise ValueError(f"shard schema version {version} is newer than this rigkit reads "
                         f"({SCHEMA_VERSION}); upgrade rigkit")
    return {
        "schema_version": version,
        "joint_names": strings(f.attrs["joint_names"]),
        "camera_names": strings(f.attrs["camera_names"]),
        "bones": np.asarray(f.attrs["bones"], dtype=np.int64).reshape(-1, 2),
        "options": json.loads(f.attrs["options_json"]),
        "provenance": json.loads(f.attrs["provenance_json"]),
        "rigkit_version": str(f.attrs["rigkit_version"]),
        "crop_size_px": int(f.attrs.get("crop_size_px", 0)),
        "noise": json.loads(f.attrs["noise_json"]) if "noise_json" in f.attrs else None,  # schema >= 2
    }


def read_shard(path: str | os.PathLike, *, fields: tuple[str, ...] | None = None) -> dict:
    """All label and identity arrays of one shard (or ``fields``) plus ``"attributes"`` and
    ``"rig"``; a version-1 shard's identity fields are :func:`identity_defaults`."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = fields or (*LABEL_FIELDS, *IDENTITY_FIELDS)
            out = {name: f[name][()] for name in names if name in f}
            missing = [name for name in names if name in IDENTITY_FIELDS and name not in f]
            if missing:
                N, V = f["keypoints_2d"].shape[:2]
                defaults = identity_defaults(N, V)
                out.update({name: defaults[name] for name in missing})
            out["attributes"] = read_shard_attributes(f)
            out["rig"] = rig_from_shard(f)
    except (OSError, KeyError, RuntimeError, TypeError, json.JSONDecodeError) as error:  # h5py on damaged bytes
        if isinstance(error, FileNotFoundError):
            raise ValueError(f"shard {path} does not exist") from None
        raise ValueError(f"shard {path} is damaged ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                         "run 'rigkit label ... --resume' to rewrite it") from None
    return out


def rig_from_shard(f):
    """The ``geometry.Rig`` stored in an open shard's ``cameras/`` group."""
    from geometry import Camera, Rig

    g = f["cameras"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in g["names"][()]]
    models = [m.decode() if isinstance(m, bytes) else str(m) for m in g["model"][()]]
    K, dist, length = g["K"][()], g["dist"][()], g["dist_length"][()]
    R, t, size = g["R"][()], g["t"][()], g["size"][()]
    return Rig([Camera.from_mapping({"name": names[v], "size": size[v].tolist(), "K": K[v],
                                     "dist": dist[v, : int(length[v])], "R": R[v], "t": t[v], "model": models[v]},
                                    where=f"shard camera {v}")
                for v in range(len(names))])
