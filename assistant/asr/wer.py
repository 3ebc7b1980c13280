"""Word error rate, for tests and the benchmark; no dependency on jiwer."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

# Typographic apostrophes count as the ASCII one, so "don’t" and "don't" are the same word.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# Separate words like a hyphen does, rather than gluing them: "and/or" -> "and or".
_WORD_SEPARATORS = frozenset("/\\")


def normalize(text: str) -> list[str]:
    """The words of `text` as compared by WER.

    NFKC-normalized and lowercased; hyphens, dashes and slashes split words ("well-known" ->
    "well", "known"); other punctuation and symbols are dropped without splitting ("U.S." -> "us",
    "1,000" -> "1000"); an apostrophe between letters or digits stays, so "don't" is one word,
    while quotes around words go. Whitespace only separates words.

    Deliberately not done: number normalization ("two" and "2" are different words), spelling
    variants, and word segmentation of languages written without spaces (a Chinese sentence is
    one "word").
    """
    chars = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    kept: list[str] = []
    for i, char in enumerate(chars):
        if char == "'":
            inside_word = (0 < i < len(chars) - 1 and _is_word_char(chars[i - 1])
                           and _is_word_char(chars[i + 1]))
            kept.append("'" if inside_word else "")
            continue
        category = unicodedata.category(char)
        if category == "Pd" or char in _WORD_SEPARATORS:
            kept.append(" ")
        elif category[0] in "PS" or category == "Cf":
            kept.append("")  # Cf: soft hyphens and zero-width joiners live inside words
        else:
            kept.append(char)
    return "".join(kept).split()


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, number of reference words), after `normalize`."""
    ref = normalize(reference)
    hyp = normalize(hypothesis)
    return Levenshtein.distance(ref, hyp), len(ref)


def wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus WER of (reference, hypothesis) pairs: all errors over all reference words.

    0.0 when there are neither reference nor hypothesis words; math.inf when the references
    are empty but the hypotheses are not (every word is an insertion against nothing).
    """
    errors = 0
    words = 0
    for reference, hypothesis in pairs:
        pair_errors, pair_words = word_errors(reference, hypothesis)
        errors += pair_errors
        words += pair_words
    if words == 0:
        return 0.0 if errors == 0 else math.inf
    return errors / words
