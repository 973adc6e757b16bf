"""Calibration files: the TOML layout shared by Pose2Sim, Anipose/aniposelib, FreeMoCap and
Caliscope, Caliscope's ``camera_array.toml`` and OpenCV FileStorage YAML/XML.

Conventions in :mod:`geometry.camera`; every format here stores the same thing rigkit does:
``x_cam = R @ X_world + t`` (world -> camera), ``t`` in metres, OpenCV intrinsics and distortion.

The shared TOML layout (what :func:`save_rig` writes by default)::

    [cam01]                       # one table per camera, in rig order
    name = "cam01"
    size = [1088, 1920]           # width, height, pixels
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2, k3]   # OpenCV order; 4 for fisheye (k1..k4)
    rotation = [rx, ry, rz]       # Rodrigues vector of cam_from_world
    translation = [tx, ty, tz]    # metres
    fisheye = false

    [metadata]
    units = "metres"
    rigkit_version = "0.1.0"
    created = "2026-11-21T23:59:00Z"

Camera order. aniposelib's ``CameraGroup.load`` orders cameras by *sorted table key* (so its own
``cam_0 .. cam_11`` come back as ``cam_0, cam_1, cam_10, cam_11, cam_2, ...``). rigkit reads tables
in file order and writes table keys that sort in rig order (the camera names when they already
sort that way, ``cam_00, cam_01, ...`` otherwise), so rigkit and aniposelib agree on the order
of every file rigkit writes, for any number of cameras.

Sanity checks (one sentence each, raised as ValueError): NaN or inf anywhere, wrong matrix shapes,
duplicated camera names, non-integer image sizes, a rotation that is not one, and translations of
hundreds of "metres" (a file in millimetres read as metres).

Reading what the peers write (every guess is ONE warning line and kept in
``CalibrationFile.decisions``; where the evidence does not decide, one sentence names the flag):

- Units. ``units`` given to the reader (``--calibration-units mm|cm|m``) wins; else the file's
  ``[metadata] units`` (``m``, ``cm``, ``mm``); else metres when every camera is within
  ``MAX_DISTANCE_M`` of the origin; else (aniposelib, FreeMoCap and sleap-anipose write no units
  and calibrate with boards measured in mm) the unit that puts the camera centres at a plausible
  lab distance (median 0.3-30 m in mm, 0.3-10 m in cm) when exactly one does, refused otherwise.
  Translations are converted to metres on reading.
- Unposed cameras: Caliscope writes ``rotation = "null"`` / ``translation = "null"`` for a camera
  not yet posed; OpenCV YAML intrinsics may have no ``R_``/``T_`` (and no ``extri.yml`` beside
  them, or one that lacks the camera). Such cameras keep their intrinsics at the identity pose
  and are listed in ``CalibrationFile.unposed``; :func:`load_rig` (the rig for triangulation)
  leaves them out.
- OpenCV FileStorage camera names may be numbers (``names: [2, 4]``) or hold ``-``; an
  intrinsics file without ``W_``/``H_`` gets the common video size nearest twice the principal
  point when one is within 4 %, else twice the principal point rounded to even pixels.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from geometry import Camera, Rig, rotation_from_rvec, rvec_from_rotation
import rigkit_files
from rigkit_version import rigkit_version

from .toml_writer import dumps_toml

__all__ = ["CalibrationFormat", "CalibrationFile", "CalibrationUnits", "MAX_DISTANCE_M", "read_calibration",
           "load_rig", "save_rig", "detect_format", "check_rig", "merge_cameras", "write_atomic"]

logger = logging.getLogger(__name__)

CalibrationFormat = Literal["toml", "caliscope", "opencv-yaml", "opencv-xml"]
FORMATS: tuple[str, ...] = ("toml", "caliscope", "opencv-yaml", "opencv-xml")

# A camera further than this from the world origin is taken for a file in millimetres. Lab rigs
# are a few metres across and even sports-hall rigs stay under ~60 m, while a lab rig written in
# millimetres puts cameras 1,000-6,000 "m" away.
MAX_DISTANCE_M = 100.0
_ROTATION_TOL = 1e-6  # |R R^T - I| for a 3x3 rotation read from a file
_MM_UNITS = {"mm", "millimetre", "millimetres", "millimeter", "millimeters"}
_M_UNITS = {"m", "metre", "metres", "meter", "meters"}
_CM_UNITS = {"cm", "centimetre", "centimetres", "centimeter", "centimeters"}
CalibrationUnits = Literal["m", "cm", "mm"]
_METRES_PER_UNIT = {"m": 1.0, "cm": 1e-2, "mm": 1e-3}
# Median camera-centre distance from the world origin, metres, that a unit must give to be chosen
# when the file names none: lab rigs put cameras ~0.5-6 m out; a cm reading past 10 m or an mm
# reading past 30 m is a different (larger) unit, and under 0.3 m a smaller one.
_PLAUSIBLE_MEDIAN_M = {"mm": (0.3, 30.0), "cm": (0.3, 10.0)}
# Image sizes cameras actually record (width, height); both orientations are tried.
_COMMON_SIZES = ((640, 480), (720, 480), (720, 576), (800, 600), (960, 540), (1024, 768),
                 (1280, 720), (1280, 800), (1280, 960), (1280, 1024), (1440, 1080), (1600, 1200),
                 (1920, 1080), (1920, 1088), (1920, 1200), (2048, 1536), (2560, 1440),
                 (2592, 1944), (2704, 1520), (2704, 2028), (2880, 2160), (3840, 2160),
                 (4000, 3000), (4096, 2160))
_SIZE_TOL = 0.04  # twice the principal point within 4 % of a common size: calibrated principal
#                   points sit within ~2-3 % of the image centre
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FILESTORAGE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class CalibrationFile:
    """What a calibration file holds.

    rig: the cameras in file order (poses world -> camera, metres).
    metadata: the file's ``[metadata]`` (or FileStorage top-level scalars), as read, except
        ``units``, which describes ``rig`` (metres; a file in mm is converted on reading).
    format: which layout the file used.
    path: where it was read from.
    unposed: names of cameras the file gives no pose (at the identity pose in ``rig``).
    decisions: what the reader had to decide (units, sizes, poses), one line each, as warned.
    """

    rig: Rig
    metadata: dict = field(default_factory=dict)
    format: CalibrationFormat = "toml"
    path: Path | None = None
    unposed: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()

    def posed_rig(self) -> Rig:
        """The cameras with a pose (what triangulation can use): the unposed ones left out with
        one warning; ValueError when none has a pose."""
        if not self.unposed:
            return self.rig
        posed = [n for n in self.rig.names if n not in self.unposed]
        if not posed:
            raise ValueError(f"{self.path}: no camera has a pose (extrinsics); calibrate them first "
                             "(rigkit calibrate extrinsics or keypoints)")
        logger.warning("%s: leaving out cameras %s, which have no pose", self.path, ", ".join(self.unposed))
        return self.rig.subset(posed)


# -- public API ----------------------------------------------------------------------------------
def load_rig(path: str | os.PathLike, *, max_distance_m: float = MAX_DISTANCE_M,
             units: CalibrationUnits | None = None) -> Rig:
    """The posed cameras of a calibration file of any supported format (detected from its
    content), in metres. Cameras the file gives no pose are left out (one warning); a file with
    no posed camera is refused. ``units``: see :func:`read_calibration`."""
    return read_calibration(path, max_distance_m=max_distance_m, units=units).posed_rig()


def read_calibration(path: str | os.PathLike, *, max_distance_m: float = MAX_DISTANCE_M,
                     units: CalibrationUnits | None = None) -> CalibrationFile:
    """Read a calibration file: the rig (metres), its metadata and the detected format.

    units: the unit of the file's translations (``--calibration-units``), when the file does not
        say or says wrongly; None reads it from the file or decides it by evidence (see the
        module docstring).
    Raises OSError when the file cannot be read and ValueError (one sentence naming the file and
    the camera) for unknown formats, undecidable units and every failed sanity check.
    """
    path = Path(path)
    if units is not None and units not in _METRES_PER_UNIT:
        raise ValueError(f"calibration units {units!r}, expected one of m, cm, mm")
    if not path.is_file():
        raise FileNotFoundError(f"calibration file {path} does not exist")
    fmt = detect_format(path)
    decisions: list[str] = []
    if fmt in ("toml", "caliscope"):
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        cameras, metadata, unposed = (_cameras_from_caliscope(document, path) if fmt == "caliscope"
                                      else _cameras_from_shared_toml(document, path))
    else:
        cameras, metadata, unposed = _cameras_from_filestorage(path, decisions)
    if unposed:
        _decide(decisions, f"{path}: cameras {', '.join(unposed)} have no pose in the file "
                           "(intrinsics only); they are kept at the identity pose, marked unposed")
    cameras = _apply_units(cameras, metadata, path, units=units, unposed=unposed,
                           max_distance_m=max_distance_m, decisions=decisions)
    if "units" in metadata:
        metadata = {**metadata, "units": "metres"}
    rig = _make_rig(cameras, path)
    check_rig(rig, max_distance_m=max_distance_m, where=str(path))
    return CalibrationFile(rig=rig, metadata=metadata, format=fmt, path=path,
                           unposed=tuple(unposed), decisions=tuple(decisions))


def _decide(decisions: list[str], line: str) -> None:
    """A reader's guess: one warning line, kept as provenance."""
    logger.warning("%s", line)
    decisions.append(line)


