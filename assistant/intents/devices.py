"""The user's devices: names for matching, targets for commands, and the last state seen."""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hassil.expression import TextChunk
from hassil.intents import SlotList, TextSlotList, TextSlotValue

from assistant.config import DeviceSettings
from assistant.quoting import excerpt

log = logging.getLogger(__name__)

MAX_STATE_CHARS = 40
"""The longest state value that is spoken ("on", "21.5", "2024-06-01T10:00:00+00:00"); a longer
one, or one with control characters, is unreadable: said to be so, never read out."""
MAX_PAYLOAD_CHARS = 4096
"""The longest state payload looked into (a JSON state with its attributes)."""

# State words (Home Assistant's, and what MQTT devices commonly send) that mean on / off.
ON_STATES = {"on", "open", "opening", "locked", "playing", "heat", "cool", "auto", "home",
             "true", "1"}
OFF_STATES = {"off", "closed", "closing", "unlocked", "paused", "idle", "standby", "not_home",
              "away", "false", "0"}


@dataclass(frozen=True)
class SeenState:
    """The last state a device reported."""

    value: str | None
    """Short, clean text ("ON", "21.5"; a JSON payload's "state"), fit to be spoken; None when
    the payload was unreadable (too long, control characters, not text)."""


@dataclass(frozen=True)
class Target:
    """What a command's slots asked for, before looking up devices."""

    name: str | None = None
    area: str | None = None
    floor: str | None = None
    domains: tuple[str, ...] = ()

    def describe(self, plural: bool = False) -> str:
        what = self.name or (self.domains[0].replace("_", " ") if self.domains else "device")
        if plural and self.name is None:
            what += "es" if what.endswith(("s", "ch", "sh")) else "s"
        if self.name is None and self.area:
            return f"{what} in the {self.area}"
        if self.name is None and self.floor:
            return f"{what} on the {self.floor}"
        return what


class DeviceRegistry:
    def __init__(self, devices: Iterable[DeviceSettings]) -> None:
        self.devices = list(devices)
        self._states: dict[str, SeenState] = {}

    def slot_lists(self) -> dict[str, SlotList]:
        """hassil lists {name}, {area} and {floor}, with the context Home Assistant gives them:
        a name carries its domain, so "open the garage door" matches only a cover."""
        names: list[tuple[str, str, dict[str, Any]]] = []
        for device in self.devices:
            for spoken in (device.name, *device.aliases):
                names.append((spoken, device.name, {"domain": device.type}))
        areas = sorted({d.area for d in self.devices if d.area})
        floors = sorted({d.floor for d in self.devices if d.floor})
        return {
            "name": _text_list("name", names),
            "area": _text_list("area", [(a, a, {}) for a in areas]),
            "floor": _text_list("floor", [(f, f, {}) for f in floors]),
        }

    def find(self, target: Target) -> list[DeviceSettings]:
        found = []
        for device in self.devices:
            if target.name is not None and device.name.casefold() != target.name.casefold():
                continue
            if target.area is not None and target.name is None and not _same(device.area,
                                                                              target.area):
                continue
            if target.floor is not None and not _same(device.floor, target.floor):
                continue
            if target.domains and device.type not in target.domains:
                continue
            found.append(device)
        return found

    def record_state(self, device: DeviceSettings, payload: str | None) -> None:
        """What the device (or Home Assistant) last said its state is: a payload, or None for
        one that could not be read as text."""
        value = readable_state(payload)
        if value is None and payload is not None:
            log.warning("%s: unreadable state (%d characters): %s", device.name, len(payload),
                        excerpt(payload))
        self._states[device.name] = SeenState(value)

    def state(self, device: DeviceSettings) -> SeenState | None:
        """None when nothing was heard from the device yet."""
        return self._states.get(device.name)

    def is_on(self, device: DeviceSettings) -> bool | None:
        """None when no readable state was seen yet, or the last one means neither on nor
        off."""
        seen = self.state(device)
        if seen is None or seen.value is None:
            return None
        value = seen.value.casefold()
        if value == (device.state_on or device.payload_on).casefold() or value in ON_STATES:
            return True
        if value == (device.state_off or device.payload_off).casefold() or value in OFF_STATES:
            return False
        return None


def state_word(device: DeviceSettings, on: bool) -> str:
    words = {"cover": ("open", "closed"), "lock": ("locked", "unlocked"),
             "media_player": ("playing", "off")}
    yes, no = words.get(device.type, ("on", "off"))
    return yes if on else no


def readable_state(payload: str | None) -> str | None:
    """The state in a payload, if it is fit to be spoken: at most MAX_STATE_CHARS, no control
    characters; None otherwise."""
    if payload is None or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    value = _state_value(payload).strip()
    if not value or len(value) > MAX_STATE_CHARS:
        return None
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
           for char in value):
        return None
    return value


def _state_value(raw: str) -> str:
    """The state in a payload: plain text, or JSON with a "state" key (zigbee2mqtt, Tasmota)."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deep
            return text
        for key in ("state", "State", "POWER", "value"):
            if isinstance(data, dict) and isinstance(data.get(key), str | int | bool):
                return str(data[key])
    return text


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.casefold() == b.casefold()


def _text_list(name: str, values: list[tuple[str, str, dict[str, Any]]]) -> TextSlotList:
    return TextSlotList(name=name, values=[
        TextSlotValue(TextChunk(spoken), value, context=context or None)
        for spoken, value, context in values
    ])
