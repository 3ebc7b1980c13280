"""Split Whisper's chunk-long output into subtitle-sized segments at sentence ends and pauses.

The batched pipeline decodes each ~30 s speech chunk as one piece of text; its word timestamps
say where every word is, so segments are cut from the words and keep their true times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from assistant.transcribe.result import Segment, Word

SENTENCE_ENDS = (".", "?", "!", "。", "？", "！")
PAUSE_S = 1.0
MAX_SEGMENT_S = 10.0


def split_words(words: Iterable[Word], pause_s: float = PAUSE_S,
                max_segment_s: float = MAX_SEGMENT_S) -> Iterator[Segment]:
    """Consecutive words; a new segment after a sentence end, a pause, or `max_segment_s`."""
    current: list[Word] = []
    for word in words:
        if current and (word.start_s - current[-1].end_s >= pause_s
                        or word.end_s - current[0].start_s > max_segment_s):
            yield _segment(current)
            current = []
        current.append(word)
        if word.text.endswith(SENTENCE_ENDS):
            yield _segment(current)
            current = []
    if current:
        yield _segment(current)


def _segment(words: list[Word]) -> Segment:
    return Segment(words[0].start_s, words[-1].end_s, " ".join(w.text for w in words),
                   tuple(words))
