"""Work started at a pause in speech, before it is certain that the user has finished.

When the endpointer reports a pause, the words so far are transcribed and matched; if the reply
is known without acting (the time, a timer's confirmation), it is synthesized too. If the user
speaks again, all of it is cancelled and thrown away; if the pause becomes the endpoint, the
turn takes it over and cancels whatever of it it does not use (barge-in, a turn timeout, a
handler whose answer differs from the preview, a failed handler).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from assistant.audio.format import AudioChunk
from assistant.engines.base import Transcript
from assistant.engines.faces import AsrEngine, TtsEngine
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.matching import IntentMatch
from assistant.intents.router import Router

log = logging.getLogger(__name__)

MAX_PREPARED_CHUNKS = 500  # ~10 s of reply audio; a longer reply is synthesized when confirmed
Match = Callable[[str], Awaitable[IntentMatch | None]]
"""The router's matching, off the event loop."""


@dataclass(frozen=True)
class Guess:
    transcript: Transcript
    match: IntentMatch | None
    preview: str | None
    """The reply, when it is known before acting."""

    @property
    def complete(self) -> bool:
        """A whole command: hassil matched a full sentence, required slots included."""
        return self.match is not None


@dataclass(frozen=True)
class PreparedReply:
    text: str
    chunks: tuple[tuple[str, AudioChunk], ...]
    """(voice, chunk) pairs, as TtsEngine.synthesize gives them."""


class Speculation:
    """The transcript, intent and maybe reply audio of `pcm`, worked out in the background."""

    def __init__(self, turn_id: int, pcm: bytes, asr: AsrEngine, match: Match, router: Router,
                 tts: TtsEngine, last_reply: str | None) -> None:
        self.turn_id = turn_id
        self.pcm = pcm
        self._asr = asr
        self._match = match
        self._router = router
        self._tts = tts
        self._last_reply = last_reply
        self.guess: asyncio.Task[Guess] = asyncio.create_task(
            self._guess(), name=f"speculate-{turn_id}")
        self.reply: asyncio.Task[PreparedReply | None] = asyncio.create_task(
            self._prepare(), name=f"prepare-{turn_id}")

    @property
    def complete(self) -> bool:
        """The guess is in and is a whole command."""
        guess = self.guess
        return (guess.done() and not guess.cancelled() and guess.exception() is None
                and guess.result().complete)

    @property
    def had_reply(self) -> bool:
        reply = self.reply
        return (reply.done() and not reply.cancelled() and reply.exception() is None
                and reply.result() is not None)

    async def settle(self) -> None:
        """Wait until everything speculative is done (for file replay, where time stands still
        while the daemon thinks)."""
        await asyncio.wait({self.guess, self.reply})

    async def cancel(self) -> Guess | None:
        """Stop and discard what is still running; returns the guess if it had been made."""
        for task in (self.reply, self.guess):
            task.cancel()
        await asyncio.wait({self.guess, self.reply})
        failed = [task.exception() for task in (self.guess, self.reply) if not task.cancelled()]
        if self.guess.cancelled() or failed[0] is not None:
            return None
        return self.guess.result()

    async def _guess(self) -> Guess:
        transcript = await self._asr.transcribe(self.pcm, self.turn_id)
        if not transcript.is_speech:
            return Guess(transcript, None, None)
        match = await self._match(transcript.text)
        preview = None
        if match is not None:
            context = HandlerContext(turn_id=self.turn_id, now=datetime.now().astimezone(),
                                     last_reply=self._last_reply)
            preview = self._router.preview(match, context)
        return Guess(transcript, match, preview)

    async def _prepare(self) -> PreparedReply | None:
        guess = await self.guess
        if not guess.preview:
            return None
        chunks: list[tuple[str, AudioChunk]] = []
        async for voice, chunk in self._tts.synthesize(guess.preview, self.turn_id):
            chunks.append((voice, chunk))
            if len(chunks) >= MAX_PREPARED_CHUNKS:
                return None
        return PreparedReply(guess.preview, tuple(chunks))
