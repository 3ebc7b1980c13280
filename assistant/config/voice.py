"""Settings of the voice loop: audio devices, wake word, endpointing, ASR, TTS, the conversation,
intents and the spoken responses; models and logging."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from assistant.config.base import Section
from assistant.config.engines import Placement

WakeWordName = Literal["okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"]
HANGOVER_PRESETS_MS = {"fast": 300, "normal": 700, "relaxed": 1200}


class InputSettings(Section):
    device: str | int | None = None
    """sounddevice input name (substring) or index; null: the system default."""


class OutputSettings(Section):
    device: str | int | None = None


class AudioSettings(Section):
    input: InputSettings = InputSettings()
    output: OutputSettings = OutputSettings()
    queue_ms: Annotated[int, Field(ge=200, le=30000)] = 2000


class WakeSettings(Section):
    words: Annotated[list[WakeWordName], Field(min_length=1)] = ["okay_nabu"]
    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None
    """Probability cutoff; null uses each model's own (0.85-0.97)."""
    refractory_ms: Annotated[int, Field(ge=0, le=10000)] = 2000


class EndpointSettings(Section):
    preset: Literal["fast", "normal", "relaxed"] = "normal"
    hangover_ms: Annotated[int, Field(ge=100, le=5000)] | None = None
    speech_start_timeout_ms: Annotated[int, Field(ge=500, le=30000)] = 5000
    max_utterance_ms: Annotated[int, Field(ge=1000, le=60000)] = 15000
    preroll_ms: Annotated[int, Field(ge=0, le=1000)] = 300
    speech_start_ms: Annotated[int, Field(ge=20, le=1000)] = 100
    speculate: bool = True
    """Transcribe (and prepare the reply) at each pause, before the endpoint is certain."""
    speculate_after_ms: Annotated[int, Field(ge=20, le=2000)] = 120
    adaptive: bool = True
    """With speculate: once the words so far are a complete command, end on the short hangover."""
    short_hangover_ms: Annotated[int, Field(ge=100, le=5000)] = 300
    vad: Literal["webrtc", "silero"] = "webrtc"
    vad_aggressiveness: Annotated[int, Field(ge=0, le=3)] = 2
    silero_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5

    @property
    def effective_hangover_ms(self) -> int:
        if self.hangover_ms is not None:
            return self.hangover_ms
        return HANGOVER_PRESETS_MS[self.preset]


class AsrSettings(Section):
    model: str = "tiny.en"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "en"
    beam_size: Annotated[int, Field(ge=1, le=10)] = 1
    min_window_s: Annotated[float, Field(ge=1, le=30)] = 10.0
    no_speech_threshold: Annotated[float, Field(ge=0, le=1)] = 0.6
    cpu_threads: Annotated[int, Field(ge=0, le=64)] = 0
    placement: Placement = "process"
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    """One transcription may take this long; a worker that takes longer is killed and
    restarted, and the turn is answered with responses.not_heard."""


class TtsSettings(Section):
    engine: Literal["piper", "espeak"] = "piper"
    voice: str = "en_US-joe-medium"
    fallback: Literal["espeak", "none"] = "espeak"
    espeak_voice: str = "en-us"
    length_scale: Annotated[float, Field(gt=0.2, lt=3)] | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    placement: Placement = "process"
    """Where the voice runs (espeak-ng, the fallback, always runs in the daemon)."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    """One piece of text may take this long; then the worker is restarted and the fallback
    voice speaks."""
    max_chars: Annotated[int, Field(ge=100, le=50_000)] = 2000
    """The most one request to speak says (a reply, an announcement, `assistant say`); a longer
    text is cut at a word boundary, with an ellipsis, and the log says so."""


class ConversationSettings(Section):
    mode: Literal["wake_word", "always_listening", "push_to_talk"] = "wake_word"
    follow_up_s: Annotated[float, Field(ge=0, le=60)] = 0.0
    barge_in: bool = True
    turn_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    control_socket: Path | None = None


class IntentSettings(Section):
    language: Literal["en"] = "en"
    skip_words: list[str] = ["um", "uh", "er", "hmm", "please"]
    files: list[Path] = []
    """The user's own intents: YAML in hassil's format, each intent with a response and action."""
    fuzzy_threshold: Annotated[float, Field(gt=0, le=1)] | None = 0.85
    """Similarity (0-1) a transcript needs to a known sentence when nothing matches exactly."""


class ResponseSettings(Section):
    not_understood: str = "Sorry, I didn't understand."
    failed: str = "Sorry, something went wrong."
    not_heard: str = "Sorry, I could not hear that."
    """Said when speech recognition failed (its worker crashed, hung or ran out of memory)."""
    nothing_to_repeat: str = "I haven't said anything yet."
    queued: str = "The message broker is unreachable; I'll send that when it's back."
    """Said instead of the action's response when its MQTT message could only be queued."""


class ModelSettings(Section):
    offline: bool = False
    cache_dir: Path | None = None


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
