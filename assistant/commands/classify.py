"""`assistant classify`: each file's sounds, music and (with enrolled voices) speakers, printed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings

log = logging.getLogger("assistant")


@dataclass(frozen=True)
class ClassifyRequest:
    files: tuple[Path, ...]
    json: bool = False
    top: int = 3
    """Labels shown per 0.48 s window."""
    plot: Path | None = None
    """A PNG; with several files, one per file named after it."""


def classify(settings: Settings, request: ClassifyRequest) -> int:
    from assistant.audio.files import read_file
    from assistant.classify import classify_file, plot, render_jsonl, render_text
    from assistant.commands.speakers import enrolled_voices
    from assistant.sed.yamnet import YamnetClassifier
    from assistant.speakers.segments import render as render_speakers
    from assistant.speakers.segments import speakers_in

    classifier = YamnetClassifier(settings.models.cache_dir)  # loaded once for every file
    voices = enrolled_voices(settings)
    for path in request.files:
        result = classify_file(path, top_n=request.top, classifier=classifier)
        for line in render_jsonl(result) if request.json else render_text(result):
            print(line)
        if voices is not None:
            spans = speakers_in(read_file(path), result.scores, classifier.labels, voices)
            for line in render_speakers(spans, str(path), request.json):
                print(line)
        if request.plot is not None:
            out = _plot_path(request.plot, path, several=len(request.files) > 1)
            plot(result, out)
            log.info("plot written to %s", out)
    return 0


def _plot_path(given: Path, audio: Path, several: bool) -> Path:
    return given.with_name(f"{given.stem}-{audio.stem}{given.suffix}") if several else given