def save_rig(rig: Rig, path: str | os.PathLike, *, metadata: Mapping | None = None,
             format: CalibrationFormat | Literal["auto"] = "auto",
             max_distance_m: float = MAX_DISTANCE_M) -> Path:
    """Write ``rig`` to ``path``, whole or not at all (temp file + fsync + rename).

    format: ``"auto"`` picks by suffix (``.yml``/``.yaml`` -> OpenCV YAML, ``.xml`` -> OpenCV XML,
        anything else -> the shared TOML); ``"caliscope"`` writes Caliscope's camera_array layout.
    metadata: extra ``[metadata]`` entries (str, bool, int, float, lists, nested tables); rigkit
        adds ``units = "metres"``, ``rigkit_version`` and ``created``.
    Returns the path written. Raises ValueError when the rig fails the sanity checks.
    """
    path = Path(path)
    if not isinstance(rig, Rig):
        raise ValueError(f"save_rig expects a geometry.Rig, got {type(rig).__name__}")
    if format == "auto":
        suffix = path.suffix.lower()
        format = {".yml": "opencv-yaml", ".yaml": "opencv-yaml", ".xml": "opencv-xml"}.get(suffix, "toml")
    if format not in FORMATS:
        raise ValueError(f"unknown calibration format {format!r}, expected one of {', '.join(FORMATS)}")
    check_rig(rig, max_distance_m=max_distance_m, where=str(path))
    meta = _metadata_for_writing(metadata)
    if format == "toml":
        text = dumps_toml(_shared_toml_document(rig, meta))
    elif format == "caliscope":
        text = dumps_toml(_caliscope_document(rig, meta))
    else:
        text = _filestorage_text(rig, meta, xml=format == "opencv-xml")
    write_atomic(path, text)
    logger.info("wrote %d cameras to %s (%s)", len(rig), path, format)
    return path


