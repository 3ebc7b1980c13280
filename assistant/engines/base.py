"""One face per role: the blocking engine protocols, and the values that cross them.

An engine is plain blocking code (load once, then one call at a time). Where it runs is the
placement's business (engines/thread.py, engines/process.py); callers in the daemon use the
async faces in engines/faces.py, batch commands call the engine directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from assistant.audio.format import AudioChunk


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


@dataclass(frozen=True)
class WakeHit:
    word: str
    probability: float
    at_ms: int


class Engine(Protocol):
    name: str
    """What runs, for logs and events ("whisper:tiny.en")."""
    device: str
    """Where it runs once loaded: "cpu" or "cuda"."""

    def load(self) -> None:
        """Load and warm up (may take seconds); called once, before the daemon says READY.
        Raises ModelError, or DeviceError when the GPU it was asked to use fails."""


class Wake(Protocol):
    """Wake-word detection on the stream, 20 ms at a time (stateful: one thread owns it)."""

    def process(self, chunk: AudioChunk) -> WakeHit | None: ...

    def close(self) -> None: ...


class Vad(Protocol):
    def is_speech(self, chunk: AudioChunk) -> bool:
        """Speech in this 20 ms chunk? Called once per chunk, in stream order."""
        ...


class Transcriber(Engine, Protocol):
    def transcribe(self, pcm: bytes) -> Transcript:
        """16 kHz mono int16 PCM -> transcript."""
        ...


class Synthesizer(Engine, Protocol):
    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        """Lazily yield audio, sentence by sentence."""
        ...


class SoundClassifier(Engine, Protocol):
    """Fed the last `window_ms` of audio every `hop_ms`."""

    labels: list[str]
    window_ms: int
    hop_ms: int

    def scores_waveform(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """16 kHz float samples of one window -> a probability per label."""
        ...


class SpeakerEncoder(Engine, Protocol):
    def embed(self, pcm: bytes) -> npt.NDArray[np.float32]:
        """16 kHz mono int16 speech -> a unit-length voice embedding."""
        ...
