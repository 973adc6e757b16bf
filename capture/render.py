"""Render synthetic scenes through a calibrated camera: room, calibration board, moving person.

numpy + OpenCV only; imports :mod:`geometry` and nothing else of rigkit. Conventions (frames,
pixels, distortion) in :mod:`geometry.camera`; the synthetic world is Z-up with the floor at
``z = 0`` (:mod:`geometry.synthetic.rigs`).

Every image is rendered with the camera's full lens model. Surfaces (floor, walls, board) are
ray traced per pixel: each pixel centre is undistorted into a ray (cached per camera), intersected
with the surface, and the surface's texture is sampled there with ``cv2.remap`` from a mip-map
level chosen per pixel (trilinear), so a ChArUco board is antialiased and OpenCV finds its
corners where :meth:`geometry.Camera.project` puts them. The person is drawn as depth-ordered
capsules (limbs), a torso polygon and a head, with a disc of a distinct colour on every visible
joint (:mod:`capture.render_person`, :func:`joint_colors`: warm hues on the left side, cool
hues on the right).

Nothing is burned in (no frame counter: the capture source does that).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from geometry import Board, Camera, Skeleton, get_skeleton

from .render_person import draw_person, joint_colors

__all__ = ["SceneRenderer", "RenderedFrame", "render_scene", "render_person", "joint_colors", "board_texture"]

_ROOM_RADIUS_M = 7.0
_BOARD_BACK_GREY = 150.0
_NOISE_MARGIN = 64  # the noise tile is this much larger than _NOISE_TILE; frames use shifted windows
_NOISE_TILE = 256
_CEILING_M = 3.2


# -- board texture -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _MipTexture:
    """Grey + alpha levels of a board texture; level k texel (i, j) covers board metres
    ``[origin_m + i * s_k, origin_m + (i + 1) * s_k)`` along x (j: the same along y) with
    ``s_k = texel_m * 2**k``. Board coordinate 0 (the squares' outer corner) is a texel edge of
    every level, so every square edge is one too."""

    levels: tuple[np.ndarray, ...]  # each (H_k, W_k, 2) uint8: grey, alpha
    texel_m: float  # level-0 texel size, metres
    origin_m: float  # board coordinate of level-0 texel edge 0 (= -margin - pad * texel_m)


def board_texture(board: Board, *, pixels_per_square: int = 64) -> np.ndarray:
    """(H, W) uint8 image of the printed sheet (squares plus white ``board.margin_m``), one square =
    ``pixels_per_square`` pixels: OpenCV's ``CharucoBoard.generateImage`` for ChArUco boards."""
    board = _checked_board(board)
    columns, rows = board.squares
    size = (columns * pixels_per_square, rows * pixels_per_square)
    if board.type == "charuco":
        # geometry.Board accepts only OpenCV's predefined dictionary names (upper case).
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, board.dictionary))
        charuco = cv2.aruco.CharucoBoard(board.squares, board.square_length_m, board.marker_length_m,
                                         dictionary)
        charuco.setLegacyPattern(board.legacy)
        squares = charuco.generateImage(size, marginSize=0, borderBits=1)
    else:
        r, c = np.mgrid[0:rows, 0:columns]
        cells = np.where((r + c) % 2 == 0, 0, 255).astype(np.uint8)
        squares = np.repeat(np.repeat(cells, pixels_per_square, 0), pixels_per_square, 1)
    if board.inverted:
        squares = 255 - squares
    margin = int(round(board.margin_m / board.square_length_m * pixels_per_square))
    return cv2.copyMakeBorder(squares, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def _checked_board(board) -> Board:
    if not isinstance(board, Board):
        raise ValueError(f"board is {type(board).__name__}, expected a geometry.Board")
    return board


@functools.lru_cache(maxsize=8)
def _mip_texture(board: Board) -> _MipTexture:
    pixels_per_square = 64
    sheet = board_texture(board, pixels_per_square=pixels_per_square)
    texel_m = board.square_length_m / pixels_per_square
    margin_px = (sheet.shape[1] - board.squares[0] * pixels_per_square) // 2
    levels_count = 6
    step = 1 << levels_count
    # At least `step` transparent texels around the sheet (its edge is antialiased too), and the
    # squares start on a multiple of `step`: square edges are then texel edges of every level.
    # Off that grid, a coarse level's box-filtered texel straddles each edge at the same phase
    # for every square, and its bilinear reconstruction moves all corners alike (a bias of
    # about -0.1 px at 17 px squares with a 17-texel margin).
    squares_at = -(-(margin_px + step) // step) * step  # level-0 texel of board coordinate 0
    pad = squares_at - margin_px
    H = -(-(pad + sheet.shape[0] + step) // step) * step
    W = -(-(pad + sheet.shape[1] + step) // step) * step
    level0 = np.zeros((H, W, 2), np.uint8)
    # Printed paper under room light: black is not 0, white is not 255.
    inside = (slice(pad, pad + sheet.shape[0]), slice(pad, pad + sheet.shape[1]))
    level0[inside + (0,)] = (25 + sheet.astype(np.float32) * (200 / 255)).astype(np.uint8)
    level0[inside + (1,)] = 255
    levels = [level0]
    for _ in range(levels_count):
        previous = levels[-1]
        levels.append(cv2.resize(previous, (previous.shape[1] // 2, previous.shape[0] // 2),
                                 interpolation=cv2.INTER_AREA))
    origin_m = -squares_at * texel_m
    return _MipTexture(levels=tuple(levels), texel_m=texel_m, origin_m=origin_m)


@dataclass(frozen=True)
class RenderedFrame:
    """image: (H, W, 3) uint8 BGR. joints_2d: (J, 2) float64 projected joints (distorted pixels,
    NaN behind the camera; None without a person). joint_visible: (J,) bool, True where the
    joint's disc was drawn (in front, not hidden by a nearer body part, centre in the image)."""

    image: np.ndarray
    joints_2d: np.ndarray | None
    joint_visible: np.ndarray | None


class SceneRenderer:
    """Renders one camera's view; caches its per-pixel rays and the static room.

    camera: the :class:`geometry.Camera` (size, intrinsics, distortion, pose).
    background_seed: seeds the room's textures (floor tiles, wall tone).
    sensor_noise_sigma: standard deviation of the per-frame sensor noise, grey levels.
    room_scale: trace the (smooth) room at 1/room_scale of the resolution and enlarge it:
        ~room_scale^2 times cheaper to set up, for renderers used for a single frame.
    """

    def __init__(self, camera: Camera, *, background_seed: int = 0, sensor_noise_sigma: float = 2.0,
                 room_scale: int = 1):
        if not isinstance(camera, Camera):
            raise ValueError(f"camera must be a geometry.Camera, got {type(camera).__name__}")
        if not sensor_noise_sigma >= 0:
            raise ValueError(f"sensor_noise_sigma is {sensor_noise_sigma}, expected >= 0 grey levels")
        if int(room_scale) != room_scale or room_scale < 1:
            raise ValueError(f"room_scale is {room_scale}, expected a whole number >= 1")
        self.camera = camera
        self.width, self.height = camera.size
        self._rays = None  # full-resolution pixel rays, built when first needed
        self._background_seed = int(background_seed)
        self._sensor_noise_sigma = float(sensor_noise_sigma)
        self._noise_fields = None
        self._background = self._render_room(self._background_seed, int(room_scale))

    def _pixel_rays(self, scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(xy (H', W', 2) float32 normalized ray coordinates, valid (H', W') bool)`` of the
        pixel centres of the image shrunk by ``scale`` (cached at full resolution)."""
        if scale == 1 and self._rays is not None:
            return self._rays
        # Centre of low-resolution pixel i in full-resolution coordinates: (i + 0.5) scale - 0.5.
        xs = (np.arange(-(-self.width // scale)) + 0.5) * scale - 0.5
        ys = (np.arange(-(-self.height // scale)) + 0.5) * scale - 0.5
        normalized = _pixel_normalized(self.camera, xs, ys)  # NaN where the lens cannot be inverted
        valid = np.isfinite(normalized).all(axis=-1)
        rays = (np.where(valid[..., None], normalized, 0.0).astype(np.float32), valid)
        if scale == 1:
            self._rays = rays
        return rays

    # -- static room ----------------------------------------------------------------------------
    def _render_room(self, background_seed: int, scale: int) -> np.ndarray:
        """The empty room: a tiled floor, a cylindrical wall and a ceiling, with vignetting;
        traced at 1/``scale`` of the resolution and enlarged when ``scale`` > 1."""
        if scale > 1:
            small = self._render_room_at(background_seed, scale)
            return cv2.resize(small, (small.shape[1] * scale, small.shape[0] * scale),
                              interpolation=cv2.INTER_LINEAR)[:self.height, :self.width].copy()
        return self._render_room_at(background_seed, 1)

    def _render_room_at(self, background_seed: int, scale: int) -> np.ndarray:
        xy, valid = self._pixel_rays(scale)
        R = self.camera.R.astype(np.float32)
        c = self.camera.center.astype(np.float32)
        x, y = xy[..., 0], xy[..., 1]
        # World direction of each pixel's ray (unnormalised): R^T (x, y, 1).
        dx, dy, dz = (R[0, i] * x + R[1, i] * y + R[2, i] for i in range(3))
        a = dx * dx + dy * dy
        b = 2 * (c[0] * dx + c[1] * dy)
        cc = c[0] ** 2 + c[1] ** 2 - _ROOM_RADIUS_M**2
        with np.errstate(invalid="ignore", divide="ignore"):
            s_wall = np.where(a > 1e-12, (-b + np.sqrt(np.maximum(b * b - 4 * a * cc, 0))) / (2 * a), np.inf)
            s_floor = np.where(dz < 0, -c[2] / dz, np.inf)
            s_ceiling = np.where(dz > 0, (_CEILING_M - c[2]) / dz, np.inf)
        floor = (s_floor <= s_wall) & (s_floor <= s_ceiling)
        ceiling = ~floor & (s_ceiling <= s_wall)
        s = np.minimum(np.minimum(s_floor, s_wall), s_ceiling)
        s = np.where(np.isfinite(s), s, 0).astype(np.float32)
        hx, hy, hz = c[0] + s * dx, c[1] + s * dy, c[2] + s * dz
        textures = _room_textures(background_seed)
        # Floor: 0.6 m tiles of varying tone, a smooth stain texture (8 m period), grout lines.
        tile_x = np.floor(hx / 0.6).astype(np.int64) % 64
        tile_y = np.floor(hy / 0.6).astype(np.int64) % 64
        tone = textures.tile_tone[tile_y, tile_x]
        stain = cv2.remap(textures.stains, hx * np.float32(256 / 8), hy * np.float32(256 / 8), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_WRAP)
        edge = np.minimum(np.abs((hx / 0.6 + 0.5) % 1 - 0.5), np.abs((hy / 0.6 + 0.5) % 1 - 0.5)) * 0.6
        floor_grey = tone + stain - np.clip(1 - edge / 0.006, 0, 1) * 25
        # Walls: soft vertical panels brightening upwards; ceiling: flat light grey.
        panels = 6 * np.cos(np.arctan2(hy, hx) * 18) + np.clip(hz, 0, _CEILING_M) * 12
        grey = np.where(floor, floor_grey, np.where(ceiling, 0.0, panels))[..., None]
        base = np.where(floor[..., None], textures.floor_bgr, np.where(ceiling[..., None], textures.ceiling_bgr,
                                                                       textures.wall_bgr))
        r2 = x * x + y * y
        vignetting = (1 / (1 + 0.3 * r2) ** 2)[..., None] * valid[..., None]
        return np.clip((base + grey) * vignetting + 0.5, 0, 255).astype(np.uint8)

    def _noise(self) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative parts of a tile of sensor noise, ``_NOISE_MARGIN`` pixels larger
        than ``_NOISE_TILE`` so each frame can use a shifted window of it."""
        if self._noise_fields is None:
            rng = np.random.default_rng(self._background_seed + 7919)
            size = _NOISE_TILE + _NOISE_MARGIN
            sigma = np.float32(self._sensor_noise_sigma)
            tile = np.rint(rng.standard_normal((size, size, 3), dtype=np.float32) * sigma)
            tile = np.clip(tile, -255, 255)
            self._noise_fields = (np.maximum(tile, 0).astype(np.uint8), np.maximum(-tile, 0).astype(np.uint8))
        return self._noise_fields

    def _add_noise(self, image: np.ndarray, noise_seed: int) -> None:
        """Add the sensor noise of frame ``noise_seed`` to ``image`` in place (saturating).

        The noise tile repeats every ``_NOISE_TILE`` pixels: pixel noise has no structure a
        detector could learn at that period, and large frames cost no more memory.
        """
        positive, negative = self._noise()
        dy, dx = np.random.default_rng(noise_seed).integers(0, _NOISE_MARGIN, 2)
        for y in range(0, self.height, _NOISE_TILE):
            for x in range(0, self.width, _NOISE_TILE):
                block = image[y:y + _NOISE_TILE, x:x + _NOISE_TILE]
                h, w = block.shape[:2]
                cv2.add(block, positive[dy:dy + h, dx:dx + w], dst=block)
                cv2.subtract(block, negative[dy:dy + h, dx:dx + w], dst=block)

    # -- public ---------------------------------------------------------------------------------
    def render(self, *, joints_in_world: np.ndarray | None = None, skeleton: str | Skeleton | None = None,
               board: Board | None = None, world_from_board: tuple[np.ndarray, np.ndarray] | None = None,
               noise_seed: int | None = None, appearance_seed: int = 0) -> RenderedFrame:
        """Render the room with an optional board and an optional person.

        joints_in_world: (J, 3) world metres of one person (NaN joints are skipped).
        skeleton: the layout of ``joints_in_world`` (required with it).
        board: a :class:`geometry.Board` (board files, rig files and ``calibration`` all use it).
        world_from_board: the board's pose, ``(R (3, 3), t (3,))`` or a (4, 4) matrix (both
            board and pose, or neither); a NaN pose means the board is not in the scene.
        noise_seed: per-frame sensor noise pattern (None: no sensor noise).
        appearance_seed: clothing and skin colours of the person.
        """
        if (board is None) != (world_from_board is None):
            raise ValueError("give both board and world_from_board, or neither")
        if joints_in_world is not None and skeleton is None:
            raise ValueError("joints_in_world needs its skeleton (e.g. skeleton='coco17')")
        image = self._background.copy()
        layers = []
        pose = _pose(world_from_board) if board is not None else None
        if pose is not None:
            board = _checked_board(board)
            R, t = pose
            board_center = R @ np.array([*np.array(board.size_m) / 2, 0.0]) + t
            depth = float((self.camera.R @ board_center + self.camera.t)[2])
            layers.append((depth, lambda: self._draw_board(image, board, R, t)))
        person = None
        if joints_in_world is not None:
            skeleton = get_skeleton(skeleton)
            joints = np.asarray(joints_in_world, dtype=np.float64)
            if joints.shape != (skeleton.num_joints, 3):
                raise ValueError(f"joints_in_world has shape {joints.shape}, expected "
                                 f"({skeleton.num_joints}, 3) for {skeleton.name}")
            depth_all = joints @ self.camera.R[2] + self.camera.t[2]
            depth = float(np.nanmean(depth_all)) if np.isfinite(depth_all).any() else np.inf
            person = {}

            def draw():
                person["result"] = draw_person(image, self.camera, joints, skeleton,
                                               appearance_seed=appearance_seed)
            layers.append((depth, draw))
        for _, draw in sorted(layers, key=lambda layer: -layer[0]):
            draw()
        if noise_seed is not None and self._sensor_noise_sigma > 0:
            self._add_noise(image, noise_seed)
        if person:
            joints_2d, visible = person["result"]
            return RenderedFrame(image=image, joints_2d=joints_2d, joint_visible=visible)
        return RenderedFrame(image=image, joints_2d=None, joint_visible=None)

    # -- board ----------------------------------------------------------------------------------
    def _draw_board(self, image: np.ndarray, board: Board, R: np.ndarray, t: np.ndarray) -> None:
        cam = self.camera
        R_cb = cam.R @ R  # cam_from_board
        t_cb = cam.R @ t + cam.t
        roi = self._board_roi(board, R, t)
        if roi is None:
            return
        y0, y1, x0, x1 = roi
        rays, valid_rays = self._pixel_rays()
        xy = rays[y0:y1, x0:x1]
        valid = valid_rays[y0:y1, x0:x1]
        # Ray (x, y, 1) * s meets the plane n . X = n . t_cb (n: board z axis in the camera).
        n = R_cb[:, 2].astype(np.float32)
        denominator = xy[..., 0] * n[0] + xy[..., 1] * n[1] + n[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.float32(n @ t_cb) / denominator
        hit = valid & (s > 0) & np.isfinite(s)
        s = np.where(hit, s, 0).astype(np.float32)
        # Board coordinates of the hit point: R_cb^T (s (x, y, 1) - t_cb).
        Rt = R_cb.T.astype(np.float32)
        tb = (R_cb.T @ t_cb).astype(np.float32)
        bx = s * (Rt[0, 0] * xy[..., 0] + Rt[0, 1] * xy[..., 1] + Rt[0, 2]) - tb[0]
        by = s * (Rt[1, 0] * xy[..., 0] + Rt[1, 1] * xy[..., 1] + Rt[1, 2]) - tb[1]
        texture = _mip_texture(board)
        u0 = (bx - np.float32(texture.origin_m)) / np.float32(texture.texel_m) - 0.5
        v0 = (by - np.float32(texture.origin_m)) / np.float32(texture.texel_m) - 0.5
        u0[~hit] = -1e4
        v0[~hit] = -1e4
        # Level of detail: log2 of the texel footprint of one pixel (largest axis).
        du_dx, du_dy = np.gradient(u0, axis=1), np.gradient(u0, axis=0)
        dv_dx, dv_dy = np.gradient(v0, axis=1), np.gradient(v0, axis=0)
        footprint = np.sqrt(np.maximum(du_dx**2 + dv_dx**2, du_dy**2 + dv_dy**2))
        footprint = np.where(hit & (footprint < 1e3), footprint, 1.0)
        lod = np.clip(np.log2(np.maximum(footprint, 1e-6)), 0, len(texture.levels) - 1).astype(np.float32)
        accumulated = np.zeros(u0.shape + (2,), np.float32)
        for k in range(int(np.floor(lod.min())), int(np.ceil(lod.max())) + 1):
            weight = np.maximum(0, 1 - np.abs(lod - k))
            if not np.any(weight > 0):
                continue
            scale = np.float32(1.0 / (1 << k))
            sample = cv2.remap(texture.levels[k], (u0 + 0.5) * scale - 0.5, (v0 + 0.5) * scale - 0.5,
                               cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            accumulated += weight[..., None] * sample
        # Lambertian shading: light from above and behind the camera.
        board_centre = R @ np.array([*np.array(board.size_m) / 2, 0.0]) + t
        light = np.array([0.0, 0.0, 1.0]) + 0.8 * (cam.center - board_centre)
        light /= np.linalg.norm(light)
        shade = np.float32(0.7 + 0.3 * abs(float(-R[:, 2] @ light)))
        alpha = accumulated[..., 1] * np.float32(1 / 255)
        if (cam.center - board_centre) @ R[:, 2] < 0:  # the printed side faces the camera
            grey = accumulated[..., 0] * shade / np.maximum(alpha, 1e-6) * np.float32(1 / 255)
        else:  # the back of the board is blank cardboard
            grey = np.full_like(alpha, np.float32(_BOARD_BACK_GREY / 255) * shade)
        region = image[y0:y1, x0:x1].astype(np.float32)
        blended = region * (1 - alpha[..., None]) + (grey * 255 * alpha)[..., None]
        image[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def _board_roi(self, board: Board, R: np.ndarray, t: np.ndarray):
        """(y0, y1, x0, x1) image window that holds the board, or None if it is not in view."""
        outline = board.outline_in_board()
        edges = np.concatenate([outline[i] + np.linspace(0, 1, 24)[:, None] * (outline[(i + 1) % 4] - outline[i])
                                for i in range(4)])
        # Pad by the transparent border so the antialiased edge is included.
        centre = outline.mean(axis=0)
        edges = centre + (edges - centre) * 1.05
        pixels = self.camera.project(edges @ R.T + t)
        if np.isnan(pixels).any():
            if np.isnan(pixels).all():
                return None
            return 0, self.height, 0, self.width  # partly behind the camera: trace everything
        x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - 3
        x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + 4
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return y0, y1, x0, x1


@dataclass(frozen=True)
class _RoomTextures:
    tile_tone: np.ndarray  # (64, 64) float32 grey offset per floor tile
    stains: np.ndarray  # (256, 256) float32 smooth grey offsets, tiling 8 m of floor
    floor_bgr: np.ndarray  # (3,) float32
    wall_bgr: np.ndarray
    ceiling_bgr: np.ndarray


@functools.lru_cache(maxsize=16)
def _room_textures(seed: int) -> _RoomTextures:
    rng = np.random.default_rng(seed)
    tone = rng.uniform(-14, 14, (64, 64)).astype(np.float32)
    wrapped = np.pad(rng.standard_normal((256, 256), dtype=np.float32), 32, mode="wrap")
    stains = np.ascontiguousarray(cv2.GaussianBlur(wrapped, (0, 0), 6)[32:-32, 32:-32])  # seamless tiling
    stains *= np.float32(12 / max(float(stains.std()), 1e-6))
    floor = np.float32(rng.uniform(90, 130)) + np.array([-15, 0, 12], np.float32)
    wall = np.float32(rng.uniform(140, 190)) + np.array([5, 0, -8], np.float32)
    ceiling = np.full(3, rng.uniform(190, 220), np.float32)
    return _RoomTextures(tone, stains, floor, wall, ceiling)


def _interpolate_rows(samples: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation along axis 0: samples (n, ...) at integer positions -> (len(positions), ...)."""
    i = np.floor(positions).astype(np.int64)
    f = (positions - i).reshape((-1,) + (1,) * (samples.ndim - 1))
    weights = (((-0.5 * f + 1.0) * f - 0.5) * f, (1.5 * f - 2.5) * f * f + 1,
               ((-1.5 * f + 2.0) * f + 0.5) * f, (0.5 * f - 0.5) * f * f)
    last = len(samples) - 1
    return sum(w * samples[np.clip(i - 1 + k, 0, last)] for k, w in enumerate(weights))


def _pixel_normalized(camera: Camera, xs: np.ndarray, ys: np.ndarray, step: int = 8) -> np.ndarray:
    """(len(ys), len(xs), 2) float64 undistorted normalized coordinates of the pixels (xs x ys).

    xs, ys: pixel coordinates (any real values inside the image). The lens is inverted exactly on
    a grid every ``step`` pixels and interpolated (separable Catmull-Rom, about 1e-5 px for real
    lenses; exact for lens-free cameras); pixels near a grid point where the lens cannot be
    inverted are inverted one by one (NaN where impossible).
    """
    width, height = camera.size
    if camera.model == "opencv" and not np.any(camera.dist):
        return camera.normalize(np.stack(np.meshgrid(xs, ys), axis=-1))  # no lens: closed form
    gx = np.arange(-2 * step, width - 1 + 3 * step, step, dtype=np.float64)
    gy = np.arange(-2 * step, height - 1 + 3 * step, step, dtype=np.float64)
    coarse = camera.normalize(np.stack(np.meshgrid(gx, gy), axis=-1))
    with np.errstate(invalid="ignore"):
        rows = _interpolate_rows(coarse, np.asarray(ys) / step + 2)  # (len(ys), len(gx), 2)
        fine = _interpolate_rows(rows.swapaxes(0, 1), np.asarray(xs) / step + 2).swapaxes(0, 1)
    bad = ~np.isfinite(fine).all(axis=-1)
    if bad.any():
        v, u = np.nonzero(bad)
        fine[v, u] = camera.normalize(np.stack([np.asarray(xs)[u], np.asarray(ys)[v]], axis=-1).astype(np.float64))
    return fine


def _pose(world_from_board) -> tuple[np.ndarray, np.ndarray] | None:
    """``(R (3, 3), t (3,))`` from a pair or a (4, 4) homogeneous matrix; None for a NaN pose."""
    if isinstance(world_from_board, np.ndarray) and world_from_board.shape == (4, 4):
        matrix = world_from_board.astype(np.float64)
        R, t = matrix[:3, :3], matrix[:3, 3]
    else:
        try:
            R, t = (np.asarray(x, dtype=np.float64) for x in world_from_board)
        except (TypeError, ValueError):
            raise ValueError("world_from_board must be (R (3, 3), t (3,)) or a (4, 4) matrix") from None
    if R.shape != (3, 3) or t.shape != (3,):
        raise ValueError(f"world_from_board must be (R (3, 3), t (3,)), got shapes {R.shape}, {t.shape}")
    if not np.all(np.isfinite(R)) or not np.all(np.isfinite(t)):
        return None  # NaN marks "not in the scene" (as in recorded scene truth)
    return R, t


@functools.lru_cache(maxsize=16)  # ~17 MB per 1280x720 camera
def _renderer(camera: Camera, background_seed: int) -> SceneRenderer:
    return SceneRenderer(camera, background_seed=background_seed)


def render_scene(camera: Camera, *, joints_in_world: np.ndarray | None = None,
                 skeleton: str | Skeleton | None = None, board: Board | None = None,
                 world_from_board: tuple[np.ndarray, np.ndarray] | None = None, background_seed: int = 0,
                 noise_seed: int | None = None, appearance_seed: int = 0) -> np.ndarray:
    """One BGR uint8 image ``(height, width, 3)`` of the scene seen by ``camera``.

    Arguments as in :meth:`SceneRenderer.render`. The camera's rays and room are cached (per
    camera object and ``background_seed``), so later frames of the same camera are fast.
    """
    return _renderer(camera, int(background_seed)).render(
        joints_in_world=joints_in_world, skeleton=skeleton, board=board, world_from_board=world_from_board,
        noise_seed=noise_seed, appearance_seed=appearance_seed).image


def render_person(camera: Camera, joints_in_world: np.ndarray, *, rng: np.random.Generator,
                  skeleton: str | Skeleton = "coco17", sensor_noise_sigma: float = 2.0) -> np.ndarray:
    """One (H, W, 3) uint8 BGR frame of a person in a room whose look ``rng`` draws.

    For detector training data, where every frame has its own camera: the room's textures, the
    clothing and the sensor noise are drawn from ``rng``, and the room is traced at a quarter of
    the resolution (half below 640 px wide) so a fresh camera costs little. The person is drawn
    exactly as by :meth:`SceneRenderer.render`. joints_in_world: (J, 3) world metres in
    ``skeleton`` order.
    """
    seeds = rng.integers(0, 2**31 - 1, size=3)
    scale = 4 if camera.size[0] >= 640 else 2
    renderer = SceneRenderer(camera, background_seed=int(seeds[0]), sensor_noise_sigma=sensor_noise_sigma,
                             room_scale=scale)
    return renderer.render(joints_in_world=joints_in_world, skeleton=skeleton, noise_seed=int(seeds[1]),
                           appearance_seed=int(seeds[2])).image