def detect_format(path: str | os.PathLike) -> CalibrationFormat:
    """The layout of a calibration file, from its content (not its name)."""
    path = Path(path)
    head = path.read_bytes()[:4096]
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("%YAML"):
        return "opencv-yaml"
    if text.startswith("<?xml") or text.startswith("<opencv_storage"):
        return "opencv-xml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        document = None
    if document is not None:
        cameras = document.get("cameras")
        if isinstance(cameras, Mapping) and any(_is_camera_table(v) for v in cameras.values()):
            return "caliscope"
        if any(_is_camera_table(v) for v in document.values()):
            return "toml"
    raise ValueError(
        f"{path} is not a calibration file rigkit knows: expected the TOML of Pose2Sim / aniposelib "
        "(tables with name, size, matrix, distortions, rotation, translation), Caliscope's "
        "camera_array.toml, or OpenCV FileStorage YAML/XML with 'names' and K_<name> entries")


def check_rig(rig: Rig, *, max_distance_m: float = MAX_DISTANCE_M, where: str = "rig") -> None:
    """Sanity checks every reader and writer runs; ValueError with one sentence on failure."""
    for camera in rig:
        for label, value in (("matrix", camera.K), ("distortions", camera.dist),
                             ("rotation", camera.R), ("translation", camera.t)):
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{where}: camera {camera.name} has NaN or inf in its {label}")
    distances = np.linalg.norm(rig.t, axis=-1)
    worst = int(np.argmax(distances))
    if distances[worst] > max_distance_m:
        raise ValueError(
            f"{where}: camera {rig.names[worst]} is {distances[worst]:.0f} m from the world origin; "
            "this looks like a calibration in millimetres given as metres (rigkit expects metres; "
            "pass --calibration-units mm (units= in Python) or set units = \"mm\" in [metadata])")


