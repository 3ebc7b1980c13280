"""Piper neural TTS (ONNX), in runs of bounded length.

Piper's memory grows with the audio it makes in one go (about 1.3 MB per phoneme, 20 MB per
second of speech, kept by onnxruntime's arena): a 2,000-character sentence took 2 GB and never
gave it back. So every sentence is made in runs of at most MAX_RUN_PHONEMES, split at a comma
or a word boundary like text pieces are (tts/text.py), and what a run took is given back.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.errors import DeviceError, ModelError, SynthesisError
from assistant.quoting import excerpt
from assistant.tts.text import after_mark, before_blank, pieces, split_bounded

if TYPE_CHECKING:
    from assistant.config import ModelSettings, TtsSettings

log = logging.getLogger(__name__)

MAX_RUN_PHONEMES = 50
"""The most phonemes one ONNX run turns into audio at the voice's own speed (about 3 s of
speech, 40-70 MB); a slower voice (length_scale > 1) gets proportionally fewer."""
_MIN_RUN_PHONEMES = 8
_WORD_GAP = " "
_PHONEME_RULES = (after_mark(",;:", lambda p: p == _WORD_GAP),
                  before_blank(lambda p: p == _WORD_GAP))


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
        self._trim: Callable[[], None] = _nothing
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
            voice = PiperVoice.load(self._options.location, use_cuda=use_cuda)
        except (OSError, ValueError, RuntimeError) as exc:
            if use_cuda:
                raise DeviceError(f"Piper cannot run on CUDA: {exc}") from exc
            raise ModelError(f"cannot load Piper voice {self._options.location!r}: {exc}"
                             ) from exc
        voice.session = _ShrinkingSession(voice.session)
        self._voice = voice
        self._trim = _malloc_trim()
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
        voice = self._voice
        fmt = AudioFormat(voice.config.sample_rate, 2, 1)
        limit = self._run_limit()
        for piece in pieces(text):
            try:
                for sentence in voice.phonemize(piece):
                    for run in split_bounded(sentence, limit, _PHONEME_RULES,
                                             lambda p: p == _WORD_GAP):
                        audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(list(run)),
                                                           config)
                        self._trim()
                        yield AudioChunk(pcm=_pcm(audio), format=fmt)
            except (RuntimeError, ValueError, KeyError) as exc:
                if self.device == "cuda" and "CUDA" in str(exc):
                    raise DeviceError(f"Piper failed on CUDA: {exc}") from exc
                raise SynthesisError(f"Piper could not speak '{excerpt(piece, 60)}': {exc}"
                                     ) from exc

    def _run_limit(self) -> int:
        """MAX_RUN_PHONEMES at the voice's speed: a slower one makes more audio per phoneme."""
        scale = self._options.length_scale or float(self._voice.config.length_scale or 1.0)
        return max(_MIN_RUN_PHONEMES, int(MAX_RUN_PHONEMES / max(1.0, scale)))


class _ShrinkingSession:
    """Piper's ONNX session, giving back after each run the arena memory the run took;
    onnxruntime would keep it for good, at the size of the largest run yet."""

    def __init__(self, session: Any) -> None:
        import onnxruntime

        self._session = session
        self._options = onnxruntime.RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, Any]) -> Any:
        return self._session.run(output_names, input_feed, self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _pcm(audio: Any) -> bytes:
    """Piper's own output: scaled to full range (silence stays silence), 16-bit."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    samples = samples / peak if peak >= 1e-8 else np.zeros_like(samples)
    pcm: bytes = np.clip(samples * 32767.0, -32767.0, 32767.0).astype(np.int16).tobytes()
    return pcm


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim: freed memory goes back to the system, not only to the heap (where
    the next big run would find it, but the machine would not). A no-op elsewhere."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return _nothing

    def release() -> None:
        trim(0)
    return release


def _nothing() -> None:
    pass


def _cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
