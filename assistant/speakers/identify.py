"""Who is speaking: cosine similarity of an utterance's voice embedding to each enrolled profile.

DEFAULT_THRESHOLD comes from `python -m tests.bench.bench_speakers` on ../shared/audio/SPEAKERS.tsv
(7 enrolled speakers / 35 clips, 13 strangers; clips of 1-16 s, like spoken commands):
- a clip vs its own speaker's profile (leave-one-out): median 0.88, 5th percentile 0.75;
- a clip vs another enrolled speaker's profile: at most 0.70;
- a stranger's best score against all profiles: median 0.65, at most 0.78.
At 0.75: 94 % of enrolled clips named right, none named wrong, 1 stranger in 13 named.
At 0.80: no stranger named, but only 77 % named right. Raise it where a false name costs
more than a refusal (door locks); lower it (0.70) for convenience features.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant.audio.files import read_file
from assistant.engines.faces import SpeakerEngine
from assistant.setaside import set_aside
from assistant.speakers.encoder import RATE_HZ, VoiceEncoder, trim_silence
from assistant.speakers.profiles import (
    UNKNOWN,
    BrokenProfile,
    ProfileStore,
    SpeakerError,
    SpeakerProfile,
)

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.75
MIN_SPEECH_MS = 1000
"""Shorter enrollment clips give unstable embeddings (a partial is 1.6 s of audio)."""


@dataclass(frozen=True)
class SpeakerMatch:
    name: str
    """The enrolled name, or "unknown" when no profile reaches the threshold."""
    score: float
    """Cosine similarity to the best-matching profile (-1..1); 0.0 when none is enrolled."""


def identify(embedding: npt.NDArray[np.float32], profiles: Iterable[SpeakerProfile],
             threshold: float = DEFAULT_THRESHOLD) -> SpeakerMatch:
    """The best-scoring profile if its similarity is >= threshold, else "unknown" (with the
    best score, so logs show how close it came)."""
    query = np.asarray(embedding, dtype=np.float64)
    query = query / (np.linalg.norm(query) or 1.0)
    best = SpeakerMatch(UNKNOWN, 0.0)
    found = False
    for profile in profiles:
        ref = np.asarray(profile.embedding, dtype=np.float64)
        score = float(np.nan_to_num(query @ ref / (np.linalg.norm(ref) or 1.0)))
        if not found or score > best.score:
            best, found = SpeakerMatch(profile.name, score), True
    if found and best.score < threshold:
        return SpeakerMatch(UNKNOWN, best.score)
    return best


def enroll_files(name: str, paths: Sequence[Path], store: ProfileStore,
                 encoder: VoiceEncoder, min_speech_ms: int = MIN_SPEECH_MS) -> SpeakerProfile:
    """`assistant speakers enroll NAME FILE...`: decode, trim silence, embed, store the mean.

    Every file is checked before anything is stored, so a bad file leaves the old profile."""
    store.path_for(name)  # a bad name fails before minutes of decoding
    if not paths:
        raise SpeakerError(f"cannot enroll {name!r}: give at least one audio file.")
    return enroll_clips(name, [(str(path), read_file(path)) for path in paths], store, encoder,
                        min_speech_ms)


def enroll_clips(name: str, clips: Sequence[tuple[str, bytes]], store: ProfileStore,
                 encoder: VoiceEncoder, min_speech_ms: int = MIN_SPEECH_MS) -> SpeakerProfile:
    """Enroll from (where it came from, 16 kHz mono int16) clips: files or a recording."""
    store.path_for(name)
    embeddings = []
    for where, pcm in clips:
        speech = trim_silence(pcm)
        speech_ms = len(speech) // 2 * 1000 // RATE_HZ
        if speech_ms < min_speech_ms:
            raise SpeakerError(
                f"{where}: only {speech_ms} ms of speech; each enrollment clip needs at least "
                f"{min_speech_ms} ms. Record a longer sentence (3-10 s is best)."
            )
        embeddings.append(encoder.embed(speech))
    profile = store.enroll(name, embeddings)
    log.info("enrolled %s from %d clips in %s", name, len(clips), store.path_for(name))
    return profile


class _Profiles:
    """The store's profiles, read again only when its folder changes (its mtime moves on every
    enroll or remove), so `assistant speakers enroll` takes effect in a running daemon.

    A file that is not a usable profile is left out (logged once, not on every command); with
    `set_aside` (the daemon) it is also moved aside, so the others go on being used."""

    def __init__(self, store: ProfileStore, set_aside: bool = False) -> None:
        self.store = store
        self._set_aside = set_aside
        self._profiles: list[SpeakerProfile] = []
        self._stamp: int | None = None
        self._reported: set[BrokenProfile] = set()

    def current(self) -> list[SpeakerProfile]:
        try:
            stamp = os.stat(self.store.folder).st_mtime_ns
        except OSError:  # absent, or something that is not a folder: nobody is enrolled
            stamp = -1
        if stamp != self._stamp:
            scan = self.store.scan() if stamp != -1 else None
            self._profiles = list(scan.profiles) if scan else []
            for bad in scan.broken if scan else ():
                self._report(bad)
            self._stamp = stamp
        return self._profiles

    def _report(self, bad: BrokenProfile) -> None:
        if bad in self._reported:
            return
        self._reported.add(bad)
        then = (f"speakers are identified without it; enroll {bad.name} again "
                f"(assistant speakers enroll {bad.name} FILE...).")
        if self._set_aside:
            set_aside(bad.path, f"not a usable voice profile: {bad.problem}", then)
        else:
            log.warning("%s", bad.message())


class SpeakerIdentifier:
    """Embeds utterances and matches them against the store's profiles (blocking: for the
    batch commands; the daemon uses AsyncSpeakerIdentifier)."""

    def __init__(self, encoder: VoiceEncoder, store: ProfileStore,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.encoder = encoder
        self.store = store
        self.threshold = threshold
        self._profiles = _Profiles(store)

    def profiles(self) -> list[SpeakerProfile]:
        return self._profiles.current()

    def identify(self, pcm_int16_16k: bytes) -> SpeakerMatch:
        profiles = self.profiles()
        if not profiles:
            return SpeakerMatch(UNKNOWN, 0.0)  # nobody enrolled: skip the encoder entirely
        # The endpointer's pre-roll and trailing silence carry no voice, only room noise.
        speech = trim_silence(pcm_int16_16k) or pcm_int16_16k
        return identify(self.encoder.embed(speech), profiles, self.threshold)

    def warm_up(self) -> None:
        """Load the model (it warms itself up) so the first command pays no start-up cost."""
        self.encoder.load()
        self.profiles()


class AsyncSpeakerIdentifier:
    """pipeline.turn.SpeakerIdentifier for the daemon: the voice encoder is an engine (a worker
    process by default: torch never enters the daemon), profiles are read off the event loop."""

    def __init__(self, encoder: SpeakerEngine, store: ProfileStore,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self._profiles = _Profiles(store, set_aside=True)

    async def load_profiles(self) -> int:
        """Read the profiles now (at start: a broken one is set aside and logged before the
        first command, not during it); returns how many are usable."""
        return len(await asyncio.to_thread(self._profiles.current))

    async def identify(self, pcm: bytes, turn_id: int | None = None) -> tuple[str, float]:
        profiles = await asyncio.to_thread(self._profiles.current)
        if not profiles:
            return UNKNOWN, 0.0
        speech = trim_silence(pcm) or pcm
        match = identify(await self.encoder.embed(speech, turn_id), profiles, self.threshold)
        return match.name, match.score
