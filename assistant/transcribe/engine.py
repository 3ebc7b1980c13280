"""Transcribe whole files with faster-whisper's batched pipeline, a few minutes at a time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from assistant.asr.whisper import WhisperOptions, load_whisper
from assistant.audio.files import iter_file_chunks
from assistant.config import ModelSettings
from assistant.errors import TranscriptionError
from assistant.transcribe.chunks import (
    RATE_HZ,
    Audio,
    Block,
    Span,
    iter_blocks,
    nearest_speech,
    plan_clips,
    speech_spans,
    unheard,
)
from assistant.transcribe.result import FileTranscript, Segment, Word
from assistant.transcribe.sentences import SENTENCE_ENDS, split_words

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
        from faster_whisper import BatchedInferencePipeline

        from assistant.models import cache_dir, resolve_whisper

        options, models = self.options, self._models
        self._model, self.device = load_whisper(WhisperOptions(
            name=options.model, location=resolve_whisper(options.model, models).location,
            device=options.device, compute_type=options.compute_type,
            cpu_threads=os.cpu_count() or 0, download_root=str(cache_dir(models) / "whisper"),
            local_only=models.offline))
        self._pipeline = BatchedInferencePipeline(self._model)

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
        """Segments of one block (in file time), and the language (detected on the first)."""
        spans = speech_spans(block.audio)
        if not spans:
            return [], language
        words, language = self._decode(block, plan_clips(spans), language, progress)
        missed = unheard(spans, ((w.start_s + w.end_s) / 2 for w in words))
        if missed:
            log.debug("no words in %d speech spans; decoding them on their own", len(missed))
            more, language = self._decode(block, plan_clips(missed), language, None)
            words = sorted(words + more, key=lambda w: w.start_s)
        words = [_into_speech(w, spans) for w in words]
        segments = list(split_words(_shift(w, block.offset_s) for w in words))
        if not self.options.word_timestamps:
            segments = [replace(s, words=()) for s in segments]
        return segments, language

    def _decode(self, block: Block, clips: list[Span], language: str | None,
                progress: Progress | None) -> tuple[list[Word], str | None]:
        """The words Whisper hears in `clips`, batched; times relative to the block."""
        options = self.options
        words: list[Word] = []
        try:
            # One text per clip (no timestamp tokens: with them tiny.en skipped more speech);
            # the word timestamps then place every word and cut the segments (sentences.py).
            results, info = self._pipeline.transcribe(
                block.audio, language=language, beam_size=options.beam_size,
                batch_size=options.batch_size, word_timestamps=True, without_timestamps=True,
                initial_prompt=options.initial_prompt, hotwords=options.hotwords,
                clip_timestamps=[{"start": c.start_s, "end": c.end_s} for c in clips],
            )
            for result in results:  # the generator decodes a batch of clips at a time
                if progress is not None:
                    progress(block.offset_s + result.end)
                words += _words(result)
        except (RuntimeError, ValueError) as exc:
            raise TranscriptionError(f"Whisper failed: {exc}") from exc
        if language is None:
            log.debug("detected language %s (%.2f)", info.language, info.language_probability)
        return words, language or info.language


def _words(result: Any) -> list[Word]:
    if not result.text.strip() or (result.no_speech_prob > NO_SPEECH_PROB
                                   and result.avg_logprob < LOGPROB_THRESHOLD):
        return []
    return [Word(float(w.start), float(w.end), w.word.strip(), float(w.probability))
            for w in result.words or () if w.word.strip()]


def _into_speech(word: Word, spans: list[Span]) -> Word:
    """Whisper's alignment sometimes puts a sentence's last word in the silence after it (seen:
    1.4 s late, zero length). The VAD found no speech there: move the word into the nearest
    speech, and a sentence's last word into the speech before it, where its sentence is."""
    span = nearest_speech(spans, (word.start_s + word.end_s) / 2,
                          before=word.text.endswith(SENTENCE_ENDS))
    if span is None or span.start_s <= (word.start_s + word.end_s) / 2 <= span.end_s:
        return word
    end_s = min(max(word.end_s, span.start_s), span.end_s)
    start_s = max(min(word.start_s, end_s), span.start_s)
    return replace(word, start_s=start_s, end_s=end_s)


def _shift(word: Word, offset_s: float) -> Word:
    return replace(word, start_s=word.start_s + offset_s, end_s=word.end_s + offset_s)


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
