"""The daemon's opt-in record of what was said to it, kept in the search index for a while.

An event-bus output: a command's transcript is written once its speaker is known (speaker
identification finishes before the intent is matched), on the index's own thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from assistant.errors import IndexInvalid, SearchError
from assistant.events import (
    Event,
    IntentMatched,
    IntentNotMatched,
    Replied,
    SpeakerIdentified,
    Transcribed,
    TurnCancelled,
)
from assistant.setaside import set_aside
from assistant.speakers.profiles import UNKNOWN
from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.index_db import COMPANIONS

log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 32  # commands come seconds apart; more than this means the disk is stuck
MAX_OPEN_TURNS = 8  # a turn that never finishes is written anyway, not kept forever
EXPIRE_EVERY_S = 3600.0
_TURN_DONE = (IntentMatched, IntentNotMatched, Replied, TurnCancelled)


class CommandHistory:
    def __init__(self, path: Path, retention_days: int) -> None:
        self._path = path
        self._retention = timedelta(days=retention_days)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        self._index: TranscriptIndex | None = None
        self._expired_at = 0.0
        self._heard: dict[int, tuple[str, datetime, str | None]] = {}
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> None:
        """Open the index (on its thread) and drop what is past its retention. Never a reason
        not to start: a file that is not an index is set aside and a new index made; one that
        cannot be written (read-only, locked, of a newer version) leaves commands unrecorded,
        with a warning saying so."""
        self._executor.submit(self._open).result()

    @property
    def recording(self) -> bool:
        """False when the index could not be opened: commands are not being kept."""
        return self._index is not None

    def __call__(self, event: Event) -> None:
        turn = event.turn_id
        if turn is None or self._closed:
            return
        if isinstance(event, Transcribed) and event.text.strip():
            self._heard[turn] = (event.text.strip(), datetime.now().astimezone(), None)
            if len(self._heard) > MAX_OPEN_TURNS:
                self._write(*self._heard.pop(next(iter(self._heard))))
        elif isinstance(event, SpeakerIdentified) and turn in self._heard:
            text, said_at, _ = self._heard[turn]
            self._heard[turn] = (text, said_at, None if event.name == UNKNOWN else event.name)
        elif isinstance(event, _TURN_DONE) and turn in self._heard:
            self._write(*self._heard.pop(turn))

    def close(self) -> None:
        """Let queued writes finish, then close the index; later events are ignored."""
        self._closed = True
        for text, said_at, speaker in self._heard.values():
            self._write(text, said_at, speaker)
        self._heard.clear()
        self._executor.submit(self._close)
        self._executor.shutdown(wait=True)

    def _write(self, text: str, said_at: datetime, speaker: str | None) -> None:
        with self._lock:
            if self._pending >= MAX_PENDING_WRITES:
                log.warning("command history is not keeping up; not recording %r", text)
                return
            self._pending += 1
        self._executor.submit(self._add, text, said_at, speaker).add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending -= 1
        if (exc := future.exception()) is not None:
            log.warning("could not record a command in %s: %s", self._path, exc)

    def _open(self) -> None:
        try:
            try:
                self._index = TranscriptIndex(self._path)
            except IndexInvalid as exc:
                moved = set_aside(
                    self._path, exc.problem,
                    "starting a new, empty index for the command history (transcripts that "
                    "were in the old one can be indexed again with: assistant index FOLDER).",
                    companions=COMPANIONS)
                if moved.moved_to is None:
                    raise
                self._index = TranscriptIndex(self._path)
            self._expire()
        except (SearchError, sqlite3.Error) as exc:  # read-only, locked, newer, disk full
            self._close()
            log.warning("%s; the daemon runs without recording commands (fix it and restart).",
                        getattr(exc, "message", exc))

    def _add(self, text: str, said_at: datetime, speaker: str | None) -> None:
        if self._index is None:
            return  # the index could not be opened; open() said so
        self._index.add_utterance(text, said_at, speaker)
        if time.monotonic() - self._expired_at > EXPIRE_EVERY_S:
            self._expire()

    def _expire(self) -> None:
        assert self._index is not None
        removed = self._index.expire_utterances(datetime.now().astimezone() - self._retention)
        if removed:
            log.info("forgot %d commands older than %d days", removed, self._retention.days)
        self._expired_at = time.monotonic()

    def _close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
