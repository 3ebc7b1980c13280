"""Piper neural TTS (ONNX), sentence by sentence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.errors import DeviceError, ModelError, SynthesisError

if TYPE_CHECKING:
    from assistant.config import ModelSettings, TtsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PiperOptions:
    name: str
    """The voice as the user named it."""
    location: str
    """The voice's .onnx file (its .json beside it)."""
    device: str = "auto"
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    """Piper varies each rendering a little; 0 for both makes it say a text the same way
    every time (test inputs)."""

    @classmethod
    def from_settings(cls, tts: TtsSettings, models: ModelSettings) -> PiperOptions:
        from assistant.models import resolve_piper_voice

        resolved = resolve_piper_voice(tts.voice, models)
        return cls(name=tts.voice, location=resolved.location, device=tts.device,
                   length_scale=tts.length_scale)

    def on_cpu(self) -> PiperOptions:
        return replace(self, device="cpu")


class PiperSynthesizer:
    """The Synthesizer engine (engines/base.py) for Piper voices."""

    def __init__(self, options: PiperOptions) -> None:
        self._options = options
        self._voice: Any = None
        self.name = f"piper:{options.name}"
        self.device = ""

    def load(self) -> None:
        if self._voice is not None:
            return
        from piper import PiperVoice

        device = self._options.device
        available = _cuda_available()
        if device == "cuda" and not available:
            raise DeviceError("Piper cannot use CUDA: onnxruntime has no CUDAExecutionProvider "
                              "(install onnxruntime-gpu)")
        use_cuda = device == "cuda" or (device == "auto" and available)
        log.info("loading Piper voice %s%s", self._options.name, " on CUDA" if use_cuda else "")
        try:
            self._voice = PiperVoice.load(self._options.location, use_cuda=use_cuda)
        except (OSError, ValueError, RuntimeError) as exc:
            if use_cuda:
                raise DeviceError(f"Piper cannot run on CUDA: {exc}") from exc
            raise ModelError(f"cannot load Piper voice {self._options.location!r}: {exc}"
                             ) from exc
        self.device = "cuda" if use_cuda else "cpu"
        for _ in self.synthesize("Ready."):
            pass

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if self._voice is None:
            raise SynthesisError("the Piper voice is not loaded")
        from piper import SynthesisConfig

        options = self._options
        config = SynthesisConfig(length_scale=options.length_scale,
                                 noise_scale=options.noise_scale,
                                 noise_w_scale=options.noise_w_scale)
        try:
            for chunk in self._voice.synthesize(text, syn_config=config):
                fmt = AudioFormat(chunk.sample_rate, chunk.sample_width, chunk.sample_channels)
                yield AudioChunk(pcm=chunk.audio_int16_bytes, format=fmt)
        except (RuntimeError, ValueError, KeyError) as exc:
            if self.device == "cuda" and "CUDA" in str(exc):
                raise DeviceError(f"Piper failed on CUDA: {exc}") from exc
            raise SynthesisError(f"Piper could not speak {text[:60]!r}: {exc}") from exc


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
