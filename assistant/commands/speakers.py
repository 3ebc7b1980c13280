"""`assistant speakers enroll|list|remove`, and the enrolled voices for who-speaks-when."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config import Settings
from assistant.errors import AssistantError, ConfigError

if TYPE_CHECKING:
    from assistant.speakers import ProfileStore, SpeakerIdentifier

log = logging.getLogger("assistant")


def enroll(settings: Settings, name: str, files: Sequence[Path], record_s: int | None) -> int:
    """Make NAME's voice profile from FILES, or from RECORD_S seconds of the microphone."""
    from assistant.audio.recording import record
    from assistant.speakers import VoiceEncoder, enroll_clips, enroll_files

    store = _store(settings)
    if bool(files) == bool(record_s):
        raise ConfigError("speakers enroll: give audio files or --record SECONDS (one).")
    if record_s:
        print(f"Speak now, for {record_s} seconds (read a paragraph aloud)...")
        pcm = asyncio.run(record(settings.audio.input.device, record_s))
        profile = enroll_clips(name, [("the recording", pcm)], store, VoiceEncoder())
    else:
        profile = enroll_files(name, list(files), store, VoiceEncoder())
    print(f"enrolled {profile.name} from {profile.clips} clip(s): {store.path_for(profile.name)}")
    return 0


def list_speakers(settings: Settings) -> int:
    """The usable profiles on stdout; each unusable file named on stderr, and then exit 1.
    Only reads: works on a read-only folder, and moves nothing (the daemon sets bad ones aside)."""
    from datetime import datetime

    scan = _store(settings).scan()
    if not scan.profiles and not scan.broken:
        print("no speakers enrolled; add one with: assistant speakers enroll NAME FILE...")
    for profile in scan.profiles:
        made = datetime.fromtimestamp(profile.created_s).strftime("%Y-%m-%d %H:%M")
        print(f"{profile.name}\t{profile.clips} clip(s)\tenrolled {made}")
    for bad in scan.broken:
        print(f"broken: {bad.message()}", file=sys.stderr)
    return 1 if scan.broken else 0


def remove(settings: Settings, name: str) -> int:
    _store(settings).remove(name)
    print(f"removed {name}")
    return 0


def enrolled_voices(settings: Settings) -> SpeakerIdentifier | None:
    """Who speaks in a file is shown when voices are enrolled (and torch is installed)."""
    from assistant.speakers import SpeakerIdentifier, VoiceEncoder

    store = _store(settings)
    if not store.list():
        return None
    identifier = SpeakerIdentifier(VoiceEncoder(), store, settings.speakers.threshold)
    try:
        identifier.warm_up()
    except AssistantError as exc:
        log.warning("speakers not identified: %s", exc.message)
        return None
    return identifier


def who_speaks(settings: Settings) -> Callable[[bytes], str | None] | None:
    """PCM -> the enrolled speaker's name (None for a stranger); None when none are enrolled."""
    from assistant.speakers.profiles import UNKNOWN

    voices = enrolled_voices(settings)
    if voices is None:
        return None

    def name_of(pcm: bytes) -> str | None:
        name = voices.identify(pcm).name
        return None if name == UNKNOWN else name

    return name_of


def _store(settings: Settings) -> ProfileStore:
    from assistant.speakers import ProfileStore

    return ProfileStore(settings.speakers.profiles_dir)
