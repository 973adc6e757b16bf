"""Receiving from the camera workers: one ZeroMQ PULL socket, messages decoded into :class:`Message`.

The socket binds ``endpoint`` (``tcp://127.0.0.1:*`` picks a free port on the loopback; the
bound address is :attr:`FrameReceiver.endpoint`, which the workers connect to) with a receive
high-water mark of ``recv_hwm`` frames per connected worker, so a recorder that falls behind
makes the workers count drops instead of growing a queue. Frame payloads are received without a
copy (a ``zmq.Frame`` whose ``.buffer`` is the pixels or the JPEG). Message layout:
:mod:`capture.wire`.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from .wire import unpack_header

__all__ = ["Message", "FrameReceiver"]


@dataclass(frozen=True)
class Message:
    """One message: ``header`` (see :mod:`capture.wire`) and, for frames, ``payload`` (bytes-like)."""

    header: dict
    payload: object | None = None

    @property
    def kind(self) -> str:
        return self.header["type"]

    @property
    def camera(self) -> int:
        return self.header["camera"]


class FrameReceiver:
    """The recorder's end of the worker channel. Use as a context manager or call :meth:`close`."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:*", *, recv_hwm: int = 8):
        self._context = zmq.Context()
        self._sock = self._context.socket(zmq.PULL)
        self._sock.setsockopt(zmq.RCVHWM, recv_hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        try:
            self._sock.bind(endpoint)
        except zmq.ZMQError as error:
            self.close()
            raise OSError(f"cannot bind the recorder to {endpoint}: {error}") from None
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def __enter__(self) -> "FrameReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def pending(self) -> bool:
        """True when a message is waiting."""
        return bool(self._sock.poll(0))

    def receive(self, *, timeout_ms: int, max_messages: int = 64) -> list[Message]:
        """Wait up to ``timeout_ms`` for a message, then take up to ``max_messages`` without waiting."""
        if not self._sock.poll(timeout_ms):
            return []
        out = []
        for _ in range(max_messages):
            try:
                parts = self._sock.recv_multipart(copy=False, flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            out.append(Message(unpack_header(parts[0].buffer), parts[1] if len(parts) > 1 else None))
        return out

    def close(self) -> None:
        self._sock.close()
        self._context.term()
