"""faster-whisper (CTranslate2) transcription of short commands without Whisper's 30 s padding."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from assistant.asr.base import Transcript
from assistant.config import AsrSettings, ModelSettings
from assistant.errors import ModelError, TranscriptionError
from assistant.models import cache_dir, resolve_whisper

log = logging.getLogger(__name__)

WHISPER_MAX_WINDOW_S = 30
FRAMES_PER_SECOND = 100  # Whisper's mel hop is 10 ms
MAX_TOKENS = 448  # Whisper's decoder context
LOGPROB_THRESHOLD = -1.0


def pick_device(device: str, compute_type: str) -> tuple[str, str]:
    """`auto`: CUDA with float16 when a GPU is there, else CPU with int8."""
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def load_whisper(name: str, device: str, compute_type: str, models: ModelSettings,
                 cpu_threads: int) -> tuple[Any, str]:
    """A faster-whisper model, found by the model resolution order, and the device it is on."""
    from faster_whisper import WhisperModel

    resolved = resolve_whisper(name, models)
    device, compute_type = pick_device(device, compute_type)
    log.info("loading Whisper %s (%s) on %s/%s", resolved.name, resolved.origin, device,
             compute_type)
    try:
        model = WhisperModel(
            resolved.location, device=device, compute_type=compute_type,
            cpu_threads=cpu_threads, local_files_only=models.offline,
            download_root=str(cache_dir(models) / "whisper"),
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load Whisper model {resolved.location!r}: {exc}") from exc
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
    def __init__(self, settings: AsrSettings, models: ModelSettings) -> None:
        self._settings = settings
        self._models = models
        self._model: Any = None
        self._tokenizer: Any = None
        self.device = ""

    def load(self) -> None:
        if self._model is not None:
            return
        settings = self._settings
        self._model, self.device = load_whisper(
            settings.model, settings.device, settings.compute_type, self._models,
            settings.cpu_threads)
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe",
            language=self._settings.language)
        self.transcribe(bytes(32000))  # warm up: first call allocates and tunes kernels

    def transcribe(self, pcm: bytes) -> Transcript:
        if self._model is None:
            raise TranscriptionError("the Whisper model is not loaded")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        audio_ms = len(audio) * 1000 // 16000
        window_s = window_seconds(audio_ms, self._settings.min_window_s)
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
            raise TranscriptionError(f"Whisper failed on {audio_ms} ms of audio: {exc}") from exc
        if no_speech > self._settings.no_speech_threshold and logprob < LOGPROB_THRESHOLD:
            text = ""  # Whisper's own rule: confident "no speech" and an unsure transcript
        return Transcript(
            text=text, no_speech_prob=no_speech, avg_logprob=logprob,
            language=self._settings.language, audio_ms=audio_ms,
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
            encoded, [prompt], beam_size=self._settings.beam_size, max_length=max_tokens,
            return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        text = tokenizer.decode(result.sequences_ids[0]).strip()
        return text, float(result.no_speech_prob), float(result.scores[0])

    def _decode_long(self, audio: np.ndarray) -> tuple[str, float, float]:
        """Long audio: faster-whisper's own sliding 30 s windows."""
        segments, _info = self._model.transcribe(
            audio, language=self._settings.language, beam_size=self._settings.beam_size,
            no_speech_threshold=self._settings.no_speech_threshold,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
        )
        segments = list(segments)  # the generator does the decoding: consume it here
        text = " ".join(s.text.strip() for s in segments).strip()
        no_speech = max((s.no_speech_prob for s in segments), default=1.0)
        logprob = float(np.mean([s.avg_logprob for s in segments])) if segments else 0.0
        return text, float(no_speech), logprob
