"""Music tags from per-window scores: pure and clock-free.

Once "Music" has stayed above `threshold` for `min_duration_ms` (short dips up to `max_gap_ms`
are bridged, a quiet bar is still the same song), report the top genre, mood and instrument,
each averaged over the last `average_windows` music windows (a tag scoring below
`min_tag_score` is left empty). Report again only when the top tags
have differed from the reported ones for `stable_windows` windows in a row, so two close genres
do not flip the report every 0.48 s.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.sed.labels import MUSIC, MUSIC_RANGES, LabelIndex


@dataclass(frozen=True)
class MusicSettings:
    threshold: float = 0.5
    min_duration_ms: int = 10000
    max_gap_ms: int = 2000
    average_windows: int = 20
    stable_windows: int = 6
    min_tag_score: float = 0.01
    """A top tag below this is noise (the uint8 model's floor), reported as ""."""
    hop_ms: int = 480


@dataclass(frozen=True)
class MusicTags:
    """Top tags and their mean scores; `score` is the mean "Music" score; `since_ms` its start."""

    at_ms: int
    since_ms: int
    score: float
    genre: str
    genre_score: float
    mood: str
    mood_score: float
    instrument: str
    instrument_score: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.genre, self.mood, self.instrument)


class MusicTracker:
    def __init__(self, labels: Sequence[str], settings: MusicSettings | None = None) -> None:
        self.settings = settings or MusicSettings()
        index = LabelIndex(labels)
        self._labels = list(labels)
        self._music = index.index(MUSIC)
        self._ranges = {kind: np.array(index.music_range(kind)) for kind in MUSIC_RANGES}
        self._recent: deque[np.ndarray] = deque(maxlen=self.settings.average_windows)
        self._since_ms: int | None = None
        self._last_music_ms = 0
        self._reported: tuple[str, str, str] | None = None
        self._changed_for = 0

    def update(self, scores: np.ndarray, start_ms: int) -> MusicTags | None:
        """One window's scores (window starting at `start_ms`) -> tags when (re)reported."""
        s = self.settings
        if scores[self._music] >= s.threshold:
            if self._since_ms is None:
                self._since_ms = start_ms
            self._last_music_ms = start_ms
            self._recent.append(scores)
        elif self._since_ms is not None and start_ms - self._last_music_ms > s.max_gap_ms:
            self.reset()
            return None
        if self._since_ms is None or start_ms - self._since_ms < s.min_duration_ms:
            return None
        if not self._recent:
            return None
        tags = self._tags(start_ms, self._since_ms)
        if tags.key == self._reported:
            self._changed_for = 0
            return None
        self._changed_for += 1
        if self._reported is not None and self._changed_for < s.stable_windows:
            return None
        self._reported, self._changed_for = tags.key, 0
        return tags

    def reset(self) -> None:
        """Music stopped (or the input ended): the next music is reported afresh."""
        self._recent.clear()
        self._since_ms = None
        self._reported = None
        self._changed_for = 0

    def _tags(self, at_ms: int, since_ms: int) -> MusicTags:
        mean = np.mean(np.stack(self._recent), axis=0)
        top: dict[str, tuple[str, float]] = {}
        for kind, indices in self._ranges.items():
            best = int(indices[int(np.argmax(mean[indices]))])
            score = float(mean[best])
            name = self._labels[best] if score >= self.settings.min_tag_score else ""
            top[kind] = (name, round(score, 3))
        return MusicTags(at_ms, since_ms, round(float(mean[self._music]), 3),
                         *top["genre"], *top["mood"], *top["instrument"])
