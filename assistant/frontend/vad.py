"""Voice activity per 20 ms frame (WebRTC VAD) and a pure, clock-free endpointing state machine.

The endpointer sees only (stream time, is_speech) pairs, so a file replayed faster than real time
gives exactly the decisions a live microphone would.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import webrtcvad

from assistant.audio.format import CHUNK_MS, STREAM_FORMAT, AudioChunk
from assistant.engines.base import Vad
from assistant.errors import ModelError


class VoiceActivity:
    """WebRTC VAD on 20 ms frames of the internal stream."""

    def __init__(self, aggressiveness: int) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, chunk: AudioChunk) -> bool:
        return bool(self._vad.is_speech(chunk.pcm, STREAM_FORMAT.rate_hz))


class SileroActivity:
    """Silero VAD (the ONNX model bundled with faster-whisper), streamed in 32 ms windows.

    Stronger than WebRTC VAD on recorded background noise, for ~0.6% of one core.
    """

    WINDOW = 512
    CONTEXT = 64

    def __init__(self, threshold: float) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(_silero_model_path()), providers=["CPUExecutionProvider"], sess_options=options)
        self._threshold = threshold
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._probability = 0.0

    def is_speech(self, chunk: AudioChunk) -> bool:
        samples = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float32) / 32768
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= self.WINDOW:
            window, self._pending = self._pending[:self.WINDOW], self._pending[self.WINDOW:]
            frame = np.concatenate([self._context, window])[None]
            out, self._h, self._c = self._session.run(
                None, {"input": frame, "h": self._h, "c": self._c})
            self._context = window[-self.CONTEXT:]
            self._probability = float(np.asarray(out).ravel()[0])
        return self._probability > self._threshold

    def pause(self) -> None:
        """The stream stops here for a while: drop the half window, keep the model's state
        (it has settled on silence, which is what it resumes from; a zeroed state made the
        first frames after it look like speech)."""
        self._pending = np.zeros(0, dtype=np.float32)
        self._probability = 0.0


class GatedSilero:
    """Silero's judgement, but Silero runs only near what WebRTC VAD calls speech.

    WebRTC VAD is nearly free and never misses speech, but takes quiet background noise for
    speech too; Silero tells them apart, at a cost (1.6% of a core on its own, measured with
    tests/bench/bench_idle.py). In silence only WebRTC runs; Silero starts with the first
    frame WebRTC hears and stops once WebRTC has heard nothing for GATE_MS.
    """

    GATE_MS = 300

    def __init__(self, aggressiveness: int, threshold: float) -> None:
        self._webrtc = VoiceActivity(aggressiveness)
        self._silero = SileroActivity(threshold)
        self._quiet_ms = float(self.GATE_MS)

    def is_speech(self, chunk: AudioChunk) -> bool:
        if self._webrtc.is_speech(chunk):
            self._quiet_ms = 0
        else:
            self._quiet_ms += chunk.duration_ms
        if self._quiet_ms >= self.GATE_MS:
            if self._quiet_ms - chunk.duration_ms < self.GATE_MS:
                self._silero.pause()
            return False
        return self._silero.is_speech(chunk)


def _silero_model_path() -> Path:
    import faster_whisper

    assets = Path(faster_whisper.__file__).parent / "assets"
    found = sorted(assets.glob("silero_vad*.onnx"))
    if not found:
        raise ModelError(f"no Silero VAD model in {assets}; use endpoint.vad: webrtc")
    return found[-1]


def make_voice_activity(kind: str, aggressiveness: int, silero_threshold: float
                        ) -> Vad:
    if kind == "silero":
        return GatedSilero(aggressiveness, silero_threshold)
    return VoiceActivity(aggressiveness)


@dataclass(frozen=True)
class EndpointConfig:
    hangover_ms: int = 700
    """Silence after speech that ends the utterance."""
    start_timeout_ms: int | None = 5000
    """Speech must start this long after listening opened; None waits for ever."""
    max_utterance_ms: int = 15000
    speech_start_ms: int = 100
    """Consecutive speech needed to call it speech, so clicks do not open an utterance."""
    pause_ms: int | None = None
    """Silence after speech that reports PAUSED (speculative work starts); None: never."""
    short_hangover_ms: int | None = None
    """The hangover once the words so far are a complete command (`mark_complete`)."""
    frame_ms: int = CHUNK_MS


class Decision(enum.Enum):
    STARTED = "started"
    PAUSED = "paused"
    """Speech stopped `pause_ms` ago: the utterance may be over."""
    RESUMED = "resumed"
    """Speech again after PAUSED: whatever was worked out at the pause is out of date."""
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
        self._paused = False
        self._complete = False

    @property
    def silence_ms(self) -> int:
        """Silence since the last speech frame."""
        return self._silence_run_ms

    def mark_complete(self) -> None:
        """The words up to the current pause are a whole command: end on the short hangover.
        Forgotten as soon as speech resumes."""
        if self._paused:
            self._complete = True

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
        self._track_silence(is_speech)
        hangover = cfg.hangover_ms
        if self._complete and cfg.short_hangover_ms is not None:
            hangover = min(hangover, cfg.short_hangover_ms)
        if self._silence_run_ms >= hangover:
            self.done = True
            return EndpointEvent(Decision.ENDED_SILENCE, frame_end_ms)
        if frame_end_ms - self.speech_start_ms >= cfg.max_utterance_ms:
            self.done = True
            return EndpointEvent(Decision.ENDED_MAX_LENGTH, frame_end_ms)
        # After a pause, speech counts once it lasts `speech_start_ms`: a click or a breath
        # restarts the hangover, but does not throw away what was worked out at the pause.
        if self._paused and self._speech_run_ms >= cfg.speech_start_ms:
            self._paused = self._complete = False
            return EndpointEvent(Decision.RESUMED, frame_end_ms)
        if cfg.pause_ms is not None and self._silence_run_ms >= cfg.pause_ms and not self._paused:
            self._paused = True
            return EndpointEvent(Decision.PAUSED, frame_end_ms)
        return None

    def _track_silence(self, is_speech: bool) -> None:
        frame = self._config.frame_ms
        self._speech_run_ms = self._speech_run_ms + frame if is_speech else 0
        self._silence_run_ms = 0 if is_speech else self._silence_run_ms + frame

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
