"""What users type into `assistant search` and how hits are shown: pure strings and dates."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant.errors import SearchError
from assistant.transcribe.index import Hit
from assistant.transcribe.search import (
    BOLD,
    RESET,
    format_timestamp,
    fts_query,
    parse_since,
    render_hits,
)

NOW = datetime(2026, 11, 23, 10, 15, 3)


@pytest.mark.parametrize(("typed", "expression"), [
    ("timer", '"timer"'),
    ("kitchen timer", '"kitchen" AND "timer"'),
    ('"kitchen timer" rang', '"kitchen timer" AND "rang"'),
    ("kitch*", '"kitch"*'),
    ("kitchen OR bedroom", '("kitchen" OR "bedroom")'),
    ("kitchen OR bedroom lamp", '("kitchen" OR "bedroom") AND "lamp"'),
    ("lamp NOT garage", '"lamp" NOT "garage"'),
    ("lamp NOT garage OR bedroom on", '"lamp" AND "on" NOT ("garage" OR "bedroom")'),
    ("lamp AND NOT garage", '"lamp" NOT "garage"'),
    ("lamp AND on", '"lamp" AND "on"'),
    ("lamp or on", '"lamp" AND "or" AND "on"'),  # lower case: words
    ("NOT lamp", '"NOT" AND "lamp"'),  # an operator with nothing before it is a word
    ("lamp OR", '"lamp" AND "OR"'),
    ("what's", '"what\'s"'),
    ("text:foo", '"text:foo"'),
    ('say "hi', '"say" AND "hi"'),  # a stray quote is dropped
    ('a"b"c', '"a" AND "b" AND "c"'),
    ("* timer ***", '"timer"'),
    ("x-ray*", '"x-ray"*'),
    ("kit*chen", '"kit*chen"'),
])
def test_fts_query(typed: str, expression: str) -> None:
    assert fts_query(typed) == expression


@pytest.mark.parametrize("typed", ["", "   ", '"', '""', "*", "?!", "-- ()", "🙂", "___"])
def test_fts_query_without_a_word_says_so(typed: str) -> None:
    with pytest.raises(SearchError, match="give at least one word"):
        fts_query(typed)


@pytest.mark.parametrize("typed", ['"', "(", ")", "-", "NEAR(", "NEAR(a b, 3)", "text:foo",
                                   "a OR", "NOT", "OR AND NOT", "a AND OR b", '"a" OR "', "^a",
                                   "a:b:c", "{a b}: c", "a + b", "'", "\\\"", "a\x00b", "*a*",
                                   "a**", "x NOT NOT y", "rowid:1", "d'où", "ünïcödé*"])
def test_every_expression_is_valid_fts5(typed: str) -> None:
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
        db.execute("INSERT INTO t VALUES ('a b c')")
        try:
            expression = fts_query(typed)
        except SearchError:
            return
        db.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()
    finally:
        db.close()


# -- --since

@pytest.mark.parametrize(("typed", "expected"), [
    ("today", datetime(2026, 11, 23)),
    (" Yesterday ", datetime(2026, 11, 22)),
    ("3d", NOW - timedelta(days=3)),
    ("12h", NOW - timedelta(hours=12)),
    ("0h", NOW),
    ("2026-11-20", datetime(2026, 11, 20)),
    ("2026-11-20T08:30", datetime(2026, 11, 20, 8, 30)),
])
def test_parse_since(typed: str, expected: datetime) -> None:
    assert parse_since(typed, NOW) == expected


def test_parse_since_keeps_the_zone_of_now() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert parse_since("yesterday", now) == datetime(2026, 11, 22, tzinfo=UTC)
    when = parse_since("2026-11-20T08:30+01:00", now)
    assert when == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    assert when.tzinfo == UTC
    naive = parse_since("2026-11-20T08:30+00:00", NOW)
    assert naive.tzinfo is None
    assert naive.timestamp() == datetime(2026, 11, 20, 8, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("typed", ["", "last week", "3w", "-3d", "3 days", "d", "2026-13-01",
                                   "23/11/2026", "99999999999d"])
def test_parse_since_errors_list_the_accepted_forms(typed: str) -> None:
    with pytest.raises(SearchError) as raised:
        parse_since(typed, NOW)
    for form in ("today", "yesterday", "3d", "12h", "2026-11-23"):
        assert form in raised.value.message


# -- output

@pytest.mark.parametrize(("seconds", "text"), [
    (723.4, "00:12:03.4"), (0, "00:00:00.0"), (59.96, "00:01:00.0"), (3599.94, "00:59:59.9"),
    (36000 + 61.25, "10:01:01.2"), (-1.0, "00:00:00.0"), (400000.0, "111:06:40.0"),
])
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


SAID_AT = datetime(2026, 11, 23, 10, 15, 3, tzinfo=timezone(timedelta(hours=1)))
FILE_HIT = Hit(file=Path("/rec/meeting.wav"), start_s=723.4, end_s=730.0,
               text="and then the kitchen timer rang twice during the call",
               snippet="…the kitchen \x02timer\x03 rang…", speaker=None, said_at=None, score=4.5)
VOICE_HIT = Hit(file=None, start_s=0.0, end_s=0.0, text="set a timer",
                snippet="set a \x02timer\x03", speaker="alice", said_at=SAID_AT, score=2.0)


def test_render_plain_text() -> None:
    assert render_hits([FILE_HIT, VOICE_HIT], json=False, color=False) == [
        "/rec/meeting.wav  00:12:03.4  …the kitchen timer rang…",
        "(said to assistant)  2026-11-23 10:15:03  set a timer  [alice]",
    ]


def test_render_color_marks_matches_bold() -> None:
    [line] = render_hits([VOICE_HIT], json=False, color=True)
    assert line == f"(said to assistant)  2026-11-23 10:15:03  set a {BOLD}timer{RESET}  [alice]"


def test_render_never_passes_terminal_escapes_from_transcripts() -> None:
    hostile = Hit(file=Path("/a\x1b[2J.wav"), start_s=1, end_s=2, text="x",
                  snippet="hi\x1b]0;owned\x07 \x02x\x03\nnext", speaker="\x1b[31mbob",
                  said_at=None, score=1)
    [line] = render_hits([hostile], json=False, color=False)
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line
    assert line.startswith("/a [2J.wav  00:00:01.0  hi ]0;owned  x next")


def test_render_json_one_object_per_hit() -> None:
    lines = render_hits([FILE_HIT, VOICE_HIT], json=True, color=True)
    assert [json.loads(line) for line in lines] == [
        {"file": "/rec/meeting.wav", "start_s": 723.4, "end_s": 730.0,
         "text": "and then the kitchen timer rang twice during the call", "speaker": None,
         "said_at": None, "score": 4.5},
        {"file": None, "start_s": 0.0, "end_s": 0.0, "text": "set a timer", "speaker": "alice",
         "said_at": "2026-11-23T10:15:03+01:00", "score": 2.0},
    ]


def test_render_nothing() -> None:
    assert render_hits([], json=False, color=False) == []
