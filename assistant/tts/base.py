"""The Synthesizer interface: text -> an iterator of audio chunks, one sentence at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from assistant.audio.format import AudioChunk


class Synthesizer(Protocol):
    name: str

    def load(self) -> None:
        """Load and warm up. Called once, before the daemon says READY."""

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        """Lazily yield audio sentence by sentence; blocking, so iterate it in the TTS worker."""
