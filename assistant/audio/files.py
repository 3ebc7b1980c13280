"""Decode any audio file (WAV, FLAC, MP3, OGG, ...; any rate, width, channels) and write WAV."""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from assistant.audio.convert import StreamConverter, to_float_mono
from assistant.audio.format import CHUNK_MS, AudioChunk, AudioFormat
from assistant.errors import AudioInputError

log = logging.getLogger(__name__)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise AudioInputError(f"{path}: no such file. Check the path.")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: the file is empty (0 bytes); give a file with audio in it.")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioInputError(
            f"{path}: not a readable audio file ({reason}). Give a WAV, FLAC, MP3 or OGG file."
        ) from exc


def iter_file_chunks(path: Path) -> Iterator[AudioChunk]:
    """Stream a file as 16 kHz mono 16-bit 20 ms chunks. Raises AudioInputError on bad input."""
    container = _open(path)
    with container:
        if not container.streams.audio:
            raise AudioInputError(f"{path}: has no audio stream.")
        stream = container.streams.audio[0]
        converter: StreamConverter | None = None
        produced = 0
        try:
            for frame in container.decode(stream):
                if converter is None:
                    converter = StreamConverter(frame.sample_rate)
                samples = _frame_samples(frame)
                for chunk in converter.push(samples):
                    produced += 1
                    yield chunk
        except av.error.FFmpegError as exc:
            if produced == 0:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise AudioInputError(f"{path}: cannot decode audio ({reason}).") from exc
            log.warning("%s: decoding stopped early (%s); using the audio read so far", path, exc)
        if converter is None:
            raise AudioInputError(f"{path}: contains no audio samples.")
        yield from converter.push(np.zeros(0, dtype=np.float32), last=True)
    _warn_if_truncated(path, produced * CHUNK_MS)


def _warn_if_truncated(path: Path, decoded_ms: int) -> None:
    """A WAV whose header promises more audio than it holds is played, but said to be cut short."""
    try:
        with wave.open(str(path), "rb") as wav:
            declared_ms = wav.getnframes() * 1000 // wav.getframerate()
    except (wave.Error, EOFError, OSError, ZeroDivisionError):
        return  # not a plain PCM WAV: nothing to compare against
    if declared_ms > decoded_ms + 100:
        log.warning(
            "%s: truncated: its header says %.2f s but it holds %.2f s; using what is there",
            path, declared_ms / 1000, decoded_ms / 1000,
        )


def _frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """An AudioFrame of any sample format -> float32 mono."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    # planar: (channels, n); packed: (1, n * channels)
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    return to_float_mono(data if channels > 1 else data[:, 0])


def probe_duration_s(path: Path) -> float:
    """The duration the file's header gives (0.0 if none); AudioInputError if it is unreadable."""
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioInputError(f"{path}: has no audio stream.")
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base if container.duration else 0.0


def read_span(path: Path, start_s: float, end_s: float) -> bytes:
    """16 kHz mono int16 PCM of [start_s, end_s): seeks, so a hit an hour in plays at once."""
    pcm, first_s = _decode_from(path, start_s, end_s, seek=start_s > 0)
    if first_s is None:  # the container gives no frame times after a seek: decode from 0
        pcm, first_s = _decode_from(path, start_s, end_s, seek=False)
    skip = 2 * max(0, round((start_s - (first_s or 0.0)) * 16000))
    return bytes(pcm[skip:skip + 2 * round((end_s - start_s) * 16000)])


def _decode_from(path: Path, start_s: float, end_s: float, seek: bool
                 ) -> tuple[bytearray, float | None]:
    """PCM from the frame a seek lands on (at or before `start_s`) to `end_s`, and its time."""
    pcm = bytearray()
    first_s: float | None = 0.0
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioInputError(f"{path}: has no audio stream.")
        stream = container.streams.audio[0]
        if seek:
            container.seek(int(start_s * av.time_base))
        converter: StreamConverter | None = None
        try:
            for frame in container.decode(stream):
                if converter is None:
                    converter = StreamConverter(frame.sample_rate)
                    first_s = frame.time if seek else 0.0
                for chunk in converter.push(_frame_samples(frame)):
                    pcm += chunk.pcm
                if (first_s or 0.0) + len(pcm) / 32000 >= end_s:
                    break
        except av.error.FFmpegError as exc:
            raise AudioInputError(f"{path}: cannot decode audio ({exc}).") from exc
    return pcm, first_s


def read_file(path: Path) -> bytes:
    """A whole file as 16 kHz mono int16 PCM."""
    return b"".join(chunk.pcm for chunk in iter_file_chunks(path))


class WavWriter:
    """16-bit WAV writer; the header is valid after every write, so a crash loses nothing."""

    def __init__(self, path: Path, fmt: AudioFormat) -> None:
        if fmt.width_bytes != 2:
            raise ValueError("WavWriter writes 16-bit PCM only")
        self.path = path
        self.format = fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(fmt.channels)
        self._wav.setsampwidth(fmt.width_bytes)
        self._wav.setframerate(fmt.rate_hz)
        self._wav.writeframes(b"")

    def write(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)

    def close(self) -> None:
        self._wav.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_wav(path: Path, pcm: bytes, fmt: AudioFormat) -> None:
    with WavWriter(path, fmt) as writer:
        writer.write(pcm)
