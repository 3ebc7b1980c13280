"""The daemon's record of what was said to it, in a real SQLite transcript index."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from assistant.events import (
    Event,
    IntentMatched,
    IntentNotMatched,
    Replied,
    SpeakerIdentified,
    Transcribed,
    TurnCancelled,
    WakeDetected,
)
from assistant.transcribe.history import MAX_OPEN_TURNS, CommandHistory
from assistant.transcribe.index import Hit, TranscriptIndex
from assistant.transcribe.result import FileTranscript, Segment


def record(path: Path, events: Iterable[Event], retention_days: int = 30) -> None:
    history = CommandHistory(path, retention_days)
    history.open()
    try:
        for event in events:
            history(event)
    finally:
        history.close()


def voice(path: Path) -> list[Hit]:
    with TranscriptIndex(path) as index:
        return index.recent(source="voice", limit=100)


def said(path: Path) -> dict[str, str | None]:
    """Text -> speaker of every recorded command; fails if a text is recorded twice."""
    hits = voice(path)
    texts = [h.text for h in hits]
    assert len(texts) == len(set(texts)), texts
    return {h.text: h.speaker for h in hits}


def turn(turn_id: int, text: str, speaker: str | None = None, done: Event | None = None
         ) -> list[Event]:
    events: list[Event] = [WakeDetected(at_ms=turn_id * 1000, turn_id=turn_id, wake_word="hey"),
                           Transcribed(at_ms=turn_id * 1000 + 10, turn_id=turn_id, text=text)]
    if speaker is not None:
        events.append(SpeakerIdentified(at_ms=turn_id * 1000 + 20, turn_id=turn_id,
                                        name=speaker, score=0.9))
    events.append(done or IntentMatched(at_ms=turn_id * 1000 + 30, turn_id=turn_id,
                                        intent="x", text=text))
    return events


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "transcripts.db"


def test_each_command_is_recorded_once_with_its_text(path: Path) -> None:
    before = datetime.now().astimezone()
    record(path, [
        *turn(1, "turn on the kitchen light"),
        Replied(at_ms=1040, turn_id=1, text="Done."),  # a second "turn done" for the same turn
        *turn(2, "what time is it", done=IntentNotMatched(at_ms=2030, turn_id=2,
                                                          text="what time is it")),
        *turn(3, "set a timer", done=TurnCancelled(at_ms=3030, turn_id=3, reason="interrupted")),
        *turn(4, "tell me a joke", done=Replied(at_ms=4030, turn_id=4, text="No.")),
    ])
    assert said(path) == {"turn on the kitchen light": None, "what time is it": None,
                          "set a timer": None, "tell me a joke": None}
    hits = voice(path)
    assert all(h.file is None for h in hits)
    assert all(h.said_at is not None and h.said_at >= before - timedelta(seconds=1)
               for h in hits)


def test_recorded_commands_are_searchable(path: Path) -> None:
    record(path, [*turn(1, "turn on the kitchen light"), *turn(2, "play some jazz")])
    with TranscriptIndex(path) as index:
        assert [h.text for h in index.search("kitchen", source="voice")] == [
            "turn on the kitchen light"]
        assert [h.text for h in index.search("jazz")] == ["play some jazz"]
        assert index.search("kitchen", source="files") == []


def test_text_is_stripped(path: Path) -> None:
    record(path, turn(1, "  open the door \n"))
    assert said(path) == {"open the door": None}


def test_the_speaker_is_attached_when_identified_before_the_turn_ends(path: Path) -> None:
    record(path, [*turn(1, "lights off", speaker="ann"), *turn(2, "lights on", speaker="bob"),
                  *turn(3, "who am I")])
    assert said(path) == {"lights off": "ann", "lights on": "bob", "who am I": None}


def test_an_unknown_speaker_is_stored_as_no_speaker(path: Path) -> None:
    record(path, turn(1, "lights off", speaker="unknown"))
    assert said(path) == {"lights off": None}


def test_a_speaker_identified_after_the_turn_ended_is_not_attached(path: Path) -> None:
    record(path, [*turn(1, "lights off"),
                  SpeakerIdentified(at_ms=1100, turn_id=1, name="ann", score=0.9)])
    assert said(path) == {"lights off": None}


def test_interleaved_turns_keep_their_own_speaker_and_text(path: Path) -> None:
    record(path, [
        Transcribed(at_ms=10, turn_id=1, text="first command"),
        Transcribed(at_ms=20, turn_id=2, text="second command"),
        SpeakerIdentified(at_ms=30, turn_id=2, name="bob"),
        SpeakerIdentified(at_ms=40, turn_id=1, name="ann"),
        IntentMatched(at_ms=50, turn_id=2, intent="x"),
        IntentNotMatched(at_ms=60, turn_id=1),
    ])
    assert said(path) == {"first command": "ann", "second command": "bob"}


def test_empty_transcripts_are_not_recorded(path: Path) -> None:
    record(path, [*turn(1, ""), *turn(2, "   "), *turn(3, "real one", speaker="ann")])
    assert said(path) == {"real one": "ann"}


def test_events_without_a_turn_are_ignored(path: Path) -> None:
    record(path, [
        Transcribed(at_ms=10, turn_id=None, text="said outside a turn"),
        SpeakerIdentified(at_ms=20, turn_id=None, name="ann"),
        IntentMatched(at_ms=30, turn_id=None, intent="x"),
    ])
    assert voice(path) == []


def test_close_writes_turns_that_never_finished(path: Path) -> None:
    record(path, [
        *turn(1, "finished"),
        Transcribed(at_ms=2010, turn_id=2, text="still open"),
        SpeakerIdentified(at_ms=2020, turn_id=2, name="ann"),
        Transcribed(at_ms=3010, turn_id=3, text="also open"),
    ])
    assert said(path) == {"finished": None, "still open": "ann", "also open": None}


def test_too_many_open_turns_write_the_oldest_once(path: Path) -> None:
    events: list[Event] = [Transcribed(at_ms=i, turn_id=i, text=f"open turn {i}")
                           for i in range(1, MAX_OPEN_TURNS + 2)]
    # Turn 1 was written when the (MAX_OPEN_TURNS + 1)th opened: too late to name its speaker.
    events += [SpeakerIdentified(at_ms=100, turn_id=1, name="ann"),
               IntentMatched(at_ms=101, turn_id=1, intent="x"),
               SpeakerIdentified(at_ms=102, turn_id=2, name="bob")]
    record(path, events)
    recorded = said(path)
    assert len(recorded) == MAX_OPEN_TURNS + 1
    assert recorded["open turn 1"] is None
    assert recorded["open turn 2"] == "bob"


# -- retention

def test_open_forgets_commands_older_than_the_retention(path: Path) -> None:
    now = datetime.now().astimezone()
    with TranscriptIndex(path) as index:
        index.add_utterance("long ago", now - timedelta(days=31), "ann")
        index.add_utterance("last week", now - timedelta(days=7), None)
        index.add_utterance("a year ago", now - timedelta(days=365), None)
    record(path, turn(1, "just now"), retention_days=30)
    assert said(path) == {"last week": None, "just now": None}


def test_retention_leaves_transcribed_files_alone(path: Path) -> None:
    old = datetime.now().astimezone() - timedelta(days=400)
    with TranscriptIndex(path) as index:
        index.replace_file(FileTranscript(path.parent / "old.wav", 10.0, "en", "tiny.en",
                                          (Segment(0.0, 5.0, "an old podcast"),)),
                           None, mtime_s=old.timestamp())
        index.add_utterance("old command", old, None)
    record(path, [], retention_days=1)
    with TranscriptIndex(path) as index:
        assert [h.text for h in index.recent(source="files")] == ["an old podcast"]
        assert index.recent(source="voice") == []


# -- a bad index

def test_a_bad_index_file_is_set_aside_and_a_new_one_records(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database at all\x00\x01\x02" * 100)
    record(path, turn(1, "what time is it"))  # open() does not raise: the daemon starts
    [aside] = path.parent.glob("transcripts.db.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")  # kept as it was
    assert said(path) == {"what time is it": None}
