"""Frames between the daemon and its workers, and errors that cross the boundary by code."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.engines import calls
from assistant.engines.base import Transcript
from assistant.engines.wire import (
    LENGTHS,
    FrameError,
    encode,
    read_frame,
    read_frame_blocking,
    write_frame_blocking,
)
from assistant.errors import (
    AssistantError,
    DeviceError,
    TranscriptionError,
    WorkerOutOfMemory,
    error_for,
)


def test_a_frame_keeps_header_and_payload_apart() -> None:
    payload = bytes(range(256)) * 300
    stream = io.BytesIO()
    write_frame_blocking(stream, {"id": 3, "method": "transcribe"}, payload)
    write_frame_blocking(stream, {"id": 4}, b"")
    stream.seek(0)
    assert read_frame_blocking(stream) == ({"id": 3, "method": "transcribe"}, payload)
    assert read_frame_blocking(stream) == ({"id": 4}, b"")
    assert read_frame_blocking(stream) is None  # a clean end


def test_the_payload_is_not_copied_into_the_header() -> None:
    pieces = encode({"id": 1}, b"\x00" * 1000)
    assert pieces[2] == b"\x00" * 1000
    assert LENGTHS.unpack(pieces[0]) == (len(pieces[1]), 1000)


@pytest.mark.parametrize("broken", [
    LENGTHS.pack(5, 0) + b"{\"a\"",          # ends inside the header
    LENGTHS.pack(2, 0) + b"[]",              # not an object
    LENGTHS.pack(3, 0) + b"{x}",             # not JSON
    LENGTHS.pack(1 << 30, 0),                # absurd sizes
    LENGTHS.pack(2, 10) + b"{}" + b"12345",  # ends inside the payload
    b"\x01\x02",                             # ends inside the lengths
])
def test_broken_frames_are_errors(broken: bytes) -> None:
    with pytest.raises(FrameError):
        read_frame_blocking(io.BytesIO(broken))

    async def read() -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(broken)
        reader.feed_eof()
        return await read_frame(reader)

    with pytest.raises(FrameError):
        asyncio.run(read())


def test_errors_come_back_as_their_own_types() -> None:
    assert type(error_for("asr_failed", "x")) is TranscriptionError
    assert type(error_for("cuda_failed", "x")) is DeviceError
    assert type(error_for("worker_out_of_memory", "x")) is WorkerOutOfMemory
    unknown = error_for("something_new", "what it said")
    assert type(unknown) is AssistantError
    assert (unknown.code, unknown.message) == ("something_new", "what it said")


class _Voice:
    name = "test"

    def synthesize(self, text: str) -> list[AudioChunk]:
        fmt = AudioFormat(22050)
        return [AudioChunk(b"\x01\x00" * 10, fmt), AudioChunk(b"\x02\x00" * 5, fmt)]


def test_calls_round_trip_their_values() -> None:
    class Asr:
        def transcribe(self, pcm: bytes) -> Transcript:
            return Transcript("hi", 0.25, -0.5, "en", 1200, 33.0)

    header, payload = calls.serve(Asr(), "transcribe", {}, b"")
    assert calls.decode_transcript(header) == Transcript("hi", 0.25, -0.5, "en", 1200, 33.0)
    header, payload = calls.serve(_Voice(), "synthesize", {"text": "Hello."}, b"")
    chunk = calls.decode_audio(header, payload)
    assert chunk.format == AudioFormat(22050) and chunk.pcm == b"\x01\x00" * 10 + b"\x02\x00" * 5

    class Encoder:
        def embed(self, pcm: bytes) -> np.ndarray:
            return np.arange(6, dtype=np.float64).reshape(2, 3)

    header, payload = calls.serve(Encoder(), "embed", {}, b"")
    assert calls.decode_array(header, payload).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="unknown engine method"):
        calls.serve(Encoder(), "explode", {}, b"")
