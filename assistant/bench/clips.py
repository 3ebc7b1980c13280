"""The recorded commands a benchmark runs: a folder with a MANIFEST.tsv, laid out like
../shared/audio (columns `file` and `truth`; with a `category` column only `asr` rows count)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT
from assistant.errors import ConfigError

LEAD_MS = 1000
GAP_MS = 2500  # after each command: longer than any hangover, time for the reply


@dataclass(frozen=True)
class Clip:
    path: Path
    truth: str


@dataclass(frozen=True)
class Placed:
    clip: Clip
    start_ms: int
    end_ms: int
    """Where the clip's audio ends in the bench input (the gap follows)."""


def load_clips(folder: Path) -> list[Clip]:
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        raise ConfigError(f"{folder}: no MANIFEST.tsv. Give a folder of recordings with a "
                          "tab-separated MANIFEST.tsv with the columns file and truth.")
    with manifest.open(encoding="utf-8", newline="") as rows:
        reader = csv.DictReader(rows, delimiter="\t")
        columns = set(reader.fieldnames or ())
        table = list(reader)
    if not {"file", "truth"} <= columns:
        raise ConfigError(f"{manifest}: needs a header line with the columns file and truth.")
    clips = [Clip(folder / row["file"], row["truth"]) for row in table
             if row.get("category", "asr") == "asr" and row["file"]]
    if not clips:
        raise ConfigError(f"{manifest}: no recordings listed (category asr, or no category).")
    missing = [str(c.path) for c in clips if not c.path.is_file()]
    if missing:
        raise ConfigError(f"{manifest}: listed but missing: {', '.join(missing[:5])}")
    return clips


def build_input(clips: list[Clip], passes: int, out: Path, before: bytes = b"") -> list[Placed]:
    """One 16 kHz WAV with every clip (after `before`, e.g. a wake word) and a gap after it."""
    silence = bytes(STREAM_FORMAT.bytes_for_ms(1))
    parts, placed = [silence * LEAD_MS], []
    at_ms = LEAD_MS
    for _ in range(passes):
        for clip in clips:
            pcm = before + read_file(clip.path)
            start_ms = at_ms + len(before) // len(silence)
            at_ms += len(pcm) // len(silence)
            placed.append(Placed(clip, start_ms, at_ms))
            parts += [pcm, silence * GAP_MS]
            at_ms += GAP_MS
    write_wav(out, b"".join(parts), STREAM_FORMAT)
    return placed
