"""Home Assistant MQTT discovery: the config messages that make the assistant show up as a device.

Pure functions; the MQTT link publishes the result retained, as JSON, on every connect.
Field names follow Home Assistant's MQTT integration docs (sensor, switch, button and the shared
`device` / `origin` / `availability_topic` options).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

DiscoveryMessage = tuple[str, dict[str, Any]]
"""(config topic, payload to publish as JSON)."""

# A sensor's state may be at most 255 characters in Home Assistant; longer ones are rejected.
_MAX_STATE_CHARS = 255


def package_version() -> str:
    try:
        return version("assistant")
    except PackageNotFoundError:
        return "dev"


def device_block(site: str, sw_version: str) -> dict[str, Any]:
    return {
        "identifiers": [f"assistant_{site}"],
        "name": f"Assistant {site}",
        "manufacturer": "assistant",
        "model": "voice assistant",
        "sw_version": sw_version,
    }


def config_topic(discovery_prefix: str, component: str, site: str, object_id: str) -> str:
    return f"{discovery_prefix.rstrip('/')}/{component}/{site}/{object_id}/config"


def discovery_messages(discovery_prefix: str, prefix: str, site: str, sw_version: str
                       ) -> list[DiscoveryMessage]:
    """The State and Last transcript sensors, the Mute switch and the Listen button.

    `prefix` is the assistant's own topic prefix (ends with "/"), `site` its site id.
    """
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "state", {"name": "State", "state_topic": f"{prefix}state"}),
        ("sensor", "transcript", {
            "name": "Last transcript",
            "state_topic": f"{prefix}transcript",
            "value_template": f"{{{{ value_json.text[:{_MAX_STATE_CHARS}] }}}}",
        }),
        ("switch", "mute", {
            "name": "Mute",
            "command_topic": f"{prefix}mute/set",
            "state_topic": f"{prefix}mute/state",
            "payload_on": "ON",
            "payload_off": "OFF",
        }),
        ("button", "listen", {
            "name": "Listen",
            "command_topic": f"{prefix}listen",
            "payload_press": "PRESS",
        }),
    ]
    messages: list[DiscoveryMessage] = []
    for component, object_id, fields in entities:
        payload = {
            **fields,
            "unique_id": f"assistant_{site}_{object_id}",
            "availability_topic": f"{prefix}available",
            "device": device_block(site, sw_version),
            "origin": {"name": "assistant", "sw_version": sw_version},
        }
        messages.append((config_topic(discovery_prefix, component, site, object_id), payload))
    return messages
