"""What a voice is given to say: clean text, capped, in pieces of bounded length.

Every path to a voice (replies, announcements over MQTT or the control socket, sound rules,
`assistant say`) goes through the TTS face (engines/faces.py), which prepares its text here;
Piper and espeak-ng split what they are given with the same functions, so a direct caller gets
the same bounds. A voice's memory grows with the audio it makes in one go (Piper: about 20 MB
per second of speech, 2 GB for 2,000 characters without punctuation), so no piece may be long,
whatever the text looks like.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

MAX_CHARS = 2000
"""The default of tts.max_chars: the most one request to speak says (about two minutes)."""
PIECE_CHARS = 40
"""The longest piece one synthesis request speaks: about 50 phonemes, 3 s of speech (Piper
then grows by 40-60 MB while it works, and gives it back)."""
ELLIPSIS = "…"
"""Ends a text that was cut (both voices read it as a pause, not as a word)."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])\s*")
_CLAUSE_MARKS = frozenset(",;:—–")
# Control, format, surrogate, private-use and unassigned characters are never speech: NUL
# breaks both voices (espeak-ng's argument, Piper's phonemizer), the others are noise at best.
_NOT_SPEECH = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

T = TypeVar("T")
BreakRule = Callable[[Sequence[T], int, int], bool]
"""(items, end, limit): whether a piece of `items` may end just before index `end`."""


@dataclass(frozen=True)
class SpeechText:
    """A text made ready for a voice."""

    text: str
    """Normalised and capped: what is said."""
    pieces: tuple[str, ...]
    """`text` in the pieces a voice is asked for, one request each."""
    full_chars: int
    """The normalised text's length before the cap (more than len(text) when it was cut)."""

    @property
    def cut(self) -> bool:
        return len(self.text) < self.full_chars


def prepare(text: str, max_chars: int = MAX_CHARS, piece_chars: int = PIECE_CHARS
            ) -> SpeechText:
    """`text` normalised, capped at `max_chars` and split into pieces of at most
    `piece_chars` characters."""
    clean = normalize(text)
    capped = cap(clean, max_chars)
    return SpeechText(capped, tuple(split(capped, piece_chars)), len(clean))


def pieces(text: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """What a voice speaks of `text`, request by request (normalised and split, not capped):
    a voice's own guard for callers that did not prepare the text."""
    return split(normalize(text), piece_chars)


def normalize(text: str) -> str:
    """NFC; characters that are not speech removed (control characters and NULs; line breaks
    and tabs become spaces); runs of whitespace collapsed to one space; stripped."""
    text = unicodedata.normalize("NFC", text)
    kept = [" " if char.isspace() else char for char in text
            if char.isspace() or unicodedata.category(char) not in _NOT_SPEECH]
    return " ".join("".join(kept).split())


def cap(text: str, max_chars: int) -> str:
    """`text` if it has at most `max_chars` characters; else its start, cut at the last word
    boundary that leaves room for an ellipsis (mid-word only when the first word alone is
    longer), and the ellipsis. Never longer than `max_chars` (at least 2)."""
    if len(text) <= max_chars:
        return text
    room = max(1, max_chars - len(ELLIPSIS))
    end = text.rfind(" ", 0, room + 1)
    head = text[:end] if end > 0 else text[:room]
    return head.rstrip(" ,;:—–") + ELLIPSIS


def split(text: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """Sentences; a sentence longer than `piece_chars` split after a comma (or ; :), else at
    the last space that fits, else (one giant word) every `piece_chars` characters. Expects
    normalised text (single spaces)."""
    found: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        for piece in split_bounded(sentence, piece_chars, _TEXT_RULES, str.isspace):
            found.append("".join(piece))
    return [piece for piece in found if piece]


def split_bounded(items: Sequence[T], limit: int, rules: Sequence[BreakRule[T]],
                  blank: Callable[[T], bool]) -> list[Sequence[T]]:
    """`items` in pieces of at most `limit`, each ending at the latest place the first rule
    that allows any allows, else cut at `limit`; `blank` items are dropped at the ends of
    pieces. For text (characters) and for Piper's phonemes alike."""
    if limit < 1:
        raise ValueError(f"a piece must be allowed at least 1 item, not {limit}")
    found: list[Sequence[T]] = []
    rest = _trim(items, blank)
    while len(rest) > limit:
        end = _end(rest, limit, rules)
        piece = _trim(rest[:end], blank)
        if piece:
            found.append(piece)
        rest = _trim(rest[end:], blank)
    if rest:
        found.append(rest)
    return found


def after_mark(marks: Collection[T], blank: Callable[[T], bool]) -> BreakRule[T]:
    """A rule: end just after one of `marks` that a blank item follows ("3,000" is one number),
    if that leaves the piece at least half the limit (else the next rule may do better)."""
    def rule(items: Sequence[T], end: int, limit: int) -> bool:
        return (end >= max(1, limit // 2) and end < len(items) and items[end - 1] in marks
                and blank(items[end]))
    return rule


def before_blank(blank: Callable[[T], bool]) -> BreakRule[T]:
    """A rule: end just before a blank item (a word boundary)."""
    def rule(items: Sequence[T], end: int, limit: int) -> bool:
        return end < len(items) and blank(items[end])
    return rule


def _end(items: Sequence[T], limit: int, rules: Sequence[BreakRule[T]]) -> int:
    for rule in rules:
        for end in range(limit, 0, -1):
            if rule(items, end, limit):
                return end
    return limit


def _trim(items: Sequence[T], blank: Callable[[T], bool]) -> Sequence[T]:
    start, end = 0, len(items)
    while start < end and blank(items[start]):
        start += 1
    while end > start and blank(items[end - 1]):
        end -= 1
    return items[start:end]


_TEXT_RULES: tuple[BreakRule[str], ...] = (after_mark(_CLAUSE_MARKS, str.isspace),
                                           before_blank(str.isspace))
