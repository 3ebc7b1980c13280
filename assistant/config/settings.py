"""The root of the settings tree, and the checks that span sections."""

from __future__ import annotations

from pydantic import model_validator

from assistant.config.base import Section
from assistant.config.engines import WorkerSettings
from assistant.config.home import (
    DeviceSettings,
    HomeAssistantSettings,
    MqttSettings,
    ShellSettings,
    SiteSettings,
    TimerSettings,
)
from assistant.config.room import SoundSettings, SpeakerSettings
from assistant.config.transcripts import TranscriptSettings
from assistant.config.voice import (
    AsrSettings,
    AudioSettings,
    ConversationSettings,
    EndpointSettings,
    IntentSettings,
    LoggingSettings,
    ModelSettings,
    ResponseSettings,
    TtsSettings,
    WakeSettings,
)


class Settings(Section):
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
    workers: WorkerSettings = WorkerSettings()
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
