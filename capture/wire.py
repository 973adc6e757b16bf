"""The messages between camera workers and the recorder (ZeroMQ PUSH -> PULL).

Every message is multipart: a small JSON header, then for ``type = "frame"`` the pixel buffer
(sent and received with ``copy=False``). Header keys of a frame:

``type`` "frame", ``camera`` (index in the rig), ``seq`` (int, the frame's sequence number: the
schedule index for scheduled sources, a running count for live ones; gaps mean loss),
``t_mono`` (s, capture time on the machine-wide monotonic clock), ``t_wall`` (s, Unix time of the
same instant), ``shape`` [H, W, 3], ``encoding`` ("jpeg" or "raw" uint8 BGR), ``dropped`` (frames
this worker could not hand over because the queue was full, cumulative), ``late`` (scheduled
frames skipped because the worker fell behind, cumulative), ``generation`` (0, or 1 after a restart).

Other types: ``hello`` (``applied``: the settings the source actually applied), ``error``
(``message``: one sentence), ``eos`` (end of stream, with the final ``dropped`` and ``late``).
"""

from __future__ import annotations

import json

__all__ = ["pack_header", "unpack_header"]


def pack_header(header: dict) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def unpack_header(data: bytes | memoryview) -> dict:
    header = json.loads(bytes(data))
    if not isinstance(header, dict) or "type" not in header or "camera" not in header:
        raise ValueError(f"malformed capture message header: {bytes(data)[:80]!r}")
    return header
