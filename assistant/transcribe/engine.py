"""Transcribe whole files with faster-whisper's batched pipeline, a few minutes at a time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.asr.whisper import pick_device
from assistant.audio.files import iter_file_chunks
from assistant.config import ModelSettings
from assistant.errors import ModelError, TranscriptionError
from assistant.models import cache_dir, resolve_whisper
from assistant.transcribe.chunks import RATE_HZ, Audio, Block, iter_blocks
from assistant.transcribe.result import FileTranscript, Segment, Word
from assistant.transcribe.sentences import split_words

log = logging.getLogger(__name__)

NO_SPEECH_PROB = 0.6  # Whisper's rule: likely silence and an unsure transcript -> drop it
LOGPROB_THRESHOLD = -1.0
MIN_SPEAKER_S = 1.0  # shorter segments carry too little voice to say who it is

Progress = Callable[[float], None]
"""Called with the seconds of the file done so far."""
WhoSpeaks = Callable[[bytes], str | None]
"""16 kHz mono int16 PCM -> an enrolled speaker's name, or None."""


@dataclass(frozen=True)
class TranscribeOptions:
    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str = "auto"
    language: str | None = None
    """None: detect it on the first block with speech (English-only models: always en)."""
    beam_size: int = 5
    batch_size: int = 8
    word_timestamps: bool = False
    initial_prompt: str | None = None
    hotwords: str | None = None


class BatchTranscriber:
    def __init__(self, options: TranscribeOptions, models: ModelSettings) -> None:
        self.options = options
        self._models = models
        self._model: Any = None
        self._pipeline: Any = None
        self.device = ""

    def load(self) -> None:
        if self._model is not None:
            return
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        resolved = resolve_whisper(self.options.model, self._models)
        device, compute_type = pick_device(self.options.device, self.options.compute_type)
        log.info("loading Whisper %s (%s) on %s/%s", resolved.name, resolved.origin, device,
                 compute_type)
        try:
            self._model = WhisperModel(
                resolved.location, device=device, compute_type=compute_type,
                cpu_threads=os.cpu_count() or 0, local_files_only=self._models.offline,
                download_root=str(cache_dir(self._models) / "whisper"),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"cannot load Whisper model {resolved.location!r}: {exc}") from exc
        self._pipeline = BatchedInferencePipeline(self._model)
        self.device = device

    def transcribe(self, path: Path, progress: Progress | None = None,
                   who: WhoSpeaks | None = None) -> FileTranscript:
        """Raises AudioInputError for audio that cannot be read, TranscriptionError otherwise."""
        self.load()
        language = self.options.language
        segments: list[Segment] = []
        duration_s = 0.0
        for block in iter_blocks(chunk.pcm for chunk in iter_file_chunks(path)):
            found, language = self._transcribe_block(block, language, progress)
            segments.extend(_name_speakers(found, block, who) if who else found)
            duration_s = block.offset_s + block.duration_s
            if progress is not None:
                progress(duration_s)
        return FileTranscript(path=path.resolve(), duration_s=duration_s,
                              language=language or "en", model=self.options.model,
                              segments=tuple(segments))

    def _transcribe_block(self, block: Block, language: str | None, progress: Progress | None
                          ) -> tuple[list[Segment], str | None]:
        """Segments of one block (file times) and the language, detected on the first block."""
        options = self.options
        found: list[Segment] = []
        try:
            # Word timestamps are always asked for: segments are cut from them (sentences.py).
            chunks, info = self._pipeline.transcribe(
                block.audio, language=language, beam_size=options.beam_size,
                batch_size=options.batch_size, word_timestamps=True,
                initial_prompt=options.initial_prompt, hotwords=options.hotwords,
            )
            for chunk in chunks:  # the generator decodes a batch of chunks at a time
                if progress is not None:
                    progress(block.offset_s + chunk.end)
                found.extend(_shift(s, block.offset_s) for s in _segments(chunk))
        except (RuntimeError, ValueError) as exc:
            raise TranscriptionError(f"Whisper failed: {exc}") from exc
        if not options.word_timestamps:
            found = [replace(s, words=()) for s in found]
        if language is None and info.duration_after_vad:
            log.debug("detected language %s (%.2f)", info.language, info.language_probability)
            language = info.language
        return found, language


def _segments(chunk: Any) -> list[Segment]:
    text = chunk.text.strip()
    if not text or (chunk.no_speech_prob > NO_SPEECH_PROB
                     and chunk.avg_logprob < LOGPROB_THRESHOLD):
        return []
    words = [Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
             for w in chunk.words or () if w.word.strip()]
    if not words:
        return [Segment(float(chunk.start), float(chunk.end), text)]
    return list(split_words(words))


def _shift(segment: Segment, offset_s: float) -> Segment:
    if not offset_s:
        return segment
    words = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s)
                  for w in segment.words)
    return replace(segment, start_s=segment.start_s + offset_s,
                   end_s=segment.end_s + offset_s, words=words)


def _name_speakers(segments: list[Segment], block: Block, who: WhoSpeaks) -> list[Segment]:
    named = []
    for segment in segments:
        start, end = segment.start_s - block.offset_s, segment.end_s - block.offset_s
        if end - start >= MIN_SPEAKER_S:
            segment = replace(segment, speaker=who(_pcm(block.audio, start, end)))
        named.append(segment)
    return named


def _pcm(audio: Audio, start_s: float, end_s: float) -> bytes:
    piece = audio[max(0, int(start_s * RATE_HZ)):int(end_s * RATE_HZ)]
    return (np.clip(piece, -1.0, 1.0) * 32767).astype("<i2").tobytes()
