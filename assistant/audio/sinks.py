"""Where replies go: the speaker (devices.Speaker), a WAV file, or nowhere. Same interface."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from assistant.audio.convert import resample_pcm
from assistant.audio.files import WavWriter
from assistant.audio.format import AudioChunk, AudioFormat

REPLY_GAP_MS = 300


class ReplySink(Protocol):
    def open(self) -> None: ...

    def write(self, chunk: AudioChunk) -> None:
        """Queue audio; never blocks for long."""

    async def drain(self) -> None:
        """Return when everything written has been played."""

    def interrupt(self) -> None:
        """Stop at once and drop what is queued (barge-in)."""

    def close(self) -> None: ...


class WavSink:
    """Writes what would have been played; replies are separated by a short silence."""

    def __init__(self, path: Path, rate_hz: int = 22050) -> None:
        self.path = path
        self.format = AudioFormat(rate_hz)
        self._writer: WavWriter | None = None

    def open(self) -> None:
        self._writer = WavWriter(self.path, self.format)

    def write(self, chunk: AudioChunk) -> None:
        assert self._writer is not None, "open() first"
        self._writer.write(resample_pcm(chunk.pcm, chunk.format, self.format.rate_hz))

    async def drain(self) -> None:
        assert self._writer is not None, "open() first"
        self._writer.write(bytes(self.format.bytes_for_ms(REPLY_GAP_MS)))

    def interrupt(self) -> None:
        """Nothing is queued: every write is already on disk."""

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class NullSink:
    def open(self) -> None:
        pass

    def write(self, chunk: AudioChunk) -> None:
        pass

    async def drain(self) -> None:
        pass

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass
