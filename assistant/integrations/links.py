"""The daemon's links to the home: MQTT, Home Assistant, timers, and the devices' states."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from assistant.config import Settings, paths
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.integrations.mqtt import MqttLink
from assistant.intents.devices import DeviceRegistry
from assistant.intents.router import Services
from assistant.timers import TimerService


@dataclass
class HomeLinks:
    services: Services
    mqtt: MqttLink | None
    homeassistant: HomeAssistantClient | None
    timers: TimerService

    @classmethod
    def from_settings(cls, settings: Settings, announce: Callable[[str], None],
                      on_mqtt_command: Callable[[str, str], None]) -> HomeLinks:
        registry = DeviceRegistry(settings.devices)
        mqtt = None
        if settings.mqtt is not None:
            mqtt = MqttLink(settings.mqtt, settings.site, on_mqtt_command)
            for device in settings.devices:
                if device.state_topic:
                    mqtt.watch(device.state_topic, functools.partial(registry.record_state,
                                                                     device))
        ha = HomeAssistantClient(settings.homeassistant) if settings.homeassistant else None
        timers = TimerService(paths.timers_file(settings.timers.state_file), announce)
        return cls(Services(registry, mqtt, ha, timers), mqtt, ha, timers)

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        self.timers.load()
        found: list[tuple[str, Coroutine[Any, Any, None]]] = [("timers", self.timers.run())]
        if self.mqtt is not None:
            found.append(("mqtt", self.mqtt.run()))
        return found

    async def aclose(self) -> None:
        if self.homeassistant is not None:
            await self.homeassistant.aclose()
