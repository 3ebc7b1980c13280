"""Home intents from text: matching against the user's devices, and what the handlers do and say."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.intents.devices import DeviceRegistry
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.matching import normalize
from assistant.intents.router import Router, Services

DEVICES: list[dict[str, Any]] = [
    {"name": "kitchen lights", "type": "light", "area": "kitchen", "floor": "ground floor",
     "command_topic": "k/set", "brightness_command_topic": "k/brightness",
     "rgb_command_topic": "k/rgb"},
    {"name": "kitchen spots", "type": "light", "area": "kitchen", "command_topic": "ks/set"},
    {"name": "living room lamp", "aliases": ["reading lamp"], "type": "light",
     "area": "living room", "command_topic": "l/set", "state_topic": "l/state"},
    {"name": "garage door", "type": "cover", "area": "garage", "command_topic": "g/set",
     "state_topic": "g/state"},
    {"name": "thermostat", "type": "climate", "area": "living room",
     "temperature_command_topic": "t/set"},
    {"name": "tv", "type": "media_player", "area": "living room", "command_topic": "tv/cmd",
     "volume_command_topic": "tv/volume"},
]


class Recorder:
    """The broker link's interface, recording what would be published (the real link is tested
    against Mosquitto in tests/integration)."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.sent: list[tuple[str, str]] = []

    async def publish(self, topic: str, payload: str, *, qos: int = 1, retain: bool = False
                      ) -> bool:
        self.sent.append((topic, payload))
        return self.connected


def make(publisher: Recorder | None = None, **extra: Any) -> tuple[Router, DeviceRegistry]:
    settings = Settings.model_validate({
        "mqtt": {"host": "localhost"}, "devices": DEVICES,
        "site": {"area": "living room"}, **extra})
    registry = DeviceRegistry(settings.devices)
    return Router.from_settings(settings, Services(registry, publisher)), registry


def say(router: Router, text: str) -> tuple[str, bool]:
    match = router.match(text)
    assert match is not None, text
    context = HandlerContext(turn_id=1, now=datetime.now().astimezone(), last_reply=None)
    result = asyncio.run(router.handle(match, context))
    return result.speech, result.success


@pytest.mark.parametrize(("text", "intent", "slots"), [
    ("Turn on the kitchen lights.", "HassTurnOn", {"name": "kitchen lights"}),
    ("Um, please turn off the reading lamp.", "HassTurnOff", {"name": "living room lamp"}),
    ("Okay Nabu, turn on the kitchen lights.", "HassTurnOn", {"name": "kitchen lights"}),
    ("Is the garage door open?", "HassGetState", {"name": "garage door", "state": "open"}),
    ("Set the kitchen lights to fifty percent.", "HassLightSet", {"brightness": 50}),
    ("Turn the kitchen lights RED!", "HassLightSet", {"color": "red"}),
    ("Set the temperature to 21 degrees.", "HassClimateSetTemperature", {"temperature": 21}),
    ("Pause.", "HassMediaPause", {"area": "living room"}),
    ("Set the volume to 40%.", "HassSetVolume", {"volume_level": 40}),
])
def test_matches_devices_as_spoken(text: str, intent: str, slots: dict[str, Any]) -> None:
    router, _ = make()
    match = router.match(text)
    assert match is not None and match.intent == intent
    assert {k: match.slots.get(k) for k in slots} == slots
    assert not match.fuzzy


def test_fuzzy_corrects_near_miss_names_and_says_so() -> None:
    router, _ = make()
    match = router.match("Turn on the kitchen lites.")
    assert match is not None and match.fuzzy and 0.85 <= match.score < 1
    assert match.slots == {"name": "kitchen lights"}
    assert router.match("Tell me a story about dragons.") is None
    lamp = router.match("Is the loving room lap on?")  # two slips: the longer name wins
    assert lamp is not None and lamp.slots["name"] == "living room lamp"
    strict, _ = make(intents={"fuzzy_threshold": None})
    assert strict.match("Turn on the kitchen lites.") is None


def test_normalize_keeps_numbers_and_drops_punctuation() -> None:
    assert normalize("Set it to 2.5, please!") == "set it to 2.5 please"
    assert normalize("Turn on the living-room lamp.") == "turn on the living room lamp"
    assert normalize("Set the volume to 40%.") == "set the volume to 40%"


def test_turn_on_publishes_the_payload_and_says_so() -> None:
    broker = Recorder()
    router, _ = make(broker)
    assert say(router, "Turn on the kitchen lights") == ("Turned on the kitchen lights.", True)
    assert broker.sent == [("k/set", "ON")]


def test_area_command_reaches_every_device_of_that_kind_there() -> None:
    broker = Recorder()
    router, _ = make(broker)
    speech, ok = say(router, "Turn off the lights in the kitchen")
    assert ok and speech == "Turned off the lights in the kitchen."
    assert sorted(broker.sent) == [("k/set", "OFF"), ("ks/set", "OFF")]


def test_site_area_is_the_default_for_unnamed_devices() -> None:
    broker = Recorder()
    router, _ = make(broker)
    assert say(router, "Turn off the lights")[1]
    assert broker.sent == [("l/set", "OFF")]  # the living room is where the assistant is


def test_queued_command_is_not_reported_as_done() -> None:
    router, _ = make(Recorder(connected=False))
    speech, ok = say(router, "Turn on the kitchen lights")
    assert not ok and speech == Settings().responses.queued


