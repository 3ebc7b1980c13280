"""Whisper's chunk-long text cut into subtitle-sized segments from its word times."""

from __future__ import annotations

from assistant.transcribe.result import Segment, Word
from assistant.transcribe.sentences import MAX_SEGMENT_S, PAUSE_S, split_words


def spoken(text: str, start_s: float = 0.0, word_s: float = 0.4, gap_s: float = 0.1
           ) -> list[Word]:
    """Words of `text` one after another, each `word_s` long with `gap_s` between them."""
    words = []
    at = start_s
    for token in text.split():
        words.append(Word(at, at + word_s, token))
        at += word_s + gap_s
    return words


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments]


def test_no_words_no_segments() -> None:
    assert list(split_words([])) == []


def test_one_sentence_is_one_segment_with_the_words_times_and_words() -> None:
    words = spoken("turn on the light", start_s=2.0)
    assert list(split_words(words)) == [Segment(2.0, words[-1].end_s, "turn on the light",
                                                tuple(words))]


def test_splits_after_sentence_ends() -> None:
    words = spoken("It rained. Did it? Yes! Then it stopped")
    segments = list(split_words(words))
    assert texts(segments) == ["It rained.", "Did it?", "Yes!", "Then it stopped"]
    assert [s.words for s in segments] == [tuple(words[0:2]), tuple(words[2:4]), (words[4],),
                                           tuple(words[5:])]
    assert [(s.start_s, s.end_s) for s in segments] == [
        (words[0].start_s, words[1].end_s), (words[2].start_s, words[3].end_s),
        (words[4].start_s, words[4].end_s), (words[5].start_s, words[-1].end_s)]


def test_splits_after_cjk_sentence_ends() -> None:
    words = [Word(0.0, 0.5, "你好。"), Word(0.6, 1.0, "是吗？"), Word(1.1, 1.5, "是！"),
             Word(1.6, 2.0, "好")]
    assert texts(list(split_words(words))) == ["你好。", "是吗？", "是！", "好"]


def test_a_final_sentence_end_leaves_no_empty_segment() -> None:
    segments = list(split_words(spoken("Done. Over.")))
    assert texts(segments) == ["Done.", "Over."]


def test_a_comma_does_not_split() -> None:
    assert texts(list(split_words(spoken("well, then, fine")))) == ["well, then, fine"]


def test_splits_on_a_pause_of_at_least_pause_s() -> None:
    after = 1.0 + PAUSE_S  # "part" ends at 1.0
    words = [Word(0.0, 0.5, "first"), Word(0.6, 1.0, "part"),
             Word(after, after + 0.5, "second"), Word(after + 0.6, after + 1.0, "part")]
    segments = list(split_words(words))
    assert texts(segments) == ["first part", "second part"]
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 1.0), (after, after + 1.0)]


def test_a_pause_just_shorter_than_pause_s_does_not_split() -> None:
    words = [Word(0.0, 1.0, "one"), Word(1.0 + PAUSE_S - 0.01, 2.5, "breath")]
    assert texts(list(split_words(words))) == ["one breath"]


def test_pause_s_can_be_given() -> None:
    words = [Word(0.0, 1.0, "one"), Word(1.5, 2.0, "two")]
    assert texts(list(split_words(words, pause_s=0.5))) == ["one", "two"]
    assert texts(list(split_words(words, pause_s=0.6))) == ["one two"]


def test_a_segment_never_exceeds_max_segment_s() -> None:
    # A word every 0.5 s with no sentence end and no pause: 45 words, 22.5 s.
    words = spoken(" ".join(f"w{i}" for i in range(45)))
    segments = list(split_words(words))
    assert all(s.end_s - s.start_s <= MAX_SEGMENT_S for s in segments)
    assert len(segments) == 3
    assert [w for s in segments for w in s.words] == words  # every word once, in order
    # The split comes before the word that would make the segment too long.
    first_too_far = next(i for i, w in enumerate(words) if w.end_s > MAX_SEGMENT_S)
    assert segments[0].words == tuple(words[:first_too_far])
    assert segments[1].start_s == words[first_too_far].start_s


def test_a_segment_of_exactly_max_segment_s_is_kept_whole() -> None:
    words = [Word(0.0, 5.0, "long"), Word(5.0, MAX_SEGMENT_S, "words")]
    assert texts(list(split_words(words))) == ["long words"]
    words.append(Word(MAX_SEGMENT_S, MAX_SEGMENT_S + 0.01, "more"))
    assert texts(list(split_words(words))) == ["long words", "more"]


def test_max_segment_s_can_be_given() -> None:
    words = spoken("a b c d e f")  # a word every 0.5 s, each 0.4 s long
    assert texts(list(split_words(words, max_segment_s=1.0))) == ["a b", "c d", "e f"]


def test_text_joins_the_words_with_single_spaces() -> None:
    words = [Word(0.0, 0.3, "Hello,"), Word(0.4, 0.8, "world"), Word(0.9, 1.2, "again.")]
    [segment] = split_words(words)
    assert segment.text == "Hello, world again."


def test_word_fields_are_kept() -> None:
    words = [Word(0.0, 0.3, "sure", probability=0.25), Word(0.4, 0.8, "thing.", probability=0.9)]
    [segment] = split_words(words)
    assert segment.words == tuple(words)
    assert segment.speaker is None


def test_accepts_any_iterable_of_words() -> None:
    words = spoken("one. two")
    assert texts(list(split_words(iter(words)))) == ["one.", "two"]
