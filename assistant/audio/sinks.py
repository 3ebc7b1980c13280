"""Where replies go: the speaker (devices.Speaker), a WAV file, or nowhere. Same interface."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Protocol

from assistant.audio.convert import resample_pcm
from assistant.audio.files import WavWriter
from assistant.audio.format import AudioChunk, AudioFormat

REPLY_GAP_MS = 300


class ReplySink(Protocol):
    def open(self) -> None: ...

    async def write(self, chunk: AudioChunk) -> None:
        """Queue audio; waits while the sink's bounded buffer is full (never blocks the loop)."""

    async def drain(self) -> None:
        """Return when everything written has been played."""

    def interrupt(self) -> None:
        """Stop at once and drop what is queued (barge-in)."""

    def close(self) -> None: ...


class WavSink:
    """Writes what would have been played; replies are separated by a short silence.

    With `paced`, it plays like a speaker: audio takes its own duration to "play", so a barge-in
    cuts the reply where a listener would have stopped hearing it.
    """

    def __init__(self, path: Path, rate_hz: int = 22050, paced: bool = False) -> None:
        self.path = path
        self.format = AudioFormat(rate_hz)
        self._paced = paced
        self._writer: WavWriter | None = None
        self._scheduled: list[tuple[float, bytes]] = []  # (monotonic start, pcm) not yet on disk
        self._play_end = 0.0

    def open(self) -> None:
        self._writer = WavWriter(self.path, self.format)

    async def write(self, chunk: AudioChunk) -> None:
        assert self._writer is not None, "open() first"
        pcm = resample_pcm(chunk.pcm, chunk.format, self.format.rate_hz)
        if not self._paced:
            self._writer.write(pcm)
            return
        start = max(time.monotonic(), self._play_end)
        self._scheduled.append((start, pcm))
        self._play_end = start + self.format.duration_ms(len(pcm)) / 1000

    async def drain(self) -> None:
        assert self._writer is not None, "open() first"
        if self._paced:
            await asyncio.sleep(max(0.0, self._play_end - time.monotonic()))
            self._flush(until=None)
        self._writer.write(bytes(self.format.bytes_for_ms(REPLY_GAP_MS)))

    def interrupt(self) -> None:
        """Keep only what had been played by now."""
        if self._writer is not None and self._scheduled:
            self._flush(until=time.monotonic())
            self._writer.write(bytes(self.format.bytes_for_ms(REPLY_GAP_MS)))

    def _flush(self, until: float | None) -> None:
        assert self._writer is not None
        for start, pcm in self._scheduled:
            if until is None:
                self._writer.write(pcm)
                continue
            played = self.format.bytes_for_ms(int(max(0.0, until - start) * 1000))
            self._writer.write(pcm[:played])
        self._scheduled = []
        self._play_end = 0.0

    def close(self) -> None:
        if self._writer is not None:
            self._flush(until=None if not self._paced else time.monotonic())
            self._writer.close()
            self._writer = None


class NullSink:
    def open(self) -> None:
        pass

    async def write(self, chunk: AudioChunk) -> None:
        pass

    async def drain(self) -> None:
        pass

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass
