"""``rigkit label review DIR``: the review web app, served by the standard library.

One process, :class:`http.server.ThreadingHTTPServer`, a token in the URL, a static page shipped
in the package (``static/``: HTML, vanilla JavaScript, CSS; nothing fetched from the internet).
Every request must carry ``?token=`` (403 otherwise). No route takes a file path: the page reads
framesets by position and frames by (position, view), so nothing outside DIR's shards and the
recorded session can be read whatever the URL says.

Routes (GET unless said): ``/`` the page, ``/app.js``, ``/app.css``; ``/api/meta`` names, bones,
cameras; ``/api/frameset?sample=N``; ``/api/frame?sample=N&view=V`` JPEG (404 without a frame);
``/api/summary?bins=B`` timeline and camera health (202 while being built); ``/api/query?...``
(:class:`labeling.review.store.Query` fields); POST ``/api/verdict`` ``{"sample", "level",
"joint", "person", "verdict": "accept" | "reject" | "clear"}`` saves ``review.json``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..shards import RejectReason
from .store import FrameSource, LabelStore, Query, VideoFrames, run_query, timeline
from .verdicts import Review, Verdict, load_review, now_utc, reviewer_name

__all__ = ["ReviewApp", "make_server", "serve", "is_loopback", "url_of"]

log = logging.getLogger(__name__)
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_REASON_NAMES = [r for r in RejectReason if r != RejectReason.NONE]


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _nan_to_none(values: np.ndarray, digits: int = 2):
    """Nested lists with NaN -> None (JSON has no NaN), rounded."""
    values = np.asarray(values, dtype=np.float64)
    rounded = np.round(values, digits)
    out = np.where(np.isfinite(rounded), rounded, np.nan).tolist()

    def clean(x):
        if isinstance(x, list):
            return [clean(y) for y in x]
        return None if x != x else x
    return clean(out)


class ReviewApp:
    """The state behind the server: the label set, its frames, the review being written."""

    def __init__(self, root: str | os.PathLike, *, session: str | os.PathLike | None = None,
                 token: str | None = None, who: str | None = None, max_frame_width_px: int = 1280,
                 videos: dict | None = None):
        self.root = Path(root)
        self.store = LabelStore(self.root)
        self.token = token or secrets.token_urlsafe(24)
        self.who = who or reviewer_name()
        self.review = load_review(self.root, job_id=self.store.index.job_id)
        if not self.review.job_id:
            self.review = Review(job_id=self.store.index.job_id, verdicts=self.review.verdicts)
        self._lock = threading.Lock()
        N, J = self.store.num_samples, len(self.store.joint_names)
        self.rejected = np.zeros((N, J), dtype=bool)
        self.reviewed = np.zeros((N, J), dtype=bool)
        for sample in {v.sample for v in self.review.verdicts if v.sample < N}:
            self._refresh(sample)
        provenance = self.store.index.job.get("provenance", {})
        recorded = provenance.get("session")
        source = session if session is not None else recorded
        recorded_videos = not videos and session is None and bool(provenance.get("videos"))
        videos = videos if videos else (provenance.get("videos") if session is None else None)
        self.frames: FrameSource | VideoFrames | None = None
        self.frames_note = "no session recorded in index.json: blank canvases"
        if videos:  # one video per camera; the recorded ones paired as the labels were
            from ..report import recording_frame_map

            self.frames = VideoFrames(dict(videos), list(self.store.camera_names),
                                      max_width_px=max_frame_width_px,
                                      frame_map=recording_frame_map(provenance) if recorded_videos else None)
            self.frames_note = f"frames from {len(videos)} videos"
        elif source is not None:
            if Path(source).is_dir():
                try:
                    self.frames = FrameSource(source, self.store.camera_names,
                                              max_width_px=max_frame_width_px)
                    self.frames_note = f"frames from {source}"
                except (ValueError, OSError) as error:
                    self.frames_note = f"session {source} unreadable ({error}): blank canvases"
            else:
                self.frames_note = f"session {source} not found: blank canvases"
        self._static = {route: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
                        for route, (name, kind) in STATIC.items()}
        self._first_served = threading.Event()
        self._summary_thread = threading.Thread(target=self._build_summary, name="review-summary",
                                                daemon=True)

    def start_summary(self) -> None:
        self._summary_thread.start()

    def _build_summary(self) -> None:
        # The first frameset the page asks for goes first: indexing waits for it (or 3 s).
        self._first_served.wait(timeout=3.0)
        try:
            self.store.build_summary()
        except Exception:  # noqa: BLE001 - reported to the page through summary_error
            pass

    def close(self) -> None:
        self.store.close()
        self._first_served.set()  # an indexing thread still waiting for the first frameset goes
        if self._summary_thread.is_alive():
            self._summary_thread.join(timeout=30)
        if self.frames is not None:
            self.frames.close()

    # -- review -------------------------------------------------------------------------------
    def _refresh(self, sample: int) -> None:
        verdicts = self.review.of_sample(sample)
        self.rejected[sample] = self.review.rejected([sample], self.store.joint_names)[0]
        mask = np.zeros(len(self.store.joint_names), dtype=bool)
        for v in verdicts:
            if v.level == "joint":
                if v.joint in self.store.joint_names:
                    mask[self.store.joint_names.index(v.joint)] = True
            else:
                mask[:] = True
        self.reviewed[sample] = mask

    def set_verdict(self, body: dict) -> dict:
        """Apply one verdict (or clear one) and save ``review.json`` atomically."""
        try:
            sample = int(body["sample"])
            level = str(body.get("level", "frameset"))
            joint = body.get("joint") if level == "joint" else None
            person = int(body.get("person", 0))
            decision = str(body["verdict"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("a verdict needs sample, level, verdict") from None
        self.store.locate(sample)
        if joint is not None and joint not in self.store.joint_names:
            raise ValueError(f"no joint named {joint!r}")
        frame_index = int(self.store.sample_arrays(sample)["frame_index"])
        with self._lock:
            if decision == "clear":
                key = Verdict(sample=sample, level=level, verdict="reject", joint=joint, person=person).key
                review = self.review.without(key)
            else:
                review = self.review.with_verdict(Verdict(
                    sample=sample, level=level, verdict=decision, joint=joint, person=person,
                    frame_index=frame_index, who=self.who, when=now_utc()))
            review.write(self.root)
            self.review = review
            self._refresh(sample)
        return self.frameset(sample)

    # -- reads --------------------------------------------------------------------------------
    def meta(self) -> dict:
        s = self.store
        rig = s.rig
        centres = np.stack([-cam.R.T @ cam.t for cam in rig])
        scale = float(np.median(np.linalg.norm(centres - centres.mean(axis=0), axis=1))) or 1.0
        cameras = []
        for v, cam in enumerate(rig):
            w, h = cam.size
            corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
            rays = corners @ np.linalg.inv(cam.K).T
            depth = 0.15 * scale
            in_world = (rays * depth - cam.t) @ cam.R  # R^T (x - t)
            cameras.append({"name": s.camera_names[v], "width": int(w), "height": int(h),
                            "centre_m": _nan_to_none(centres[v], 4),
                            "frustum_m": _nan_to_none(in_world, 4)})
        return {"root": str(self.root), "num_samples": s.num_samples, "joint_names": list(s.joint_names),
                "camera_names": list(s.camera_names), "bones": s.bones.tolist(), "cameras": cameras,
                "reasons": [r.name.lower() for r in _REASON_NAMES], "persons": [0],
                "options": s.attributes.get("options", {}), "frames": self.frames_note,
                "has_frames": self.frames is not None, "who": self.who,
                "review_file": str(self.root / "review.json"), "num_verdicts": len(self.review),
                "job_id": s.index.job_id}

    def frameset(self, sample: int) -> dict:
        s = self.store
        a = s.sample_arrays(sample)
        points_3d = a["keypoints_3d"].astype(np.float64)
        reprojected = s.rig.project(np.where(np.isfinite(points_3d), points_3d, np.nan))  # (V, J, 2)
        with self._lock:
            rejected = self.rejected[sample].copy()
            verdicts = [v.__dict__ for v in self.review.of_sample(sample)]
        reason = a["reject_reason"].astype(int)
        names = [[r.name.lower() for r in _REASON_NAMES if code & int(r)] for code in reason.tolist()]
        return {"sample": sample, "frame_index": int(a["frame_index"]),
                "timestamp_s": None if not np.isfinite(a["timestamp_s"]) else float(a["timestamp_s"]),
                "keypoints_2d": _nan_to_none(a["keypoints_2d"], 1), "scores": _nan_to_none(a["scores_2d"], 3),
                "inliers": a["inliers"].tolist(), "residual_px": _nan_to_none(a["reprojection_error_px"], 2),
                "keypoints_3d": _nan_to_none(points_3d, 4), "reprojected_2d": _nan_to_none(reprojected, 1),
                "valid": a["valid"].tolist(), "effective_valid": (a["valid"] & ~rejected).tolist(),
                "review_rejected": rejected.tolist(), "reject_reason": reason.tolist(), "reasons": names,
                "num_inlier_views": a["num_inlier_views"].astype(int).tolist(), "verdicts": verdicts,
                "persons": [0]}

    def frame(self, sample: int, view: int) -> bytes | None:
        if self.frames is None:
            self._first_served.set()
            return None
        frame_index = int(self.store.sample_arrays(sample)["frame_index"])
        data = self.frames.jpeg(frame_index, view)
        self._first_served.set()
        return data

    def summary(self, bins: int) -> dict | None:
        summary = self.store.summary
        if summary is None:
            return None
        with self._lock:
            rejected = self.rejected.copy()
        return timeline(summary, rejected, bins)

    def query(self, params: dict, bins: int) -> dict | None:
        summary = self.store.summary
        if summary is None:
            return None
        fields = {}
        for name, kind in (("reason", str), ("joint", int), ("camera", int), ("person", int),
                           ("min_residual_px", float), ("max_inlier_views", int), ("sort", str),
                           ("limit", int)):
            if name in params and params[name] != "":
                try:
                    fields[name] = kind(params[name])
                except ValueError:
                    raise ValueError(f"{name}={params[name]!r} is not a {kind.__name__}") from None
        fields["bone"] = params.get("bone") in ("1", "true")
        with self._lock:
            rejected, reviewed = self.rejected.copy(), self.reviewed.copy()
        return run_query(summary, Query(**fields), rejected, reviewed, bins=bins)


class _Handler(BaseHTTPRequestHandler):
    server_version = "rigkit-review"
    protocol_version = "HTTP/1.1"  # keep-alive: the page's requests reuse their connections
    app: ReviewApp  # set on the subclass made by make_server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if status >= 400:  # an unread request body must not be taken for the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data) -> None:
        self._send(status, json.dumps(data, allow_nan=False).encode())

    def _authorised(self, query: dict) -> bool:
        given = query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.app.token.encode())

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if not self._authorised(query):
            self._send(HTTPStatus.FORBIDDEN, b'{"error": "missing or wrong token"}')
            return
        params = {k: v[0] for k, v in query.items()}
        path = parts.path
        try:
            if method == "GET" and path in self.app._static:
                body, kind = self.app._static[path]
                if path == "/":  # the page's own links carry the token; its metadata comes inline
                    meta = json.dumps(self.app.meta(), allow_nan=False).replace("<", "\\u003c")
                    body = body.replace(b"{{TOKEN}}", self.app.token.encode()).replace(b"{{META}}", meta.encode())
                self._send(HTTPStatus.OK, body, kind)
            elif method == "GET" and path == "/api/meta":
                self._json(HTTPStatus.OK, self.app.meta())
            elif method == "GET" and path == "/api/frameset":
                self._json(HTTPStatus.OK, self.app.frameset(int(params.get("sample", "0"))))
            elif method == "GET" and path == "/api/frame":
                data = self.app.frame(int(params.get("sample", "0")), int(params.get("view", "0")))
                if data is None:
                    self._send(HTTPStatus.NOT_FOUND, b'{"error": "no frame"}')
                else:
                    self._send(HTTPStatus.OK, data, "image/jpeg")
            elif method == "GET" and path in ("/api/summary", "/api/query"):
                bins = int(params.get("bins", "1000"))
                out = (self.app.summary(bins) if path == "/api/summary" else self.app.query(params, bins))
                if out is None:
                    error = self.app.store.summary_error
                    self._json(HTTPStatus.INTERNAL_SERVER_ERROR if error else HTTPStatus.ACCEPTED,
                               {"status": "failed" if error else "building", "error": error})
                else:
                    self._json(HTTPStatus.OK, out)
            elif method == "POST" and path == "/api/verdict":
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= 65536:
                    raise ValueError("a verdict is a small JSON body")
                body = json.loads(self.rfile.read(length))
                self._json(HTTPStatus.OK, self.app.set_verdict(body))
            else:
                self._send(HTTPStatus.NOT_FOUND, b'{"error": "not found"}')
        except (ValueError, json.JSONDecodeError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except OSError as error:
            log.warning("review request %s failed: %s", path, error)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(error)})

    def do_GET(self):  # noqa: N802 - http.server's name
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def make_server(app: ReviewApp, *, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound (not yet serving) server for ``app``; ``port`` 0 picks a free port."""
    handler = type("ReviewHandler", (_Handler,), {"app": app})
    if ":" in host:
        _Server.address_family = __import__("socket").AF_INET6
    return _Server((host, port), handler)


