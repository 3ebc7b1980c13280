"""Audio sources that feed the hub: files (as fast as possible or paced) and raw PCM on stdin."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import selectors
import stat
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from assistant.audio.convert import StreamConverter, pcm_to_float
from assistant.audio.files import iter_file_chunks
from assistant.audio.format import AudioChunk, AudioFormat
from assistant.audio.hub import AudioHub
from assistant.errors import AudioInputError

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class StdinInput:
    """Raw PCM on stdin, looked at before anything loads (`open_stdin`)."""

    stream: BinaryIO
    head: bytes
    """What was read already (the first block, where reading it could not block)."""
    pollable: bool
    """A pipe, socket or terminal: read by the event loop. Regular files and /dev/null are not
    (epoll refuses them), and reading them never blocks."""
    regular: bool
    """A regular file: a recording, replayed like --input FILE."""

    @property
    def empty(self) -> bool:
        """Known to hold nothing at all (an empty file, /dev/null)."""
        return not self.pollable and not self.head


def open_stdin(fmt: AudioFormat, stdin: TextIO | None = None) -> StdinInput:
    """stdin as audio; AudioInputError when it is closed (`<&-`), before anything loads."""
    text = sys.stdin if stdin is None else stdin  # None when fd 0 was closed at start
    try:
        if text is None:
            raise ValueError("no stdin")
        stream = text.buffer
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        raise AudioInputError(
            "--input -: stdin is closed, so there is no audio to read. Pipe raw 16-bit PCM "
            "into it (arecord -f S16_LE -r 16000 -c 1 | assistant run --input -) or use "
            "--input FILE.") from None
    pollable = _pollable(fd)
    head = b"" if pollable else stream.read(fmt.bytes_for_ms(100))
    return StdinInput(stream, head, pollable, stat.S_ISREG(mode))


async def run_stdin_source(hub: AudioHub, fmt: AudioFormat, source: StdinInput) -> None:
    """Raw little-endian PCM in `fmt` on stdin, until end of file."""
    converter = StreamConverter(fmt.rate_hz)
    frame = fmt.width_bytes * fmt.channels
    leftover = b""
    received = 0
    try:
        async for data in _read_blocks(source, fmt.bytes_for_ms(100)):
            received += len(data)
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
    if not received:
        log.warning("stdin ended before any audio came: nothing to hear")
    await hub.close()


async def _read_blocks(source: StdinInput, size: int) -> AsyncIterator[bytes]:
    """Pipes are read by the event loop, so a quiet pipe never holds up shutdown; what the loop
    cannot watch (regular files, /dev/null) never blocks, and is read directly."""
    stream = source.stream
    if source.head:
        yield source.head
    if not source.pollable:
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


def _pollable(fd: int) -> bool:
    """Whether the event loop can watch `fd` (asyncio's pipe reader needs that; it would fail
    later, in a callback, and the read would wait for good)."""
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (PermissionError, ValueError):  # epoll: EPERM for files that are always ready
            return False
    return True


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
