"""Piper neural TTS (ONNX), sentence by sentence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.config import ModelSettings, TtsSettings
from assistant.errors import ModelError, SynthesisError
from assistant.models import resolve_piper_voice

log = logging.getLogger(__name__)


class PiperSynthesizer:
    def __init__(self, settings: TtsSettings, models: ModelSettings) -> None:
        self._settings = settings
        self._models = models
        self._voice: Any = None
        self.name = f"piper:{settings.voice}"

    def load(self) -> None:
        if self._voice is not None:
            return
        from piper import PiperVoice

        resolved = resolve_piper_voice(self._settings.voice, self._models)
        use_cuda = self._settings.device == "cuda" or (
            self._settings.device == "auto" and _cuda_available()
        )
        log.info("loading Piper voice %s (%s)%s", resolved.name, resolved.origin,
                 " on CUDA" if use_cuda else "")
        try:
            self._voice = PiperVoice.load(resolved.location, use_cuda=use_cuda)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load Piper voice {resolved.location!r}: {exc}") from exc
        for _ in self.synthesize("Ready."):
            pass

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if self._voice is None:
            raise SynthesisError("the Piper voice is not loaded")
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self._settings.length_scale)
        try:
            for chunk in self._voice.synthesize(text, syn_config=config):
                fmt = AudioFormat(chunk.sample_rate, chunk.sample_width, chunk.sample_channels)
                yield AudioChunk(pcm=chunk.audio_int16_bytes, format=fmt)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise SynthesisError(f"Piper could not speak {text[:60]!r}: {exc}") from exc


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
