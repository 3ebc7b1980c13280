"""Word error rate: our normalization, and the counts checked against jiwer."""

from __future__ import annotations

import math

import jiwer
import pytest

from assistant.asr.wer import normalize, wer, word_errors

PAIRS = [
    ("The quick brown fox jumps over the lazy dog.", "the quick brown fox jumped over a lazy dog"),
    ("Turn on the kitchen lights, please!", "turn on kitchen light please"),
    ("Don't stop — it's well-known.", "Don’t stop it is well known"),
    ("Set a timer for ten minutes", "set a timer for 10 minutes and also"),
    ("Wie spät ist es in Zürich?", "wie spat ist es in zürich"),
    ("hello", "hello hello hello"),
    ("one two three four five", "five four three two one"),
]


@pytest.mark.parametrize(("text", "words"), [
    ("Hello, World!", ["hello", "world"]),
    ("  many   spaces\n\tand lines ", ["many", "spaces", "and", "lines"]),
    ("Don't say \"can't\" or 'maybe'", ["don't", "say", "can't", "or", "maybe"]),
    ("Don’t", ["don't"]),  # typographic apostrophe
    ("dogs' bones", ["dogs", "bones"]),
    ("well-known state-of-the-art", ["well", "known", "state", "of", "the", "art"]),
    ("wait—what/why", ["wait", "what", "why"]),
    ("U.S. costs 1,000 dollars", ["us", "costs", "1000", "dollars"]),
    ("ten 10", ["ten", "10"]),  # no number normalization
    ("ＦＵＬＬ ﬁne Café", ["full", "fine", "café"]),  # NFKC
    ("Cafe\u0301", ["café"]),  # combining accent composed
    ("...", []),
    ("", []),
])
def test_normalize(text: str, words: list[str]) -> None:
    assert normalize(text) == words


@pytest.mark.parametrize(("reference", "hypothesis"), PAIRS)
def test_word_errors_match_jiwer(reference: str, hypothesis: str) -> None:
    ref = " ".join(normalize(reference))
    hyp = " ".join(normalize(hypothesis))
    measures = jiwer.process_words(ref, hyp)
    expected = measures.substitutions + measures.deletions + measures.insertions
    assert word_errors(reference, hypothesis) == (expected, len(ref.split()))
    assert wer([(reference, hypothesis)]) == pytest.approx(jiwer.wer(ref, hyp))


def test_corpus_wer_matches_jiwer() -> None:
    refs = [" ".join(normalize(r)) for r, _ in PAIRS]
    hyps = [" ".join(normalize(h)) for _, h in PAIRS]
    assert wer(PAIRS) == pytest.approx(jiwer.wer(refs, hyps))


def test_corpus_wer_weighs_by_reference_words_not_by_pair() -> None:
    # 1 error in 1 word, 0 errors in 9 words: 1/10, not the mean of 1.0 and 0.0.
    pairs = [("yes", "no"), ("a b c d e f g h i", "a b c d e f g h i")]
    assert wer(pairs) == pytest.approx(0.1)


def test_known_counts() -> None:
    assert word_errors("a b c d", "a x c") == (2, 4)  # one substitution, one deletion
    assert word_errors("Same words.", "same, WORDS") == (0, 2)


def test_empty_hypothesis_deletes_every_word() -> None:
    assert word_errors("one two three", "") == (3, 3)
    assert wer([("one two three", "")]) == 1.0


def test_insertions_only() -> None:
    assert word_errors("a b", "x a y b z") == (3, 2)
    assert wer([("a b", "x a y b z")]) == pytest.approx(1.5)


def test_empty_reference() -> None:
    assert word_errors("", "") == (0, 0)
    assert word_errors("", "extra words") == (2, 0)
    assert wer([("", ""), ("?!", "...")]) == 0.0
    assert wer([]) == 0.0
    assert wer([("", "extra words")]) == math.inf
    # Within a corpus an empty reference only adds its insertions.
    assert wer([("", "extra"), ("a b", "a b")]) == pytest.approx(0.5)
