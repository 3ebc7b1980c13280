"""Typed pipeline events. Serialized once, at the edge, by `to_json`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar


class Stage(IntEnum):
    CAPTURE = 1
    WAKE = 2
    VAD = 3
    ASR = 4
    INTENT = 5
    HANDLER = 6
    TTS = 7
    PLAYBACK = 8
    CONTROL = 9
    TURN = 10
    SPEAKER = 11
    SOUND = 12
    CONFIG = 13
    """The settings (a reload on SIGHUP)."""


@dataclass(frozen=True)
class Event:
    """`at_ms` is stream time: ms of audio since the input started."""

    type: ClassVar[str] = "event"
    at_ms: int
    turn_id: int | None = None


@dataclass(frozen=True)
class WakeDetected(Event):
    type: ClassVar[str] = "wake_detected"
    wake_word: str = ""
    source: str = "wake_word"  # wake_word | control (push-to-talk)


@dataclass(frozen=True)
class SpeechStarted(Event):
    type: ClassVar[str] = "speech_started"


@dataclass(frozen=True)
class SpeechEnded(Event):
    type: ClassVar[str] = "speech_ended"
    duration_ms: int = 0
    reason: str = "silence"  # silence | max_length | input_ended


@dataclass(frozen=True)
class ListenTimedOut(Event):
    """The wake word was heard but no speech followed within the timeout."""

    type: ClassVar[str] = "listen_timed_out"


@dataclass(frozen=True)
class Transcribed(Event):
    type: ClassVar[str] = "transcribed"
    text: str = ""
    latency_ms: float = 0.0
    no_speech_prob: float = 0.0
    speculative: bool = False
    """Transcribed at a pause before the endpoint (speculation), not after it."""
    audio_ms: int = 0
    compute_ms: float = 0.0
    """Whisper's own time on `audio_ms` of speech (wherever it ran: pause or endpoint)."""


@dataclass(frozen=True)
class IntentMatched(Event):
    type: ClassVar[str] = "intent_matched"
    intent: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    fuzzy: bool = False
    """Matched only after correcting near-miss words or names (score: their similarity)."""
    score: float = 1.0


@dataclass(frozen=True)
class IntentNotMatched(Event):
    type: ClassVar[str] = "intent_not_matched"
    text: str = ""


@dataclass(frozen=True)
class Replied(Event):
    type: ClassVar[str] = "replied"
    text: str = ""
    first_audio_ms: float | None = None
    voice: str = ""
    success: bool = True
    """False when the reply says something was not done: a failure, a command only queued,
    not understood."""
    prepared: bool = False
    """Its audio was synthesized during the pause, before the endpoint (speculation)."""


@dataclass(frozen=True)
class PlaybackFinished(Event):
    type: ClassVar[str] = "playback_finished"
    interrupted: bool = False


@dataclass(frozen=True)
class SpeculationDiscarded(Event):
    """Speech went on after a pause: what was worked out at the pause is thrown away."""

    type: ClassVar[str] = "speculation_discarded"
    text: str = ""
    """The transcript made at the pause ("" if it was not finished)."""
    had_reply: bool = False
    """A reply had been prepared (and is never played)."""


@dataclass(frozen=True)
class TurnCancelled(Event):
    type: ClassVar[str] = "turn_cancelled"
    reason: str = ""


@dataclass(frozen=True)
class StageFailed(Event):
    type: ClassVar[str] = "stage_failed"
    stage: Stage = Stage.CAPTURE
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class SoundDetected(Event):
    """A sound that is not speech (an alarm, a dog, glass): one event per occurrence."""

    type: ClassVar[str] = "sound_detected"
    label: str = ""
    score: float = 0.0
    start_ms: int = 0
    end_ms: int = 0


@dataclass(frozen=True)
class MusicDetected(Event):
    """Music has been playing for a while; sent again when its top tags change."""

    type: ClassVar[str] = "music_detected"
    genre: str = ""
    mood: str = ""
    instrument: str = ""
    score: float = 0.0


@dataclass(frozen=True)
class SpeakerIdentified(Event):
    type: ClassVar[str] = "speaker_identified"
    name: str = "unknown"
    score: float = 0.0


@dataclass(frozen=True)
class StateChanged(Event):
    """What the assistant is doing: idle, listening, thinking or speaking."""

    type: ClassVar[str] = "state_changed"
    state: str = "idle"


@dataclass(frozen=True)
class MuteChanged(Event):
    """Muted: wake words and passive listening are ignored (a listen request still works)."""

    type: ClassVar[str] = "mute_changed"
    muted: bool = False


@dataclass(frozen=True)
class EngineReady(Event):
    """An engine's worker is loaded and warm: at start and after every restart."""

    type: ClassVar[str] = "engine_ready"
    stage: Stage = Stage.ASR
    engine: str = ""
    """What runs (e.g. "whisper:tiny.en", "piper:en_US-joe-medium")."""
    placement: str = "process"
    """process (a supervised worker process) or thread (inside the daemon)."""
    device: str = "cpu"
    pid: int | None = None
    restarts: int = 0
    """Restarts of this worker so far (0 at start)."""


@dataclass(frozen=True)
class DeviceChanged(Event):
    """The microphone or speaker went away or came back."""

    type: ClassVar[str] = "device_changed"
    kind: str = "input"  # input | output
    available: bool = True
    device: str = ""


@dataclass(frozen=True)
class Stats(Event):
    """Health figures since the previous `stats` event (sent every minute and at the end)."""

    type: ClassVar[str] = "stats"
    loop_lag_max_ms: float = 0.0
    """The event loop's worst lateness: how long something blocked it."""
    input_overflows: int = 0
    """PortAudio input overflows: audio lost before it reached us."""
    output_underflows: int = 0
    """PortAudio output underflows: the speaker ran dry while playing."""
    audio_dropped: int = 0
    """20 ms chunks dropped because a stage fell behind (its queue was full)."""
    events_dropped: int = 0
    """Events an output could not take in time (a pipe nobody reads)."""


@dataclass(frozen=True)
class InputEnded(Event):
    type: ClassVar[str] = "input_ended"


@dataclass(frozen=True)
class SettingsReloaded(Event):
    """SIGHUP: the settings file was read again and the daemon runs on the new settings (its
    models loaded and warm again)."""

    type: ClassVar[str] = "settings_reloaded"
    changed: tuple[str, ...] = ()
    """The top-level sections that differ from before (e.g. "responses", "wake")."""


def to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"type": event.type}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        data[f.name] = value.name.lower() if isinstance(value, Stage) else value
    return data


def to_json(event: Event) -> str:
    return json.dumps(to_dict(event), ensure_ascii=False, default=str)
