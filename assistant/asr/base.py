"""The Transcriber interface and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    language: str = "en"
    audio_ms: int = 0
    compute_ms: float = 0.0

    @property
    def is_speech(self) -> bool:
        return bool(self.text.strip())


class Transcriber(Protocol):
    def load(self) -> None:
        """Load and warm up; may take seconds. Called once, before the daemon says READY."""

    def transcribe(self, pcm: bytes) -> Transcript:
        """16 kHz mono int16 PCM -> transcript. Blocking: call it from the ASR worker thread."""