def test_brightness_colour_temperature_volume_payloads() -> None:
    broker = Recorder()
    router, _ = make(broker)
    assert say(router, "Set the kitchen lights to 50%")[0] == \
        "Set the kitchen lights to 50 percent."
    say(router, "Turn the kitchen lights blue")
    say(router, "Set the thermostat to 21.5 degrees")
    say(router, "Set the TV volume to 30 percent")
    say(router, "Open the garage door")
    assert broker.sent == [("k/brightness", "128"), ("k/rgb", "0,0,255"), ("t/set", "21.5"),
                           ("tv/volume", "30"), ("g/set", "OPEN")]


def test_state_questions_answer_from_the_last_state_seen() -> None:
    router, registry = make(Recorder())
    lamp = next(d for d in registry.devices if d.name == "living room lamp")
    door = next(d for d in registry.devices if d.name == "garage door")
    assert say(router, "Is the living room lamp on?") == (
        "I haven't heard from the living room lamp yet.", False)
    registry.record_state(lamp, "ON")
    registry.record_state(door, "closed")
    assert say(router, "Is the living room lamp on?")[0] == "Yes, the living room lamp is on."
    assert say(router, "Is the garage door open?")[0] == "No, the garage door is closed."


def test_devices_need_their_link_and_unique_names() -> None:
    light = {"name": "lamp", "type": "light", "command_topic": "x"}
    with pytest.raises(ValueError, match="no mqtt section"):
        Settings.model_validate({"devices": [light]})
    with pytest.raises(ValueError, match="two devices are called 'lamp'"):
        Settings.model_validate({"mqtt": {"host": "h"}, "devices": [light, light]})
    with pytest.raises(ValueError, match="entity_id .* or MQTT topics"):
        Settings.model_validate({"mqtt": {"host": "h"},
                                 "devices": [{"name": "x", "type": "light"}]})


def test_intents_file_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("intents:\n  Open:\n    data: [{sentences: [open it]}]\n"
                   "    action: {type: mqtt}\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: intents.Open.action.mqtt.topic"):
        make(intents={"files": [str(bad)]})


def test_user_intent_matches_and_acts(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "language: en\nintents:\n  FeedFish:\n    data:\n"
        "      - sentences: ['feed the {tank} fish [please]']\n"
        "    response: 'Fed the {{ tank }} fish.'\n"
        "    action: {type: mqtt, topic: 'fish/{{ tank }}/feed', payload: '1'}\n"
        "lists:\n  tank:\n    values: [big, small]\n")
    broker = Recorder()
    router, _ = make(broker, intents={"files": [str(mine)]})
    assert say(router, "Feed the small fish.") == ("Fed the small fish.", True)
    assert broker.sent == [("fish/small/feed", "1")]


def test_media_and_temperature_commands_only_reach_devices_that_take_them() -> None:
    broker = Recorder()
    router, _ = make(broker)
    assert say(router, "Pause") == ("Paused the tv.", True)  # not the lamp in the same room
    assert say(router, "Set the temperature to 20 degrees")[1]
    assert broker.sent == [("tv/cmd", "PAUSE"), ("t/set", "20")]


def test_area_setting_skips_devices_without_that_topic_and_sends_nothing_if_none_can() -> None:
    broker = Recorder()
    router, _ = make(broker)
    assert say(router, "Set the lights in the kitchen to 20%")[1]
    assert broker.sent == [("k/brightness", "51")]  # the spots have no brightness topic
    broker.sent.clear()
    speech, ok = say(router, "Set the reading lamp to 20%")
    assert not ok and "can't do that" in speech and broker.sent == []


def test_any_and_unknown_state_questions() -> None:
    router, registry = make(Recorder())
    by_name = {d.name: d for d in registry.devices}
    registry.record_state(by_name["kitchen lights"], "OFF")
    registry.record_state(by_name["kitchen spots"], '{"state": "ON", "brightness": 90}')
    assert say(router, "Are any lights on in the kitchen?")[0] == "Yes, the kitchen spots is on."
    registry.record_state(by_name["kitchen spots"], "OFF")
    assert say(router, "Are any lights on in the kitchen?")[0] == \
        "No, none of the lights in the kitchen are on."
    registry.record_state(by_name["garage door"], "jammed")
    speech, ok = say(router, "Is the garage door open?")
    assert not ok and "jammed" in speech


def test_optimistic_state_only_when_the_command_was_sent() -> None:
    offline = Recorder(connected=False)
    router, registry = make(offline)
    say(router, "Turn on the kitchen lights")
    assert registry.state(registry.devices[0]) is None
    online = Recorder()
    router, registry = make(online)
    say(router, "Turn on the kitchen lights")
    assert say(router, "Is the kitchen lights on?")[0] == "Yes, the kitchen lights is on."


def test_speaker_restricted_device_refuses_anyone_else_and_does_nothing() -> None:
    broker = Recorder()
    devices = [*DEVICES, {"name": "front door", "type": "lock", "command_topic": "door/set",
                          "speakers": ["alice", "bob"]}]
    settings = Settings.model_validate({"mqtt": {"host": "localhost"}, "devices": devices})
    router = Router.from_settings(settings, Services(DeviceRegistry(settings.devices), broker))
    match = router.match("Unlock the front door")
    assert match is not None

    def as_speaker(speaker: str | None) -> tuple[str, bool]:
        context = HandlerContext(turn_id=1, now=datetime.now().astimezone(), last_reply=None,
                                 speaker=speaker)
        result = asyncio.run(router.handle(match, context))
        return result.speech, result.success

    assert as_speaker("carol") == ("Sorry, only alice or bob can do that.", False)
    assert as_speaker("unknown")[1] is False
    assert not as_speaker(None)[1]  # speaker identification off: refuse, never guess
    assert broker.sent == []
    assert as_speaker("Bob") == ("Unlocked the front door.", True)  # names ignore case
    assert broker.sent == [("door/set", "UNLOCK")]
