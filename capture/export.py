"""Export a session as one mp4 per camera, frame-aligned on the frameset table.

Frame ``i`` of every exported video is frameset ``i``, so the videos stay in sync for tools that
take synchronized videos (Pose2Sim, Anipose). A view missing from a frameset becomes a black frame,
never a copy of a neighbour; ``<camera>.missing.csv`` lists those frames and ``framesets.csv`` the
timestamps. Each file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import io
import logging
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rigkit_files import atomic_path, write_atomic

from .session import Session

__all__ = ["ExportResult", "export_session"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """videos: one mp4 per camera in session order; black_frames: per camera, frames written black."""

    videos: tuple[Path, ...]
    frames: int
    black_frames: tuple[int, ...]


def export_session(session: Session, out: str | Path, *, fourcc: str = "mp4v", fps: float | None = None,
                   progress=None) -> ExportResult:
    """Write ``out/<camera>.mp4`` for every camera of ``session``; ``progress(n)`` after each frameset."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not len(session):
        raise ValueError(f"{session.path} holds no framesets to export")
    fps = fps or session.fps
    sizes = []
    for index in session.cameras:
        if not index.seq.size:
            raise ValueError(f"camera {index.name!r} recorded no frames; nothing to export for it")
        sizes.append((int(index.width[0]), int(index.height[0])))
    finals = [out / f"{name}.mp4" for name in session.names]
    black = [np.zeros((h, w, 3), np.uint8) for w, h in sizes]
    black_rows: list[list[int]] = [[] for _ in session.names]
    with ExitStack() as stack:  # each video renamed into place when all are complete
        temps = [stack.enter_context(atomic_path(final, suffix=".mp4")) for final in finals]
        writers = [cv2.VideoWriter(str(t), cv2.VideoWriter_fourcc(*fourcc), fps, size)
                   for t, size in zip(temps, sizes)]
        try:
            for writer, path in zip(writers, finals):
                if not writer.isOpened():
                    raise OSError(f"OpenCV cannot write {path} with codec {fourcc!r}")
            for frameset in session.framesets():
                for v, (writer, image) in enumerate(zip(writers, frameset.images)):
                    if image is None:
                        black_rows[v].append(frameset.index)
                        image = black[v]
                    elif (image.shape[1], image.shape[0]) != sizes[v]:
                        image = cv2.resize(image, sizes[v])
                    writer.write(image)
                if progress is not None:
                    progress(1)
        finally:
            for writer in writers:
                writer.release()
    for name, rows in zip(session.names, black_rows):
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["frame"])
        writer.writerows([r] for r in rows)
        write_atomic(out / f"{name}.missing.csv", table.getvalue())
        if rows:
            log.warning("camera %s: %d frameset(s) without this view exported as black frames", name, len(rows))
    table = session.path / "framesets.csv"
    if table.is_file():
        shutil.copyfile(table, out / "framesets.csv")
    return ExportResult(videos=tuple(finals), frames=len(session), black_frames=tuple(len(r) for r in black_rows))
