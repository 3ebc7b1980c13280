"""Wake-word recall on the real recordings in ../shared/audio."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from assistant.audio.files import read_file
from assistant.audio.format import CHUNK_BYTES, AudioChunk
from assistant.config import WakeSettings
from assistant.frontend.wake import WakeDetector
from tests.conftest import silence

pytestmark = pytest.mark.integration
WORDS = {"okay nabu": "okay_nabu", "hey jarvis": "hey_jarvis", "alexa": "alexa",
         "hey mycroft": "hey_mycroft"}


def detections(detector: WakeDetector, pcm: bytes) -> list[str]:
    hits = []
    for i in range(0, len(pcm) - CHUNK_BYTES + 1, CHUNK_BYTES):
        hit = detector.process(AudioChunk(pcm[i:i + CHUNK_BYTES], start_ms=i // 32))
        if hit:
            hits.append(hit.word)
    return hits


def clips(audio_dir: Path, category: str) -> list[dict[str, str]]:
    with (audio_dir / "MANIFEST.tsv").open() as f:
        return [row for row in csv.DictReader(f, delimiter="\t") if row["category"] == category]


def test_recall_per_wake_word(audio_dir: Path) -> None:
    found: dict[str, list[bool]] = defaultdict(list)
    for row in clips(audio_dir, "wakeword"):
        word = WORDS.get(row["truth"])
        if word is None:
            continue
        detector = WakeDetector(WakeSettings(words=list(WORDS.values())))
        # As in a live stream, the clip has audio around it.
        pcm = silence(500) + read_file(audio_dir / row["file"]) + silence(1000)
        found[word].append(word in detections(detector, pcm))
    recall = {word: sum(hits) / len(hits) for word, hits in found.items()}
    print("wake-word recall:", {w: f"{sum(h)}/{len(h)}" for w, h in found.items()})
    assert set(recall) == set(WORDS.values())
    assert all(len(found[w]) >= 4 for w in recall)
    assert all(r >= 0.9 for r in recall.values()), recall


def test_no_wake_in_plain_speech(audio_dir: Path) -> None:
    """The default wake word does not fire on ordinary speech (the ASR clips)."""
    false = []
    for row in clips(audio_dir, "asr"):
        detector = WakeDetector(WakeSettings())
        if detections(detector, read_file(audio_dir / row["file"]) + silence(500)):
            false.append(row["file"])
    assert false == []


def test_refractory_period_gives_one_detection(audio_dir: Path) -> None:
    detector = WakeDetector(WakeSettings(refractory_ms=2000))
    pcm = silence(300) + read_file(audio_dir / "wakeword/pymicrowakeword_okay_nabu_2.wav")
    assert detections(detector, pcm + silence(1000)) == ["okay_nabu"]


def test_threshold_is_configurable(audio_dir: Path) -> None:
    pcm = silence(300) + read_file(audio_dir / "wakeword/pymicrowakeword_okay_nabu_2.wav")
    strict = WakeDetector(WakeSettings(threshold=0.999))
    assert detections(strict, pcm + silence(1000)) == []
