"""Home Assistant's device intents acted on the user's devices, over MQTT or Home Assistant.

A reply says what really happened: done, queued until the broker is back, or failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from assistant.config import DeviceSettings, ResponseSettings
from assistant.errors import HandlerError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.devices import DeviceRegistry, Target
from assistant.intents.handlers.base import Handler, HandlerContext, HandlerResult, Publisher
from assistant.intents.matching import IntentMatch

COLORS_RGB = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "orange": (255, 165, 0),
    "yellow": (255, 255, 0), "green": (0, 128, 0), "blue": (0, 0, 255),
    "purple": (128, 0, 128), "brown": (165, 42, 42), "pink": (255, 192, 203),
    "turquoise": (64, 224, 208),
}


@dataclass(frozen=True)
class Command:
    """One thing to do to a device: an MQTT payload on a topic, or a Home Assistant service."""

    topic: str | None
    payload: str
    service: str
    data: dict[str, Any]


def on_off(device: DeviceSettings, on: bool) -> Command:
    kind = device.type
    if kind == "cover":
        word, service = ("open", "open_cover") if on else ("close", "close_cover")
        return _command(device, word, f"cover.{service}")
    if kind == "lock":
        word = "lock" if on else "unlock"
        return _command(device, word, f"lock.{word}")
    payload = device.payload_on if on else device.payload_off
    return Command(device.command_topic, payload, f"{kind}.turn_{'on' if on else 'off'}", {})


def media(device: DeviceSettings, word: str) -> Command:
    services = {"pause": "media_pause", "play": "media_play", "next": "media_next_track",
                "previous": "media_previous_track"}
    return _command(device, word, f"media_player.{services[word]}")


def _command(device: DeviceSettings, word: str, service: str) -> Command:
    return Command(device.command_topic, device.payloads.get(word, word.upper()), service, {})


class HomeHandlers:
    """Turn on/off, light settings, state questions, temperature, media and volume."""

    def __init__(self, registry: DeviceRegistry, publisher: Publisher | None,
                 homeassistant: HomeAssistantClient | None, responses: ResponseSettings) -> None:
        self._registry = registry
        self._publisher = publisher
        self._ha = homeassistant
        self._responses = responses

    def handlers(self) -> dict[str, Handler]:
        act = self._act
        simple: dict[str, Callable[[IntentMatch, HandlerContext], Awaitable[HandlerResult]]] = {
            "HassTurnOn": lambda m, c: act(m, lambda d: on_off(d, True), "Turned on"),
            "HassTurnOff": lambda m, c: act(m, lambda d: on_off(d, False), "Turned off"),
            "HassMediaPause": lambda m, c: act(m, lambda d: media(d, "pause"), "Paused"),
            "HassMediaUnpause": lambda m, c: act(m, lambda d: media(d, "play"), "Resumed"),
            "HassMediaNext": lambda m, c: act(m, lambda d: media(d, "next"), "Skipped on"),
            "HassMediaPrevious": lambda m, c: act(m, lambda d: media(d, "previous"),
                                                  "Went back on"),
            "HassLightSet": lambda m, c: self._light_set(m),
            "HassClimateSetTemperature": lambda m, c: self._temperature(m),
            "HassSetVolume": lambda m, c: self._volume(m),
            "HassGetState": lambda m, c: self._get_state(m),
        }
        return {name: _Bound(fn) for name, fn in simple.items()}

    async def _act(self, match: IntentMatch, build: Callable[[DeviceSettings], Command],
                   verb: str, topic_of: Callable[[DeviceSettings], str | None] | None = None,
                   done: str | None = None) -> HandlerResult:
        target, devices = self._targets(match)
        if not devices:
            return HandlerResult(f"Sorry, I don't know any {target.describe()}.", success=False)
        queued = False
        for device in devices:
            command = build(device)
            if topic_of is not None:
                command = Command(topic_of(device), command.payload, command.service,
                                  command.data)
            queued |= not await self._send(device, command)
        if queued:
            return HandlerResult(self._responses.queued, success=False)
        what = devices[0].name if len(devices) == 1 else target.describe(plural=True)
        return HandlerResult(done or f"{verb} the {what}.")

    async def _send(self, device: DeviceSettings, command: Command) -> bool:
        """True when done; False when queued until the broker is back."""
        if device.entity_id is not None:
            if self._ha is None:
                raise HandlerError(f"{device.name} is a Home Assistant entity but there is no "
                                   "homeassistant section")
            await self._ha.call_service(command.service,
                                        {"entity_id": device.entity_id, **command.data})
            return True
        if command.topic is None:
            raise HandlerError(f"{device.name} has no MQTT topic for this command; add it to "
                               "the device in the config")
        if self._publisher is None:
            raise HandlerError(f"{device.name} uses MQTT but there is no mqtt section")
        sent = await self._publisher.publish(command.topic, command.payload, qos=device.qos,
                                             retain=device.retain)
        if device.state_topic is None and command.payload in (device.payload_on,
                                                              device.payload_off):
            self._registry.record_state(device, command.payload)  # optimistic, like HA's MQTT
        return sent

    async def _light_set(self, match: IntentMatch) -> HandlerResult:
        slots = match.slots
        if "brightness" in slots:
            pct = max(0, min(100, round(float(slots["brightness"]))))
            return await self._act(
                match, lambda d: Command(None, str(round(pct * d.brightness_scale / 100)),
                                         "light.turn_on", {"brightness_pct": pct}),
                "", topic_of=lambda d: d.brightness_command_topic,
                done=f"Set the {self._what(match)} to {pct} percent.")
        color = str(slots.get("color", "")).casefold()
        if color not in COLORS_RGB:
            return HandlerResult(f"Sorry, I can't set lights to {color or 'that'}.", False)
        rgb = COLORS_RGB[color]
        return await self._act(
            match, lambda d: Command(None, ",".join(map(str, rgb)), "light.turn_on",
                                     {"rgb_color": list(rgb)}),
            "", topic_of=lambda d: d.rgb_command_topic,
            done=f"Set the {self._what(match)} to {color}.")

    async def _temperature(self, match: IntentMatch) -> HandlerResult:
        value = float(match.slots["temperature"])
        spoken = f"{value:g}"
        return await self._act(
            match, lambda d: Command(None, spoken, "climate.set_temperature",
                                     {"temperature": value}),
            "", topic_of=lambda d: d.temperature_command_topic,
            done=f"Set the temperature to {spoken} degrees.")

    async def _volume(self, match: IntentMatch) -> HandlerResult:
        level = match.slots.get("volume_level", match.slots.get("volume", 0))
        pct = max(0, min(100, round(float(level))))
        return await self._act(
            match, lambda d: Command(None, str(pct), "media_player.volume_set",
                                     {"volume_level": pct / 100}),
            "", topic_of=lambda d: d.volume_command_topic,
            done=f"Set the volume to {pct} percent.")

    async def _get_state(self, match: IntentMatch) -> HandlerResult:
        target, devices = self._targets(match)
        if not devices:
            return HandlerResult(f"Sorry, I don't know any {target.describe()}.", success=False)
        device = devices[0]
        raw = await self._read_state(device)
        if raw is None:
            return HandlerResult(f"I haven't heard from the {device.name} yet.", success=False)
        asked = match.slots.get("state")
        if asked is None:
            unit = f" {device.unit}" if device.unit else ""
            return HandlerResult(f"The {device.name} is {raw}{unit}.")
        is_on = self._registry.is_on(device)
        wanted_on = str(asked).casefold() in {"on", "open", "locked", "opening"}
        now = _state_word(device, bool(is_on))
        if is_on == wanted_on:
            return HandlerResult(f"Yes, the {device.name} is {now}.")
        return HandlerResult(f"No, the {device.name} is {now}.")

    async def _read_state(self, device: DeviceSettings) -> str | None:
        if device.entity_id is not None and self._ha is not None:
            state = await self._ha.get_state(device.entity_id)
            self._registry.record_state(device, state.state)
        return self._registry.state(device)

    def _targets(self, match: IntentMatch) -> tuple[Target, list[Any]]:
        slots = match.slots
        domain = slots.get("domain")
        domains = tuple(domain) if isinstance(domain, list) else (domain,) if domain else ()
        target = Target(name=slots.get("name"), area=slots.get("area"),
                        floor=slots.get("floor"), domains=domains)
        return target, self._registry.find(target)

    def _what(self, match: IntentMatch) -> str:
        target, devices = self._targets(match)
        return devices[0].name if len(devices) == 1 else target.describe(plural=True)


def _state_word(device: DeviceSettings, on: bool) -> str:
    words = {"cover": ("open", "closed"), "lock": ("locked", "unlocked"),
             "media_player": ("playing", "off")}
    yes, no = words.get(device.type, ("on", "off"))
    return yes if on else no


class _Bound:
    def __init__(self, fn: Callable[[IntentMatch, HandlerContext], Awaitable[HandlerResult]]
                 ) -> None:
        self._fn = fn

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return await self._fn(match, context)
