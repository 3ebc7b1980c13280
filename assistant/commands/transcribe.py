"""`assistant transcribe` (files -> text, subtitles and the search index) and `assistant index`."""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings, paths
from assistant.errors import AssistantError, ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscribeRequest:
    paths: tuple[str, ...]
    """Files, folders (searched recursively) or glob patterns."""
    formats: str | None = None
    """Comma-separated, as `--format` takes it; None: transcripts.formats."""
    output_dir: Path | None = None
    word_timestamps: bool = False
    language: str | None = None
    model: str | None = None
    initial_prompt: str | None = None
    hotwords: str | None = None
    force: bool = False
    quiet: bool = False
    index: Path | None = None
    use_index: bool = True


def transcribe(settings: Settings, request: TranscribeRequest) -> int:
    """0 when every input was transcribed or up to date, 1 when any failed."""
    from rich.console import Console

    from assistant.commands.speakers import who_speaks
    from assistant.preflight import check_output_folder
    from assistant.transcribe.engine import BatchTranscriber, TranscribeOptions
    from assistant.transcribe.formats import parse_formats
    from assistant.transcribe.index import TranscriptIndex
    from assistant.transcribe.inputs import find_inputs
    from assistant.transcribe.progress import TranscribeProgress
    from assistant.transcribe.runner import Job, TranscribeRun, summary

    chosen = settings.transcripts
    formats = parse_formats(request.formats) if request.formats else tuple(chosen.formats)
    if request.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    if request.language is not None and not re.fullmatch(r"[a-z]{2,3}", request.language):
        raise ConfigError(
            f"--language {request.language!r}: give a language code such as en or de.")
    if request.output_dir is not None:  # before any model loads
        check_output_folder("--output-dir", request.output_dir)
    who = who_speaks(settings)
    options = TranscribeOptions(
        model=request.model or chosen.model or settings.asr.model, device=chosen.device,
        compute_type=chosen.compute_type, language=request.language or chosen.language,
        beam_size=chosen.beam_size, batch_size=chosen.batch_size,
        word_timestamps=request.word_timestamps, initial_prompt=request.initial_prompt,
        hotwords=request.hotwords,
    )
    inputs = find_inputs(request.paths, request.output_dir)
    transcriber = BatchTranscriber(options, settings.models)  # loaded for the first file to do
    index = (TranscriptIndex(request.index or paths.index_file(chosen.index))
             if request.use_index else None)
    console = Console(stderr=True)
    try:
        run = TranscribeRun(Job(formats, request.force), transcriber, index, who)
        with TranscribeProgress(console, enabled=not request.quiet) as progress:
            outcomes = run.run(inputs, progress)
    finally:
        if index is not None:
            index.close()
    if not request.quiet:
        console.print(summary(outcomes), markup=False, highlight=False, soft_wrap=True)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def index_transcripts(settings: Settings, add: tuple[Path, ...], remove: tuple[Path, ...],
                      given_index: Path | None) -> int:
    """Add transcript JSON files (or folders of them), remove files, prune vanished audio."""
    from assistant.transcribe.formats import TranscriptFileError, read_json
    from assistant.transcribe.index import TranscriptIndex

    failed = 0
    with TranscriptIndex(given_index or paths.index_file(settings.transcripts.index)) as index:
        for path in remove:
            if not index.remove_file(path):
                print(f"not in the index: {path}", file=sys.stderr)
                failed += 1
        for json_path in _transcript_files(add):
            try:
                transcript = read_json(json_path)
                if not transcript.path.exists():
                    raise TranscriptFileError(f"{json_path}: its audio {transcript.path} is gone")
            except AssistantError as exc:
                print(f"skipped  {exc.message}", file=sys.stderr)
                failed += 1
                continue
            count = index.replace_file(transcript, json_path, transcript.path.stat().st_mtime)
            print(f"indexed  {transcript.path} ({count} segments)")
        for gone in index.prune_missing():
            print(f"removed  {gone} (the audio file is gone)")
        files, segments = index.stats()
    print(f"the index holds {files} files, {segments} segments")
    return 1 if failed else 0


def _transcript_files(paths: tuple[Path, ...]) -> list[Path]:
    """Named files as they are; in folders, only JSON that `assistant transcribe` wrote."""
    from assistant.transcribe.formats import JSON_FORMAT_TAG

    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for candidate in sorted(path.rglob("*.json")):
            with candidate.open("rb") as head:
                if JSON_FORMAT_TAG.encode() in head.read(200):
                    found.append(candidate)
    return found
