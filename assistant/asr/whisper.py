"""faster-whisper (CTranslate2) transcription of short commands without Whisper's 30 s padding."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from dataclasses import replace as dataclasses_replace
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.engines.base import Transcript
from assistant.errors import DeviceError, ModelError, TranscriptionError

if TYPE_CHECKING:
    from assistant.config import AsrSettings, ModelSettings

log = logging.getLogger(__name__)

WHISPER_MAX_WINDOW_S = 30
FRAMES_PER_SECOND = 100  # Whisper's mel hop is 10 ms
MAX_TOKENS = 448  # Whisper's decoder context
LOGPROB_THRESHOLD = -1.0


@dataclass(frozen=True)
class WhisperOptions:
    """What a Whisper engine needs, resolved from the settings (plain values: it may be loaded
    in a worker process that never reads the settings)."""

    name: str
    """As the user gave it (for logs and events)."""
    location: str
    """A local CTranslate2 folder, or a hub id faster-whisper downloads."""
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    download_root: str | None = None
    local_only: bool = False
    language: str = "en"
    beam_size: int = 1
    min_window_s: float = 10.0
    no_speech_threshold: float = 0.6

    @classmethod
    def from_settings(cls, asr: AsrSettings, models: ModelSettings) -> WhisperOptions:
        from assistant.models import cache_dir, resolve_whisper

        resolved = resolve_whisper(asr.model, models)
        return cls(name=asr.model, location=resolved.location, device=asr.device,
                   compute_type=asr.compute_type, cpu_threads=asr.cpu_threads,
                   download_root=str(cache_dir(models) / "whisper"), local_only=models.offline,
                   language=asr.language, beam_size=asr.beam_size,
                   min_window_s=asr.min_window_s, no_speech_threshold=asr.no_speech_threshold)

    def on_cpu(self) -> WhisperOptions:
        """The same model on the CPU (where a CUDA failure moves it)."""
        compute = self.compute_type if self.device == "cpu" else "auto"
        return dataclasses_replace(self, device="cpu", compute_type=compute)


def pick_device(device: str, compute_type: str) -> tuple[str, str]:
    """`auto`: CUDA with float16 when a GPU is there, else CPU with int8."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def load_whisper(options: WhisperOptions) -> tuple[Any, str]:
    """A faster-whisper model and the device it is on. A CUDA failure is a DeviceError (the
    caller may move to the CPU)."""
    from faster_whisper import WhisperModel

    device, compute_type = pick_device(options.device, options.compute_type)
    log.info("loading Whisper %s on %s/%s", options.name, device, compute_type)
    try:
        model = WhisperModel(
            options.location, device=device, compute_type=compute_type,
            cpu_threads=options.cpu_threads, local_files_only=options.local_only,
            download_root=options.download_root,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        if device == "cuda":
            raise DeviceError(f"Whisper {options.name!r} cannot run on CUDA: {exc}") from exc
        raise ModelError(f"cannot load Whisper model {options.location!r}: {exc}") from exc
    return model, device


def window_seconds(audio_ms: int, min_window_s: float) -> int:
    """Encode at least `min_window_s` (or the audio plus 1 s), never more than Whisper's 30 s.

    Shorter windows than ~10 s made Whisper repeat itself on real clips; 30 s wastes ~3x compute.
    """
    return int(min(WHISPER_MAX_WINDOW_S, max(min_window_s, math.ceil(audio_ms / 1000 + 1))))


def has_repeated_tail(text: str) -> bool:
    """True when the text ends with a phrase of 2+ words said twice ("stop that. stop that.")."""
    words = [w.strip(".,!?;:").lower() for w in text.split()]
    return any(
        words[-size:] == words[-2 * size:-size] for size in range(2, len(words) // 2 + 1)
    )


class WhisperTranscriber:
    """The Transcriber engine (engines/base.py) for spoken commands."""

    def __init__(self, options: WhisperOptions) -> None:
        self._options = options
        self._model: Any = None
        self._tokenizer: Any = None
        self.name = f"whisper:{options.name}"
        self.device = ""

    def load(self) -> None:
        if self._model is not None:
            return
        self._model, self.device = load_whisper(self._options)
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe",
            language=self._options.language)
        self.transcribe(bytes(32000))  # warm up: first call allocates and tunes kernels

    def transcribe(self, pcm: bytes) -> Transcript:
        if self._model is None:
            raise TranscriptionError("the Whisper model is not loaded")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        audio_ms = len(audio) * 1000 // 16000
        window_s = window_seconds(audio_ms, self._options.min_window_s)
        started = time.perf_counter()
        try:
            if audio_ms + 1000 <= WHISPER_MAX_WINDOW_S * 1000:
                text, no_speech, logprob = self._decode_window(audio, window_s, audio_ms)
                if window_s < WHISPER_MAX_WINDOW_S and has_repeated_tail(text):
                    # A short window sometimes makes Whisper loop; the full window rarely does.
                    log.debug("repetition in %r; decoding again on a 30 s window", text)
                    text, no_speech, logprob = self._decode_window(
                        audio, WHISPER_MAX_WINDOW_S, audio_ms)
            else:
                text, no_speech, logprob = self._decode_long(audio)
        except (RuntimeError, ValueError) as exc:
            if self.device == "cuda" and "CUDA" in str(exc):
                raise DeviceError(f"Whisper failed on CUDA: {exc}") from exc
            raise TranscriptionError(f"Whisper failed on {audio_ms} ms of audio: {exc}") from exc
        if no_speech > self._options.no_speech_threshold and logprob < LOGPROB_THRESHOLD:
            text = ""  # Whisper's own rule: confident "no speech" and an unsure transcript
        return Transcript(
            text=text, no_speech_prob=no_speech, avg_logprob=logprob,
            language=self._options.language, audio_ms=audio_ms,
            compute_ms=(time.perf_counter() - started) * 1000,
        )

    def _decode_window(self, audio: np.ndarray, window_s: int, audio_ms: int
                       ) -> tuple[str, float, float]:
        """Encode only `window_s` of mel frames: CTranslate2 accepts inputs shorter than 30 s."""
        from faster_whisper.audio import pad_or_trim

        model, tokenizer = self._model, self._tokenizer
        features = pad_or_trim(model.feature_extractor(audio), window_s * FRAMES_PER_SECOND)
        encoded = model.encode(features[None])
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        # Bound the output by what fits in the audio, so a confused decoder cannot loop for long.
        max_tokens = min(MAX_TOKENS, len(prompt) + 16 + audio_ms * 8 // 1000)
        result = model.model.generate(
            encoded, [prompt], beam_size=self._options.beam_size, max_length=max_tokens,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        text = tokenizer.decode(result.sequences_ids[0]).strip()
        return text, float(result.no_speech_prob), float(result.scores[0])

    def _decode_long(self, audio: np.ndarray) -> tuple[str, float, float]:
        """Long audio: faster-whisper's own sliding 30 s windows."""
        segments, _info = self._model.transcribe(
            audio, language=self._options.language, beam_size=self._options.beam_size,
            no_speech_threshold=self._options.no_speech_threshold,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
        )
        segments = list(segments)  # the generator does the decoding: consume it here
        text = " ".join(s.text.strip() for s in segments).strip()
        no_speech = max((s.no_speech_prob for s in segments), default=1.0)
        logprob = float(np.mean([s.avg_logprob for s in segments])) if segments else 0.0
        return text, float(no_speech), logprob
