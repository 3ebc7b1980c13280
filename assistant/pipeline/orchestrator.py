"""The I/O around the turn engine: audio in, inputs to the Conversation, its effects carried out.

All decisions are the Conversation's (pipeline/conversation.py); this module only feeds it one
frame per chunk (after the front end's wake-word and VAD verdicts), keeps the recent audio,
runs turns and speculations as tasks, and tells it when they end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Callable, Sequence

from assistant.audio.format import AudioChunk
from assistant.events import Event, SpeculationDiscarded
from assistant.frontend.listener import FrontEnd
from assistant.pipeline import conversation as c
from assistant.pipeline import messages as m
from assistant.pipeline.speculation import Speculation
from assistant.pipeline.turn import TurnRunner, Utterance
from assistant.pipeline.window import AudioWindow

log = logging.getLogger(__name__)
RESUME_BACKLOG_MS = 3000
"""Audio kept beyond the longest utterance: what arrives while an utterance that turns out to
hold no speech is transcribed (looked at again when listening resumes)."""


class Orchestrator:
    def __init__(self, conversation: c.Conversation, frontend: FrontEnd, runner: TurnRunner,
                 emit: Callable[[Event], None], wait_for_turns: bool) -> None:
        self._conversation = conversation
        self._frontend = frontend
        self._runner = runner
        runner.on_speaking = lambda: self._handle_now(m.SpeakingChanged(runner.speaking))
        self._emit = emit
        self._wait_for_turns = wait_for_turns
        """Fast file replay: stream time stands still while a turn runs, as if the user waited."""
        policy = conversation.policy
        self._window = AudioWindow(policy.endpoint.max_utterance_ms + policy.preroll_ms
                                   + policy.endpoint.speech_start_ms + RESUME_BACKLOG_MS)
        self._turn: asyncio.Task[bool] | None = None
        self._speculation: Speculation | None = None
        self._finished = False
        self.now_ms = 0

    def request_listen(self) -> None:
        """Push-to-talk: start a turn on the next chunk, as if the wake word had been heard."""
        self._handle_now(m.ListenRequested())

    def announce(self, text: str) -> None:
        """Speak `text` outside a turn (a timer, an MQTT `say`) once no turn is running."""
        self._handle_now(m.Announce(text))

    def set_muted(self, muted: bool) -> None:
        """Muted: wake words and passive listening are ignored; a listen request still works."""
        self._handle_now(m.SetMuted(self.now_ms, muted))

    async def run(self, audio: AsyncIterable[AudioChunk]) -> None:
        self._handle_now(None)
        try:
            async for chunk in audio:
                await self._step(chunk)
            await self._apply(self._conversation.handle(m.InputOver(self.now_ms)))
            while not self._finished and self._turn is not None:
                await asyncio.wait({self._turn})
                await self._turn_ended()
        finally:
            await self._cancel_turn()
            self._frontend.shutdown()

    async def _step(self, chunk: AudioChunk) -> None:
        self.now_ms = chunk.end_ms
        await self._turn_ended()
        hit, speech = await self._frontend.analyse(chunk)
        await self._turn_ended()  # it may have ended while the front end was busy
        if self._speculation is not None and self._speculation.complete:
            await self._apply(self._conversation.handle(m.CommandComplete()))
        self._window.append(chunk, speech)
        frame = m.Frame(chunk.start_ms, speech, hit.word if hit else None,
                        hit.at_ms if hit else 0, round(chunk.duration_ms))
        await self._apply(self._conversation.handle(frame))

    async def _turn_ended(self) -> None:
        turn = self._turn
        if turn is None or not turn.done():
            return
        self._turn = None
        heard = turn.cancelled() or turn.result()
        await self._apply(self._conversation.handle(m.TurnEnded(self.now_ms, heard)))

    def _handle_now(self, event: m.Input | None) -> None:
        """Inputs from callbacks (MQTT, timers, the reply's first audio): they only emit."""
        effects = self._conversation.start() if event is None \
            else self._conversation.handle(event)
        for effect in effects:
            assert isinstance(effect, m.Emit), effect
            self._emit(effect.event)

    async def _apply(self, effects: Sequence[m.Effect]) -> None:
        settle: Speculation | None = None
        started = False
        for effect in effects:
            if isinstance(effect, m.Emit):
                self._emit(effect.event)
            elif isinstance(effect, m.Speculate):
                await self._drop_speculation()
                pcm = self._window.pcm(effect.start_ms, effect.end_ms)
                settle = self._speculation = self._runner.speculate(effect.turn_id, pcm)
            elif isinstance(effect, m.DropSpeculation):
                await self._drop_speculation()
            elif isinstance(effect, m.StartTurn):
                self._start_turn(effect)
                started = True
            elif isinstance(effect, m.CancelTurn):
                await self._cancel_turn()
            elif isinstance(effect, m.StartAnnouncement):
                self._turn = asyncio.create_task(self._runner.announce(effect.text),
                                                 name="announcement")
                started = True
            elif isinstance(effect, m.Replay):
                for chunk, speech in self._window.since(effect.from_ms):
                    await self._apply(self._conversation.handle(
                        m.Replayed(chunk.start_ms, speech, round(chunk.duration_ms))))
            elif isinstance(effect, m.Finished):
                self._finished = True
        # Replay of a file: the user waits for the answer, and stream time stands still.
        if self._wait_for_turns and settle is not None and settle is self._speculation:
            await settle.settle()
        if self._wait_for_turns and started and self._turn is not None:
            await asyncio.wait({self._turn})
            await self._turn_ended()

    def _start_turn(self, effect: m.StartTurn) -> None:
        head_start, self._speculation = self._speculation, None
        utterance = Utterance(turn_id=effect.turn_id,
                              pcm=self._window.pcm(effect.start_ms, effect.end_ms),
                              ended_at_ms=effect.end_ms, ended_wall=time.perf_counter(),
                              head_start=head_start)
        self._turn = asyncio.create_task(self._runner.run(utterance),
                                         name=f"turn-{effect.turn_id}")

    async def _drop_speculation(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is None:
            return
        guess = await speculation.cancel()
        self._emit(SpeculationDiscarded(at_ms=self.now_ms, turn_id=speculation.turn_id,
                                        text=guess.transcript.text if guess else "",
                                        had_reply=speculation.had_reply))

    async def _cancel_turn(self) -> None:
        await self._drop_speculation()
        turn, self._turn = self._turn, None
        if turn is not None and not turn.done():
            turn.cancel()
            await asyncio.wait({turn})  # unlike `await turn`, keeps our own cancellation intact
