"""Home Assistant's device intents acted on the user's devices, over MQTT or Home Assistant.

A reply says what really happened: done, queued until the broker is back, or failed. Every
target is checked before anything is sent, so a command is never half done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from assistant.config import DeviceSettings, ResponseSettings
from assistant.errors import HandlerError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.devices import DeviceRegistry, Target, state_word
from assistant.intents.handlers.base import (
    Handler,
    HandlerContext,
    HandlerResult,
    Publisher,
    refusal,
)
from assistant.intents.matching import IntentMatch

COLORS_RGB = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "orange": (255, 165, 0),
    "yellow": (255, 255, 0), "green": (0, 128, 0), "blue": (0, 0, 255),
    "purple": (128, 0, 128), "brown": (165, 42, 42), "pink": (255, 192, 203),
    "turquoise": (64, 224, 208),
}
MEDIA = ("media_player",)
# Home Assistant's sentences give these intents no domain slot: "pause" means media players.
SWITCHABLE = ("light", "switch", "fan", "cover", "lock", "climate", "media_player")
Build = Callable[[DeviceSettings], "Command | None"]


@dataclass(frozen=True)
class Command:
    """One thing to do to a device: an MQTT payload on a topic, or a Home Assistant service."""

    topic: str | None
    payload: str
    service: str
    data: dict[str, Any]
    verb: str
    """What was done, for the reply: "Turned on", "Opened", ..."""
    state: str | None = None
    """The state it leaves the device in, remembered when the device reports none."""


def on_off(device: DeviceSettings, on: bool) -> Command:
    kind = device.type
    if kind == "cover":
        word, service, verb = ("open", "open_cover", "Opened") if on else \
            ("close", "close_cover", "Closed")
        return _command(device, word, f"cover.{service}", verb, "open" if on else "closed")
    if kind == "lock":
        word = "lock" if on else "unlock"
        return _command(device, word, f"lock.{word}", f"{word.capitalize()}ed", f"{word}ed")
    payload = device.payload_on if on else device.payload_off
    state = "on" if on else "off"
    return Command(device.command_topic, payload, f"{kind}.turn_{state}", {},
                   f"Turned {state}", state)


def media(device: DeviceSettings, word: str, verb: str) -> Command:
    services = {"pause": "media_pause", "play": "media_play", "next": "media_next_track",
                "previous": "media_previous_track"}
    return _command(device, word, f"media_player.{services[word]}", verb, None)


def _command(device: DeviceSettings, word: str, service: str, verb: str, state: str | None
             ) -> Command:
    payload = device.payloads.get(word, word.upper())
    return Command(device.command_topic, payload, service, {}, verb, state)


def _setting(topic: Callable[[DeviceSettings], str | None],
             payload: Callable[[DeviceSettings], str], service: str, data: dict[str, Any]
             ) -> Build:
    """A command only devices with that topic (or Home Assistant entities) can take."""
    def build(device: DeviceSettings) -> Command | None:
        if device.entity_id is None and topic(device) is None:
            return None
        return Command(topic(device), payload(device), service, data, "Set")
    return build


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
        table: dict[str, Callable[[IntentMatch, HandlerContext], Awaitable[HandlerResult]]] = {
            "HassTurnOn": lambda m, c: act(m, c, SWITCHABLE, lambda d: on_off(d, True)),
            "HassTurnOff": lambda m, c: act(m, c, SWITCHABLE, lambda d: on_off(d, False)),
            "HassMediaPause": lambda m, c: act(m, c, MEDIA, lambda d: media(d, "pause", "Paused")),
            "HassMediaUnpause": lambda m, c: act(m, c, MEDIA,
                                                 lambda d: media(d, "play", "Resumed")),
            "HassMediaNext": lambda m, c: act(m, c, MEDIA,
                                              lambda d: media(d, "next", "Skipped on")),
            "HassMediaPrevious": lambda m, c: act(m, c, MEDIA,
                                                  lambda d: media(d, "previous", "Went back on")),
            "HassLightSet": self._light_set,
            "HassClimateSetTemperature": self._temperature,
            "HassSetVolume": self._volume,
            "HassGetState": self._get_state,
        }
        return {name: _Bound(fn) for name, fn in table.items()}

    async def _act(self, match: IntentMatch, context: HandlerContext, kinds: tuple[str, ...],
                   build: Build, done: str | None = None) -> HandlerResult:
        """`done`: the reply on success; "{what}" in it names every device targeted."""
        target, devices = self._targets(match, kinds)
        if not devices:
            return HandlerResult(f"Sorry, I don't know any {target.describe()}.", success=False)
        for device in devices:  # one restricted device refuses the whole command
            refused = refusal(device.speakers, context.speaker)
            if refused is not None:
                return refused
        planned = [(device, build(device)) for device in devices]
        able = [(device, command) for device, command in planned if command is not None]
        if not able:
            return HandlerResult(f"Sorry, the {self._what(target, devices)} can't do that; "
                                 "its topic for it is not in the config.", success=False)
        for device, command in able:
            self._check_link(device, command)
        queued = False
        for device, command in able:
            queued |= not await self._send(device, command)
        if queued:
            return HandlerResult(self._responses.queued, success=False)
        verbs = {command.verb for _, command in able}
        verb = verbs.pop() if len(verbs) == 1 else "Done:"
        if done is not None:
            return HandlerResult(done.format(what=self._what(target, devices)))
        return HandlerResult(f"{verb} the {self._what(target, [d for d, _ in able])}.")

    def _check_link(self, device: DeviceSettings, command: Command) -> None:
        if device.entity_id is not None and self._ha is None:
            raise HandlerError(f"{device.name} is a Home Assistant entity but there is no "
                               "homeassistant section")
        if device.entity_id is None and command.topic is None:
            raise HandlerError(f"{device.name} has no command_topic; add it to the device")
        if device.entity_id is None and self._publisher is None:
            raise HandlerError(f"{device.name} uses MQTT but there is no mqtt section")

    async def _send(self, device: DeviceSettings, command: Command) -> bool:
        """True when done; False when queued until the broker is back."""
        if device.entity_id is not None:
            assert self._ha is not None
            await self._ha.call_service(command.service,
                                        {"entity_id": device.entity_id, **command.data})
            return True
        assert self._publisher is not None and command.topic is not None
        sent = await self._publisher.publish(command.topic, command.payload, qos=device.qos,
                                             retain=device.retain)
        if sent and device.state_topic is None and command.state is not None:
            self._registry.record_state(device, command.state)  # optimistic, like HA's MQTT
        return sent

    async def _light_set(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        slots = match.slots
        if "brightness" in slots:
            pct = max(0, min(100, round(float(slots["brightness"]))))
            return await self._act(match, context, ("light",), _setting(
                lambda d: d.brightness_command_topic,
                lambda d: str(round(pct * d.brightness_scale / 100)),
                "light.turn_on", {"brightness_pct": pct}),
                done=f"Set the {{what}} to {pct} percent.")
        color = str(slots.get("color", "")).casefold()
        if color not in COLORS_RGB:
            return HandlerResult(f"Sorry, I can't set lights to {color or 'that'}.", False)
        rgb = COLORS_RGB[color]
        return await self._act(match, context, ("light",), _setting(
            lambda d: d.rgb_command_topic, lambda d: ",".join(map(str, rgb)), "light.turn_on",
            {"rgb_color": list(rgb)}),
            done=f"Set the {{what}} to {color}.")

    async def _temperature(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        value = float(match.slots["temperature"])
        spoken = f"{value:g}"
        return await self._act(match, context, ("climate",), _setting(
            lambda d: d.temperature_command_topic, lambda d: spoken, "climate.set_temperature",
            {"temperature": value}), done=f"Set the temperature to {spoken} degrees.")

    async def _volume(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        level = match.slots.get("volume_level", match.slots.get("volume", 0))
        pct = max(0, min(100, round(float(level))))
        return await self._act(match, context, MEDIA, _setting(
            lambda d: d.volume_command_topic, lambda d: str(pct), "media_player.volume_set",
            {"volume_level": pct / 100}), done=f"Set the volume to {pct} percent.")

    async def _get_state(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        target, devices = self._targets(match, ())
        if not devices:
            return HandlerResult(f"Sorry, I don't know any {target.describe()}.", success=False)
        for device in devices:
            await self._read_state(device)
        asked = match.slots.get("state")
        if asked is None:
            device = devices[0]
            unknown = self._not_known(device)
            if unknown is not None:
                return unknown
            unit = f" {device.unit}" if device.unit else ""
            return HandlerResult(f"The {device.name} is {self._value(device)}{unit}.")
        return self._answer(str(asked).casefold(), target, devices)

    def _not_known(self, device: DeviceSettings) -> HandlerResult | None:
        """The answer when the device's state is not known (none yet, or unreadable)."""
        seen = self._registry.state(device)
        if seen is None:
            return HandlerResult(f"I haven't heard from the {device.name} yet.", False)
        if seen.value is None:  # never read out: it may be anything, of any length
            return HandlerResult(f"I can't tell; the {device.name} sent a state I can't read.",
                                 False)
        return None

    def _value(self, device: DeviceSettings) -> str:
        seen = self._registry.state(device)
        return seen.value if seen is not None and seen.value is not None else "unknown"

    def _answer(self, asked: str, target: Target, devices: list[DeviceSettings]
                ) -> HandlerResult:
        """Yes/no for "is the X on?" and "are any lights on?": about every device asked for."""
        wanted = asked in {"on", "open", "locked", "opening", "playing"}
        known = [(d, self._registry.is_on(d)) for d in devices]
        unknown = [d for d, on in known if on is None]
        if len(devices) == 1 and unknown:
            not_known = self._not_known(devices[0])
            if not_known is not None:
                return not_known
            return HandlerResult(f"I can't tell; the {devices[0].name} last said "
                                 f"{self._value(devices[0])!r}.", False)
        matching = [d for d, on in known if on is not None and on == wanted]
        if len(devices) == 1:
            device = devices[0]
            now = state_word(device, bool(known[0][1]))
            return HandlerResult(f"{'Yes' if matching else 'No'}, the {device.name} is {now}.")
        if matching:
            names = _join([d.name for d in matching])
            return HandlerResult(f"Yes, the {names} {'is' if len(matching) == 1 else 'are'} "
                                 f"{asked}.")
        return HandlerResult(f"No, none of the {target.describe(plural=True)} are {asked}.")

    async def _read_state(self, device: DeviceSettings) -> None:
        if device.entity_id is not None and self._ha is not None:
            state = await self._ha.get_state(device.entity_id)
            self._registry.record_state(device, state.state)

    def _targets(self, match: IntentMatch, kinds: tuple[str, ...]
                 ) -> tuple[Target, list[DeviceSettings]]:
        slots = match.slots
        domain = slots.get("domain")
        domains = tuple(domain) if isinstance(domain, list) else (domain,) if domain else ()
        if not domains and slots.get("name") is None:
            domains = kinds  # "pause" / "set the temperature": only what can do it
        target = Target(name=slots.get("name"), area=slots.get("area"),
                        floor=slots.get("floor"), domains=domains)
        return target, self._registry.find(target)

    @staticmethod
    def _what(target: Target, devices: list[DeviceSettings]) -> str:
        if len(devices) == 1:
            return devices[0].name
        return replace(target, domains=target.domains[:1]).describe(plural=True)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class _Bound:
    def __init__(self, fn: Callable[[IntentMatch, HandlerContext], Awaitable[HandlerResult]]
                 ) -> None:
        self._fn = fn

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return await self._fn(match, context)
