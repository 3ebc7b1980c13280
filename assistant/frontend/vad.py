"""Voice activity per 20 ms frame (WebRTC VAD) and a pure, clock-free endpointing state machine.

The endpointer sees only (stream time, is_speech) pairs, so a file replayed faster than real time
gives exactly the decisions a live microphone would.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import webrtcvad

from assistant.audio.format import CHUNK_MS, STREAM_FORMAT, AudioChunk


class VoiceActivity:
    """WebRTC VAD on 20 ms frames of the internal stream."""

    def __init__(self, aggressiveness: int) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, chunk: AudioChunk) -> bool:
        return bool(self._vad.is_speech(chunk.pcm, STREAM_FORMAT.rate_hz))


@dataclass(frozen=True)
class EndpointConfig:
    hangover_ms: int = 700
    """Silence after speech that ends the utterance."""
    start_timeout_ms: int | None = 5000
    """Speech must start this long after listening opened; None waits for ever."""
    max_utterance_ms: int = 15000
    speech_start_ms: int = 100
    """Consecutive speech needed to call it speech, so clicks do not open an utterance."""
    frame_ms: int = CHUNK_MS


class Decision(enum.Enum):
    STARTED = "started"
    ENDED_SILENCE = "silence"
    ENDED_MAX_LENGTH = "max_length"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class EndpointEvent:
    decision: Decision
    at_ms: int
    """For STARTED: where speech began. For the others: the stream time the decision was made."""


class Endpointer:
    """Waiting -> InSpeech -> Done. Feed it one frame at a time, in stream order."""

    def __init__(self, config: EndpointConfig, opened_at_ms: int) -> None:
        self._config = config
        self._opened_at_ms = opened_at_ms
        self._speech_run_ms = 0
        self._silence_run_ms = 0
        self.speech_start_ms: int | None = None
        self.done = False

    @property
    def in_speech(self) -> bool:
        return self.speech_start_ms is not None and not self.done

    def feed(self, frame_start_ms: int, is_speech: bool) -> EndpointEvent | None:
        if self.done:
            return None
        cfg = self._config
        frame_end_ms = frame_start_ms + cfg.frame_ms
        if self.speech_start_ms is None:
            return self._waiting(frame_end_ms, is_speech)
        self._silence_run_ms = 0 if is_speech else self._silence_run_ms + cfg.frame_ms
        if self._silence_run_ms >= cfg.hangover_ms:
            self.done = True
            return EndpointEvent(Decision.ENDED_SILENCE, frame_end_ms)
        if frame_end_ms - self.speech_start_ms >= cfg.max_utterance_ms:
            self.done = True
            return EndpointEvent(Decision.ENDED_MAX_LENGTH, frame_end_ms)
        return None

    def _waiting(self, frame_end_ms: int, is_speech: bool) -> EndpointEvent | None:
        cfg = self._config
        self._speech_run_ms = self._speech_run_ms + cfg.frame_ms if is_speech else 0
        if self._speech_run_ms >= cfg.speech_start_ms:
            self.speech_start_ms = frame_end_ms - self._speech_run_ms
            return EndpointEvent(Decision.STARTED, self.speech_start_ms)
        timeout = cfg.start_timeout_ms
        if timeout is not None and frame_end_ms - self._opened_at_ms >= timeout:
            self.done = True
            return EndpointEvent(Decision.TIMED_OUT, frame_end_ms)
        return None
