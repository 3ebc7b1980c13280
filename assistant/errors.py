"""Typed errors: a stable code and a message saying what was wrong and what to do.

Every code the project reports lives here: on an exception class (raised and caught), or as a
constant below (a `stage_failed` code for a fault that is contained where it happens).
"""

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


class OutputPathError(AssistantError):
    """A path given on the command line (--output, --events, --output-dir) cannot be written."""

    code = "output_unwritable"


class ModelError(AssistantError):
    code = "model_unavailable"


class TranscriptionError(AssistantError):
    code = "asr_failed"


class SynthesisError(AssistantError):
    code = "tts_failed"


class SynthesisTimeout(SynthesisError):
    """A voice (espeak-ng's process) took longer than its time limit for one sentence."""

    code = "tts_timeout"


class SynthesisOutputError(SynthesisError):
    """A voice produced audio that cannot be read (a broken or empty WAV)."""

    code = "tts_bad_output"


class IntentError(AssistantError):
    code = "intent_invalid"


class HandlerError(AssistantError):
    code = "handler_failed"


class ControlError(AssistantError):
    code = "control_unavailable"


class SearchError(AssistantError):
    code = "search_failed"


class IndexMissing(SearchError):
    """There is no transcript index yet (nothing was transcribed or recorded)."""

    code = "index_missing"


class IndexInvalid(SearchError):
    """The file is not a transcript index: not SQLite, or a database of something else."""

    code = "index_invalid"

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem or message
        """What is wrong with the file, without the advice (for a log line that has its own)."""


class WorkerError(AssistantError):
    """An engine's worker could not answer a request; the worker is being restarted."""

    code = "worker_failed"


class WorkerCrashed(WorkerError):
    code = "worker_crashed"


class WorkerTimeout(WorkerError):
    """A request took longer than its limit: the worker was killed (it is restarted)."""

    code = "worker_timeout"


class WorkerOutOfMemory(WorkerError):
    code = "worker_out_of_memory"


class WorkerUnresponsive(WorkerError):
    """The idle worker did not answer a health check."""

    code = "worker_unresponsive"


class WorkerUnavailable(WorkerError):
    """The worker is (re)starting and did not become ready in time."""

    code = "worker_unavailable"


class DeviceError(ModelError):
    """A GPU (CUDA) failed or is missing: the engine moves to the CPU."""

    code = "cuda_failed"


# Codes of faults that are contained where they happen (stage_failed, no exception escapes).
INTERNAL = "internal"
"""A bug: an exception nobody expected. The turn or stage answers and carries on."""
FRONTEND_FAILED = "frontend_failed"
TURN_TIMEOUT = "turn_timeout"
MATCH_FAILED = "match_failed"
HANDLER_CRASHED = "handler_crashed"
SPEAKER_FAILED = "speaker_failed"
SOUND_FAILED = "sound_failed"
RULE_FAILED = "rule_failed"
INPUT_LOST = "input_lost"
"""The microphone stopped delivering audio (unplugged, sound server gone): being reopened."""
OUTPUT_LOST = "output_lost"
"""The speaker could not be opened or stopped playing: retried on the next reply."""
EVENTS_DROPPED = "events_dropped"
"""An event output (a pipe nobody reads) fell behind: events were dropped, listening goes on."""
RELOAD_FAILED = "reload_failed"
"""SIGHUP: the new settings are valid but the daemon could not start with them (a model that
cannot be loaded, a device that is not there): it runs on with the settings it had."""


def error_for(code: str, message: str) -> AssistantError:
    """The typed error for `code`, as reported from another process (a worker)."""
    pending: list[type[AssistantError]] = [AssistantError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls(message)
        pending.extend(cls.__subclasses__())
    error = AssistantError(message)
    error.code = code
    return error
