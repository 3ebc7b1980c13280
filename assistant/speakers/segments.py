"""Who speaks when, in a file: speech stretches (from the sound model's own Speech score),
each matched against the enrolled voices. Used by `assistant classify`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from assistant.sed.features import PATCH_HOP_MS, PATCH_MS
from assistant.sed.labels import speech_flags
from assistant.speakers.identify import SpeakerIdentifier

MIN_SPEECH_MS = 1500  # shorter stretches say too little about a voice


@dataclass(frozen=True)
class SpeakerSpan:
    name: str
    score: float
    start_ms: int
    end_ms: int


def speech_spans(scores: np.ndarray, labels: list[str]) -> list[tuple[int, int]]:
    """[windows, classes] -> (start_ms, end_ms) of each run of speech windows."""
    speech = speech_flags(scores, labels)
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, is_speech in enumerate([*speech.tolist(), False]):
        if is_speech and start is None:
            start = i
        elif not is_speech and start is not None:
            spans.append((start * PATCH_HOP_MS, (i - 1) * PATCH_HOP_MS + PATCH_MS))
            start = None
    return [(a, b) for a, b in spans if b - a >= MIN_SPEECH_MS]


def speakers_in(pcm: bytes, scores: np.ndarray, labels: list[str],
                identifier: SpeakerIdentifier) -> list[SpeakerSpan]:
    """pcm: the file as 16 kHz mono int16; scores: the classifier's windows over it."""
    found = []
    length_ms = len(pcm) // 32
    for start_ms, window_end_ms in speech_spans(scores, labels):
        end_ms = min(window_end_ms, length_ms)
        match = identifier.identify(pcm[start_ms * 32:end_ms * 32])
        found.append(SpeakerSpan(match.name, round(match.score, 3), start_ms, end_ms))
    return found


def render(spans: list[SpeakerSpan], path: str, as_json: bool) -> Iterator[str]:
    for span in spans:
        if as_json:
            yield json.dumps({"type": "speaker_identified", "file": path, "name": span.name,
                              "score": span.score, "start_ms": span.start_ms,
                              "end_ms": span.end_ms}, ensure_ascii=False)
        else:
            yield (f"  speaker {span.name} ({span.score:.2f}) "
                   f"{span.start_ms / 1000:.2f}-{span.end_ms / 1000:.2f} s")
