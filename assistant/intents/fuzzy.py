"""Fuzzy matching: correct a transcript towards the names and words the templates know.

Whisper's mistakes on commands are mostly near-misses on names ("kitchen light" for "kitchen
lights", "garage dor") and single words. Correcting those, then matching exactly again, keeps
the match explainable (the event says it was fuzzy) and never invents an intent from nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hassil.expression import TextChunk
from hassil.intents import SlotList, TextSlotList
from rapidfuzz import fuzz, process

WORD = re.compile(r"[a-z']+")
TEMPLATE_SYNTAX = re.compile(r"\{[^}]*\}|<[^>]*>")
MIN_WORD_CHARS = 4  # shorter words are too easily "corrected" into other short words


class Corrector:
    def __init__(self, templates: dict[str, Any], slot_lists: dict[str, SlotList],
                 threshold: float) -> None:
        self._threshold = threshold * 100
        phrases = _slot_phrases(templates, slot_lists)
        self._phrases = sorted(p for p in phrases if " " in p)
        self._vocabulary = sorted(_template_words(templates) | {
            w for p in phrases for w in p.split()})
        self._known = set(self._vocabulary)

    def correct(self, text: str) -> tuple[str, float]:
        """(corrected text, lowest similarity of a correction in 0-1); 1.0 when unchanged."""
        words = text.split()
        scores: list[float] = []
        words = self._correct_phrases(words, scores)
        for i, word in enumerate(words):
            if word in self._known or len(word) < MIN_WORD_CHARS or not WORD.fullmatch(word):
                continue
            best = process.extractOne(word, self._vocabulary, scorer=fuzz.ratio,
                                      score_cutoff=self._threshold)
            if best is not None:
                words[i] = best[0]
                scores.append(best[1])
        return " ".join(words), min(scores, default=100.0) / 100

    def _correct_phrases(self, words: list[str], scores: list[float]) -> list[str]:
        """Replace word windows that nearly spell a multi-word name, best first, no overlaps."""
        candidates: list[tuple[float, int, int, str]] = []
        for phrase in self._phrases:
            size = len(phrase.split())
            for width in (size - 1, size, size + 1):
                for start in range(0, len(words) - width + 1):
                    window = " ".join(words[start:start + width])
                    if window == phrase or width < 1:
                        continue
                    score = fuzz.ratio(window, phrase)
                    if score >= self._threshold:
                        candidates.append((score, start, start + width, phrase))
        taken: set[int] = set()
        chosen: list[tuple[int, int, str]] = []
        # Longest names first: "loving room lap" is the living room lamp, not the living room.
        for score, start, end, phrase in sorted(candidates, key=lambda c: (len(c[3]), c[0]),
                                                reverse=True):
            span = set(range(start, end))
            if span & taken:
                continue
            taken |= span
            chosen.append((start, end, phrase))
            scores.append(score)
        for start, end, phrase in sorted(chosen, reverse=True):
            words = [*words[:start], *phrase.split(), *words[end:]]
        return words


def _slot_phrases(templates: dict[str, Any], slot_lists: dict[str, SlotList]) -> set[str]:
    phrases: set[str] = set()
    for slot_list in slot_lists.values():
        if isinstance(slot_list, TextSlotList):
            for value in slot_list.values:
                if isinstance(value.text_in, TextChunk):
                    phrases.add(value.text_in.text.casefold().strip())
    for spec in (templates.get("lists") or {}).values():
        for value in (spec or {}).get("values", []) if isinstance(spec, dict) else []:
            text = value.get("in") if isinstance(value, dict) else value
            if isinstance(text, str) and not set(text) & set("()[]{}<>|"):
                phrases.add(text.casefold())
    return phrases


def _template_words(templates: dict[str, Any]) -> set[str]:
    words: set[str] = set()
    for text in _sentences(templates):
        words.update(WORD.findall(TEMPLATE_SYNTAX.sub(" ", text.casefold())))
    return words


def _sentences(templates: dict[str, Any]) -> Iterable[str]:
    for intent in (templates.get("intents") or {}).values():
        for block in intent.get("data") or []:
            yield from block.get("sentences") or []
    yield from (templates.get("expansion_rules") or {}).values()
