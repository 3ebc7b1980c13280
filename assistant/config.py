"""YAML -> validated, frozen settings. Unknown keys are errors; a user file overrides defaults."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import ConfigError

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


class SiteSettings(_Section):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    """This assistant's id in MQTT topics and Home Assistant; null: the host name."""
    area: str | None = None
    """The area it stands in: "turn on the lights" means the lights here."""


class MqttSettings(_Section):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    """CA bundle for tls; null: the system's."""
    tls_insecure: bool = False
    """Skip the broker certificate's host name check (self-signed test brokers only)."""
    client_id: str | None = None
    """null: assistant-<site>."""
    prefix: str | None = None
    """Topic prefix for the assistant's events and commands; null: assistant/<site>/."""
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    queue_size: Annotated[int, Field(ge=1, le=100000)] = 100
    """Messages kept while the broker is away; beyond this the oldest is dropped."""
    reconnect_min_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    discovery: bool = True
    """Announce the assistant to Home Assistant (MQTT discovery)."""
    discovery_prefix: str = "homeassistant"

    @model_validator(mode="after")
    def _check(self) -> MqttSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        return self


class HomeAssistantSettings(_Section):
    url: Annotated[str, Field(pattern=r"^https?://")]
    """Base URL, e.g. http://homeassistant.local:8123"""
    token: str | None = None
    """Long-lived access token (Profile > Security in Home Assistant)."""
    token_file: Path | None = None
    """A file holding the token, so the config can be shared without it."""
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    verify_tls: bool = True
    conversation_fallback: bool = False
    """Hand what no intent here matches to Home Assistant's conversation agent; speak its answer."""

    @model_validator(mode="after")
    def _check(self) -> HomeAssistantSettings:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token or token_file")
        return self


DeviceType = Literal[
    "light", "switch", "fan", "cover", "lock", "climate", "media_player", "sensor",
    "binary_sensor",
]


class DeviceSettings(_Section):
    """One device, described once, Home-Assistant-MQTT style; or a Home Assistant entity."""

    name: Annotated[str, Field(min_length=1)]
    type: DeviceType
    aliases: list[str] = []
    area: str | None = None
    floor: str | None = None
    # MQTT
    command_topic: str | None = None
    state_topic: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str | None = None
    """State payload meaning on; null: payload_on."""
    state_off: str | None = None
    payloads: dict[str, str] = {}
    """Other command payloads: open, close, stop, lock, unlock, play, pause, next, previous
    (defaults: the word in capitals)."""
    brightness_command_topic: str | None = None
    brightness_scale: Annotated[int, Field(ge=1, le=100000)] = 255
    rgb_command_topic: str | None = None
    """Receives "r,g,b"."""
    temperature_command_topic: str | None = None
    volume_command_topic: str | None = None
    """Receives the volume in percent."""
    unit: str | None = None
    """Unit spoken after a sensor's value ("degrees")."""
    qos: Annotated[int, Field(ge=0, le=2)] = 1
    retain: bool = False
    # Home Assistant
    entity_id: Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")] | None = None

    @model_validator(mode="after")
    def _check(self) -> DeviceSettings:
        mqtt = [self.command_topic, self.state_topic, self.brightness_command_topic,
                self.rgb_command_topic, self.temperature_command_topic, self.volume_command_topic]
        if self.entity_id is None and not any(mqtt):
            raise ValueError(f"device {self.name!r} needs an entity_id (Home Assistant) or "
                             "MQTT topics (command_topic, state_topic, ...)")
        if self.entity_id is not None and any(mqtt):
            raise ValueError(f"device {self.name!r}: use either entity_id or MQTT topics")
        return self

    @property
    def uses_mqtt(self) -> bool:
        return self.entity_id is None


SECRET_KEYS = frozenset({"password", "token"})
# Programs that run other programs or code from their arguments: allowing one would make the
# allowlist mean nothing. Checked on the resolved path, so a symlink cannot hide a shell.
SHELLS = frozenset({
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "env", "sudo",
    "su", "doas", "xargs", "eval", "exec", "timeout", "nice", "nohup", "setsid", "stdbuf",
    "ssh", "systemd-run", "flock", "chroot", "unshare", "nsenter", "strace", "ltrace", "time",
    "watch", "script", "expect", "runuser", "pkexec", "find", "awk", "gawk", "mawk", "perl",
    "python", "python3", "ruby", "node", "php", "lua", "tclsh", "osascript", "make",
})


class ShellSettings(_Section):
    allow: list[Path] = []
    """Programs (absolute paths) that shell actions may run. Shells themselves are refused."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0

    @model_validator(mode="after")
    def _check(self) -> ShellSettings:
        for entry in self.allow:
            if not entry.is_absolute():
                raise ValueError(f"{entry}: give the program's absolute path")
            names = {entry.name, entry.resolve().name}
            if any(name in SHELLS or re.fullmatch(r"python[\d.]*|perl[\d.]*", name)
                   for name in names):
                raise ValueError(f"{entry}: a shell or command runner cannot be allowed; "
                                 "allow the program it would run instead")
        return self


class TimerSettings(_Section):
    state_file: Path | None = None
    """Where running timers are kept across restarts; null: $XDG_STATE_HOME/assistant/..."""


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


def site_id(site: SiteSettings) -> str:
    """This assistant's name in topics and ids: the configured one, else the host name."""
    if site.name:
        return site.name
    host = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "_", host) or "assistant"


def mqtt_prefix(mqtt: MqttSettings, site: SiteSettings) -> str:
    prefix = mqtt.prefix if mqtt.prefix is not None else f"assistant/{site_id(site)}/"
    return prefix if prefix.endswith("/") or not prefix else prefix + "/"


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
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None or not (isinstance(field.annotation, type)
                                 and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)
