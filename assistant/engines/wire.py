"""Frames between the daemon and a worker process: a small JSON header and raw bytes.

A frame is two little-endian u32 lengths (header, payload), the UTF-8 JSON header, then the
payload as it is: PCM, samples, an embedding. Audio is never encoded or copied into the header.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, BinaryIO

LENGTHS = struct.Struct("<II")
MAX_HEADER_BYTES = 4 << 20
MAX_PAYLOAD_BYTES = 256 << 20
"""About 2 h of 16 kHz PCM: more is a broken frame, not a request."""

Header = dict[str, Any]


class FrameError(Exception):
    """The other side sent something that is not a frame (or ended inside one)."""


def encode(header: Header, payload: bytes = b"") -> list[bytes]:
    """The frame as pieces for writelines(), so the payload is not copied into one buffer."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return [LENGTHS.pack(len(head), len(payload)), head, payload]


def _lengths(prefix: bytes) -> tuple[int, int]:
    head_len, payload_len = LENGTHS.unpack(prefix)
    if head_len > MAX_HEADER_BYTES or payload_len > MAX_PAYLOAD_BYTES:
        raise FrameError(f"frame too large ({head_len} + {payload_len} bytes)")
    return head_len, payload_len


def _header(data: bytes) -> Header:
    try:
        header = json.loads(data)
    except ValueError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise FrameError("frame header is not an object")
    return header


async def read_frame(reader: asyncio.StreamReader) -> tuple[Header, bytes] | None:
    """The next frame, or None at a clean end of stream (the worker exited)."""
    try:
        prefix = await reader.readexactly(LENGTHS.size)
    except asyncio.IncompleteReadError as end:
        if end.partial:
            raise FrameError("stream ended inside a frame") from end
        return None
    head_len, payload_len = _lengths(prefix)
    try:
        head = await reader.readexactly(head_len)
        payload = await reader.readexactly(payload_len) if payload_len else b""
    except asyncio.IncompleteReadError as end:
        raise FrameError("stream ended inside a frame") from end
    return _header(head), payload


def read_frame_blocking(stream: BinaryIO) -> tuple[Header, bytes] | None:
    """For the worker: the next frame from its stdin, or None when the daemon has gone."""
    prefix = _read_exactly(stream, LENGTHS.size)
    if prefix is None:
        return None
    head_len, payload_len = _lengths(prefix)
    head = _read_exactly(stream, head_len)
    payload = _read_exactly(stream, payload_len) if payload_len else b""
    if head is None or payload is None:
        raise FrameError("stream ended inside a frame")
    return _header(head), payload


def write_frame_blocking(stream: BinaryIO, header: Header, payload: bytes = b"") -> None:
    for piece in encode(header, payload):
        stream.write(piece)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    if size == 0:
        return b""
    parts: list[bytes] = []
    left = size
    while left:
        data = stream.read(left)
        if not data:
            if parts:
                raise FrameError("stream ended inside a frame")
            return None
        parts.append(data)
        left -= len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)
