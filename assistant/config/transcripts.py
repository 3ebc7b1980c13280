"""Settings for `assistant transcribe`, the search index, and the daemon's command history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from assistant.config.base import Section

FormatName = Literal["txt", "json", "srt", "vtt", "tsv"]


class TranscriptSettings(Section):
    model: str | None = None
    """Whisper for files: short name, CTranslate2 folder or hub id; null: the same as asr.model."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] | None = None
    """null: detected per file (English-only models always give en)."""
    beam_size: Annotated[int, Field(ge=1, le=10)] = 5
    batch_size: Annotated[int, Field(ge=1, le=64)] = 8
    formats: Annotated[list[FormatName], Field(min_length=1)] = ["txt", "json", "srt"]
    index: Path | None = None
    """The SQLite search index; null: the user's data folder (~/.local/share/assistant)."""
    keep_commands: bool = False
    """The daemon adds what was said to it to the index (opt-in: it is a record of the home)."""
    retention_days: Annotated[int, Field(ge=1, le=36500)] = 30
    """Kept commands older than this are deleted."""
