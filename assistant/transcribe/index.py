"""A SQLite FTS5 index of transcribed segments and of what people said to the daemon."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from assistant.errors import SearchError
from assistant.transcribe.index_db import WriteTransaction, open_index, open_read_only
from assistant.transcribe.result import FileTranscript
from assistant.transcribe.search import fts_query

Source = Literal["all", "files", "voice"]

SNIPPET_TOKENS = 24
MARK_START, MARK_END, ELLIPSIS = "\x02", "\x03", "…"

# Voice utterances have no file; a file's segments are dated by the file's mtime. The plain
# columns for one source let SQLite use the said_at_s index.
_WHEN: dict[Source, str] = {
    "all": "COALESCE(s.said_at_s, f.mtime_s)",
    "files": "f.mtime_s",
    "voice": "s.said_at_s",
}
_HIT_COLUMNS = "f.path, s.start_s, s.end_s, s.text, s.speaker, s.said_at_s"
_SOURCE_FILTER: dict[Source, str] = {
    "all": "1",
    "files": "s.file_id IS NOT NULL",
    "voice": "s.file_id IS NULL",
}
# The snippet markers must never come from the text itself, or rendering would misplace them.
_NO_MARKS = str.maketrans({MARK_START: " ", MARK_END: " "})


@dataclass(frozen=True)
class Hit:
    file: Path | None
    """The audio file; None for something said to the daemon."""
    start_s: float
    end_s: float
    text: str
    snippet: str
    """Part of `text` with matched terms between MARK_START and MARK_END, "…" where cut."""
    speaker: str | None
    said_at: datetime | None
    """When a voice utterance was said, timezone-aware local time; None for files."""
    score: float
    """Higher is better (-bm25); 0 for `recent()`."""


def _key(path: Path) -> str:
    """Files are keyed by absolute normalized path, so `./a.wav` and `/x/a.wav` are the same."""
    return os.path.abspath(path)


class TranscriptIndex:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (and create, or migrate) the index; `read_only` for a search: it then writes
        nothing at all, works on a read-only folder, and a missing index is IndexMissing."""
        self.path = path
        self.read_only = read_only
        self._db = open_read_only(path) if read_only else open_index(path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- writing

    def replace_file(self, transcript: FileTranscript, transcript_path: Path | None,
                     mtime_s: float) -> int:
        """Index a file's segments, replacing whatever was indexed for it; returns their count."""
        row = (_key(transcript.path), None if transcript_path is None else str(transcript_path),
               mtime_s, transcript.duration_s, transcript.language, transcript.model, time.time())
        with self._write():
            (file_id,) = self._db.execute(
                "INSERT INTO files (path, transcript_path, mtime_s, duration_s, language, model,"
                " indexed_at_s) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                " transcript_path = excluded.transcript_path, mtime_s = excluded.mtime_s,"
                " duration_s = excluded.duration_s, language = excluded.language,"
                " model = excluded.model, indexed_at_s = excluded.indexed_at_s RETURNING id",
                row).fetchone()
            self._db.execute("DELETE FROM segments WHERE file_id = ?", (file_id,))
            self._db.executemany(
                "INSERT INTO segments (file_id, start_s, end_s, text, speaker)"
                " VALUES (?, ?, ?, ?, ?)",
                [(file_id, s.start_s, s.end_s, s.text.translate(_NO_MARKS), s.speaker)
                 for s in transcript.segments])
        return len(transcript.segments)

    def indexed_mtime(self, audio_path: Path) -> float | None:
        """The audio file's mtime when it was indexed; None when it is not in the index."""
        row = self._db.execute("SELECT mtime_s FROM files WHERE path = ?",
                               (_key(audio_path),)).fetchone()
        return None if row is None else float(row[0])

    def remove_file(self, audio_path: Path) -> bool:
        """Forget a file and its segments; False when it was not indexed."""
        with self._write():
            cursor = self._db.execute("DELETE FROM files WHERE path = ?", (_key(audio_path),))
        return cursor.rowcount > 0

    def prune_missing(self) -> list[Path]:
        """Forget the files that are no longer on disk; returns them."""
        with self._write():
            rows = self._db.execute("SELECT id, path FROM files ORDER BY path").fetchall()
            gone = [(file_id, Path(p)) for file_id, p in rows if not Path(p).exists()]
            self._db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i, _ in gone])
        return [p for _, p in gone]

    def add_utterance(self, text: str, said_at: datetime, speaker: str | None) -> None:
        """Keep what someone said to the daemon; naive `said_at` is local time."""
        if not text.strip():
            return  # nothing anyone could find
        with self._write():
            self._db.execute(
                "INSERT INTO segments (file_id, start_s, end_s, text, speaker, said_at_s)"
                " VALUES (NULL, 0, 0, ?, ?, ?)",
                (text.translate(_NO_MARKS), speaker, said_at.timestamp()))

    def expire_utterances(self, older_than: datetime) -> int:
        """Delete utterances said before `older_than`; returns how many."""
        with self._write():
            cursor = self._db.execute(
                "DELETE FROM segments WHERE file_id IS NULL AND said_at_s < ?",
                (older_than.timestamp(),))
        return cursor.rowcount

    # -- reading

    def search(self, query: str, *, limit: int = 20, since: datetime | None = None,
               source: Source = "all") -> list[Hit]:
        """Segments matching what a user typed (see `fts_query`), best match first."""
        where, params = _filters(since, source)
        sql = (f"SELECT {_HIT_COLUMNS}, snippet(segments_fts, 0, ?, ?, ?, ?),"
               " bm25(segments_fts)"
               " FROM segments_fts JOIN segments s ON s.id = segments_fts.rowid"
               " LEFT JOIN files f ON f.id = s.file_id"
               f" WHERE segments_fts MATCH ? AND {where}"
               " ORDER BY bm25(segments_fts), s.id LIMIT ?")
        args = (MARK_START, MARK_END, ELLIPSIS, SNIPPET_TOKENS, fts_query(query), *params, limit)
        try:
            rows = self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:  # fts_query should make this unreachable; say so if not
            raise SearchError(f"search for {query!r} failed in {self.path}: {e}") from e
        return [_hit(*row[:6], snippet=row[6], score=-row[7]) for row in rows]

    def recent(self, *, limit: int = 20, since: datetime | None = None,
               source: Source = "all") -> list[Hit]:
        """The newest segments first, without a query."""
        where, params = _filters(since, source)
        rows = self._db.execute(
            f"SELECT {_HIT_COLUMNS} FROM segments s LEFT JOIN files f ON f.id = s.file_id"
            f" WHERE {where} ORDER BY {_WHEN[source]} DESC, s.start_s DESC, s.id DESC LIMIT ?",
            (*params, limit)).fetchall()
        return [_hit(*row, snippet=row[3], score=0.0) for row in rows]

    def stats(self) -> tuple[int, int]:
        """(indexed files, segments including voice utterances)."""
        (files,) = self._db.execute("SELECT count(*) FROM files").fetchone()
        (segments,) = self._db.execute("SELECT count(*) FROM segments").fetchone()
        return files, segments

    def _write(self) -> WriteTransaction:
        if self.read_only:
            raise SearchError(f"{self.path} was opened read-only: it cannot be changed")
        return WriteTransaction(self._db)


def _filters(since: datetime | None, source: Source) -> tuple[str, tuple[float, ...]]:
    where = _SOURCE_FILTER[source]
    if since is None:
        return where, ()
    return f"{where} AND {_WHEN[source]} >= ?", (since.timestamp(),)


def _hit(path: str | None, start_s: float, end_s: float, text: str, speaker: str | None,
         said_at_s: float | None, *, snippet: str, score: float) -> Hit:
    said_at = None if said_at_s is None else datetime.fromtimestamp(said_at_s).astimezone()
    return Hit(file=None if path is None else Path(path), start_s=start_s, end_s=end_s,
               text=text, snippet=snippet, speaker=speaker, said_at=said_at, score=score)
