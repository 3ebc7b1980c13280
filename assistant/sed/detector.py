"""From per-window class scores to sound events: pure and clock-free.

Each watch (one class, or a group such as "alarm") takes the max of its classes' smoothed scores.
Smoothing is a running median over a few windows, so one odd window neither starts nor ends an
event. Hysteresis (start at `on`, continue while above `off`), a minimum duration and a maximum
gap make one alarm one event: `SoundStarted` once it has lasted `min_duration_ms` (rules can act
while it still sounds) and `SoundEvent` when it ends.

Time: a window starting at `start_ms` stands for its middle hop, [start + (window - hop) / 2,
+ hop], because consecutive 0.96 s windows overlap by half; so durations are not inflated by the
window length and a single window counts as 480 ms.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.sed.labels import GROUPS, LabelIndex


@dataclass(frozen=True)
class Watch:
    """One thing to detect: `name` is a class or group; `off` defaults to half of `on`."""

    name: str
    indices: frozenset[int]
    on: float = 0.4
    off: float | None = None
    min_duration_ms: int = 500
    suppressed_by_speech: bool = True

    @property
    def off_threshold(self) -> float:
        return self.on * 0.5 if self.off is None else self.off


@dataclass(frozen=True)
class DetectorSettings:
    watches: tuple[Watch, ...]
    labels: tuple[str, ...]
    smooth_windows: int = 3
    max_gap_ms: int = 2000
    window_ms: int = 960
    hop_ms: int = 480


@dataclass(frozen=True)
class SoundStarted:
    """The sound has lasted `min_duration_ms` and still sounds."""

    watch: str
    label: str
    score: float
    start_ms: int
    at_ms: int


@dataclass(frozen=True)
class SoundEvent:
    """One finished occurrence; `label` is the watch's strongest class, `score` its peak."""

    watch: str
    label: str
    score: float
    start_ms: int
    end_ms: int


def build_watches(items: Mapping[str, float], labels: Sequence[str],
                  min_duration_ms: int = 500) -> tuple[Watch, ...]:
    """{class or group name: on-threshold} -> watches; unknown names raise ConfigError."""
    index = LabelIndex(labels)
    return tuple(
        Watch(name, frozenset(index.expand([name])), on=threshold,
              min_duration_ms=min_duration_ms, suppressed_by_speech=name.casefold() != "speech")
        for name, threshold in items.items())


def default_watches(labels: Sequence[str], threshold: float = 0.4) -> tuple[Watch, ...]:
    """Every group except speech: what `assistant classify` reports as events."""
    return build_watches({g: threshold for g in GROUPS if g != "speech"}, labels)


@dataclass
class _Active:
    start_ms: int
    last_above_ms: int
    peak: float
    label: int
    started_sent: bool = False


@dataclass
class _State:
    history: deque[np.ndarray] = field(default_factory=deque)
    active: _Active | None = None


class SoundDetector:
    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings
        self._states = {w.name: _State() for w in settings.watches}
        self._index = {w.name: np.array(sorted(w.indices), dtype=np.intp)
                       for w in settings.watches}

    def update(self, scores: np.ndarray, start_ms: int, speech: bool = False
               ) -> list[SoundStarted | SoundEvent]:
        """One window's [classes] scores; `speech`: someone (or the assistant) is speaking."""
        s = self.settings
        span_start = start_ms + (s.window_ms - s.hop_ms) // 2
        span_end = span_start + s.hop_ms
        out: list[SoundStarted | SoundEvent] = []
        for watch in s.watches:
            state = self._states[watch.name]
            state.history.append(scores[self._index[watch.name]])
            while len(state.history) > s.smooth_windows:
                state.history.popleft()
            smoothed = np.median(np.stack(state.history), axis=0)
            best = int(np.argmax(smoothed))
            blocked = speech and watch.suppressed_by_speech
            out.extend(self._step(watch, state, float(smoothed[best]),
                                  int(self._index[watch.name][best]),
                                  span_start, span_end, blocked))
        return out

    def finish(self) -> list[SoundEvent]:
        """The input ended: close what is still sounding."""
        out: list[SoundEvent] = []
        for watch in self.settings.watches:
            state = self._states[watch.name]
            if state.active is not None:
                out.extend(self._close(watch, state))
            state.history.clear()
        return out

    def _step(self, watch: Watch, state: _State, score: float, label: int, span_start: int,
              span_end: int, blocked: bool) -> list[SoundStarted | SoundEvent]:
        active = state.active
        if active is None:
            if score >= watch.on and not blocked:
                state.active = _Active(span_start, span_end, score, label)
                return self._maybe_started(watch, state.active)
            return []
        if blocked and not active.started_sent:
            state.active = None  # not confirmed yet, and speech may be what made it
            return []
        if score >= watch.off_threshold:
            active.last_above_ms = span_end
            if score > active.peak:
                active.peak, active.label = score, label
            return self._maybe_started(watch, active)
        if span_end - active.last_above_ms > self.settings.max_gap_ms:
            return list(self._close(watch, state))
        return []

    def _maybe_started(self, watch: Watch, active: _Active) -> list[SoundStarted | SoundEvent]:
        if active.started_sent or active.last_above_ms - active.start_ms < watch.min_duration_ms:
            return []
        active.started_sent = True
        return [SoundStarted(watch.name, self.settings.labels[active.label], active.peak,
                             active.start_ms, active.last_above_ms)]

    def _close(self, watch: Watch, state: _State) -> Iterable[SoundEvent]:
        active = state.active
        state.active = None
        if active is None or not active.started_sent:
            return []
        return [SoundEvent(watch.name, self.settings.labels[active.label], round(active.peak, 3),
                           active.start_ms, active.last_above_ms)]
