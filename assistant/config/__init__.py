"""Settings: YAML -> validated, frozen sections (pydantic v2, unknown keys are errors).

One module per group of sections (voice, home, room, transcripts), one base (`Section`), one
place for default paths (`paths`), one loader (`loading`).
"""

from assistant.config.engines import Placement, WorkerSettings
from assistant.config.home import (
    SECRET_KEYS,
    DeviceSettings,
    HomeAssistantSettings,
    MqttSettings,
    ShellSettings,
    SiteSettings,
    TimerSettings,
    mqtt_prefix,
    site_id,
)
from assistant.config.loading import load_settings
from assistant.config.paths import config_file
from assistant.config.room import MusicSettings, SoundRuleSettings, SoundSettings, SpeakerSettings
from assistant.config.settings import Settings
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

__all__ = [
    "SECRET_KEYS", "AsrSettings", "AudioSettings", "ConversationSettings", "DeviceSettings",
    "EndpointSettings", "HomeAssistantSettings", "IntentSettings", "LoggingSettings",
    "ModelSettings", "MqttSettings", "MusicSettings", "ResponseSettings", "Settings",
    "ShellSettings", "SiteSettings", "SoundRuleSettings", "SoundSettings", "SpeakerSettings",
    "TimerSettings", "TranscriptSettings", "TtsSettings", "WakeSettings", "config_file",
    "load_settings", "mqtt_prefix", "site_id", "Placement", "WorkerSettings",
]
