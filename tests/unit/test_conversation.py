"""The turn engine, driven with frames and numbers: what it decides, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from assistant.events import (
    InputEnded,
    ListenTimedOut,
    MuteChanged,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
    WakeDetected,
)
from assistant.frontend.vad import EndpointConfig
from assistant.pipeline import conversation as c

FRAME = 20


def policy(**changes: Any) -> c.Policy:
    endpoint = EndpointConfig(hangover_ms=200, start_timeout_ms=1000, max_utterance_ms=5000,
                              speech_start_ms=60, pause_ms=None, short_hangover_ms=None)
    endpoint_changes = {k: changes.pop(k) for k in ("pause_ms", "short_hangover_ms",
                                                    "start_timeout_ms") if k in changes}
    for key, value in endpoint_changes.items():
        endpoint = EndpointConfig(**{**endpoint.__dict__, key: value})
    base = {"mode": "wake_word", "endpoint": endpoint, "preroll_ms": 100, "follow_up_ms": 0,
            "barge_in": True}
    return c.Policy(**{**base, **changes})


@dataclass
class Drive:
    """Feeds frames at 20 ms steps and keeps every effect."""

    machine: c.Conversation
    now_ms: int = 0
    effects: list[c.Effect] = field(default_factory=list)

    def frames(self, ms: int, speech: bool = False) -> list[c.Effect]:
        out: list[c.Effect] = []
        for _ in range(ms // FRAME):
            out += self.frame(speech)
        return out

    def frame(self, speech: bool = False, wake: str | None = None) -> list[c.Effect]:
        out = self.machine.handle(c.Frame(self.now_ms, speech, wake, self.now_ms + FRAME))
        self.now_ms += FRAME
        self.effects += out
        return out

    def send(self, event: c.Input) -> list[c.Effect]:
        out = self.machine.handle(event)
        self.effects += out
        return out

    def events(self, kind: type | None = None) -> list[Any]:
        found = [e.event for e in self.effects if isinstance(e, c.Emit)]
        return [e for e in found if kind is None or isinstance(e, kind)]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.effects if isinstance(e, kind)]

    @property
    def states(self) -> list[str]:
        return [e.state for e in self.events(StateChanged)]


def drive(**changes: Any) -> Drive:
    return Drive(c.Conversation(policy(**changes)))


def test_a_command_after_the_wake_word_is_cut_from_the_wake_word_on() -> None:
    d = drive()
    d.frames(400)
    d.frame(wake="okay_nabu")  # 400-420 ms; the hit is stamped at the frame's end
    assert d.machine.phase is c.Phase.LISTENING
    d.frames(40)  # 420-460: silence
    d.frames(600, speech=True)  # 460-1060
    d.frames(200)  # hangover: the utterance ends at 1260
    [wake] = d.events(WakeDetected)
    assert (wake.at_ms, wake.turn_id, wake.source) == (420, 1, "wake_word")
    [started] = d.events(SpeechStarted)
    assert started.at_ms == 460
    [ended] = d.events(SpeechEnded)
    assert (ended.at_ms, ended.duration_ms, ended.reason) == (1260, 800, "silence")
    # The pre-roll (100 ms) would reach into the wake word: the cut starts at its frame.
    assert d.of(c.StartTurn) == [c.StartTurn(1, 400, 1260)]
    assert d.machine.phase is c.Phase.THINKING
    assert d.states == ["listening", "thinking"]


def test_without_a_wake_word_nothing_is_heard() -> None:
    d = drive()
    d.frames(2000, speech=True)
    assert d.effects == []
    assert d.machine.phase is c.Phase.IDLE


def test_no_speech_after_the_wake_word_times_out() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(1000)
    [timeout] = d.events(ListenTimedOut)
    assert (timeout.at_ms, timeout.turn_id) == (1020, 1)
    assert d.machine.phase is c.Phase.IDLE
    assert d.states == ["listening", "idle"]


def test_a_pause_starts_a_speculation_and_speech_drops_it() -> None:
    d = drive(pause_ms=100)
    d.frame(wake="okay_nabu")
    d.frames(400, speech=True)  # 20-420
    d.frames(100)  # the pause is reported at 520
    assert d.of(c.Speculate) == [c.Speculate(1, 0, 520)]
    d.frames(80, speech=True)  # speech again: after speech_start_ms (60) it counts
    assert len(d.of(c.DropSpeculation)) == 1
    d.frames(200)
    assert d.of(c.StartTurn) == [c.StartTurn(1, 0, 800)]


def test_a_complete_command_ends_on_the_short_hangover() -> None:
    d = drive(pause_ms=100, short_hangover_ms=140)
    d.frame(wake="okay_nabu")
    d.frames(400, speech=True)
    d.frames(100)
    d.send(c.CommandComplete())  # the speculation matched a whole command
    d.frames(40)
    assert d.of(c.StartTurn) == [c.StartTurn(1, 0, 560)]  # 140 ms of silence, not 200
    assert not d.of(c.DropSpeculation), "the speculation goes with the turn"


def test_the_wake_word_interrupts_a_turn_when_barge_in_is_on() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(300, speech=True)
    d.frames(200)
    d.send(c.SpeakingChanged(True))
    d.frame(wake="okay_nabu")
    assert d.of(c.CancelTurn) == [c.CancelTurn()]
    assert [w.turn_id for w in d.events(WakeDetected)] == [1, 2]
    assert d.machine.phase is c.Phase.LISTENING
    assert d.states == ["listening", "thinking", "speaking", "listening"]


def test_without_barge_in_the_wake_word_waits_but_push_to_talk_does_not() -> None:
    d = drive(barge_in=False)
    d.frame(wake="okay_nabu")
    d.frames(300, speech=True)
    d.frames(200)
    d.frame(wake="okay_nabu")
    assert not d.of(c.CancelTurn)
    d.send(c.ListenRequested())
    d.frame()
    assert d.of(c.CancelTurn) == [c.CancelTurn()]
    assert [w.source for w in d.events(WakeDetected)] == ["wake_word", "control"]


def test_the_wake_word_inside_a_command_is_part_of_it() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(200, speech=True)
    d.frame(speech=True, wake="okay_nabu")
    d.frames(200, speech=True)
    assert len(d.events(WakeDetected)) == 1
    assert not d.of(c.StartTurn)


def test_push_to_talk_opens_at_the_next_frame() -> None:
    d = drive(mode="push_to_talk")
    d.frames(100)
    d.send(c.ListenRequested())
    assert d.effects == []
    d.frame()
    [wake] = d.events(WakeDetected)
    assert (wake.at_ms, wake.source, wake.wake_word) == (100, "control", "")


def test_muted_ignores_the_wake_word_but_not_push_to_talk() -> None:
    d = drive()
    d.send(c.SetMuted(0, True))
    d.send(c.SetMuted(0, True))  # no change, no event
    d.frame(wake="okay_nabu")
    assert d.events(WakeDetected) == []
    d.send(c.ListenRequested())
    d.frame()
    assert [e.muted for e in d.events(MuteChanged)] == [True]
    assert [w.source for w in d.events(WakeDetected)] == ["control"]


def test_an_utterance_without_words_resumes_listening_until_the_deadline() -> None:
    d = drive()
    d.frame(wake="okay_nabu")  # listening until 20 + 1000 ms
    d.frames(200, speech=True)
    d.frames(200)  # ends at 420: the wake word's own tail, say
    d.frames(100)  # transcribing meanwhile (thinking)
    out = d.send(c.TurnEnded(d.now_ms, heard=False))
    assert c.Replay(420) in out
    assert d.machine.phase is c.Phase.LISTENING
    for start in range(420, d.now_ms, FRAME):  # what arrived while it was transcribed
        d.send(c.Replayed(start, False))
    d.frames(500)
    [timeout] = d.events(ListenTimedOut)
    assert (timeout.turn_id, timeout.at_ms) == (1, 1020)


def test_an_utterance_without_words_after_the_deadline_is_a_timeout() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(200, speech=True)
    d.frames(200)
    d.frames(1000)  # transcribing for a long time
    out = d.send(c.TurnEnded(d.now_ms, heard=False))
    assert out[0] == c.Emit(ListenTimedOut(at_ms=1420, turn_id=1))
    assert d.machine.phase is c.Phase.IDLE


def test_a_follow_up_needs_no_wake_word_for_a_while() -> None:
    d = drive(follow_up_ms=500)
    d.frame(wake="okay_nabu")
    d.frames(200, speech=True)
    d.frames(200)
    d.send(c.TurnEnded(d.now_ms, heard=True))
    d.frame()
    assert d.machine.phase is c.Phase.FOLLOW_UP
    d.frames(200, speech=True)
    d.frames(200)
    turns = d.of(c.StartTurn)
    assert [t.turn_id for t in turns] == [1, 2]
    assert len(d.events(WakeDetected)) == 1
    d.send(c.TurnEnded(d.now_ms, heard=True))
    d.frames(600)  # nobody speaks: the window closes
    assert d.events(ListenTimedOut)[-1].turn_id == 3
    assert d.machine.phase is c.Phase.IDLE


def test_always_listening_takes_every_utterance() -> None:
    d = drive(mode="always_listening")
    d.frames(100)
    assert d.machine.phase is c.Phase.LISTENING
    d.frames(300, speech=True)
    d.frames(200)
    assert [t.turn_id for t in d.of(c.StartTurn)] == [1]
    assert d.events(WakeDetected) == []


def test_announcements_wait_for_the_turn_then_its_follow_up_window_goes_on() -> None:
    d = drive(follow_up_ms=500)
    d.frame(wake="okay_nabu")
    d.send(c.Announce("Your timer is done."))
    d.frames(200)
    assert not d.of(c.StartAnnouncement), "a command may still come"
    d.frames(300, speech=True)
    d.frames(200)
    d.send(c.TurnEnded(d.now_ms, heard=True))  # the follow-up window runs to 720 + 500
    d.frame()
    assert d.of(c.StartAnnouncement) == [c.StartAnnouncement("Your timer is done.")]
    d.frames(200)
    d.send(c.TurnEnded(d.now_ms, heard=True))
    d.frame()
    assert d.machine.phase is c.Phase.FOLLOW_UP
    d.frames(400)
    assert d.events(ListenTimedOut)[-1].at_ms == 1220


def test_an_announcement_alone_opens_no_follow_up_window() -> None:
    d = drive(follow_up_ms=500)
    d.send(c.Announce("Your timer is done."))
    d.frame()
    assert d.machine.phase is c.Phase.THINKING
    d.send(c.TurnEnded(d.now_ms, heard=True))
    d.frames(100)
    assert d.machine.phase is c.Phase.IDLE, "nobody asked anything"


def test_in_always_listening_an_announcement_goes_before_silence() -> None:
    d = drive(mode="always_listening")
    d.frames(100)
    d.send(c.Announce("Hello."))
    d.frame()
    assert d.of(c.StartAnnouncement) == [c.StartAnnouncement("Hello.")]


def test_at_most_eight_announcements_wait() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    for i in range(10):
        d.send(c.Announce(f"n{i}"))
    d.frames(1000)  # listening times out
    spoken = []
    for _ in range(12):
        d.frame()
        if d.machine.phase is c.Phase.THINKING:
            spoken.append(d.of(c.StartAnnouncement)[-1].text)
            d.send(c.TurnEnded(d.now_ms, heard=True))
    assert spoken == [f"n{i}" for i in range(2, 10)]


def test_the_end_of_input_ends_the_utterance_and_waits_for_the_turn() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(300, speech=True)
    d.send(c.Announce("Later."))
    out = d.send(c.InputOver(d.now_ms))
    assert d.events(SpeechEnded)[-1].reason == "input_ended"
    assert c.StartTurn(1, 0, 320) in out
    assert not d.of(c.Finished)
    out = d.send(c.TurnEnded(d.now_ms, heard=True))
    assert c.StartAnnouncement("Later.") in out
    out = d.send(c.TurnEnded(d.now_ms, heard=True))
    assert out[-2:] == [c.Emit(InputEnded(at_ms=320)), c.Finished()]


def test_speaking_lasts_until_the_turn_is_wrapped_up() -> None:
    d = drive()
    d.frame(wake="okay_nabu")
    d.frames(300, speech=True)
    d.frames(200)
    d.send(c.SpeakingChanged(True))
    d.send(c.SpeakingChanged(False))
    assert d.machine.phase is c.Phase.SPEAKING
    d.send(c.TurnEnded(d.now_ms, heard=True))
    assert d.states == ["listening", "thinking", "speaking", "idle"]


def test_every_transition_is_in_the_table() -> None:
    machine = c.Conversation(policy())
    table = machine.transitions
    assert (c.Phase.IDLE, c.TurnEnded) not in table  # a stray "turn ended" changes nothing
    assert machine.handle(c.TurnEnded(0, heard=True)) == []
    for phase in c.Phase:
        for kind in (c.ListenRequested, c.Announce, c.SetMuted, c.InputOver):
            assert (phase, kind) in table
    for phase in (c.Phase.THINKING, c.Phase.SPEAKING):
        assert (phase, c.TurnEnded) in table
        assert (phase, c.CommandComplete) not in table


@pytest.mark.parametrize("mode", ["wake_word", "always_listening", "push_to_talk"])
def test_the_same_frames_give_the_same_effects(mode: str) -> None:
    def run() -> list[c.Effect]:
        d = drive(mode=mode, pause_ms=100)
        d.frames(100)
        d.frame(wake="okay_nabu")
        d.send(c.ListenRequested())
        for _ in range(3):
            d.frames(300, speech=True)
            d.frames(300)
            d.send(c.TurnEnded(d.now_ms, heard=True))
        return d.effects

    assert run() == run()
