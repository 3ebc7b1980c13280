"""The conversation state machine: Idle -> Listening -> Thinking/Speaking -> (FollowUp) -> Idle.

Everything here runs on stream time (ms of audio seen), so a file replay makes the same decisions
as a live microphone. Wake-word detection keeps running while a turn runs, for barge-in.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

from assistant.audio.format import CHUNK_MS, AudioChunk
from assistant.events import (
    Event,
    InputEnded,
    ListenTimedOut,
    MuteChanged,
    SpeculationDiscarded,
    SpeechEnded,
    SpeechStarted,
    Stage,
    StageFailed,
    StateChanged,
    WakeDetected,
)
from assistant.frontend.vad import (
    Activity,
    Decision,
    EndpointConfig,
    Endpointer,
)
from assistant.frontend.wake import WakeDetector, WakeHit
from assistant.pipeline.speculation import Speculation
from assistant.pipeline.turn import TurnRunner, Utterance
from assistant.pipeline.workers import Worker

log = logging.getLogger(__name__)
RESUME_BACKLOG_MS = 3000
_PAUSES = (Decision.PAUSED, Decision.RESUMED)
MAX_PENDING_ANNOUNCEMENTS = 8


@dataclass(frozen=True)
class ConversationPolicy:
    mode: str  # wake_word | always_listening | push_to_talk
    endpoint: EndpointConfig
    preroll_ms: int
    follow_up_ms: int
    barge_in: bool
    wait_for_turns: bool
    """Fast file replay: stream time stands still while a turn runs, as if the user waited."""


class Orchestrator:
    def __init__(
        self, policy: ConversationPolicy, wake: WakeDetector | None,
        vad: Activity,
        runner: TurnRunner, emit: Callable[[Event], None],
    ) -> None:
        self._policy = policy
        self._wake = wake if policy.mode == "wake_word" else None
        # One thread owns both stateful front-end models: one hop per chunk, off the event loop.
        self._frontend = Worker("frontend")
        self._vad = vad
        self._runner = runner
        runner.on_speaking = self._track_state
        self._emit = emit
        # Enough for the pre-roll, and for the audio that arrives while an utterance that turns
        # out to hold no speech is transcribed (replayed when listening resumes).
        frames = max(policy.preroll_ms + policy.endpoint.speech_start_ms, RESUME_BACKLOG_MS)
        frames = frames // CHUNK_MS + 1
        # Recent chunks with their VAD verdicts: the pre-roll of an utterance, and what to
        # re-examine when listening resumes after an utterance that held no speech.
        self._recent: collections.deque[tuple[AudioChunk, bool]] = collections.deque(maxlen=frames)
        self._endpointer: Endpointer | None = None
        self._speculation: Speculation | None = None
        self._utterance: list[AudioChunk] = []
        self._turn_task: asyncio.Task[bool] | None = None
        self._resume: tuple[int, int | None, int] | None = None
        """(turn id, listening deadline ms, endpoint ms) of the utterance being transcribed."""
        self._turn_id = 0
        self._listening_turn: int | None = None
        self._deadline_ms: int | None = None
        self._follow_up_until_ms: int | None = None
        self._listen_requested = False
        self.now_ms = 0
        self._wake_failures = 0
        self._announcements: collections.deque[str] = collections.deque()
        self._announcing = False
        self._muted = False
        self._state = "idle"

    @property
    def busy(self) -> bool:
        return self._turn_task is not None and not self._turn_task.done()

    def request_listen(self) -> None:
        """Push-to-talk: start a turn on the next chunk, as if the wake word had been heard."""
        self._listen_requested = True

    def announce(self, text: str) -> None:
        """Speak `text` outside a turn (a timer, an MQTT `say`) once no turn is running."""
        if len(self._announcements) >= MAX_PENDING_ANNOUNCEMENTS:
            dropped = self._announcements.popleft()
            log.warning("too many announcements waiting; dropped %r", dropped)
        self._announcements.append(text)

    def set_muted(self, muted: bool) -> None:
        """Muted: wake words and passive listening are ignored; a listen request still works."""
        if muted != self._muted:
            self._muted = muted
            log.info("microphone %s", "muted" if muted else "unmuted")
            self._emit(MuteChanged(at_ms=self.now_ms, muted=muted))

    async def run(self, audio: AsyncIterable[AudioChunk]) -> None:
        # Where things start, so MQTT / Home Assistant show a state and a mute switch at once.
        self._emit(StateChanged(at_ms=0, state=self._state))
        self._emit(MuteChanged(at_ms=0, muted=self._muted))
        try:
            async for chunk in audio:
                await self._step(chunk)
            await self._input_ended()
        finally:
            await self._cancel_turn()
            self._frontend.shutdown(wait=True)  # the wake model is freed right after this

    async def _step(self, chunk: AudioChunk) -> None:
        self.now_ms = chunk.end_ms
        if self._turn_task is not None and self._turn_task.done():
            await self._finish_turn()
        hit, is_speech = await self._analyse(chunk)
        if self._turn_task is not None and self._turn_task.done():
            await self._finish_turn()  # it ended while the front end was busy
        if hit is not None and not self._muted:
            await self._open(hit.at_ms, source="wake_word", word=hit.word)
        elif self._listen_requested:
            self._listen_requested = False
            await self._open(chunk.start_ms, source="control", word="")
        elif self._announcements and not self.busy and self._idle_listening():
            # Before passive listening reopens: in always-listening mode it always would.
            self._endpointer = None
            await self._start_announcement(self._announcements.popleft())
        elif self._endpointer is None and not self.busy and not self._muted:
            self._maybe_open_passive(chunk.start_ms)
        self._recent.append((chunk, is_speech))
        if self._endpointer is not None:
            await self._feed(chunk, is_speech)
        self._track_state()

    def _idle_listening(self) -> bool:
        """Not listening, or only passively listening with no speech heard yet."""
        endpointer = self._endpointer
        if endpointer is None:
            return True
        passive = self._policy.mode == "always_listening" and self._deadline_ms is None
        return passive and endpointer.speech_start_ms is None

    def _track_state(self) -> None:
        if self._runner.speaking:
            state = "speaking"
        elif self.busy:  # after the reply, until the turn is wrapped up, it is still speaking
            state = "speaking" if self._state == "speaking" else "thinking"
        elif self._endpointer is not None:
            state = "listening"
        else:
            state = "idle"
        if state != self._state:
            self._state = state
            self._emit(StateChanged(at_ms=self.now_ms, state=state))

    async def _start_announcement(self, text: str) -> None:
        self._announcing = True
        self._resume = None
        self._turn_task = asyncio.create_task(self._announce(text), name="announcement")
        if self._policy.wait_for_turns:
            await asyncio.wait({self._turn_task})
            await self._finish_turn()

    async def _announce(self, text: str) -> bool:
        try:
            await self._runner.speak(None, text, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad announcement must not stop the daemon
            log.exception("announcement failed")
            self._emit(StageFailed(at_ms=self.now_ms, stage=Stage.TTS, code="internal",
                                   message=f"{type(exc).__name__}: {exc}"))
        return True

    async def _analyse(self, chunk: AudioChunk) -> tuple[WakeHit | None, bool]:
        """Wake word and voice activity for one chunk, in the front-end thread."""
        try:
            result = await self._frontend.call(self._analyse_in_worker, chunk)
        except Exception as exc:  # a broken model must not stop listening for the next chunk
            self._wake_failures += 1
            if self._wake_failures in (1, 10) or self._wake_failures % 3000 == 0:  # not 50/s
                log.exception("front end failed (%d times)", self._wake_failures)
                self._emit(StageFailed(at_ms=self.now_ms, stage=Stage.WAKE, code="frontend_failed",
                                       message=f"{exc} ({self._wake_failures} times)"))
            return None, False
        self._wake_failures = 0
        return result

    def _analyse_in_worker(self, chunk: AudioChunk) -> tuple[WakeHit | None, bool]:
        hit = self._wake.process(chunk) if self._wake is not None else None
        return hit, self._vad.is_speech(chunk)

    async def _open(self, at_ms: int, source: str, word: str) -> None:
        """Start listening for a command (wake word, push-to-talk)."""
        if self.busy:
            if not self._policy.barge_in and source == "wake_word":
                return
            await self._cancel_turn()
        if self._endpointer is not None and self._endpointer.in_speech:
            return  # the wake word inside a command already being spoken
        await self._discard_speculation()  # a new wake word: the old utterance is abandoned
        self._turn_id += 1
        self._follow_up_until_ms = None
        self._emit(WakeDetected(at_ms=at_ms, turn_id=self._turn_id, wake_word=word, source=source))
        self._recent.clear()  # the command starts after the wake word, not inside it
        self._start_endpointer(at_ms, self._policy.endpoint.start_timeout_ms)

    def _maybe_open_passive(self, at_ms: int) -> None:
        """Listening without a wake word: always-listening mode, or the follow-up window."""
        if self._policy.mode == "always_listening":
            self._turn_id += 1
            self._start_endpointer(at_ms, None)
        elif self._follow_up_until_ms is not None:
            remaining = self._follow_up_until_ms - at_ms
            self._follow_up_until_ms = None
            if remaining > 0:
                self._turn_id += 1
                self._start_endpointer(at_ms, remaining)

    def _start_endpointer(self, at_ms: int, timeout_ms: int | None) -> None:
        self._deadline_ms = None if timeout_ms is None else at_ms + timeout_ms
        config = dataclasses.replace(self._policy.endpoint, start_timeout_ms=timeout_ms)
        self._endpointer = Endpointer(config, at_ms)
        self._listening_turn = self._turn_id
        self._utterance = []
        self._track_state()

    async def _feed(self, chunk: AudioChunk, is_speech: bool) -> None:
        endpointer = self._endpointer
        assert endpointer is not None
        guess = self._speculation.guess if self._speculation is not None else None
        if guess is not None and guess.done() and not guess.cancelled() \
                and guess.exception() is None and guess.result().complete:
            endpointer.mark_complete()
        event = endpointer.feed(chunk.start_ms, is_speech)
        if endpointer.in_speech and (event is None or event.decision in _PAUSES):
            self._utterance.append(chunk)
        if event is None:
            return
        if event.decision is Decision.PAUSED:
            await self._speculate()
        elif event.decision is Decision.RESUMED:
            await self._discard_speculation()
        elif event.decision is Decision.STARTED:
            first_ms = event.at_ms - self._policy.preroll_ms
            # Pre-roll up to this chunk: when resuming, later chunks are still to be replayed.
            self._utterance = [c for c, _ in self._recent if first_ms < c.end_ms <= chunk.end_ms]
            self._emit(SpeechStarted(at_ms=event.at_ms, turn_id=self._listening_turn))
        elif event.decision is Decision.TIMED_OUT:
            self._endpointer = None
            self._emit(ListenTimedOut(at_ms=event.at_ms, turn_id=self._listening_turn))
        else:
            self._utterance.append(chunk)
            await self._end_utterance(event.at_ms, event.decision.value)

    async def _end_utterance(self, at_ms: int, reason: str) -> None:
        assert self._endpointer is not None and self._endpointer.speech_start_ms is not None
        ended_wall = time.perf_counter()
        start_ms = self._endpointer.speech_start_ms
        turn_id = self._listening_turn or self._turn_id
        self._endpointer = None
        self._emit(SpeechEnded(at_ms=at_ms, turn_id=turn_id, duration_ms=at_ms - start_ms,
                               reason=reason))
        head_start, self._speculation = self._speculation, None
        utterance = Utterance(turn_id=turn_id, pcm=b"".join(c.pcm for c in self._utterance),
                              ended_at_ms=at_ms, ended_wall=ended_wall, head_start=head_start)
        self._utterance = []
        self._resume = (turn_id, self._deadline_ms, at_ms)
        self._turn_task = asyncio.create_task(self._guarded(utterance), name=f"turn-{turn_id}")
        self._track_state()
        if self._policy.wait_for_turns:
            await asyncio.wait({self._turn_task})
            await self._finish_turn()

    async def _speculate(self) -> None:
        """A pause: start on what was said so far, in case it is the end."""
        await self._discard_speculation()
        turn_id = self._listening_turn or self._turn_id
        pcm = b"".join(c.pcm for c in self._utterance)
        self._speculation = self._runner.speculate(turn_id, pcm)
        if self._policy.wait_for_turns:
            await self._speculation.settle()  # replay: stream time stands still while we think

    async def _discard_speculation(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is None:
            return
        guess = await speculation.cancel()
        had_reply = speculation.reply.done() and not speculation.reply.cancelled() \
            and speculation.reply.exception() is None and speculation.reply.result() is not None
        self._emit(SpeculationDiscarded(at_ms=self.now_ms, turn_id=speculation.turn_id,
                                        text=guess.transcript.text if guess else "",
                                        had_reply=had_reply))

    async def _guarded(self, utterance: Utterance) -> bool:
        try:
            return await self._runner.run(utterance)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in one turn must not stop the daemon
            log.exception("turn %d failed", utterance.turn_id)
            self._emit(StageFailed(at_ms=self.now_ms, turn_id=utterance.turn_id, stage=Stage.TURN,
                                   code="internal", message=f"{type(exc).__name__}: {exc}"))
            return True

    async def _finish_turn(self) -> None:
        task, self._turn_task = self._turn_task, None
        resume, self._resume = self._resume, None
        if self._announcing:
            self._announcing = False
            return  # no follow-up window after an announcement: nobody asked anything
        heard = task is None or task.cancelled() or task.result()
        if not heard and resume is not None and self._endpointer is None:
            await self._resume_listening(*resume)
        elif self._policy.follow_up_ms > 0:
            self._follow_up_until_ms = self.now_ms + self._policy.follow_up_ms

    async def _resume_listening(self, turn_id: int, deadline_ms: int | None, ended_ms: int
                                ) -> None:
        """The utterance held no speech (often the wake word's own tail): the user may still be
        about to give the command, so keep listening until the original deadline."""
        if deadline_ms is not None and deadline_ms <= self.now_ms:
            self._emit(ListenTimedOut(at_ms=self.now_ms, turn_id=turn_id))
            return
        if self._policy.mode == "always_listening" and deadline_ms is None:
            return  # passive listening reopens by itself
        remaining = None if deadline_ms is None else deadline_ms - ended_ms
        self._start_endpointer(ended_ms, remaining)
        self._listening_turn = turn_id
        # Audio that arrived while the empty utterance was being transcribed (live input).
        for chunk, is_speech in [item for item in self._recent if item[0].start_ms >= ended_ms]:
            if self._endpointer is not None:
                await self._feed(chunk, is_speech)

    async def _cancel_turn(self) -> None:
        await self._discard_speculation()
        task, self._turn_task, self._resume = self._turn_task, None, None
        self._announcing = False
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})  # unlike `await task`, keeps our own cancellation intact

    async def _input_ended(self) -> None:
        if self._endpointer is not None and self._endpointer.in_speech:
            await self._end_utterance(self.now_ms, "input_ended")
        while self._turn_task is not None or self._announcements:
            if self._turn_task is None:
                await self._start_announcement(self._announcements.popleft())
            if self._turn_task is not None:
                await asyncio.wait({self._turn_task})
                await self._finish_turn()
        self._track_state()
        self._emit(InputEnded(at_ms=self.now_ms))
