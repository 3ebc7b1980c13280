"""The transcript index: a real SQLite FTS5 database in a temporary folder."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from assistant.errors import SearchError
from assistant.transcribe.index import (
    MARK_END,
    MARK_START,
    Hit,
    TranscriptIndex,
)
from assistant.transcribe.result import FileTranscript, Segment

NOW = datetime(2026, 11, 23, 10, 15, 3)  # naive: local time


def transcript(path: Path, *texts: str, speaker: str | None = None) -> FileTranscript:
    segments = tuple(Segment(start_s=10.0 * i, end_s=10.0 * i + 9.5, text=t, speaker=speaker)
                     for i, t in enumerate(texts))
    return FileTranscript(path=path, duration_s=10.0 * len(texts), language="en",
                          model="tiny.en", segments=segments)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[TranscriptIndex]:
    with TranscriptIndex(tmp_path / "db" / "transcripts.db") as opened:
        yield opened


def texts(hits: list[Hit]) -> list[str]:
    return [h.text for h in hits]


def add(index: TranscriptIndex, name: str, *segment_texts: str, mtime_s: float = 0.0) -> Path:
    path = index.path.parent / name
    index.replace_file(transcript(path, *segment_texts), None, mtime_s=mtime_s)
    return path


# -- finding

def test_finds_added_segments_with_file_times_and_marked_snippet(index: TranscriptIndex) -> None:
    path = add(index, "a.wav", "nothing here", "the kitchen timer rang twice")
    [hit] = index.search("timer")
    assert (hit.file, hit.start_s, hit.end_s) == (path, 10.0, 19.5)
    assert hit.text == "the kitchen timer rang twice"
    assert hit.snippet == f"the kitchen {MARK_START}timer{MARK_END} rang twice"
    assert hit.said_at is None
    assert index.search("dragons") == []


def test_snippet_of_a_long_segment_is_cut_with_ellipses(index: TranscriptIndex) -> None:
    words = [f"filler{i}" for i in range(80)]
    add(index, "a.wav", " ".join([*words[:40], "needle", *words[40:]]))
    [hit] = index.search("needle")
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert f"{MARK_START}needle{MARK_END}" in hit.snippet
    assert len(hit.snippet) < len(hit.text) / 2


def test_better_match_ranks_first(index: TranscriptIndex) -> None:
    long = "we talked about the garden and the weather and the kitchen timer and many other things"
    add(index, "a.wav", long, "kitchen timer")
    hits = index.search("kitchen timer")
    assert texts(hits) == ["kitchen timer", long]
    assert hits[0].score > hits[1].score


def test_words_match_apart_but_a_phrase_only_together(index: TranscriptIndex) -> None:
    add(index, "a.wav", "the lamp is in the kitchen", "turn on the kitchen lamp")
    assert sorted(texts(index.search("kitchen lamp"))) == [
        "the lamp is in the kitchen", "turn on the kitchen lamp"]
    assert texts(index.search('"kitchen lamp"')) == ["turn on the kitchen lamp"]


def test_all_words_must_match(index: TranscriptIndex) -> None:
    add(index, "a.wav", "turn on the lamp", "turn off the radio")
    assert texts(index.search("turn lamp")) == ["turn on the lamp"]


def test_operators(index: TranscriptIndex) -> None:
    add(index, "a.wav", "kitchen lamp", "bedroom lamp", "garage door", "kitchen door")
    assert sorted(texts(index.search("kitchen OR bedroom lamp"))) == ["bedroom lamp",
                                                                       "kitchen lamp"]
    assert texts(index.search("door NOT garage")) == ["kitchen door"]
    assert sorted(texts(index.search("garage OR bedroom"))) == ["bedroom lamp", "garage door"]


def test_prefix(index: TranscriptIndex) -> None:
    add(index, "a.wav", "the kitchen is warm", "a kitten", "nothing")
    assert texts(index.search("kitch*")) == ["the kitchen is warm"]
    assert sorted(texts(index.search("kit*"))) == ["a kitten", "the kitchen is warm"]


def test_porter_stemming(index: TranscriptIndex) -> None:
    add(index, "a.wav", "I run every morning", "the timers are ticking")
    assert texts(index.search("running")) == ["I run every morning"]
    assert texts(index.search("timer")) == ["the timers are ticking"]


def test_diacritics_are_ignored_both_ways(index: TranscriptIndex) -> None:
    add(index, "a.wav", "un café crème", "the naive approach")
    assert texts(index.search("cafe creme")) == ["un café crème"]
    assert texts(index.search("naïve")) == ["the naive approach"]


def test_apostrophes_match_what_was_said(index: TranscriptIndex) -> None:
    add(index, "a.wav", "what's the weather like", "what a day")
    assert texts(index.search("what's")) == ["what's the weather like"]


HOSTILE = ['"', '""', '"""', "*", "**", "a*b*c", "(", ")", "(kitchen", "kitchen)", "-", "-timer",
           "NEAR(", "NEAR(kitchen timer)", "NEAR", "text:foo", "text:", ":", "{text}: foo", "^",
           "^kitchen", "a OR", "OR", "NOT", "AND", "OR OR", "a NOT", "NOT a", "a AND OR NOT b",
           "'", "what's", "rock'n'roll", "x-ray", "'; DROP TABLE segments; --", "a + b", "@#$%",
           "\\", "\x00", "🙂", "timer\x00kitchen", '"unbalanced phrase', "kit*chen", "*timer",
           "a" * 5000, "rank:1", "segments_fts:x", '"a" "b"']


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise_sqlite_errors(index: TranscriptIndex, query: str) -> None:
    add(index, "a.wav", "the kitchen timer rang", "what's up")
    try:
        hits = index.search(query)
    except SearchError as e:
        assert "give at least one word" in e.message
        return
    assert all(h.text in ("the kitchen timer rang", "what's up") for h in hits)
    assert index.stats() == (1, 2)  # and the DB is intact


