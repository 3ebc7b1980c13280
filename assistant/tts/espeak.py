"""espeak-ng as a fallback voice: robotic, but tiny and always there."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.errors import ModelError, SynthesisError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


class EspeakSynthesizer:
    def __init__(self, voice: str = "en-us") -> None:
        self._voice = voice
        self._binary: str | None = None
        self.name = f"espeak-ng:{voice}"

    def load(self) -> None:
        self._binary = shutil.which("espeak-ng") or shutil.which("espeak")
        if self._binary is None:
            raise ModelError("espeak-ng is not installed (Debian: apt-get install espeak-ng).")

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if self._binary is None:
            raise SynthesisError("espeak-ng is not loaded")
        for sentence in split_sentences(text):
            # "--" ends options, so text starting with "-" is spoken, not parsed.
            result = subprocess.run(
                [self._binary, "-v", self._voice, "--stdout", "--", sentence],
                capture_output=True, timeout=30, check=False,
            )
            if result.returncode != 0:
                raise SynthesisError(
                    f"espeak-ng failed ({result.returncode}): {result.stderr.decode()[:200]}"
                )
            with wave.open(io.BytesIO(result.stdout)) as wav:
                fmt = AudioFormat(wav.getframerate(), wav.getsampwidth(), wav.getnchannels())
                pcm = wav.readframes(wav.getnframes())
            yield AudioChunk(pcm=pcm, format=fmt)
