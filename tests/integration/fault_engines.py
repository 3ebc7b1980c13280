"""Engines for the supervisor's tests: each request says what the engine does with it.

They run in real worker processes (or threads) exactly like Whisper or Piper; only what they
compute is scripted: b"crash" exits at once, b"hang" never answers, b"grow" allocates memory
until it is stopped, b"bug" raises an unexpected exception, b"cuda" fails like a GPU, anything
else is echoed back as the transcript's text.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from assistant.engines.base import Transcript
from assistant.errors import DeviceError, TranscriptionError


@dataclass(frozen=True)
class ScriptOptions:
    device: str = "cpu"
    load_s: float = 0.0
    """How long loading takes."""
    marker: str | None = None
    """A file the engine writes its pid into when it loads (to count restarts)."""


class ScriptedTranscriber:
    def __init__(self, options: ScriptOptions) -> None:
        self._options = options
        self.name = "scripted"
        self.device = ""
        self._hoard: list[np.ndarray] = []

    def load(self) -> None:
        if self._options.device == "cuda":
            raise DeviceError("CUDA failed with error no CUDA-capable device is detected")
        time.sleep(self._options.load_s)
        self.device = self._options.device
        if self._options.marker:
            with open(self._options.marker, "a", encoding="utf-8") as marker:
                marker.write(f"{os.getpid()}\n")

    def transcribe(self, pcm: bytes) -> Transcript:
        if pcm == b"crash":
            os._exit(70)
        if pcm == b"hang":
            time.sleep(3600)
        if pcm == b"grow":
            while True:  # 50 MB at a time, really touched, until the supervisor stops it
                self._hoard.append(np.ones(50 * 2**20 // 8))
                time.sleep(0.01)
        if pcm == b"bug":
            raise KeyError("a bug in the engine")
        if pcm == b"refuse":
            raise TranscriptionError("this audio cannot be transcribed")
        if pcm == b"cuda":
            raise RuntimeError("CUDA failed with error an illegal memory access was encountered")
        return Transcript(text=pcm.decode(errors="replace"), audio_ms=len(pcm))


class GrowingWhisper:
    """Real Whisper, that grows without bound after transcribing anything about the time
    (a stand-in for a model that leaks or explodes on one input)."""

    def __init__(self, options: object) -> None:
        from assistant.asr.whisper import WhisperOptions, WhisperTranscriber

        assert isinstance(options, WhisperOptions)
        self._whisper = WhisperTranscriber(options)
        self.name = "growing-whisper"
        self.device = "cpu"
        self._hoard: list[np.ndarray] = []

    def load(self) -> None:
        self._whisper.load()

    def transcribe(self, pcm: bytes) -> Transcript:
        transcript = self._whisper.transcribe(pcm)
        while "time" in transcript.text.lower():
            self._hoard.append(np.ones(50 * 2**20 // 8))
            time.sleep(0.01)
        return transcript