def test_punctuated_tokens_match_as_phrases(index: TranscriptIndex) -> None:
    add(index, "a.wav", "the kitchen timer rang", "an x-ray of my hand", "nothing")
    for query in ("-timer", "(kitchen", "kitchen)", "kitchen:timer", "timer\x00kitchen*"):
        assert texts(index.search(query)) == ["the kitchen timer rang"], query
    assert texts(index.search("x-ray")) == ["an x-ray of my hand"]
    assert texts(index.search("ray-x")) == []


# -- replacing and removing files

def test_replace_file_replaces_segments_and_their_text(index: TranscriptIndex) -> None:
    path = add(index, "a.wav", "old alpha words", "more alpha")
    count = index.replace_file(transcript(path, "new beta words"), Path("/t/a.json"), 5.0)
    assert count == 1
    assert index.search("alpha") == []
    assert texts(index.search("beta")) == ["new beta words"]
    assert index.stats() == (1, 1)


def test_same_file_by_another_spelling_is_not_duplicated(index: TranscriptIndex,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(index.path.parent)
    add(index, "a.wav", "hello there")
    index.replace_file(transcript(Path("./sub/../a.wav"), "hello again"), None, 0.0)
    assert index.stats() == (1, 1)


def test_remove_file_forgets_it(index: TranscriptIndex) -> None:
    kept = add(index, "keep.wav", "shared word kept")
    gone = add(index, "gone.wav", "shared word gone")
    assert index.remove_file(gone) is True
    assert index.remove_file(gone) is False
    assert [h.file for h in index.search("shared")] == [kept]
    assert index.stats() == (1, 1)


def test_prune_missing_drops_files_no_longer_on_disk(index: TranscriptIndex) -> None:
    kept, gone = index.path.parent / "keep.wav", index.path.parent / "gone.wav"
    for path in (kept, gone):
        path.write_bytes(b"RIFF")
        index.replace_file(transcript(path, f"recording {path.stem}"), None, 0.0)
    gone.unlink()
    assert index.prune_missing() == [gone]
    assert [h.file for h in index.search("recording")] == [kept]
    assert index.prune_missing() == []


def test_file_with_no_segments_is_still_known(index: TranscriptIndex) -> None:
    assert index.replace_file(transcript(index.path.parent / "silence.wav"), None, 0.0) == 0
    assert index.stats() == (1, 0)


# -- voice utterances, since, source, recent

def test_utterances_are_found_with_when_and_who(index: TranscriptIndex) -> None:
    index.add_utterance("set a timer for ten minutes", NOW, "alice")
    index.add_utterance("   ", NOW, None)  # nothing to keep
    [hit] = index.search("timer")
    assert hit.file is None and hit.speaker == "alice"
    assert hit.said_at is not None and hit.said_at.tzinfo is not None
    assert hit.said_at.replace(tzinfo=None) == NOW
    assert index.stats() == (0, 1)


def test_since_filters_utterances_and_files(index: TranscriptIndex) -> None:
    index.add_utterance("timer old", NOW - timedelta(days=3), None)
    index.add_utterance("timer new", NOW - timedelta(hours=1), None)
    add(index, "old.wav", "timer file old", mtime_s=(NOW - timedelta(days=5)).timestamp())
    add(index, "new.wav", "timer file new", mtime_s=(NOW - timedelta(hours=2)).timestamp())
    since = NOW - timedelta(days=1)
    assert sorted(texts(index.search("timer", since=since))) == ["timer file new", "timer new"]
    assert len(index.search("timer")) == 4


def test_expire_utterances_keeps_newer_ones_and_files(index: TranscriptIndex) -> None:
    index.add_utterance("lamp old", NOW - timedelta(days=40), None)
    index.add_utterance("lamp older", NOW - timedelta(days=50), None)
    index.add_utterance("lamp new", NOW - timedelta(days=2), None)
    add(index, "a.wav", "lamp in a file")
    assert index.expire_utterances(NOW - timedelta(days=30)) == 2
    assert sorted(texts(index.search("lamp"))) == ["lamp in a file", "lamp new"]
    assert index.expire_utterances(NOW - timedelta(days=30)) == 0


def test_source_filter(index: TranscriptIndex) -> None:
    add(index, "a.wav", "weather in a file")
    index.add_utterance("weather said aloud", NOW, None)
    assert texts(index.search("weather", source="files")) == ["weather in a file"]
    assert texts(index.search("weather", source="voice")) == ["weather said aloud"]
    assert len(index.search("weather", source="all")) == 2


def test_limit(index: TranscriptIndex) -> None:
    add(index, "a.wav", *[f"timer number {i}" for i in range(30)])
    assert len(index.search("timer", limit=5)) == 5
    assert len(index.search("timer")) == 20


def test_recent_is_newest_first(index: TranscriptIndex) -> None:
    for hours in (5, 1, 3):
        index.add_utterance(f"said {hours} hours ago", NOW - timedelta(hours=hours), None)
    add(index, "a.wav", "from a file", mtime_s=(NOW - timedelta(hours=2)).timestamp())
    assert texts(index.recent()) == ["said 1 hours ago", "from a file", "said 3 hours ago",
                                     "said 5 hours ago"]
    assert texts(index.recent(limit=2, source="voice")) == ["said 1 hours ago",
                                                            "said 3 hours ago"]
    assert texts(index.recent(since=NOW - timedelta(hours=4), source="voice")) == [
        "said 1 hours ago", "said 3 hours ago"]
    [hit] = index.recent(source="files")
    assert hit.snippet == hit.text and hit.score == 0.0


def test_marker_characters_in_text_cannot_fake_highlights(index: TranscriptIndex) -> None:
    index.add_utterance(f"bad {MARK_START}marks{MARK_END} here", NOW, None)
    [hit] = index.search("here")
    assert hit.snippet.count(MARK_START) == 1 and f"{MARK_START}here{MARK_END}" in hit.snippet


# -- the database file

def test_db_and_folder_are_private_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "new" / "transcripts.db"
    with TranscriptIndex(path) as index:
        index.add_utterance("secret words", NOW, None)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    with TranscriptIndex(path) as index:
        index.add_utterance("remember this", NOW, None)
    with TranscriptIndex(path) as index:
        assert texts(index.search("remember")) == ["remember this"]


def test_a_second_connection_sees_writes(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    with TranscriptIndex(path) as daemon, TranscriptIndex(path) as cli:
        assert cli.search("hello") == []
        daemon.add_utterance("hello from the daemon", NOW, None)
        assert texts(cli.search("hello")) == ["hello from the daemon"]


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    path.write_bytes(b"this is not a database at all\n" * 100)
    with pytest.raises(SearchError) as raised:
        TranscriptIndex(path)
    assert str(path) in raised.value.message and "--index" in raised.value.message
    assert path.read_bytes().startswith(b"this is not")  # left alone


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    db.close()
    with pytest.raises(SearchError, match="something else.*--index"):
        TranscriptIndex(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    TranscriptIndex(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(SearchError, match="newer version.*upgrade"):
        TranscriptIndex(path)


def test_a_folder_that_cannot_hold_the_db_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SearchError, match="cannot open the transcript index"):
        TranscriptIndex(blocker / "transcripts.db")