def merge_cameras(rig: Rig | None, cameras: Sequence[Camera], *, keep_poses: bool = True) -> Rig:
    """``rig`` with the intrinsics of ``cameras`` put in, by name.

    A camera already in ``rig`` gets the new size, K, distortion and model (its pose is kept when
    ``keep_poses``, else taken from the new camera); a new name is appended. Order: ``rig``'s
    cameras first, then the new ones in the order given.
    """
    merged = list(rig) if rig is not None else []
    index = {camera.name: i for i, camera in enumerate(merged)}
    for camera in cameras:
        if camera.name in index and keep_poses:
            old = merged[index[camera.name]]
            merged[index[camera.name]] = camera.replace(R=old.R, t=old.t)
        elif camera.name in index:
            merged[index[camera.name]] = camera
        else:
            index[camera.name] = len(merged)
            merged.append(camera)
    return Rig(merged)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """:func:`rigkit_files.write_atomic`, creating the missing folders (outputs often name new ones)."""
    rigkit_files.write_atomic(path, data, make_parents=True)


# -- parsing helpers -----------------------------------------------------------------------------
def _is_camera_table(value) -> bool:
    return isinstance(value, Mapping) and "matrix" in value


def _array(value, shape_text: str, shapes: Sequence[tuple[int, ...]], where: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where} is not a numeric array (expected {shape_text})") from None
    if array.shape not in shapes:
        raise ValueError(f"{where} has shape {array.shape}, expected {shape_text}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where} contains NaN or inf")
    return array


def _size(value, where: str) -> tuple[int, int]:
    size = _array(value, "[width, height]", [(2,)], where)
    if np.any(size != np.round(size)) or np.any(size <= 0):
        raise ValueError(f"{where} is {size.tolist()}, expected two positive whole numbers of pixels")
    return int(size[0]), int(size[1])


def _rotation(value, where: str) -> np.ndarray:
    array = _array(value, "a Rodrigues vector [3] or a 3x3 matrix", [(3,), (3, 1), (1, 3), (3, 3)], where)
    if array.shape == (3, 3):
        if (np.abs(array @ array.T - np.eye(3)).max() > _ROTATION_TOL
                or np.linalg.det(array) < 0):
            raise ValueError(f"{where} is a 3x3 matrix that is not a rotation")
        return array
    return rotation_from_rvec(array.reshape(3))


def _is_null(value) -> bool:
    """Caliscope writes ``"null"`` for a pose it has not estimated yet."""
    return value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", ""))


def _posed(table: Mapping) -> tuple[Mapping, bool]:
    """(the table with an unposed camera's pose removed, whether it has a pose)."""
    if _is_null(table.get("rotation")) or _is_null(table.get("translation")):
        return {k: v for k, v in table.items() if k not in ("rotation", "translation")}, False
    return table, True


