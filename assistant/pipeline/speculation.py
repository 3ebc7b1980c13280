"""Work started at a pause in speech, before it is certain that the user has finished.

When the endpointer reports a pause, the words so far are transcribed and matched; if the reply
is known without acting (the time, a timer's confirmation), it is synthesized too. If the user
speaks again, all of it is cancelled and thrown away; if the pause becomes the endpoint, the
turn starts with the transcript (and maybe the reply's audio) already there.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from assistant.asr.base import Transcript
from assistant.audio.format import AudioChunk
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.matching import IntentMatch
from assistant.intents.router import Router
from assistant.pipeline.workers import AsrWorker, TtsWorker

log = logging.getLogger(__name__)

MAX_PREPARED_CHUNKS = 500  # ~10 s of reply audio; a longer reply is synthesized when confirmed


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
    """(voice, chunk) pairs, as TtsWorker.synthesize gives them."""


class Speculation:
    """The transcript, intent and maybe reply audio of `pcm`, worked out in the background."""

    def __init__(self, turn_id: int, pcm: bytes, asr: AsrWorker, router: Router,
                 tts: TtsWorker, last_reply: str | None) -> None:
        self.turn_id = turn_id
        self.pcm = pcm
        self._asr = asr
        self._router = router
        self._tts = tts
        self._last_reply = last_reply
        self.guess: asyncio.Task[Guess] = asyncio.create_task(
            self._guess(), name=f"speculate-{turn_id}")
        self.reply: asyncio.Task[PreparedReply | None] = asyncio.create_task(
            self._prepare(), name=f"prepare-{turn_id}")

    async def settle(self) -> None:
        """Wait until everything speculative is done (for file replay, where time stands still
        while the daemon thinks)."""
        await asyncio.wait({self.guess, self.reply})

    async def cancel(self) -> Guess | None:
        """Stop and discard; returns the guess if it had been made (for the event)."""
        for task in (self.reply, self.guess):
            task.cancel()
        await asyncio.wait({self.guess, self.reply})
        if self.guess.cancelled() or self.guess.exception() is not None:
            return None
        return self.guess.result()

    async def _guess(self) -> Guess:
        transcript = await self._asr.transcribe(self.pcm)
        if not transcript.is_speech:
            return Guess(transcript, None, None)
        match = self._router.match(transcript.text)
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
        async for voice, chunk in self._tts.synthesize(guess.preview):
            chunks.append((voice, chunk))
            if len(chunks) >= MAX_PREPARED_CHUNKS:
                return None
        return PreparedReply(guess.preview, tuple(chunks))
