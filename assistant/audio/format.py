"""Audio format and chunk values. The internal stream is 16 kHz, 16-bit, mono, 20 ms chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioFormat:
    rate_hz: int
    width_bytes: int = 2
    channels: int = 1

    @property
    def bytes_per_ms(self) -> float:
        return self.rate_hz * self.width_bytes * self.channels / 1000

    def duration_ms(self, n_bytes: int) -> float:
        return n_bytes / self.bytes_per_ms

    def bytes_for_ms(self, ms: int) -> int:
        frame = self.width_bytes * self.channels
        return int(self.rate_hz * ms / 1000) * frame


STREAM_FORMAT = AudioFormat(rate_hz=16000, width_bytes=2, channels=1)
CHUNK_MS = 20
CHUNK_BYTES = STREAM_FORMAT.bytes_for_ms(CHUNK_MS)


@dataclass(frozen=True)
class AudioChunk:
    """Raw PCM and its format; `start_ms` is stream time (from the sample count, not wall time)."""

    pcm: bytes
    format: AudioFormat = STREAM_FORMAT
    start_ms: int = 0

    @property
    def duration_ms(self) -> float:
        return self.format.duration_ms(len(self.pcm))

    @property
    def end_ms(self) -> int:
        return self.start_ms + round(self.duration_ms)
