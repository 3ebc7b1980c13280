"""Who is speaking: resemblyzer's voice encoder, voice profiles on disk, and matching.

Importing this package is cheap: torch loads only when an encoder is first used.
"""

from assistant.speakers.encoder import VoiceEncoder
from assistant.speakers.identify import (
    DEFAULT_THRESHOLD,
    AsyncSpeakerIdentifier,
    SpeakerIdentifier,
    SpeakerMatch,
    enroll_clips,
    enroll_files,
    identify,
)
from assistant.speakers.profiles import (
    UNKNOWN,
    ProfileStore,
    SpeakerError,
    SpeakerProfile,
)

__all__ = [
    "DEFAULT_THRESHOLD", "UNKNOWN", "AsyncSpeakerIdentifier", "ProfileStore", "SpeakerError",
    "SpeakerIdentifier", "SpeakerMatch", "SpeakerProfile", "VoiceEncoder",
    "enroll_clips", "enroll_files", "identify",
]