def _camera(table: Mapping, *, name: str, where: str, default_size=None) -> Camera:
    if "size" in table:
        size = _size(table["size"], f"{where} size")
    elif default_size is not None:
        size = default_size
    else:
        raise ValueError(f"{where} has no size = [width, height]")
    K = _array(table["matrix"], "(3, 3)", [(3, 3)], f"{where} matrix")
    dist = _array(table.get("distortions", []), "a flat list",
                  [(n,) for n in range(15)] + [(1, n) for n in range(15)] + [(n, 1) for n in range(15)],
                  f"{where} distortions").reshape(-1)
    R = _rotation(table.get("rotation", [0.0, 0.0, 0.0]), f"{where} rotation")
    t = _array(table.get("translation", [0.0, 0.0, 0.0]), "[3]", [(3,), (3, 1), (1, 3)],
               f"{where} translation").reshape(3)
    fisheye = table.get("fisheye", False)
    if not isinstance(fisheye, (bool, int)):
        raise ValueError(f"{where} fisheye is {fisheye!r}, expected true or false")
    model = "fisheye" if fisheye else "opencv"
    if model == "opencv" and dist.size not in (0, 4, 5, 8):
        raise ValueError(f"{where} has {dist.size} distortion coefficients; rigkit reads 4, 5 or 8 "
                         "(k1, k2, p1, p2[, k3[, k4, k5, k6]])")
    if model == "fisheye" and dist.size not in (0, 4):
        raise ValueError(f"{where} is a fisheye camera with {dist.size} distortion coefficients, expected 4")
    try:
        return Camera(name=name, size=size, K=K, dist=dist, R=R, t=t, model=model)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _cameras_from_shared_toml(document: Mapping, path: Path) -> tuple[list[Camera], dict, list[str]]:
    cameras, unposed = [], []
    for key, table in document.items():
        if not _is_camera_table(table):
            if key != "metadata":
                logger.debug("%s: ignoring table [%s] (not a camera)", path, key)
            continue
        name = str(table.get("name", key) if table.get("name") is not None else key)
        table, posed = _posed(table)
        if not posed:
            unposed.append(name)
        cameras.append(_camera(table, name=name, where=f"{path} [{key}]"))
    keys = [k for k, v in document.items() if _is_camera_table(v)]
    if keys != sorted(keys):
        logger.info("%s: table keys are not in sorted order; rigkit keeps the file order, while "
                    "aniposelib's CameraGroup.load would sort them (%s)", path, ", ".join(sorted(keys)))
    metadata = document.get("metadata", {})
    return cameras, dict(metadata) if isinstance(metadata, Mapping) else {}, unposed


def _cameras_from_caliscope(document: Mapping, path: Path) -> tuple[list[Camera], dict, list[str]]:
    tables = document["cameras"]
    entries, unposed = [], []
    for key, table in tables.items():
        if not _is_camera_table(table):
            continue
        where = f"{path} [cameras.{key}]"
        try:
            cam_id = int(table.get("cam_id", table.get("port", key)))
        except (TypeError, ValueError):
            raise ValueError(f"{where} has no integer cam_id") from None
        name = str(table.get("name") or f"cam_{cam_id}")
        table, posed = _posed(table)
        if not posed:
            unposed.append((cam_id, name))
        entries.append((cam_id, _camera(table, name=name, where=where)))
    entries.sort(key=lambda entry: entry[0])
    metadata = document.get("metadata", {})
    return ([camera for _, camera in entries], dict(metadata) if isinstance(metadata, Mapping) else {},
            [name for _, name in sorted(unposed)])


def _node_text(node) -> str:
    """A FileStorage scalar as text: camera names may be written as numbers (``- 2``)."""
    if node.isString():
        return node.string()
    if node.isInt():
        return str(int(node.real()))
    if node.isReal():
        value = node.real()
        return str(int(value)) if float(value).is_integer() else repr(value)
    return ""


def _cameras_from_filestorage(path: Path, decisions: list[str]) -> tuple[list[Camera], dict, list[str]]:
    import cv2  # only the OpenCV FileStorage format needs it (--help stays light)

    try:
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as error:  # OpenCV's parse errors come through as either
        raise ValueError(f"{path} is not readable OpenCV FileStorage: "
                         f"{_opencv_message(error)}") from None
    try:
        names_node = storage.getNode("names")
        if names_node.empty() or not names_node.isSeq():
            raise ValueError(f"{path} is an OpenCV FileStorage file without a 'names' list of cameras")
        names = [_node_text(names_node.at(i)) for i in range(names_node.size())]
        if not all(names):
            raise ValueError(f"{path}: 'names' holds an entry that is neither text nor a number")
        metadata = {}
        root = storage.root()
        per_camera = re.compile(r"^(K|dist|W|H|fisheye|R|Rot|T)_(" + "|".join(map(re.escape, names)) + ")$")
        for key in root.keys():
            if key == "names" or per_camera.match(key):
                continue
            node = root.getNode(key)
            if node.isString():
                metadata[key] = node.string()
            elif node.isReal() or node.isInt():
                metadata[key] = node.real() if node.isReal() else int(node.real())

        def has_pose(fs, name):
            return not ((fs.getNode(f"R_{name}").empty() and fs.getNode(f"Rot_{name}").empty())
                        or fs.getNode(f"T_{name}").empty())

        extrinsics = None
        if not all(has_pose(storage, n) for n in names):
            sibling = path.with_name(path.name.replace("intri", "extri"))
            if sibling != path and sibling.is_file():  # EasyMocap keeps poses in extri.yml
                try:
                    extrinsics = cv2.FileStorage(str(sibling), cv2.FILE_STORAGE_READ)
                except (cv2.error, SystemError) as error:
                    raise ValueError(f"{sibling} is not readable OpenCV FileStorage: "
                                     f"{_opencv_message(error)}") from None
        cameras, unposed = [], []
        try:
            for name in names:
                source = storage if has_pose(storage, name) else extrinsics
                if source is None or not has_pose(source, name):
                    unposed.append(name)
                    source = None
                cameras.append(_camera_from_filestorage(storage, source, name, path, decisions))
        finally:
            if extrinsics is not None:
                extrinsics.release()
        return cameras, metadata, unposed
    except (cv2.error, SystemError) as error:
        raise ValueError(f"{path} is damaged OpenCV FileStorage: {_opencv_message(error)}") from None
    finally:
        storage.release()


def _opencv_message(error: BaseException) -> str:
    """The one informative line of an OpenCV error (``... error: (-212:Parsing error) ...``)."""
    cause = error.__cause__ or error.__context__ or error
    text = " ".join(str(cause).split())
    return text[text.find("error:"):][:200] if "error:" in text else text[:200]


def _size_from_principal_point(K: np.ndarray) -> tuple[tuple[int, int], str]:
    """(width, height) for a camera whose file gives no image size, and the evidence, as text."""
    twice = 2.0 * np.array([K[0, 2], K[1, 2]])
    best, error = None, np.inf
    for w, h in _COMMON_SIZES + tuple((h, w) for w, h in _COMMON_SIZES):
        relative = float(np.max(np.abs(twice - (w, h)) / (w, h)))
        if relative <= _SIZE_TOL and relative < error:
            best, error = (w, h), relative
    if best is not None:
        return best, (f"the common video size nearest twice the principal point "
                      f"({twice[0]:.1f}, {twice[1]:.1f})")
    even = tuple(int(2 * round(v / 2)) for v in twice)
    return (even[0], even[1]), (f"twice the principal point ({twice[0]:.1f}, {twice[1]:.1f}) rounded "
                                "to even pixels (no common video size within 4 %)")


def _camera_from_filestorage(storage, extrinsics, name: str, path: Path, decisions: list[str]) -> Camera:
    where = f"{path} camera {name}"

    def mat(fs, key):
        node = fs.getNode(key)
        if node.empty():
            return None
        value = node.mat()
        if value is None:
            raise ValueError(f"{where}: {key} is not a matrix")
        return value

    K = mat(storage, f"K_{name}")
    if K is None:
        raise ValueError(f"{where}: no K_{name} matrix")
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise ValueError(f"{where}: K_{name} has shape {K.shape} or non-finite values, expected a finite 3x3")
    table = {"matrix": K}
    dist = mat(storage, f"dist_{name}")
    table["distortions"] = np.zeros(0) if dist is None else dist.reshape(-1)
    width, height = storage.getNode(f"W_{name}"), storage.getNode(f"H_{name}")
    if not width.empty() and not height.empty():
        table["size"] = [width.real(), height.real()]
    else:
        size, evidence = _size_from_principal_point(K)
        _decide(decisions, f"{where} has no W_/H_ image size; assuming {size[0]}x{size[1]}, {evidence}")
        table["size"] = list(size)
    if extrinsics is not None:
        rotation = mat(extrinsics, f"Rot_{name}")
        if rotation is None:
            rotation = mat(extrinsics, f"R_{name}")
        table["rotation"] = rotation
        table["translation"] = mat(extrinsics, f"T_{name}").reshape(-1)
    fisheye = storage.getNode(f"fisheye_{name}")
    table["fisheye"] = bool(not fisheye.empty() and fisheye.real())
    return _camera(table, name=name, where=where)


def _apply_units(cameras: list[Camera], metadata: Mapping, path: Path, *,
                 units: CalibrationUnits | None, unposed: Sequence[str], max_distance_m: float,
                 decisions: list[str]) -> list[Camera]:
    """Translations converted to metres, from the flag, the file's units, or the evidence."""
    stated = None
    if "units" in metadata:
        text = str(metadata.get("units")).strip().lower()
        stated = ("m" if text in _M_UNITS else "cm" if text in _CM_UNITS
                  else "mm" if text in _MM_UNITS else None)
        if stated is None:
            raise ValueError(f"{path}: [metadata] units = {metadata.get('units')!r}, expected "
                             "\"metres\", \"cm\" or \"mm\" (or pass --calibration-units)")
    if units is not None and stated is not None and units != stated:
        raise ValueError(f"{path} says its units are {stated} but --calibration-units says {units}; "
                         "fix one of them")
    unit = units or stated
    if unit is None:
        unit = _units_by_evidence(cameras, unposed, path, max_distance_m, decisions)
    if unit != "m":
        logger.info("%s is in %s; converting translations to metres", path, unit)
    scale = _METRES_PER_UNIT[unit]
    return cameras if scale == 1.0 else [c.replace(t=c.t * scale) for c in cameras]


def _units_by_evidence(cameras: list[Camera], unposed: Sequence[str], path: Path,
                       max_distance_m: float, decisions: list[str]) -> str:
    distances = np.array([np.linalg.norm(c.t) for c in cameras if c.name not in unposed])
    if not distances.size or distances.max() <= max_distance_m:
        return "m"  # what every format here documents; no camera is implausibly far
    median = float(np.median(distances))
    fits = [u for u, (low, high) in _PLAUSIBLE_MEDIAN_M.items()
            if low <= median * _METRES_PER_UNIT[u] <= high]
    span = f"{distances.min():.0f}-{distances.max():.0f}"
    if len(fits) == 1:
        unit = fits[0]
        metres = distances * _METRES_PER_UNIT[unit]
        _decide(decisions, f"{path} names no units and its cameras are {span} units from the origin: "
                           f"read as {'millimetres' if unit == 'mm' else 'centimetres'} (cameras "
                           f"{metres.min():.2f}-{metres.max():.2f} m away; --calibration-units "
                           "overrides)")
        return unit
    raise ValueError(f"{path} names no units and its cameras are {span} units from the origin, "
                     f"which {'fits both millimetres and centimetres' if fits else 'fits no lab rig in m, cm or mm'}; "
                     "pass --calibration-units mm|cm|m")


def _make_rig(cameras: list[Camera], path: Path) -> Rig:
    if not cameras:
        raise ValueError(f"{path} holds no cameras")
    names = [c.name for c in cameras]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{path}: camera name {repeated[0]!r} appears {names.count(repeated[0])} times; "
                         "camera names must be unique")
    return Rig(cameras)


