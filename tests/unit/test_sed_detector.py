"""Sound events from synthetic window scores; music tags; label groups."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import ConfigError
from assistant.sed.detector import (
    DetectorSettings,
    SoundDetector,
    SoundEvent,
    SoundStarted,
    build_watches,
)
from assistant.sed.labels import LabelIndex
from assistant.sed.music import MusicSettings, MusicTracker

LABELS = ("Speech", "Alarm", "Smoke detector, smoke alarm", "Dog", "Bark", "Silence")
ALARM, SMOKE, DOG = 1, 2, 3


def run(levels: list[float], *, speech: list[bool] | None = None, index: int = ALARM,
        min_duration_ms: int = 1000, watch: str = "alarm"
        ) -> list[SoundStarted | SoundEvent]:
    settings = DetectorSettings(build_watches({watch: 0.5}, LABELS, min_duration_ms), LABELS)
    detector = SoundDetector(settings)
    out: list[SoundStarted | SoundEvent] = []
    for i, level in enumerate(levels):
        scores = np.full(len(LABELS), 0.01, dtype=np.float32)
        scores[index] = level
        out += detector.update(scores, i * 480, speech=bool(speech and speech[i]))
    out += detector.finish()
    return out


def ended(events: list[SoundStarted | SoundEvent]) -> list[SoundEvent]:
    return [e for e in events if isinstance(e, SoundEvent)]


def test_a_long_alarm_is_one_event_not_fifty() -> None:
    events = run([0.0] * 4 + [0.9] * 50 + [0.0] * 6)
    assert [type(e) for e in events] == [SoundStarted, SoundEvent]
    start, end = events
    assert isinstance(end, SoundEvent) and isinstance(start, SoundStarted)
    assert (end.watch, end.label, end.score) == ("alarm", "Alarm", pytest.approx(0.9))
    # Median of 3 delays the edges by one window; windows stand for their middle 480 ms.
    assert end.start_ms == 5 * 480 + 240 and end.end_ms == 54 * 480 + 720
    assert start.start_ms == end.start_ms and start.at_ms - start.start_ms >= 1000


def test_shorter_than_the_minimum_duration_is_dropped() -> None:
    assert run([0.0] * 3 + [0.9] * 2 + [0.0] * 6) == []
    assert len(ended(run([0.0] * 3 + [0.9] * 4 + [0.0] * 6))) == 1


def test_hysteresis_keeps_an_event_going_between_off_and_on() -> None:
    # Starts at 0.5, continues while above 0.25: a fading alarm stays one event.
    events = ended(run([0.9] * 5 + [0.3] * 10 + [0.0] * 5))
    assert len(events) == 1 and events[0].end_ms == 15 * 480 + 720
    # ...but 0.3 alone never starts one.
    assert run([0.3] * 20) == []


def test_short_gaps_are_bridged_long_gaps_split() -> None:
    bridged = [0.9] * 6 + [0.0, 0.0, 0.0] + [0.9] * 6 + [0.0] * 6
    assert len(ended(run(bridged))) == 1  # a 1.5 s pause, as between smoke-alarm beep triples
    split = [0.9] * 6 + [0.0] * 8 + [0.9] * 6 + [0.0] * 6
    assert len(ended(run(split))) == 2


def test_the_strongest_class_of_a_group_names_the_event() -> None:
    events = ended(run([0.0] * 2 + [0.95] * 8 + [0.0] * 5, index=SMOKE))
    assert [(e.watch, e.label) for e in events] == [("alarm", "Smoke detector, smoke alarm")]


def test_speech_blocks_the_start_but_not_a_confirmed_event() -> None:
    levels = [0.9] * 10 + [0.0] * 5
    assert run(levels, speech=[True] * 15) == []
    late = [False] * 5 + [True] * 10
    assert len(ended(run(levels, speech=late))) == 1  # confirmed before the speech
    early = [True] * 3 + [False] * 12
    assert len(ended(run(levels, speech=early))) == 1  # starts once the speech stops


def test_speech_itself_is_never_suppressed() -> None:
    events = ended(run([0.9] * 10 + [0.0] * 5, speech=[True] * 15, index=0, watch="speech"))
    assert [e.label for e in events] == ["Speech"]


def test_unknown_labels_name_themselves_and_suggest() -> None:
    index = LabelIndex(LABELS)
    assert index.expand(["alarm"]) == {ALARM, SMOKE}
    assert index.expand(["Dog"]) == {DOG} and index.expand(["dog"]) == {DOG, 4}
    assert index.expand_names(["smoke detector, smoke alarm"]) == {LABELS[SMOKE]}
    with pytest.raises(ConfigError, match=r"'Dgo'.*'Dog'"):
        index.expand(["Dgo", "alarm"])


def music_labels() -> list[str]:
    return ["Music", "Plucked string instrument", "Guitar", "Scratching (performance technique)",
            "Pop music", "Jazz", "Independent music", "Happy music", "Sad music", "Scary music"]


def test_music_is_reported_after_the_minimum_time_then_on_change() -> None:
    labels = music_labels()
    tracker = MusicTracker(labels, MusicSettings(min_duration_ms=4800, stable_windows=2,
                                                 average_windows=2))
    jazz = np.array([0.9, 0.1, 0.6, 0, 0.05, 0.4, 0, 0.3, 0.1, 0], dtype=np.float32)
    pop = jazz.copy()
    pop[[4, 5, 7, 8]] = [0.5, 0.05, 0.0, 0.4]
    reports = [tracker.update(jazz, i * 480) for i in range(20)]
    found = [r for r in reports if r is not None]
    assert len(found) == 1 and reports.index(found[0]) == 10
    assert (found[0].genre, found[0].mood, found[0].instrument) == ("Jazz", "Happy music",
                                                                    "Guitar")
    later = [tracker.update(pop, (20 + i) * 480) for i in range(6)]
    changed = [r for r in later if r is not None]
    assert [(r.genre, r.mood) for r in changed] == [("Pop music", "Sad music")]
    silence = np.zeros(len(labels), dtype=np.float32)
    assert all(tracker.update(silence, (26 + i) * 480) is None for i in range(10))
    again = [tracker.update(jazz, (36 + i) * 480) for i in range(12)]
    assert sum(r is not None for r in again) == 1  # music came back: reported afresh
