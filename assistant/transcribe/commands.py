"""`assistant transcribe`, `assistant search` and `assistant index`, behind the thin CLI."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from rich.console import Console

from assistant.config import Settings, paths
from assistant.errors import AssistantError, SearchError
from assistant.transcribe.engine import BatchTranscriber, TranscribeOptions, WhoSpeaks
from assistant.transcribe.formats import JSON_FORMAT_TAG, TranscriptFileError, read_json
from assistant.transcribe.index import Hit, TranscriptIndex
from assistant.transcribe.inputs import find_inputs
from assistant.transcribe.progress import TranscribeProgress
from assistant.transcribe.runner import Job, TranscribeRun, summary
from assistant.transcribe.search import format_timestamp, parse_since, render_hits

log = logging.getLogger(__name__)

PLAY_BEFORE_S = 0.3  # a little lead-in, so the first word is not clipped
PLAY_AFTER_S = 1.0


@dataclass(frozen=True)
class TranscribeRequest:
    paths: tuple[str, ...]
    formats: tuple[str, ...]
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


@dataclass(frozen=True)
class SearchRequest:
    query: str | None
    json: bool = False
    limit: int = 20
    since: str | None = None
    source: Literal["all", "files", "voice"] = "all"
    play: bool = False
    index: Path | None = None


def index_path(settings: Settings, given: Path | None) -> Path:
    return given or paths.index_file(settings.transcripts.index)


def transcribe(settings: Settings, request: TranscribeRequest, who: WhoSpeaks | None) -> int:
    """0 when every input was transcribed or up to date, 1 when any failed."""
    chosen = settings.transcripts
    options = TranscribeOptions(
        model=request.model or chosen.model or settings.asr.model, device=chosen.device,
        compute_type=chosen.compute_type, language=request.language or chosen.language,
        beam_size=chosen.beam_size, batch_size=chosen.batch_size,
        word_timestamps=request.word_timestamps, initial_prompt=request.initial_prompt,
        hotwords=request.hotwords,
    )
    inputs = find_inputs(request.paths, request.output_dir)
    transcriber = BatchTranscriber(options, settings.models)  # loaded for the first file to do
    index = TranscriptIndex(index_path(settings, request.index)) if request.use_index else None
    console = Console(stderr=True)
    try:
        run = TranscribeRun(Job(request.formats, request.force), transcriber, index, who)
        with TranscribeProgress(console, enabled=not request.quiet) as progress:
            outcomes = run.run(inputs, progress)
    finally:
        if index is not None:
            index.close()
    if not request.quiet:
        console.print(summary(outcomes), markup=False, highlight=False, soft_wrap=True)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def search(settings: Settings, request: SearchRequest) -> int:
    """0 with hits, 1 with none (as grep does)."""
    since = parse_since(request.since, datetime.now().astimezone()) if request.since else None
    path = index_path(settings, request.index)
    if not path.exists():
        raise SearchError(f"{path}: no search index yet; transcribe something first "
                          "(assistant transcribe FILE...) or pass --index.")
    with TranscriptIndex(path) as index:
        if request.query:
            hits = index.search(request.query, limit=request.limit, since=since,
                                source=request.source)
        elif since is not None or request.source == "voice":
            hits = index.recent(limit=request.limit, since=since, source=request.source)
        else:
            raise SearchError("give a query, or --since / --source voice to list recent ones.")
    for line in render_hits(hits, json=request.json, color=sys.stdout.isatty()):
        print(line)
    if not hits:
        print("no matches", file=sys.stderr)
        return 1
    if request.play:
        play(settings, hits[0])
    return 0


def play(settings: Settings, hit: Hit) -> None:
    from assistant.audio.devices import Speaker
    from assistant.audio.files import read_span
    from assistant.audio.format import AudioChunk, AudioFormat

    if hit.file is None:
        raise SearchError("that was said to the assistant: no recording of it is kept.")
    start_s = max(0.0, hit.start_s - PLAY_BEFORE_S)
    pcm = read_span(hit.file, start_s, hit.end_s + PLAY_AFTER_S)
    print(f"playing {hit.file} from {format_timestamp(start_s)}", file=sys.stderr)
    speaker = Speaker(settings.audio.output.device)
    speaker.open()

    async def play_out() -> None:
        await speaker.write(AudioChunk(pcm, AudioFormat(16000), 0))
        await speaker.drain()

    try:
        asyncio.run(play_out())
    finally:
        speaker.close()


def index_transcripts(settings: Settings, paths: tuple[Path, ...], remove: tuple[Path, ...],
                      given_index: Path | None) -> int:
    """Add transcript JSON files (or folders of them), remove files, prune vanished audio."""
    failed = 0
    with TranscriptIndex(index_path(settings, given_index)) as index:
        for path in remove:
            if not index.remove_file(path):
                print(f"not in the index: {path}", file=sys.stderr)
                failed += 1
        for json_path in _transcript_files(paths):
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
