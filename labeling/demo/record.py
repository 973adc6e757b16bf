"""Stage 1 of the demo: record the synthetic rig through the real capture workers and recorder.

The recording goes to ``session.partial/`` and is renamed to ``session/`` once the recorder has
finalized it, so a run killed mid-recording leaves no half session behind: the next run removes
the partial folder and records again. A complete session is never recorded twice.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass

from rigkit_files import write_atomic

from .config import DemoOptions, DemoPaths, rig_toml

__all__ = ["CaptureStage", "record_session"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CaptureStage:
    """What the recording produced (read back from the session's manifest).

    frames, dropped, missing: per camera. framesets / complete_framesets: grouped framesets and
    those with every view. max_skew_ms: largest spread of capture times within a frameset.
    seconds: wall time of the recording (0 when it was already on disk).
    """

    names: tuple[str, ...]
    frames: tuple[int, ...]
    dropped: tuple[int, ...]
    missing: tuple[int, ...]
    framesets: int
    complete_framesets: int
    max_skew_ms: float
    seconds: float
    reused: bool


def _from_session(paths: DemoPaths, seconds: float, reused: bool) -> CaptureStage:
    from capture import open_session

    with open_session(paths.session) as session:
        counts = session.manifest["counts"]
        names = tuple(session.names)
        skew_ms = float(session.skew_s.max() * 1e3) if len(session) else 0.0
        return CaptureStage(
            names=names, frames=tuple(counts[n]["frames"] for n in names),
            dropped=tuple(counts[n]["dropped"] + counts[n]["late"] for n in names),
            missing=tuple(counts[n]["missing"] for n in names), framesets=len(session),
            complete_framesets=int((~session.missing.any(axis=1)).sum()), max_skew_ms=skew_ms,
            seconds=seconds, reused=reused)


def record_session(options: DemoOptions, paths: DemoPaths, *, progress: bool = True) -> CaptureStage:
    """Record (or reuse) the run's session: a board pass then a person, every camera a worker."""
    from tqdm import tqdm

    from capture import RecordOptions, load_rig_spec, open_session

    if paths.session.is_dir():
        with open_session(paths.session) as session:
            complete = session.complete
        if complete:
            log.info("reusing the complete session %s", paths.session)
            return _from_session(paths, 0.0, True)
        raise ValueError(f"{paths.session} is an incomplete session; delete it to record again")
    if paths.session_partial.exists():
        log.info("removing %s left by an interrupted recording", paths.session_partial)
        shutil.rmtree(paths.session_partial)
    write_atomic(paths.rig, rig_toml(options).encode())
    rig = load_rig_spec(paths.rig)
    total = options.board_frames + options.person_frames
    bar = tqdm(total=total, unit="frameset", desc="recording", disable=not progress, dynamic_ncols=True)

    def on_status(status) -> None:
        bar.set_postfix_str(f"drop {sum(c.dropped + c.late for c in status.cameras)}, "
                            f"disk {status.disk_mb_s:.1f} MB/s", refresh=False)
        bar.update(max(0, min(status.framesets, total) - bar.n))

    started = time.perf_counter()
    try:
        from capture import record

        result = record(rig, paths.session_partial,
                        RecordOptions(duration_s=options.seconds, status_interval_s=0.5),
                        on_status=on_status)
        bar.update(max(0, min(result.framesets, total) - bar.n))
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    if result.stopped_by not in ("duration", "end of streams"):
        raise OSError(f"the recording stopped early ({result.stopped_by}); see {paths.session_partial}")
    paths.session_partial.rename(paths.session)
    return _from_session(paths, seconds, False)
