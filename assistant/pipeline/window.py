"""The last seconds of the stream, with each chunk's VAD verdict, cut by stream time."""

from __future__ import annotations

import collections

from assistant.audio.format import CHUNK_MS, AudioChunk


class AudioWindow:
    """Utterances and speculations are cut from here, so the turn engine deals only in times."""

    def __init__(self, span_ms: int) -> None:
        self._chunks: collections.deque[tuple[AudioChunk, bool]] = collections.deque(
            maxlen=span_ms // CHUNK_MS + 1)

    def append(self, chunk: AudioChunk, speech: bool) -> None:
        self._chunks.append((chunk, speech))

    def pcm(self, from_ms: int, to_ms: int) -> bytes:
        """The chunks that end after `from_ms` and by `to_ms`, joined."""
        return b"".join(chunk.pcm for chunk, _ in self._chunks
                        if from_ms < chunk.end_ms <= to_ms)

    def since(self, from_ms: int) -> list[tuple[AudioChunk, bool]]:
        """The chunks that start at or after `from_ms`, with their verdicts."""
        return [item for item in self._chunks if item[0].start_ms >= from_ms]
