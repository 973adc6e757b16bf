"""Rig description files (TOML): which cameras to record, from what source, at what settings.

A rig file names the rig and lists its cameras. Relative paths resolve against the folder that
holds the TOML file. Unknown keys are errors (a typo must not silently record at the wrong fps).
Every error is a ``ValueError`` with one sentence naming the file and the key.

Top level
    ``name`` (str, required), ``fps`` (float, default frame rate of every camera, default 30),
    ``segment_s`` (float in (0, 2], length of one segment file, default 1.0),
    ``jpeg_quality`` (int 50..100, default 90), ``encode`` (``"worker"`` | ``"recorder"``: where
    frames are JPEG-encoded; default ``"worker"``, one core per camera process).

``[[camera]]`` (one table per camera, in rig order)
    ``name`` (str, unique), ``source``: ``"device:0"`` (OpenCV capture index), ``"device:/dev/video2"``,
    ``"file:videos/cam01.mp4"``, ``"images:frames/cam01"`` (a folder of images replayed in name
    order), ``"stream:rtsp://host/path"`` (anything OpenCV's FFmpeg backend opens), or
    ``"synthetic"`` (rendered from the ``[synthetic]`` table). Optional: ``size = [w, h]``
    (requested, px), ``fps`` (requested), ``exposure`` (OpenCV ``CAP_PROP_EXPOSURE`` in the driver's
    own units; V4L2 uses 100 us steps), ``auto_exposure`` (bool), ``fourcc`` (e.g. ``"MJPG"``),
    ``replay`` (``"realtime"``: a file or folder is paced at ``fps``; ``"fast"``: as fast as the
    recorder takes them, never dropping; default ``"realtime"``), ``file_fps`` (media rate of an
    image folder, default ``fps``).

``[synthetic]`` (a rig rendered from a known scene; the session keeps the ground truth)
    ``layout`` (``"ring"`` | ``"arc"`` | ``"ceiling"``, from :mod:`geometry.synthetic`),
    ``num_cameras`` (>= 2), ``seed`` (int), ``size = [w, h]``, ``lens`` (``"pinhole"`` |
    ``"distorted"`` | ``"fisheye"``), ``intrinsics_s`` (seconds per camera of the board held up
    close to that camera alone, filling its image, for its intrinsics; cameras in turn, before
    the board pass; default 0), ``board_s`` (seconds of the ChArUco board pass, first),
    ``person_s`` (seconds of the person moving, after the board), ``counter`` (bool: burn the
    timecode of :mod:`capture.counter` into each image, default true), ``flicker`` (bool: the room
    light varies smoothly by up to +-20 %, the same for every camera: a sync cue for the motion
    offset estimate of ``capture check``, like a flash lab staff fire; default false), ``latency_s`` (list of V
    host-timestamp offsets, s, injected to test offset estimation; default zeros), ``scene``
    (``"rendered"``: :mod:`capture.render`'s room, board and person; ``"pattern"``: flat shapes,
    much cheaper; ``"loop"``: the first frames of the pattern scene replayed in a loop under the
    live timecode, a source as cheap as a camera's DMA buffer, for throughput benchmarks, with no
    scene truth; see :mod:`capture.scene`), ``pace`` (``"realtime"``:
    frames at the camera clock, late ones skipped and counted; ``"fast"``: as fast as the machine
    renders, no frame skipped, timestamps still ``k / fps``), and ``[synthetic.board]``: the board
    shown, with exactly the keys of a board file (:mod:`geometry.board`, read by
    :func:`geometry.board_from_mapping`): ``type`` (``"charuco"`` | ``"checkerboard"``),
    ``squares = [columns, rows]``, ``square_length_m`` (these three required), ``marker_length_m``,
    ``dictionary`` (an OpenCV ArUco dictionary name), ``inverted``, ``legacy``, ``margin_m``;
    without the table the board is :data:`geometry.synthetic.SYNTHETIC_BOARD`. With a ``[synthetic]``
    table the ``[[camera]]`` tables may be omitted: the cameras are then the layout's
    (``cam01`` ...), all ``source = "synthetic"``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from geometry import Board, board_from_mapping
from geometry.board import SYNTHETIC_BOARD

__all__ = ["SourceKind", "CameraSpec", "SyntheticSpec", "RigSpec", "load_rig_spec", "parse_rig_spec",
           "parse_source"]

SourceKind = Literal["device", "file", "images", "stream", "synthetic"]
ReplayMode = Literal["realtime", "fast"]
EncodeWhere = Literal["worker", "recorder"]
Layout = Literal["ring", "arc", "ceiling"]

_TOP_KEYS = {"name", "fps", "segment_s", "jpeg_quality", "encode", "camera", "synthetic"}
_CAMERA_KEYS = {"name", "source", "size", "fps", "exposure", "auto_exposure", "fourcc", "replay", "file_fps"}
_SYNTHETIC_KEYS = {"layout", "num_cameras", "seed", "size", "lens", "intrinsics_s", "board_s", "person_s", "counter", "flicker",
                   "latency_s", "board", "scene", "pace"}


@dataclass(frozen=True, kw_only=True)
class CameraSpec:
    """One camera of a rig file. ``target`` is the device index (int), or a resolved path / URL."""

    name: str
    kind: SourceKind
    target: int | str | None
    size: tuple[int, int] | None = None
    fps: float = 30.0
    exposure: float | None = None
    auto_exposure: bool | None = None
    fourcc: str | None = None
    replay: ReplayMode = "realtime"
    file_fps: float | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"camera name {self.name!r} must be a non-empty name without '/'")
        if not self.fps > 0:
            raise ValueError(f"camera {self.name!r} has fps {self.fps}, expected > 0")
        if self.replay not in ("realtime", "fast"):
            raise ValueError(f"camera {self.name!r} has replay {self.replay!r}, expected 'realtime' or 'fast'")

    @property
    def source(self) -> str:
        """The source as written in a rig file, with paths resolved."""
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


@dataclass(frozen=True, kw_only=True)
class SyntheticSpec:
    """The scene and rig of a synthetic recording (see the module docstring)."""

    layout: Layout = "ring"
    num_cameras: int = 4
    seed: int = 0
    size: tuple[int, int] = (640, 480)
    lens: Literal["pinhole", "distorted", "fisheye"] = "distorted"
    board_s: float = 4.0
    person_s: float = 6.0
    intrinsics_s: float = 0.0
    counter: bool = True
    flicker: bool = False
    scene: Literal["rendered", "pattern", "loop"] = "rendered"
    pace: ReplayMode = "realtime"
    latency_s: tuple[float, ...] = ()
    board: Board = SYNTHETIC_BOARD

    def __post_init__(self) -> None:
        if not isinstance(self.board, Board):
            raise ValueError(f"board is {type(self.board).__name__}, expected a geometry.Board")
        if self.scene not in ("rendered", "pattern", "loop"):
            raise ValueError(f"scene {self.scene!r} is not one of 'rendered', 'pattern', 'loop'")
        if self.pace not in ("realtime", "fast"):
            raise ValueError(f"pace {self.pace!r} is not one of 'realtime', 'fast'")
        if self.layout not in ("ring", "arc", "ceiling"):
            raise ValueError(f"layout {self.layout!r} is not one of 'ring', 'arc', 'ceiling'")
        if self.num_cameras < 2:
            raise ValueError(f"num_cameras is {self.num_cameras}, expected at least 2")
        if self.board_s < 0 or self.person_s < 0 or self.intrinsics_s < 0:
            raise ValueError("intrinsics_s, board_s and person_s must be >= 0")
        if self.latency_s and len(self.latency_s) != self.num_cameras:
            raise ValueError(f"latency_s has {len(self.latency_s)} values, expected num_cameras = "
                             f"{self.num_cameras}")

    def latency_of(self, index: int) -> float:
        return float(self.latency_s[index]) if self.latency_s else 0.0


@dataclass(frozen=True, kw_only=True)
class RigSpec:
    """A parsed rig file. ``cameras`` is in rig order (the ``V`` axis of every session array)."""

    name: str
    cameras: tuple[CameraSpec, ...]
    fps: float = 30.0
    segment_s: float = 1.0
    jpeg_quality: int = 90
    encode: EncodeWhere = "worker"
    synthetic: SyntheticSpec | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError(f"rig {self.name!r} has no cameras")
        names = [c.name for c in self.cameras]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rig {self.name!r} repeats camera names: {', '.join(repeated)}")
        if not 0 < self.segment_s <= 2.0:
            raise ValueError(f"segment_s is {self.segment_s}, expected in (0, 2] seconds")
        if not 50 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality is {self.jpeg_quality}, expected 50..100")
        if self.encode not in ("worker", "recorder"):
            raise ValueError(f"encode is {self.encode!r}, expected 'worker' or 'recorder'")
        if any(c.kind == "synthetic" for c in self.cameras) and self.synthetic is None:
            raise ValueError("a synthetic camera needs a [synthetic] table")
        if self.synthetic is not None:
            synthetic = [c for c in self.cameras if c.kind == "synthetic"]
            if len({c.fps for c in synthetic}) > 1:
                raise ValueError("the synthetic cameras of a rig must share one fps (they render one scene)")
            if len(synthetic) != self.synthetic.num_cameras:
                raise ValueError(f"[synthetic] num_cameras is {self.synthetic.num_cameras} but the rig has "
                                 f"{len(synthetic)} synthetic cameras")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def to_dict(self) -> dict:
        """A JSON-able description (for the session manifest)."""
        out = {"name": self.name, "fps": self.fps, "segment_s": self.segment_s,
               "jpeg_quality": self.jpeg_quality, "encode": self.encode,
               "path": None if self.path is None else str(self.path),
               "cameras": [{"name": c.name, "source": c.source, "size": c.size, "fps": c.fps,
                            "exposure": c.exposure, "auto_exposure": c.auto_exposure, "fourcc": c.fourcc,
                            "replay": c.replay, "file_fps": c.file_fps} for c in self.cameras]}
        if self.synthetic is not None:
            s = self.synthetic
            out["synthetic"] = {"layout": s.layout, "num_cameras": s.num_cameras, "seed": s.seed,
                                "size": list(s.size), "lens": s.lens, "intrinsics_s": s.intrinsics_s, "board_s": s.board_s,
                                "person_s": s.person_s, "counter": s.counter, "flicker": s.flicker,
                                "scene": s.scene, "pace": s.pace,
                                "latency_s": list(s.latency_s),
                                "board": s.board.to_mapping()}
        return out


class _Reader:
    """Typed access to one TOML table, with errors naming the file and the key."""

    def __init__(self, table: dict, where: str, allowed: set[str]):
        self.table, self.where = table, where
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    def fail(self, key: str, expected: str) -> ValueError:
        return ValueError(f"{self.where}: key '{key}' is {self.table.get(key)!r}, expected {expected}")

    def get(self, key: str, kind: type | tuple, default=None, *, required: bool = False, expected: str = ""):
        if key not in self.table:
            if required:
                raise ValueError(f"{self.where}: missing required key '{key}'")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(key, expected or getattr(kind, "__name__", str(kind)))
        if not isinstance(value, kind):
            raise self.fail(key, expected or getattr(kind, "__name__", str(kind)))
        return value

    def number(self, key: str, default=None, *, required: bool = False) -> float | None:
        value = self.get(key, (int, float), default, required=required, expected="a number")
        return None if value is None else float(value)

    def size(self, key: str, default=None) -> tuple[int, int] | None:
        value = self.get(key, list, None, expected="[width, height] in pixels")
        if value is None:
            return default
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise self.fail(key, "[width, height] in pixels")
        return int(value[0]), int(value[1])


def parse_source(text: str, base: Path, where: str) -> tuple[SourceKind, int | str | None]:
    """Split ``"kind:target"``; file and image paths resolve against ``base``."""
    if text == "synthetic":
        return "synthetic", None
    kind, sep, target = text.partition(":")
    if not sep or not target or kind not in ("device", "file", "images", "stream"):
        raise ValueError(f"{where}: key 'source' is {text!r}, expected 'device:N', 'file:PATH', "
                         "'images:DIR', 'stream:URL' or 'synthetic'")
    if kind == "device":
        return "device", int(target) if target.isdigit() else target
    if kind in ("file", "images"):
        path = Path(target).expanduser()
        return kind, str(path if path.is_absolute() else (base / path).resolve())
    return "stream", target


def _choice(r: _Reader, key: str, allowed: tuple[str, ...]) -> str:
    value = r.get(key, str, allowed[0])
    if value not in allowed:
        raise r.fail(key, " or ".join(repr(a) for a in allowed))
    return value


def _parse_synthetic(table: dict, where: str) -> SyntheticSpec:
    r = _Reader(table, f"{where} [synthetic]", _SYNTHETIC_KEYS)
    board_table = r.get("board", dict, None)
    board = (SYNTHETIC_BOARD if board_table is None
             else board_from_mapping(board_table, where=f"{where} [synthetic.board]"))
    latency = r.get("latency_s", list, [], expected="a list of seconds, one per camera")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in latency):
        raise r.fail("latency_s", "a list of seconds, one per camera")
    layout = r.get("layout", str, "ring")
    if layout not in ("ring", "arc", "ceiling"):
        raise r.fail("layout", "'ring', 'arc' or 'ceiling'")
    lens = r.get("lens", str, "distorted")
    if lens not in ("pinhole", "distorted", "fisheye"):
        raise r.fail("lens", "'pinhole', 'distorted' or 'fisheye'")
    return SyntheticSpec(layout=layout, num_cameras=r.get("num_cameras", int, 4), seed=r.get("seed", int, 0),
                         size=r.size("size", (640, 480)), lens=lens, intrinsics_s=r.number("intrinsics_s", 0.0), board_s=r.number("board_s", 4.0),
                         person_s=r.number("person_s", 6.0), counter=r.get("counter", bool, True),
                         flicker=r.get("flicker", bool, False), scene=_choice(r, "scene", ("rendered", "pattern", "loop")),
                         pace=_choice(r, "pace", ("realtime", "fast")),
                         latency_s=tuple(float(v) for v in latency), board=board)


def parse_rig_spec(data: dict, *, base: Path, where: str) -> RigSpec:
    """Build a :class:`RigSpec` from the parsed TOML ``data``; ``where`` names the file in errors."""
    top = _Reader(data, where, _TOP_KEYS)
    fps = top.number("fps", 30.0)
    if not fps > 0:
        raise top.fail("fps", "a positive frame rate")
    synthetic = _parse_synthetic(top.get("synthetic", dict), where) if "synthetic" in data else None
    camera_tables = top.get("camera", list, [], expected="[[camera]] tables")
    cameras = []
    for i, table in enumerate(camera_tables):
        if not isinstance(table, dict):
            raise top.fail("camera", "[[camera]] tables")
        name_hint = table.get("name", i + 1)
        r = _Reader(table, f"{where} [[camera]] {name_hint}", _CAMERA_KEYS)
        kind, target = parse_source(r.get("source", str, required=True), base, r.where)
        replay = r.get("replay", str, "realtime")
        if replay not in ("realtime", "fast"):
            raise r.fail("replay", "'realtime' or 'fast'")
        camera_fps = r.number("fps", fps)
        if not camera_fps > 0:
            raise r.fail("fps", "a positive frame rate")
        cameras.append(CameraSpec(
            name=r.get("name", str, required=True), kind=kind, target=target, size=r.size("size"),
            fps=camera_fps, exposure=r.number("exposure"), auto_exposure=r.get("auto_exposure", bool),
            fourcc=r.get("fourcc", str), replay=replay, file_fps=r.number("file_fps")))
    if not cameras and synthetic is not None:
        cameras = [CameraSpec(name=f"cam{i + 1:02d}", kind="synthetic", target=None, size=synthetic.size, fps=fps,
                              replay=synthetic.pace)
                   for i in range(synthetic.num_cameras)]
    if not cameras:
        raise ValueError(f"{where}: no [[camera]] tables and no [synthetic] table; a rig needs cameras")
    try:
        return RigSpec(name=top.get("name", str, required=True), cameras=tuple(cameras), fps=fps,
                       segment_s=top.number("segment_s", 1.0), jpeg_quality=top.get("jpeg_quality", int, 90),
                       encode=top.get("encode", str, "worker"), synthetic=synthetic)
    except ValueError as error:
        if str(error).startswith(where):
            raise
        raise ValueError(f"{where}: {error}") from None


def load_rig_spec(path: str | Path) -> RigSpec:
    """Read a rig TOML file; ValueError with one sentence naming the file and key when it is bad."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"rig file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"rig file {path} is not valid TOML: {error}") from None
    try:
        spec = parse_rig_spec(data, base=path.resolve().parent, where=f"rig file {path}")
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith("rig file") else f"rig file {path}: {message}") from None
    return replace(spec, path=path.resolve())
