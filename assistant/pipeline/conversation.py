"""The turn engine: what the assistant does next, as a pure, clock-free state machine.

    Idle --wake word / push-to-talk / always listening--> Listening
    Listening --speech ended--> Thinking --first reply audio--> Speaking --turn ended--> Idle
    Speaking/Thinking --turn ended, follow_up_s > 0--> FollowUp (a command without the wake word)
    Thinking/Speaking --wake word (barge-in) / push-to-talk--> Listening (the turn is cancelled)

It sees only inputs with stream times (a 20 ms frame with its VAD verdict and wake hit, a turn
that ended, ...) and answers with effects for the I/O around it (pipeline/orchestrator.py) to
carry out: emit an event, start or cancel a turn, speculate on the audio heard so far. The same
inputs always give the same effects, so a file replay decides exactly what a microphone would,
and the unit tests drive it with numbers. Every transition is in one table (`_table`).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from assistant.events import (
    InputEnded,
    ListenTimedOut,
    MuteChanged,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
    WakeDetected,
)
from assistant.frontend.vad import Decision, EndpointConfig, Endpointer
from assistant.pipeline.messages import (
    Announce,
    CancelTurn,
    CommandComplete,
    DropSpeculation,
    Effect,
    Emit,
    Finished,
    Frame,
    Input,
    InputOver,
    ListenRequested,
    Replay,
    Replayed,
    SetMuted,
    SpeakingChanged,
    Speculate,
    StartAnnouncement,
    StartTurn,
    TurnEnded,
)
from assistant.quoting import excerpt

log = logging.getLogger(__name__)
MAX_PENDING_ANNOUNCEMENTS = 8


class Phase(enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    FOLLOW_UP = "follow_up"
    """Listening without a wake word, for a while after an answer (conversation.follow_up_s)."""
    THINKING = "thinking"
    """A turn or an announcement runs; nothing of it is playing yet."""
    SPEAKING = "speaking"
    """Its reply has started playing (until the turn ends)."""


REPORTED = {Phase.IDLE: "idle", Phase.LISTENING: "listening", Phase.FOLLOW_UP: "listening",
            Phase.THINKING: "thinking", Phase.SPEAKING: "speaking"}
"""The `state_changed` values: a follow-up window is listening, as far as anyone outside knows."""
BUSY = (Phase.THINKING, Phase.SPEAKING)
OPEN = (Phase.LISTENING, Phase.FOLLOW_UP)


@dataclass(frozen=True)
class Policy:
    mode: str  # wake_word | always_listening | push_to_talk
    endpoint: EndpointConfig
    preroll_ms: int
    follow_up_ms: int
    barge_in: bool


@dataclass(frozen=True)
class _Resume:
    """Where to pick up listening if the turn's utterance turns out to hold no speech."""

    turn_id: int
    deadline_ms: int | None
    ended_ms: int


