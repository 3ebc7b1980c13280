"""Cut long audio into blocks of a few minutes, and blocks into clips of speech for Whisper.

A whole podcast is never held in memory or handed to Whisper at once: each block is transcribed
on its own, and ends at the quietest moment near its end so that no word is cut in two.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE_HZ = 16000
BLOCK_S = 300.0
MAX_CLIP_S = 30.0  # Whisper's window
SEARCH_S = 30.0  # where to look for a quiet cut, back from the end of a block
_WINDOW = RATE_HZ // 5  # 200 ms of quiet is a pause between words or sentences

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Block:
    offset_s: float
    """Where `audio` starts in the file."""
    audio: Audio

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE_HZ


def iter_blocks(pcm_chunks: Iterable[bytes], block_s: float = BLOCK_S) -> Iterator[Block]:
    """16 kHz mono int16 PCM -> float blocks of about `block_s` seconds."""
    pending: list[Audio] = []
    pending_samples = 0
    offset = 0
    for pcm in pcm_chunks:
        pending.append(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)
        pending_samples += len(pending[-1])
        if pending_samples >= block_s * RATE_HZ:
            audio = np.concatenate(pending)
            cut = quiet_cut(audio, min(SEARCH_S, block_s / 2))
            yield Block(offset / RATE_HZ, audio[:cut])
            offset += cut
            pending, pending_samples = [audio[cut:]], len(audio) - cut
    if pending_samples:
        yield Block(offset / RATE_HZ, np.concatenate(pending))


def quiet_cut(audio: Audio, search_s: float) -> int:
    """The sample in the middle of the quietest 200 ms within the last `search_s` seconds."""
    start = max(0, len(audio) - int(search_s * RATE_HZ))
    tail = audio[start:]
    windows = len(tail) // _WINDOW
    if windows == 0:
        return len(audio)
    energy = np.square(tail[:windows * _WINDOW]).reshape(windows, _WINDOW).mean(axis=1)
    return start + int(np.argmin(energy)) * _WINDOW + _WINDOW // 2


@dataclass(frozen=True)
class Span:
    """Seconds, relative to the block."""

    start_s: float
    end_s: float


def speech_spans(audio: Audio) -> list[Span]:
    """Silero VAD (bundled with faster-whisper); spans are padded and at most 30 s long."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=MAX_CLIP_S, min_silence_duration_ms=160)
    return [Span(t["start"] / RATE_HZ, t["end"] / RATE_HZ)
            for t in get_speech_timestamps(audio, options)]


def plan_clips(spans: Iterable[Span], max_clip_s: float = MAX_CLIP_S) -> list[Span]:
    """Neighbouring speech joined into contiguous clips of at most `max_clip_s`.

    Unlike faster-whisper's default (speech glued together with the silences cut out), a clip
    keeps its pauses: tiny.en ended glued 30 s chunks early and lost a quarter of the words of a
    real-clip mix (bench_transcribe), and times inside a clip need no remapping.
    """
    clips: list[Span] = []
    for span in spans:
        if clips and span.end_s - clips[-1].start_s <= max_clip_s:
            clips[-1] = Span(clips[-1].start_s, span.end_s)
        else:
            clips.append(span)
    return clips


def unheard(spans: Iterable[Span], word_times_s: Iterable[float]) -> list[Span]:
    """The spans in which no word was transcribed (by the word's middle time).

    The batched pipeline has no seek: when Whisper ends a clip early, the rest is silently
    lost. Those spans get a second, shorter try.
    """
    times = sorted(word_times_s)
    missed = []
    for span in spans:
        i = bisect.bisect_left(times, span.start_s)
        if i == len(times) or times[i] > span.end_s:
            missed.append(span)
    return missed


def nearest_speech(spans: list[Span], time_s: float, before: bool = False) -> Span | None:
    """The span containing `time_s`, or the closest one (spans sorted, not overlapping);
    with `before`, the closest one that starts before `time_s` if there is one."""
    if not spans:
        return None
    starts = [s.start_s for s in spans]
    i = bisect.bisect_right(starts, time_s)
    near = spans[i - 1:i] if before and i > 0 else spans[max(0, i - 1):i + 1]
    return min(near, key=lambda s: max(s.start_s - time_s, time_s - s.end_s, 0.0))