# -- writing helpers -----------------------------------------------------------------------------
def _metadata_for_writing(metadata: Mapping | None) -> dict:
    extra = dict(metadata or {})
    units = str(extra.pop("units", "metres")).lower()
    if units not in _M_UNITS:
        raise ValueError(f"metadata units is {units!r}; rigkit writes calibration files in metres")
    # The stamps describe this write, so they replace any carried over from the file being updated.
    extra.update({"units": "metres", "rigkit_version": rigkit_version(),
                  "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    return extra


def _table_keys(names: Sequence[str]) -> list[str]:
    """Keys that sort (as aniposelib sorts them) in rig order: the names when they do."""
    names = list(names)
    if (names == sorted(names) and "metadata" not in names and "cameras" not in names
            and all(re.match(r"^[A-Za-z0-9_-]+$", n) for n in names)):
        return names
    width = max(2, len(str(len(names) - 1)))
    return [f"cam_{i:0{width}d}" for i in range(len(names))]


def _distortions(camera: Mapping) -> list[float]:
    """A camera mapping's ``dist``; an empty one as 4 zeros: every reader accepts k1, k2, p1, p2."""
    return camera["dist"] or [0.0, 0.0, 0.0, 0.0]


def _shared_toml_document(rig: Rig, metadata: dict) -> dict:
    document: dict = {}
    for key, camera in zip(_table_keys(rig.names), rig):
        m = camera.to_mapping()
        document[key] = {"name": m["name"], "size": m["size"], "matrix": m["K"], "distortions": _distortions(m),
                         "rotation": rvec_from_rotation(camera.R).tolist(), "translation": m["t"],
                         "fisheye": m["model"] == "fisheye"}
    document["metadata"] = metadata
    return document


def _caliscope_document(rig: Rig, metadata: dict) -> dict:
    cameras = {}
    for cam_id, camera in enumerate(rig):
        m = camera.to_mapping()  # name: Caliscope ignores it; rigkit reads it back
        cameras[str(cam_id)] = {"cam_id": cam_id, "name": m["name"], "size": m["size"], "matrix": m["K"],
                                "distortions": _distortions(m), "translation": m["t"], "rotation": m["R"],
                                "fisheye": m["model"] == "fisheye"}
    return {"cameras": cameras, "metadata": metadata}


def _filestorage_text(rig: Rig, metadata: dict, *, xml: bool) -> str:
    import cv2  # only the OpenCV FileStorage format needs it (--help stays light)

    # keys are K_<name>: OpenCV takes letters, digits, '_' and '-' after the leading letter
    bad = [n for n in rig.names if not _FILESTORAGE_NAME.match(n)]
    if bad:
        raise ValueError(f"camera name {bad[0]!r} cannot be part of an OpenCV FileStorage key "
                         "(K_<name>); use letters, digits, '_' and '-'")
    flags = cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_MEMORY
    flags |= cv2.FILE_STORAGE_FORMAT_XML if xml else cv2.FILE_STORAGE_FORMAT_YAML
    storage = cv2.FileStorage(".xml" if xml else ".yml", flags)
    storage.startWriteStruct("names", cv2.FileNode_SEQ)
    for name in rig.names:
        storage.write("", name)
    storage.endWriteStruct()
    for camera in rig:
        name = camera.name
        storage.write(f"K_{name}", camera.K)
        storage.write(f"dist_{name}", np.asarray(_distortions(camera.to_mapping())).reshape(1, -1))
        storage.write(f"W_{name}", int(camera.size[0]))
        storage.write(f"H_{name}", int(camera.size[1]))
        storage.write(f"fisheye_{name}", int(camera.model == "fisheye"))
        storage.write(f"R_{name}", rvec_from_rotation(camera.R).reshape(3, 1))
        storage.write(f"Rot_{name}", camera.R)
        storage.write(f"T_{name}", camera.t.reshape(3, 1))
    for key, value in metadata.items():
        if not _IDENTIFIER.match(key):
            continue
        if isinstance(value, str):
            storage.write(key, value)
        elif isinstance(value, (bool, int, np.integer)):
            storage.write(key, int(value))
        elif isinstance(value, (float, np.floating)) and np.isfinite(value):
            storage.write(key, float(value))
        else:
            logger.debug("metadata %s is not a scalar; OpenCV FileStorage export skips it", key)
    return storage.releaseAndGetString()
