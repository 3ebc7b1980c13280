"""What transcribing one file gives: timestamped segments, optionally with words and speakers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    """Times are seconds from the start of the file."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True)
class FileTranscript:
    path: Path
    """The audio file, absolute."""
    duration_s: float
    language: str
    model: str
    segments: tuple[Segment, ...]
