"""The transcript index's SQLite file: made private, checked to be an index (not another
program's database), created or migrated, or opened for reading only."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from types import TracebackType

from assistant.errors import IndexInvalid, IndexMissing, SearchError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0
TABLES = frozenset({"files", "segments", "segments_fts"})
COMPANIONS = ("-wal", "-shm", "-journal")
"""SQLite's files beside a database: they belong to it (a stale -wal would be replayed into a
new database of the same name)."""

# External-content FTS5 table kept in sync by triggers, as in SQLite's FTS5 documentation
# (section 4.4.3): the text is stored once, in `segments`.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    transcript_path TEXT,
    mtime_s REAL NOT NULL,
    duration_s REAL NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    indexed_at_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    file_id INTEGER REFERENCES files(id) ON DELETE CASCADE,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    text TEXT NOT NULL,
    speaker TEXT,
    said_at_s REAL
);
CREATE INDEX IF NOT EXISTS segments_file ON segments(file_id);
CREATE INDEX IF NOT EXISTS segments_said_at ON segments(said_at_s);
CREATE VIRTUAL TABLE IF NOT EXISTS segments_fts USING fts5(
    text, content='segments', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS segments_ai AFTER INSERT ON segments BEGIN
    INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS segments_ad AFTER DELETE ON segments BEGIN
    INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS segments_au AFTER UPDATE ON segments BEGIN
    INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;
"""


class WriteTransaction:
    """BEGIN IMMEDIATE takes the write lock up front: in WAL a deferred transaction that reads
    and then writes can fail with SQLITE_BUSY without waiting for the busy timeout."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
            self._db.execute("ROLLBACK")


def open_index(path: Path) -> sqlite3.Connection:
    """Open for reading and writing; create the schema in a new (or empty) file."""
    what_to_do = "move it away or pass --index with another file"
    if path.is_dir():
        raise _invalid(path, "is a folder, not a transcript index", what_to_do)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_private(path)
        db = _connect(path)
    except (OSError, sqlite3.Error) as e:
        raise SearchError(f"cannot open the transcript index {path}: {e}") from e
    try:
        _prepare(db, path, what_to_do)
    except sqlite3.OperationalError as e:  # locked, read-only, disk full: the file may be fine
        db.close()
        raise SearchError(f"cannot open the transcript index {path}: {e}") from e
    except sqlite3.DatabaseError as e:
        db.close()
        raise _invalid(path, f"is not a transcript index ({e})", what_to_do) from e
    except SearchError:
        db.close()
        raise
    return db


def open_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading only (SQLite's mode=ro): no file is created, nothing is migrated."""
    what_to_do = "pass --index with the right file"
    if not path.exists():
        raise IndexMissing(f"{path}: there is no transcript index yet")
    if path.is_dir():
        raise _invalid(path, "is a folder, not a transcript index", what_to_do)
    uri = Path(os.path.abspath(path)).as_uri()
    db = None
    try:
        db = _connect(uri + "?mode=ro")
        try:
            version = _user_version(db)
        except sqlite3.OperationalError as e:
            if e.sqlite_errorname != "SQLITE_CANTOPEN" or os.path.exists(f"{path}-wal"):
                raise
            # A WAL database in a read-only folder cannot get its -shm file. With no -wal
            # either, no one has it open for writing: reading it as immutable is safe.
            db.close()
            db = _connect(uri + "?mode=ro&immutable=1")
            version = _user_version(db)
        _check_read_only(db, path, version, what_to_do)
    except sqlite3.OperationalError as e:
        if db is not None:
            db.close()
        raise SearchError(f"cannot read the transcript index {path}: {e}") from e
    except sqlite3.DatabaseError as e:
        if db is not None:
            db.close()
        raise _invalid(path, f"is not a transcript index ({e})", what_to_do) from e
    except SearchError:
        if db is not None:
            db.close()
        raise
    return db


def _connect(target: str | Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (see WriteTransaction).
    return sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           uri=isinstance(target, str))


def _check_read_only(db: sqlite3.Connection, path: Path, version: int, what_to_do: str) -> None:
    if version > SCHEMA_VERSION:
        raise SearchError(f"{path} was made by a newer version of assistant (schema {version},"
                          f" this one knows {SCHEMA_VERSION}): upgrade assistant")
    if version == 0 and not _tables(db):
        raise IndexMissing(f"{path}: the transcript index is empty (nothing indexed yet)")
    _check_tables(db, path, what_to_do)


def _invalid(path: Path, problem: str, what_to_do: str) -> IndexInvalid:
    return IndexInvalid(f"{path} {problem}: {what_to_do}", problem)


def _create_private(path: Path) -> None:
    """Transcripts are private: the DB is 0600 (SQLite gives -wal and -shm the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _prepare(db: sqlite3.Connection, path: Path, what_to_do: str) -> None:
    version = _user_version(db)  # raises DatabaseError when the file is not SQLite
    if version > SCHEMA_VERSION:
        raise SearchError(f"{path} was made by a newer version of assistant (schema {version},"
                          f" this one knows {SCHEMA_VERSION}): upgrade assistant, or {what_to_do}")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")  # the daemon writes while the CLI searches
    db.execute("PRAGMA synchronous = NORMAL")  # safe in WAL; a crash may lose the last commit
    if version == SCHEMA_VERSION:
        _check_tables(db, path, what_to_do)
        return
    with WriteTransaction(db):
        version = _user_version(db)  # another process may have created it meanwhile
        if version == 0:
            _create_schema(db, path, what_to_do)
        # Later schema versions migrate here, one step at a time.


def _tables(db: sqlite3.Connection) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def _check_tables(db: sqlite3.Connection, path: Path, what_to_do: str) -> None:
    """Another program's database may carry the same user_version: look at its tables too."""
    if missing := TABLES - _tables(db):
        raise _invalid(path, "is a SQLite database of something else (it has no "
                       f"{', '.join(sorted(missing))} table)", what_to_do)


def _create_schema(db: sqlite3.Connection, path: Path, what_to_do: str) -> None:
    tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if tables:
        raise _invalid(path, "is a SQLite database of something else", what_to_do)
    for statement in _statements(_SCHEMA):
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    log.info("created transcript index %s", path)


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction)."""
    statements, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _user_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version
