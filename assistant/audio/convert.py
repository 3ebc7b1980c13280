"""Conversion at the edge: any samples -> 16 kHz mono int16, cut into fixed 20 ms chunks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soxr

from assistant.audio.format import CHUNK_BYTES, STREAM_FORMAT, AudioChunk, AudioFormat


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    """Any integer or float array, shape (n,) or (n, channels), -> float32 mono in [-1, 1]."""
    data = samples
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype.kind == "u":
        info = np.iinfo(data.dtype)
        mid = (info.max + 1) / 2
        data = (data.astype(np.float32) - mid) / mid
    else:
        data = data.astype(np.float32, copy=False)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(data, dtype=np.float32)


def float_to_int16(samples: np.ndarray) -> bytes:
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return bytes((clipped * 32768).astype("<i2").tobytes())


def pcm_to_float(pcm: bytes, fmt: AudioFormat) -> np.ndarray:
    """Interleaved little-endian PCM of 1, 2, 3 or 4 bytes per sample -> float32 mono."""
    if fmt.width_bytes == 3:
        raw = np.frombuffer(pcm[: len(pcm) - len(pcm) % 3], dtype=np.uint8).reshape(-1, 3)
        as_int = (raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8)
                  | (raw[:, 2].astype(np.int32) << 16))
        as_int = np.where(as_int >= 1 << 23, as_int - (1 << 24), as_int)
        samples: np.ndarray = as_int.astype(np.float32) / float(1 << 23)
    else:
        dtype = {1: "u1", 2: "<i2", 4: "<i4"}[fmt.width_bytes]
        frame = fmt.width_bytes
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % frame], dtype=np.dtype(dtype))
    if fmt.channels > 1:
        samples = samples[: len(samples) - len(samples) % fmt.channels].reshape(-1, fmt.channels)
    return to_float_mono(samples)


class StreamConverter:
    """Streaming float mono at `rate_hz` -> 16 kHz int16 20 ms chunks with stream-time stamps."""

    def __init__(self, rate_hz: int) -> None:
        self._resampler = (
            None if rate_hz == STREAM_FORMAT.rate_hz
            else soxr.ResampleStream(rate_hz, STREAM_FORMAT.rate_hz, 1, dtype="float32")
        )
        self._rechunker = Rechunker()

    def push(self, samples: np.ndarray, last: bool = False) -> Iterator[AudioChunk]:
        data = samples
        if self._resampler is not None:
            data = self._resampler.resample_chunk(samples, last=last)
        yield from self._rechunker.push(float_to_int16(data))
        if last:
            yield from self._rechunker.flush()


class Rechunker:
    """Bytes of stream-format PCM -> fixed chunks; time comes from the byte count."""

    def __init__(self, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._chunk_bytes = chunk_bytes
        self._buffer = bytearray()
        self._emitted_bytes = 0

    def push(self, pcm: bytes) -> Iterator[AudioChunk]:
        self._buffer.extend(pcm)
        while len(self._buffer) >= self._chunk_bytes:
            yield self._take(self._chunk_bytes)

    def flush(self) -> Iterator[AudioChunk]:
        """Pad the tail with silence to a whole chunk, so every chunk has the same size."""
        if self._buffer:
            self._buffer.extend(bytes(self._chunk_bytes - len(self._buffer)))
            yield self._take(self._chunk_bytes)

    def _take(self, n: int) -> AudioChunk:
        pcm = bytes(self._buffer[:n])
        del self._buffer[:n]
        start_ms = round(STREAM_FORMAT.duration_ms(self._emitted_bytes))
        self._emitted_bytes += n
        return AudioChunk(pcm=pcm, format=STREAM_FORMAT, start_ms=start_ms)


def resample_pcm(pcm: bytes, src: AudioFormat, dst_rate_hz: int) -> bytes:
    """One-shot conversion of a whole buffer (a TTS sentence) to mono int16 at `dst_rate_hz`."""
    samples = pcm_to_float(pcm, src)
    if src.rate_hz != dst_rate_hz:
        samples = soxr.resample(samples, src.rate_hz, dst_rate_hz)
    return float_to_int16(samples)
