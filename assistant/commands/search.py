"""`assistant search`: find words in the transcript index, print the hits, play the best one."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.config import Settings, paths
from assistant.errors import IndexMissing, SearchError

if TYPE_CHECKING:
    from assistant.transcribe.index import Hit

PLAY_BEFORE_S = 0.3  # a little lead-in, so the first word is not clipped
PLAY_AFTER_S = 1.0


@dataclass(frozen=True)
class SearchRequest:
    query: str | None
    json: bool = False
    limit: int = 20
    since: str | None = None
    """today, yesterday, 3d, 12h or a date."""
    source: Literal["all", "files", "voice"] = "all"
    play: bool = False
    index: Path | None = None


def search(settings: Settings, request: SearchRequest) -> int:
    """0 with hits, 1 with none (as grep does)."""
    from assistant.transcribe.index import TranscriptIndex
    from assistant.transcribe.search import parse_since, render_hits

    since = parse_since(request.since, datetime.now().astimezone()) if request.since else None
    path = request.index or paths.index_file(settings.transcripts.index)
    try:
        # Read-only: a search changes nothing, so it works where the data cannot be written.
        index = TranscriptIndex(path, read_only=True)
    except IndexMissing as exc:
        raise IndexMissing(f"{exc.message}; transcribe something first (assistant transcribe "
                           "FILE...), or pass --index.") from None
    with index:
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
    """Play a hit's recording on the speaker, from just before it to just after it."""
    from assistant.audio.devices import Speaker
    from assistant.audio.files import read_span
    from assistant.audio.format import AudioChunk, AudioFormat
    from assistant.transcribe.search import format_timestamp

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
