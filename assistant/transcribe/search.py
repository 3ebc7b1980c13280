"""What users type into `assistant search`: queries, `--since`, and how hits are shown."""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from assistant.errors import SearchError

if TYPE_CHECKING:  # index.py imports this module
    from assistant.transcribe.index import Hit

OPERATORS = frozenset({"AND", "OR", "NOT"})
VOICE_LABEL = "(said to assistant)"
BOLD, RESET = "\x1b[1m", "\x1b[0m"
_MARK_START, _MARK_END = "\x02", "\x03"  # as put by TranscriptIndex.search's snippets
_MARKS = (_MARK_START, _MARK_END)

# A balanced "quoted phrase", a run of anything but spaces and quotes, or a stray quote.
_TOKEN = re.compile(r'"([^"]*)"|([^\s"]+)|"')
_RELATIVE = re.compile(r"(\d+)\s*([dh])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# -- queries

def fts_query(user_query: str) -> str:
    """A safe FTS5 MATCH expression for what a user typed.

    Words must all match; "quoted phrases" match as phrases; `word*` matches a prefix; AND,
    OR and NOT in capitals between terms are operators (`a OR b c` is `(a OR b) AND c`,
    `a NOT b c` is `a AND c NOT b`). Every term is sent as an FTS5 string, so punctuation and
    FTS5 syntax (`text:foo`, `NEAR(`, `^`, `-`) are only separators.
    """
    items: list[str] = []  # terms, and operators not yet known to sit between terms
    # SQLite would end the string at a NUL; no control character is part of a word anyway.
    for match in _TOKEN.finditer(_CONTROL.sub(" ", user_query)):
        phrase, bare = match.group(1), match.group(2)
        if phrase is not None:
            _add_term(items, _quoted(phrase))
        elif bare in OPERATORS:
            items.append(bare)
        elif bare is not None:
            _add_term(items, _bare_term(bare))
    terms = _place_operators(items)
    if not terms:
        raise SearchError(f"nothing to search for in {user_query!r}: give at least one word")
    return _combine(terms)


def _add_term(items: list[str], term: str | None) -> None:
    if term is not None:
        items.append(term)


def _bare_term(token: str) -> str | None:
    stem = token.rstrip("*")
    if stem != token and "*" not in stem:
        quoted = _quoted(stem)
        return None if quoted is None else quoted + "*"
    return _quoted(token)


def _quoted(text: str) -> str | None:
    """An FTS5 string; None when it holds no word (an empty phrase would match nothing)."""
    if not any(ch.isalnum() for ch in text):
        return None
    return '"' + text.replace('"', '""') + '"'


def _place_operators(items: Sequence[str]) -> list[tuple[str, str]]:
    """(operator, term) pairs, the first operator AND. Operators between two terms stay (the
    last of several wins); the others are plain words; terms side by side are ANDed."""
    out: list[tuple[str, str]] = []
    pending = "AND"
    for i, item in enumerate(items):
        if item not in OPERATORS:
            out.append((pending, item))
            pending = "AND"
        elif out and any(x not in OPERATORS for x in items[i + 1:]):
            pending = item
        else:
            out.append(("AND", f'"{item}"'))
    return out


def _combine(terms: Sequence[tuple[str, str]]) -> str:
    """OR binds tightest, as in web search engines (`kitchen OR bedroom lamp` wants a lamp),
    and NOT excludes its term from the whole result; FTS5's own precedence differs."""
    wanted: list[list[str]] = []
    excluded: list[list[str]] = []
    group: list[str] = []
    for operator, term in terms:
        if operator == "OR" and group:
            group.append(term)
            continue
        group = [term]
        (excluded if operator == "NOT" else wanted).append(group)
    text = " AND ".join(_group(g) for g in wanted)
    return "".join([text, *(f" NOT {_group(g)}" for g in excluded)])


def _group(terms: Sequence[str]) -> str:
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


# -- --since

def parse_since(text: str, now: datetime) -> datetime:
    """`today`, `yesterday`, `Nd` / `Nh` ago, or an ISO date or date-time, in `now`'s zone
    (naive `now` means naive local time)."""
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "today":
        return midnight
    if word == "yesterday":
        return midnight - timedelta(days=1)
    relative = _RELATIVE.fullmatch(word)
    try:
        if relative:
            amount, unit = int(relative.group(1)), relative.group(2)
            return now - timedelta(**{"days" if unit == "d" else "hours": amount})
        return _like(now, datetime.fromisoformat(text.strip()))
    except (ValueError, OverflowError) as e:
        raise SearchError(
            f"--since {text!r} is not understood ({e}): use today, yesterday, a number of days"
            " or hours ago such as 3d or 12h, or a date such as 2026-11-23 or"
            " 2026-11-23T10:00") from e


def _like(now: datetime, when: datetime) -> datetime:
    """`when` with the same awareness as `now`; naive values are local time."""
    if now.tzinfo is None:
        return when if when.tzinfo is None else when.astimezone().replace(tzinfo=None)
    return when.astimezone(now.tzinfo)


# -- output

def format_timestamp(seconds: float) -> str:
    """`HH:MM:SS.s`, e.g. 723.4 -> 00:12:03.4."""
    tenths = max(0, round(seconds * 10))
    minutes, tenths_of_minute = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{tenths_of_minute // 10:02d}.{tenths_of_minute % 10}"


def render_hits(hits: Iterable[Hit], *, json: bool, color: bool) -> list[str]:
    """One line per hit: text columns, or a JSON object when `json`."""
    return [_json_line(hit) if json else _text_line(hit, color) for hit in hits]


def _text_line(hit: Hit, color: bool) -> str:
    if hit.file is None:
        where = VOICE_LABEL
        when = "" if hit.said_at is None else hit.said_at.strftime("%Y-%m-%d %H:%M:%S")
    else:
        where, when = _clean(str(hit.file)), format_timestamp(hit.start_s)
    start, end = (BOLD, RESET) if color else ("", "")
    context = _clean(hit.snippet).replace(_MARK_START, start).replace(_MARK_END, end)
    speaker = "" if hit.speaker is None else f"  [{_clean(hit.speaker)}]"
    return f"{where}  {when}  {context}{speaker}"


def _json_line(hit: Hit) -> str:
    return jsonlib.dumps({
        "file": None if hit.file is None else str(hit.file),
        "start_s": hit.start_s,
        "end_s": hit.end_s,
        "text": hit.text,
        "speaker": hit.speaker,
        "said_at": None if hit.said_at is None else hit.said_at.isoformat(),
        "score": hit.score,
    }, ensure_ascii=False)


def _clean(text: str) -> str:
    """Control characters from a transcript must not reach the terminal (markers aside)."""
    return _CONTROL.sub(lambda m: m[0] if m[0] in _MARKS else " ", text)
