"""Audio sources that feed the hub: files (as fast as possible or paced) and raw PCM on stdin."""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from assistant.audio.convert import StreamConverter, pcm_to_float
from assistant.audio.files import iter_file_chunks
from assistant.audio.format import AudioChunk, AudioFormat
from assistant.audio.hub import AudioHub

_BATCH = 50  # chunks decoded per worker-thread call (1 s of audio)


def open_file(path: Path) -> Iterator[AudioChunk]:
    """Start decoding now, so a bad file is reported before the daemon starts."""
    chunks = iter_file_chunks(path)
    first = _take(chunks, _BATCH)
    return itertools.chain(first, chunks)


async def run_file_source(chunks: Iterator[AudioChunk], hub: AudioHub, realtime: bool) -> None:
    """Decode in a thread, publish with backpressure; with `realtime`, pace to the wall clock."""
    started = time.monotonic()
    try:
        while batch := await asyncio.to_thread(_take, chunks, _BATCH):
            for chunk in batch:
                if realtime:
                    await _sleep_until(started + chunk.start_ms / 1000)
                await hub.publish_wait(chunk)
    except BaseException:
        hub.close_nowait()  # nobody may read a full queue any more: never wait on it
        raise
    await hub.close()


async def run_stdin_source(
    hub: AudioHub, fmt: AudioFormat, stream: BinaryIO | None = None
) -> None:
    """Raw little-endian PCM in `fmt` on stdin, until end of file."""
    reader = stream if stream is not None else sys.stdin.buffer
    converter = StreamConverter(fmt.rate_hz)
    frame = fmt.width_bytes * fmt.channels
    leftover = b""
    try:
        async for data in _read_blocks(reader, fmt.bytes_for_ms(100)):
            data = leftover + data
            usable = len(data) - len(data) % frame
            leftover = data[usable:]
            for chunk in converter.push(pcm_to_float(data[:usable], fmt)):
                await hub.publish_wait(chunk)
        for chunk in converter.push(pcm_to_float(b"", fmt), last=True):
            await hub.publish_wait(chunk)
    except BaseException:
        hub.close_nowait()
        raise
    await hub.close()


async def _read_blocks(stream: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """Pipes are read by the event loop, so a quiet pipe never holds up shutdown; regular files
    (which the loop cannot watch, and which never block) are read directly."""
    if stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        while data := stream.read(size):
            yield data
            await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=size * 4)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), stream)
    try:
        while True:
            # Whole blocks: waking up for every small write costs more CPU than the audio work.
            try:
                yield await reader.readexactly(size)
            except asyncio.IncompleteReadError as end:
                if end.partial:
                    yield end.partial
                return
    finally:
        transport.close()


def _take(chunks: Iterator[AudioChunk], n: int) -> list[AudioChunk]:
    batch: list[AudioChunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == n:
            break
    return batch


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
