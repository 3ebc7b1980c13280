"""Home Assistant discovery payloads: topics, ids and fields as Home Assistant documents them."""

from __future__ import annotations

import json

import jinja2

from assistant.integrations.discovery import (
    config_topic,
    device_block,
    discovery_messages,
    package_version,
)

PREFIX = "assistant/kitchen/"


def messages() -> dict[str, dict[str, object]]:
    return dict(discovery_messages("homeassistant", PREFIX, "kitchen", "1.2.3"))


def test_one_config_topic_per_entity() -> None:
    assert sorted(messages()) == [
        "homeassistant/button/kitchen/listen/config",
        "homeassistant/sensor/kitchen/state/config",
        "homeassistant/sensor/kitchen/transcript/config",
        "homeassistant/switch/kitchen/mute/config",
    ]


def test_entities() -> None:
    got = messages()
    assert got["homeassistant/sensor/kitchen/state/config"]["state_topic"] == PREFIX + "state"
    transcript = got["homeassistant/sensor/kitchen/transcript/config"]
    assert transcript["name"] == "Last transcript"
    assert transcript["state_topic"] == PREFIX + "transcript"
    switch = got["homeassistant/switch/kitchen/mute/config"]
    assert {k: switch[k] for k in ("name", "command_topic", "state_topic", "payload_on",
                                   "payload_off")} == {
        "name": "Mute", "command_topic": PREFIX + "mute/set",
        "state_topic": PREFIX + "mute/state", "payload_on": "ON", "payload_off": "OFF"}
    button = got["homeassistant/button/kitchen/listen/config"]
    assert (button["name"], button["command_topic"], button["payload_press"]) == (
        "Listen", PREFIX + "listen", "PRESS")
    assert "state_topic" not in button


def test_ids_availability_and_one_device() -> None:
    for topic, payload in messages().items():
        object_id = topic.split("/")[-2]
        assert payload["unique_id"] == f"assistant_kitchen_{object_id}"
        assert payload["availability_topic"] == PREFIX + "available"
        assert payload["device"] == {
            "identifiers": ["assistant_kitchen"], "name": "Assistant kitchen",
            "manufacturer": "assistant", "model": "voice assistant", "sw_version": "1.2.3"}
        assert payload["origin"] == {"name": "assistant", "sw_version": "1.2.3"}
        json.dumps(payload)  # published as JSON


def test_transcript_template_reads_the_event_text_within_ha_state_limit() -> None:
    template = messages()["homeassistant/sensor/kitchen/transcript/config"]["value_template"]
    assert isinstance(template, str)
    render = jinja2.Environment().from_string(template).render
    assert render(value_json={"type": "transcribed", "text": "turn on the lamp"}) == \
        "turn on the lamp"
    assert len(render(value_json={"text": "x" * 400})) == 255


def test_custom_discovery_prefix_and_version() -> None:
    assert config_topic("ha/", "sensor", "den", "state") == "ha/sensor/den/state/config"
    assert device_block("den", "dev")["identifiers"] == ["assistant_den"]
    version = package_version()
    assert version == "dev" or version[0].isdigit()
