"""Speaker identification with resemblyzer's real weights on the real clips of SPEAKERS.tsv."""

from __future__ import annotations

import asyncio
import importlib.util
import stat
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT
from assistant.config import Settings
from assistant.engines.configured import Engines, speaker_spec
from assistant.engines.faces import SpeakerEngine
from assistant.speakers.encoder import VoiceEncoder
from assistant.speakers.identify import (
    AsyncSpeakerIdentifier,
    SpeakerIdentifier,
    enroll_files,
)
from assistant.speakers.profiles import ProfileStore, SpeakerError
from tests.bench.bench_speakers import enroll_split, load_clips
from tests.conftest import require

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    require(importlib.util.find_spec("torch") is not None,
            "torch is not installed (pip install torch==2.13.0)")
    require(importlib.util.find_spec("resemblyzer") is not None,
            "resemblyzer is not installed (pip install --no-deps resemblyzer)")
    encoder = VoiceEncoder()
    encoder.load()
    return encoder


@pytest.fixture(scope="module")
def enrolled(encoder: VoiceEncoder, audio_dir: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[SpeakerIdentifier, dict[str, list[Path]]]:
    """Each speaker with >= 2 clips enrolled from the first half of them; the rest to test."""
    store = ProfileStore(tmp_path_factory.mktemp("profiles") / "speakers")
    held_out: dict[str, list[Path]] = {}
    for name, clips in load_clips(audio_dir).items():
        if len(clips) < 2:
            continue
        enroll, rest = enroll_split(clips)
        enroll_files(name, [c.path for c in enroll], store, encoder)
        held_out[name] = [c.path for c in rest]
    return SpeakerIdentifier(encoder, store), held_out


def test_enrolled_speakers_are_recognised(
        enrolled: tuple[SpeakerIdentifier, dict[str, list[Path]]]) -> None:
    identifier, held_out = enrolled
    results = [(name, identifier.identify(read_file(path)))
               for name, paths in held_out.items() for path in paths]
    named_right = sum(m.name == name for name, m in results)
    named_wrong = [(name, m) for name, m in results if m.name not in (name, "unknown")]
    print(f"\nspeaker id: {named_right}/{len(results)} held-out clips named right at threshold "
          f"{identifier.threshold} ({named_right / len(results):.1%}); wrong names: {named_wrong}")
    # Measured (tests/bench/bench_speakers.py): 15/19 named, 4 unknown, none wrong.
    assert named_right / len(results) >= 0.7
    assert named_wrong == []  # a wrong name is worse than "unknown": it unlocks doors


def test_unenrolled_voices_are_unknown(
        enrolled: tuple[SpeakerIdentifier, dict[str, list[Path]]], audio_dir: Path) -> None:
    identifier, _ = enrolled
    strangers = [cs[0].path for cs in load_clips(audio_dir).values() if len(cs) == 1]
    matches = {p.name: identifier.identify(read_file(p)) for p in strangers}
    named = {k: m for k, m in matches.items() if m.name != "unknown"}
    print(f"\nunenrolled voices named: {len(named)}/{len(matches)} {named}")
    # A LibriSpeech reader, far from every profile (best score ~0.64 when measured).
    assert matches["librosa_librispeech_198-209-0000.ogg"].name == "unknown"
    assert len(named) <= len(matches) // 10  # measured: none of 13


def test_profiles_are_private_and_removable(
        encoder: VoiceEncoder, audio_dir: Path, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "speakers")
    clips = load_clips(audio_dir)["speechbrain_spk1"]
    profile = enroll_files("Alice", [c.path for c in clips[:2]], store, encoder)
    assert (profile.name, profile.clips) == ("Alice", 2)
    assert np.linalg.norm(profile.embedding) == pytest.approx(1.0, abs=1e-5)
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path_for("Alice").stat().st_mode) == 0o600

    identifier = SpeakerIdentifier(encoder, store)
    assert identifier.identify(read_file(clips[3].path)).name == "Alice"
    store.remove("Alice")
    # The identifier notices the folder changed: no restart needed after `speakers remove`.
    assert identifier.identify(read_file(clips[3].path)).name == "unknown"
    with pytest.raises(SpeakerError, match="no speaker named 'Alice'"):
        store.remove("Alice")


def test_too_short_clips_are_refused_and_nothing_is_stored(
        encoder: VoiceEncoder, audio_dir: Path, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "speakers")
    good = load_clips(audio_dir)["speechbrain_spk1"][0].path
    short = tmp_path / "short.wav"
    write_wav(short, read_file(good)[: 2 * 8000], STREAM_FORMAT)  # 0.5 s
    with pytest.raises(SpeakerError, match=r"short\.wav: only \d+ ms of speech.*1000 ms"):
        enroll_files("Alice", [good, short], store, encoder)
    assert store.list() == []


def test_async_identifier_answers_the_turn_protocol(
        enrolled: tuple[SpeakerIdentifier, dict[str, list[Path]]]) -> None:
    """The daemon's identifier, with the voice encoder in its worker process."""
    identifier, held_out = enrolled
    pcm = read_file(held_out["ljspeech_linda_johnson"][0])

    async def run() -> tuple[str, float]:
        engines = Engines(Settings(), lambda event: None)
        encoder = SpeakerEngine(engines.place(speaker_spec(Settings()), "process", 60))
        try:
            await encoder.placement.start()
            return await AsyncSpeakerIdentifier(encoder, identifier.store).identify(pcm)
        finally:
            await engines.aclose()

    name, score = asyncio.run(run())
    assert name == "ljspeech_linda_johnson"
    assert score >= identifier.threshold
