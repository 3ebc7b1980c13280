"""YAML -> validated, frozen settings. Unknown keys are errors; a user file overrides defaults."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import ConfigError
from assistant.home_config import (
    SECRET_KEYS,
    DeviceSettings,
    HomeAssistantSettings,
    MqttSettings,
    ShellSettings,
    SiteSettings,
    TimerSettings,
)
from assistant.room_config import SoundSettings, SpeakerSettings
from assistant.transcript_config import TranscriptSettings

WakeWordName = Literal["okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"]
HANGOVER_PRESETS_MS = {"fast": 300, "normal": 700, "relaxed": 1200}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSettings(_Section):
    device: str | int | None = None
    """sounddevice input name (substring) or index; null: the system default."""


class OutputSettings(_Section):
    device: str | int | None = None


class AudioSettings(_Section):
    input: InputSettings = InputSettings()
    output: OutputSettings = OutputSettings()
    queue_ms: Annotated[int, Field(ge=200, le=30000)] = 2000


class WakeSettings(_Section):
    words: Annotated[list[WakeWordName], Field(min_length=1)] = ["okay_nabu"]
    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None
    """Probability cutoff; null uses each model's own (0.85-0.97)."""
    refractory_ms: Annotated[int, Field(ge=0, le=10000)] = 2000


class EndpointSettings(_Section):
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


class AsrSettings(_Section):
    model: str = "tiny.en"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "en"
    beam_size: Annotated[int, Field(ge=1, le=10)] = 1
    min_window_s: Annotated[float, Field(ge=1, le=30)] = 10.0
    no_speech_threshold: Annotated[float, Field(ge=0, le=1)] = 0.6
    cpu_threads: Annotated[int, Field(ge=0, le=64)] = 0


class TtsSettings(_Section):
    engine: Literal["piper", "espeak"] = "piper"
    voice: str = "en_US-joe-medium"
    fallback: Literal["espeak", "none"] = "espeak"
    espeak_voice: str = "en-us"
    length_scale: Annotated[float, Field(gt=0.2, lt=3)] | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"


class ConversationSettings(_Section):
    mode: Literal["wake_word", "always_listening", "push_to_talk"] = "wake_word"
    follow_up_s: Annotated[float, Field(ge=0, le=60)] = 0.0
    barge_in: bool = True
    turn_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    control_socket: Path | None = None


class IntentSettings(_Section):
    language: Literal["en"] = "en"
    skip_words: list[str] = ["um", "uh", "er", "hmm", "please"]
    files: list[Path] = []
    """The user's own intents: YAML in hassil's format, each intent with a response and action."""
    fuzzy_threshold: Annotated[float, Field(gt=0, le=1)] | None = 0.85
    """Similarity (0-1) a transcript needs to a known sentence when nothing matches exactly."""


class ResponseSettings(_Section):
    not_understood: str = "Sorry, I didn't understand."
    failed: str = "Sorry, something went wrong."
    nothing_to_repeat: str = "I haven't said anything yet."
    queued: str = "The message broker is unreachable; I'll send that when it's back."
    """Said instead of the action's response when its MQTT message could only be queued."""


class ModelSettings(_Section):
    offline: bool = False
    cache_dir: Path | None = None


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(_Section):
    audio: AudioSettings = AudioSettings()
    wake: WakeSettings = WakeSettings()
    endpoint: EndpointSettings = EndpointSettings()
    asr: AsrSettings = AsrSettings()
    tts: TtsSettings = TtsSettings()
    conversation: ConversationSettings = ConversationSettings()
    intents: IntentSettings = IntentSettings()
    responses: ResponseSettings = ResponseSettings()
    site: SiteSettings = SiteSettings()
    mqtt: MqttSettings | None = None
    """No mqtt section: no MQTT at all."""
    homeassistant: HomeAssistantSettings | None = None
    devices: list[DeviceSettings] = []
    shell: ShellSettings = ShellSettings()
    timers: TimerSettings = TimerSettings()
    sounds: SoundSettings = SoundSettings()
    speakers: SpeakerSettings = SpeakerSettings()
    transcripts: TranscriptSettings = TranscriptSettings()
    models: ModelSettings = ModelSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="after")
    def _check_devices(self) -> Settings:
        names: set[str] = set()
        for device in self.devices:
            for name in (device.name, *device.aliases):
                key = name.casefold()
                if key in names:
                    raise ValueError(f"two devices are called {name!r}; names must be unique")
                names.add(key)
            if device.uses_mqtt and self.mqtt is None:
                raise ValueError(f"device {device.name!r} uses MQTT topics but there is no "
                                 "mqtt section")
            if not device.uses_mqtt and self.homeassistant is None:
                raise ValueError(f"device {device.name!r} has an entity_id but there is no "
                                 "homeassistant section")
        return self


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assistant" / "config.yaml"


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load `path` (or the XDG default if it exists) over the built-in defaults."""
    explicit = path is not None
    path = path if path is not None else default_config_path()
    data: dict[str, Any] = {}
    if path.exists():
        data = _read_yaml(path)
    elif explicit:
        raise ConfigError(f"{path}: config file not found. Check the path given to --config.")
    if overrides:
        data = _merge(data, overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path if path.exists() else None)) from exc
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}).") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}.")
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, path: Path | None) -> str:
    source = str(path) if path else "settings"
    root = _compose(path)
    lines = [f"{source}: {exc.error_count()} invalid setting(s):"]
    for err in exc.errors():
        loc = tuple(part for part in err["loc"] if not str(part).startswith("function-"))
        key = ".".join(str(part) for part in loc)
        line = _line_of(root, loc)
        where = f"line {line}: " if line else ""
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(f"  {where}{key}: unknown key. Allowed here: {', '.join(allowed)}.")
            continue
        message = err["msg"].removeprefix("Value error, ")
        if not key:  # a check across sections (devices and their links)
            lines.append(f"  {message}.")
            continue
        value = err.get("input")
        if any(str(part) in SECRET_KEYS for part in loc):
            value = "***"  # never echo a password or token into logs
        if err["type"] == "value_error" and isinstance(value, dict | list):
            lines.append(f"  {where}{key}: {message}.")  # the whole section says nothing
            continue
        lines.append(f"  {where}{key} = {value!r}: {message}.")
    lines.append("See config/default.yaml for every key, its meaning and allowed values.")
    return "\n".join(lines)


def _compose(path: Path | None) -> yaml.Node | None:
    if path is None:
        return None
    try:
        return yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, so errors point into the user's file."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and part < len(node.value)):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of sections (devices)
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = _section_type(field.annotation)
        if model is None:
            return []
    return sorted(model.model_fields)


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The settings class inside `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
