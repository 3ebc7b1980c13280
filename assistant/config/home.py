"""Settings for the home: where the assistant is, MQTT, Home Assistant, devices, actions, timers."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from assistant.config.base import Section
from assistant.intents.actions import named_speakers


class SiteSettings(Section):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    """This assistant's id in MQTT topics and Home Assistant; null: the host name."""
    area: str | None = None
    """The area it stands in: "turn on the lights" means the lights here."""


class MqttSettings(Section):
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


class HomeAssistantSettings(Section):
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


class DeviceSettings(Section):
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
    speakers: Annotated[list[str], AfterValidator(named_speakers)] = []
    """Only these enrolled speakers may command it (empty: anyone)."""
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


class ShellSettings(Section):
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


class TimerSettings(Section):
    state_file: Path | None = None
    """Where running timers are kept across restarts; null: $XDG_STATE_HOME/assistant/..."""


def site_id(site: SiteSettings) -> str:
    """This assistant's name in topics and ids: the configured one, else the host name."""
    if site.name:
        return site.name
    host = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "_", host) or "assistant"


def mqtt_prefix(mqtt: MqttSettings, site: SiteSettings) -> str:
    prefix = mqtt.prefix if mqtt.prefix is not None else f"assistant/{site_id(site)}/"
    return prefix if prefix.endswith("/") or not prefix else prefix + "/"
