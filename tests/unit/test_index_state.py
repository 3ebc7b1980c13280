"""The transcript index when it is missing, foreign, broken or read-only: real SQLite files.

A search only reads (SQLite's mode=ro: no file made, nothing migrated); the daemon's command
history sets a file that is not an index aside and starts a new one."""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from assistant.errors import IndexInvalid, IndexMissing, SearchError
from assistant.events import IntentMatched, Transcribed
from assistant.setaside import set_aside_copies
from assistant.transcribe.history import CommandHistory
from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.result import FileTranscript, Segment
from tests.unwritable import frozen

NOW = datetime(2026, 11, 23, 10, 15, 3)


def make_index(path: Path) -> None:
    """A real index with one file and one command, closed (so SQLite removed -wal and -shm)."""
    with TranscriptIndex(path) as index:
        audio = path.parent / "meeting.wav"
        index.replace_file(FileTranscript(audio, 20.0, "en", "tiny.en", (
            Segment(0.0, 9.5, "the budget review is on friday"),)), None, mtime_s=0.0)
        index.add_utterance("what is on my calendar", NOW, "alice")


def sqlite_of(sql: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.executescript(sql)
        db.close()
    return write


BAD_FILES: dict[str, Callable[[Path], None]] = {
    "random-bytes": lambda p: p.write_bytes(random.Random(3).randbytes(8192)),
    "text": lambda p: p.write_text("this is not a database at all\n" * 100),
    "other-schema": sqlite_of("CREATE TABLE contacts (name TEXT);"),
    "same-version-other-tables": sqlite_of(
        "CREATE TABLE contacts (name TEXT); PRAGMA user_version = 1;"),
    "folder": lambda p: p.mkdir(),
}


# -- reading only

def test_a_missing_index_is_reported_and_not_made(tmp_path: Path) -> None:
    path = tmp_path / "data" / "transcripts.db"
    with pytest.raises(IndexMissing, match="no transcript index yet"):
        TranscriptIndex(path, read_only=True)
    assert not path.parent.exists()


def test_an_empty_file_is_an_index_with_nothing_in_it_yet(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    path.write_bytes(b"")
    with pytest.raises(IndexMissing, match="empty"):
        TranscriptIndex(path, read_only=True)
    assert path.read_bytes() == b""  # no schema was written into it


def test_a_read_only_index_finds_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    make_index(path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with TranscriptIndex(path, read_only=True) as index:
        assert [h.text for h in index.search("budget")] == ["the budget review is on friday"]
        assert [h.speaker for h in index.recent(source="voice")] == ["alice"]
        with pytest.raises(SearchError, match="read-only"):
            index.expire_utterances(datetime(2100, 1, 1))
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_an_index_in_a_folder_that_cannot_be_written_is_searched(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    make_index(folder / "transcripts.db")
    assert not (folder / "transcripts.db-shm").exists()  # SQLite cannot make one: immutable
    with frozen(folder), TranscriptIndex(folder / "transcripts.db", read_only=True) as index:
        assert len(index.search("friday")) == 1
    with frozen(folder), pytest.raises(SearchError, match="cannot open"):
        TranscriptIndex(folder / "transcripts.db")  # the writer's open needs the folder


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_file_that_is_not_an_index_is_refused_and_left_alone(tmp_path: Path,
                                                               kind: str) -> None:
    path = tmp_path / "transcripts.db"
    BAD_FILES[kind](path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(IndexInvalid) as raised:
        TranscriptIndex(path, read_only=True)
    assert str(path) in raised.value.message and "--index" in raised.value.message
    assert sorted(tmp_path.iterdir()) == before


def test_a_newer_index_is_refused_read_only_too(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    make_index(path)
    sqlite_of("PRAGMA user_version = 99;")(path)
    with pytest.raises(SearchError, match="newer version.*upgrade") as raised:
        TranscriptIndex(path, read_only=True)
    assert not isinstance(raised.value, IndexInvalid)


# -- the daemon's command history

def record(path: Path, text: str) -> bool:
    """Open the history, record one command, close; whether it was recording."""
    history = CommandHistory(path, retention_days=30)
    history.open()
    recording = history.recording
    history(Transcribed(at_ms=10, turn_id=1, text=text))
    history(IntentMatched(at_ms=20, turn_id=1, intent="x", text=text))
    history.close()
    return recording


@pytest.mark.parametrize("kind", BAD_FILES)
def test_the_daemon_sets_a_file_that_is_not_an_index_aside_and_starts_a_new_one(
        tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "transcripts.db"
    BAD_FILES[kind](path)
    stale_wal = tmp_path / "transcripts.db-wal"
    stale_wal.write_bytes(random.Random(5).randbytes(4096))
    with caplog.at_level(logging.WARNING):
        assert record(path, "turn on the lights")
    [aside] = set_aside_copies(path)
    # The old WAL never meets the new database: SQLite dropped it, or it went with its file.
    assert not stale_wal.exists()
    for needle in (str(path), str(aside), "new, empty index"):
        assert needle in caplog.text, caplog.text
    with TranscriptIndex(path, read_only=True) as index:
        assert [h.text for h in index.recent(source="voice")] == ["turn on the lights"]


def test_a_newer_index_is_kept_and_commands_are_not_recorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "transcripts.db"
    make_index(path)
    sqlite_of("PRAGMA user_version = 99;")(path)
    history = CommandHistory(path, retention_days=30)
    with caplog.at_level(logging.WARNING):
        history.open()
    try:
        assert history.recording is False
        history(Transcribed(at_ms=10, turn_id=1, text="hello"))
        history(IntentMatched(at_ms=20, turn_id=1, intent="x", text="hello"))
    finally:
        history.close()
    assert set_aside_copies(path) == []  # a newer assistant's data is not "corrupt"
    assert "newer version" in caplog.text and "without recording commands" in caplog.text


def test_an_index_that_cannot_be_made_leaves_commands_unrecorded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    history = CommandHistory(folder / "transcripts.db", retention_days=30)
    with frozen(folder), caplog.at_level(logging.WARNING):
        history.open()
        assert history.recording is False
        history.close()
    assert "without recording commands" in caplog.text and str(folder) in caplog.text