class Conversation:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.phase = Phase.IDLE
        self.muted = False
        self.now_ms = 0
        self._reported = REPORTED[Phase.IDLE]
        self._turn_id = 0
        self._listening_turn = 0
        self._endpointer: Endpointer | None = None
        self._deadline_ms: int | None = None
        self._floor_ms: int | None = None
        """No audio from before here belongs to the command (the wake word's frame start)."""
        self._speech_from_ms = 0
        self._speculating = False
        self._resume: _Resume | None = None
        self._follow_up_until_ms: int | None = None
        self._listen_requested = False
        self._announcing = False
        self._announcements: collections.deque[str] = collections.deque()
        self._input_over = False
        self._out: list[Effect] = []
        self.transitions = self._table()

    def _table(self) -> dict[tuple[Phase, type], Callable[[Input], None]]:
        """Every transition: (phase, input) -> what happens. A pair not here changes nothing."""
        table: dict[tuple[Phase, type], Callable[[Input], None]] = {}
        for phase in Phase:
            table[(phase, ListenRequested)] = self._request_listen
            table[(phase, Announce)] = self._queue_announcement
            table[(phase, SetMuted)] = self._set_muted
            table[(phase, InputOver)] = self._input_over_now
        table[(Phase.IDLE, Frame)] = self._frame_idle
        for phase in OPEN:
            table[(phase, Frame)] = self._frame_open
            table[(phase, Replayed)] = self._replayed
            table[(phase, CommandComplete)] = self._command_complete
        for phase in BUSY:
            table[(phase, Frame)] = self._frame_busy
            table[(phase, TurnEnded)] = self._turn_ended
        table[(Phase.THINKING, SpeakingChanged)] = self._speaking_changed
        return table

    def start(self) -> list[Effect]:
        """What everyone should know at once: the state and the mute switch."""
        return [Emit(StateChanged(at_ms=0, state=self._reported)),
                Emit(MuteChanged(at_ms=0, muted=self.muted))]

    def handle(self, event: Input) -> list[Effect]:
        if isinstance(event, Frame):
            self.now_ms = event.end_ms
        transition = self.transitions.get((self.phase, type(event)))
        if transition is not None:
            transition(event)
        reported = REPORTED[self.phase]
        if reported != self._reported:
            self._reported = reported
            self._out.append(Emit(StateChanged(at_ms=self.now_ms, state=reported)))
        if self._input_over and self.phase not in BUSY and self._announcements:
            self._announce_next()
        if self._input_over and self.phase not in BUSY and not self._announcements:
            self._input_over = False
            self._out += [Emit(InputEnded(at_ms=self.now_ms)), Finished()]
        out, self._out = self._out, []
        return out

    @property
    def in_speech(self) -> bool:
        return self._endpointer is not None and self._endpointer.in_speech

    # Frames ------------------------------------------------------------------------------

    def _frame_idle(self, frame: Input) -> None:
        assert isinstance(frame, Frame)
        if self._woken(frame) or self._pushed(frame):
            pass
        elif self._announcements:
            self._announce_next()
        elif not self.muted:
            self._open_passive(frame.start_ms)
        if self.phase in OPEN:
            self._feed(frame.start_ms, frame.speech)

    def _frame_open(self, frame: Input) -> None:
        assert isinstance(frame, Frame)
        if self._woken(frame) or self._pushed(frame):
            pass
        elif self._announcements and self._passive_and_quiet():
            self._close_listening()
            self._announce_next()
            return
        self._feed(frame.start_ms, frame.speech)

    def _frame_busy(self, frame: Input) -> None:
        assert isinstance(frame, Frame)
        if not self._woken(frame):
            self._pushed(frame)  # push-to-talk always interrupts
        if self.phase in OPEN:
            self._feed(frame.start_ms, frame.speech)

    def _replayed(self, frame: Input) -> None:
        assert isinstance(frame, Replayed)
        self._feed(frame.start_ms, frame.speech)

    def _woken(self, frame: Frame) -> bool:
        """A wake word heard (and not muted): it takes this frame, even when it changes nothing
        (barge-in is off, or it was said inside a command)."""
        if frame.wake is None or self.muted:
            return False
        if self.phase not in BUSY or self.policy.barge_in:
            self._open(frame.wake_at_ms, frame.start_ms, "wake_word", frame.wake)
        return True

    def _pushed(self, frame: Frame) -> bool:
        if not self._listen_requested:
            return False
        self._listen_requested = False
        self._open(frame.start_ms, frame.start_ms, "control", "")
        return True

    # Opening and closing -----------------------------------------------------------------

    def _open(self, at_ms: int, floor_ms: int, source: str, word: str) -> None:
        """Listen for a command (wake word, push-to-talk): a new turn, unless a command is being
        spoken (then the wake word is part of it)."""
        if self.phase in BUSY:
            self._out.append(CancelTurn())
            self._announcing = False
            self._resume = None
            self.phase = Phase.IDLE
        elif self.phase in OPEN and self.in_speech:
            return
        self._drop_speculation()
        self._turn_id += 1
        self._follow_up_until_ms = None
        self._out.append(Emit(WakeDetected(at_ms=at_ms, turn_id=self._turn_id, wake_word=word,
                                           source=source)))
        self._listen(at_ms, self.policy.endpoint.start_timeout_ms, floor_ms, Phase.LISTENING)

    def _open_passive(self, at_ms: int) -> None:
        """Without a wake word: always-listening mode, or the follow-up window."""
        if self.policy.mode == "always_listening":
            self._turn_id += 1
            self._listen(at_ms, None, None, Phase.LISTENING)
        elif self._follow_up_until_ms is not None:
            remaining = self._follow_up_until_ms - at_ms
            self._follow_up_until_ms = None
            if remaining > 0:
                self._turn_id += 1
                self._listen(at_ms, remaining, None, Phase.FOLLOW_UP)

    def _listen(self, at_ms: int, timeout_ms: int | None, floor_ms: int | None,
                phase: Phase) -> None:
        self._deadline_ms = None if timeout_ms is None else at_ms + timeout_ms
        config = dataclasses.replace(self.policy.endpoint, start_timeout_ms=timeout_ms)
        self._endpointer = Endpointer(config, at_ms)
        self._listening_turn = self._turn_id
        self._floor_ms = floor_ms
        self.phase = phase

    def _close_listening(self) -> None:
        self._endpointer = None
        self.phase = Phase.IDLE

    def _passive_and_quiet(self) -> bool:
        """Always-listening with no speech heard yet: an announcement may go first."""
        passive = self.policy.mode == "always_listening" and self._deadline_ms is None
        return passive and not self.in_speech

    # The endpointer ----------------------------------------------------------------------

    def _feed(self, start_ms: int, speech: bool) -> None:
        endpointer = self._endpointer
        assert endpointer is not None
        decision = endpointer.feed(start_ms, speech)
        if decision is None:
            return
        turn_id, at_ms = self._listening_turn, decision.at_ms
        if decision.decision is Decision.STARTED:
            floor = self._floor_ms if self._floor_ms is not None else at_ms - self.policy.preroll_ms
            self._speech_from_ms = max(floor, at_ms - self.policy.preroll_ms)
            self._out.append(Emit(SpeechStarted(at_ms=at_ms, turn_id=turn_id)))
        elif decision.decision is Decision.PAUSED:
            self._drop_speculation()
            self._speculating = True
            self._out.append(Speculate(turn_id, self._speech_from_ms, at_ms))
        elif decision.decision is Decision.RESUMED:
            self._drop_speculation()
        elif decision.decision is Decision.TIMED_OUT:
            self._close_listening()
            self._out.append(Emit(ListenTimedOut(at_ms=at_ms, turn_id=turn_id)))
        else:
            self._end_utterance(at_ms, decision.decision.value)

    def _end_utterance(self, at_ms: int, reason: str) -> None:
        endpointer = self._endpointer
        assert endpointer is not None and endpointer.speech_start_ms is not None
        turn_id = self._listening_turn
        self._out.append(Emit(SpeechEnded(at_ms=at_ms, turn_id=turn_id,
                                          duration_ms=at_ms - endpointer.speech_start_ms,
                                          reason=reason)))
        self._endpointer = None
        self._speculating = False  # it goes with the turn, which owns it from here
        self._resume = _Resume(turn_id, self._deadline_ms, at_ms)
        self._out.append(StartTurn(turn_id, self._speech_from_ms, at_ms))
        self.phase = Phase.THINKING

    def _drop_speculation(self) -> None:
        if self._speculating:
            self._speculating = False
            self._out.append(DropSpeculation())

    def _command_complete(self, _: Input) -> None:
        if self._endpointer is not None:
            self._endpointer.mark_complete()

    # Turns -------------------------------------------------------------------------------

    def _speaking_changed(self, event: Input) -> None:
        assert isinstance(event, SpeakingChanged)
        if event.speaking:
            self.phase = Phase.SPEAKING  # and it stays so until the turn is wrapped up

    def _turn_ended(self, event: Input) -> None:
        assert isinstance(event, TurnEnded)
        self.now_ms = max(self.now_ms, event.at_ms)
        resume, self._resume = self._resume, None
        self.phase = Phase.IDLE
        if self._announcing:
            self._announcing = False  # no follow-up after an announcement: nobody asked
        elif not event.heard and resume is not None:
            self._resume_listening(resume)
        elif self.policy.follow_up_ms > 0:
            self._follow_up_until_ms = self.now_ms + self.policy.follow_up_ms

    def _resume_listening(self, resume: _Resume) -> None:
        """The utterance held no speech (often the wake word's own tail): the user may still be
        about to give the command, so keep listening until the original deadline, and look
        again at what arrived meanwhile."""
        deadline = resume.deadline_ms
        if deadline is not None and deadline <= self.now_ms:
            self._out.append(Emit(ListenTimedOut(at_ms=self.now_ms, turn_id=resume.turn_id)))
            return
        if self.policy.mode == "always_listening" and deadline is None:
            return  # passive listening reopens by itself
        remaining = None if deadline is None else deadline - resume.ended_ms
        self._listen(resume.ended_ms, remaining, None, Phase.LISTENING)
        self._listening_turn = resume.turn_id
        self._out.append(Replay(resume.ended_ms))

    # Announcements, mute, push-to-talk, end of input -------------------------------------

    def _queue_announcement(self, event: Input) -> None:
        assert isinstance(event, Announce)
        if len(self._announcements) >= MAX_PENDING_ANNOUNCEMENTS:
            log.warning("too many announcements waiting; dropped %s",
                        excerpt(self._announcements.popleft()))
        self._announcements.append(event.text)

    def _announce_next(self) -> None:
        self._announcing = True
        self._resume = None
        self.phase = Phase.THINKING
        self._out.append(StartAnnouncement(self._announcements.popleft()))

    def _set_muted(self, event: Input) -> None:
        assert isinstance(event, SetMuted)
        if event.muted != self.muted:
            self.muted = event.muted
            log.info("microphone %s", "muted" if event.muted else "unmuted")
            self._out.append(Emit(MuteChanged(at_ms=event.at_ms, muted=event.muted)))

    def _request_listen(self, _: Input) -> None:
        self._listen_requested = True

    def _input_over_now(self, event: Input) -> None:
        assert isinstance(event, InputOver)
        self.now_ms = max(self.now_ms, event.at_ms)
        if self.phase in OPEN and self.in_speech:
            self._end_utterance(self.now_ms, "input_ended")
        self._input_over = True