def url_of(server: ThreadingHTTPServer, app: ReviewApp) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={app.token}"


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(root: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          session: str | os.PathLike | None = None, max_frame_width_px: int = 1280,
          videos: dict | None = None, announce=print) -> int:
    """Serve the review of ``root`` until interrupted (Ctrl-C); returns 0."""
    started = time.perf_counter()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C (SIGINT) is how the server stops, also when it was started with SIGINT ignored (a
        # background job of a script inherits that, and Python then installs no KeyboardInterrupt).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    app = ReviewApp(root, session=session, max_frame_width_px=max_frame_width_px, videos=videos)
    server = make_server(app, host=host, port=port)
    app.start_summary()
    url = url_of(server, app)
    try:  # Ctrl-C is how the server stops: from the first line printed on, it exits cleanly
        if not is_loopback(host):
            announce(f"rigkit label review: WARNING: listening on {host}, reachable from other machines; "
                     "anyone with the URL (its token) can read these labels and change the review")
        announce(f"rigkit label review: {app.store.num_samples:,} framesets in {app.root} "
                 f"({app.frames_note}); verdicts go to {app.root / 'review.json'}")
        announce(f"open {url}  (Ctrl-C to stop; ready in {time.perf_counter() - started:.2f} s)")
        if open_browser and _has_display():
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        announce("rigkit label review: stopped")
    finally:
        server.server_close()
        app.close()
    return 0
