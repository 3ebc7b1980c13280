"""Typed errors: a stable code and a message saying what was wrong and what to do."""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error the user may see; `code` is stable and machine-readable."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(AssistantError):
    code = "config_invalid"
    exit_code = 2


class AudioInputError(AssistantError):
    code = "audio_input"


class AudioDeviceError(AssistantError):
    code = "audio_device"


class ModelError(AssistantError):
    code = "model_unavailable"


class TranscriptionError(AssistantError):
    code = "asr_failed"


class SynthesisError(AssistantError):
    code = "tts_failed"


class IntentError(AssistantError):
    code = "intent_invalid"


class HandlerError(AssistantError):
    code = "handler_failed"


class ControlError(AssistantError):
    code = "control_unavailable"


class SearchError(AssistantError):
    code = "search_failed"
