"""One turn: utterance -> transcript -> intent -> handler -> spoken reply.

A turn never raises (except CancelledError): whatever fails, the user hears an answer, and a
stage_failed says what happened. It owns the speculation it was handed, from start to end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from assistant.audio.format import AudioChunk
from assistant.audio.sinks import ReplySink
from assistant.config import ResponseSettings
from assistant.engines.base import Transcript
from assistant.engines.faces import AsrEngine, TtsEngine
from assistant.errors import (
    HANDLER_CRASHED,
    INTERNAL,
    MATCH_FAILED,
    SPEAKER_FAILED,
    TURN_TIMEOUT,
    AssistantError,
    AudioDeviceError,
    WorkerError,
)
from assistant.events import (
    Event,
    IntentMatched,
    IntentNotMatched,
    PlaybackFinished,
    Replied,
    SpeakerIdentified,
    Stage,
    StageFailed,
    Transcribed,
    TurnCancelled,
)
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.matching import IntentMatch
from assistant.intents.router import Router
from assistant.pipeline.speculation import Guess, PreparedReply, Speculation
from assistant.pipeline.workers import Worker
from assistant.quoting import excerpt

log = logging.getLogger(__name__)


class SpeakerIdentifier(Protocol):
    async def identify(self, pcm: bytes, turn_id: int | None = None) -> tuple[str, float]:
        """(enrolled name or "unknown", similarity) for 16 kHz mono int16 speech."""
        ...


@dataclass(frozen=True)
class Utterance:
    turn_id: int
    pcm: bytes
    """16 kHz mono int16, from just before speech started to the endpoint."""
    ended_at_ms: int
    ended_wall: float
    """time.perf_counter() when the endpoint was decided: the origin of every latency figure."""
    head_start: Speculation | None = None
    """What was worked out at the pause that became this endpoint (same speech, no more)."""


@dataclass(frozen=True)
class _Heard:
    transcript: Transcript
    match: IntentMatch | None
    speculative: bool


class TurnRunner:
    def __init__(
        self, asr: AsrEngine, tts: TtsEngine, router: Router, sink: ReplySink,
        responses: ResponseSettings, timeout_s: float, emit: Callable[[Event], None],
        stream_now_ms: Callable[[], int], speakers: SpeakerIdentifier | None = None,
    ) -> None:
        self._asr = asr
        self._tts = tts
        self._router = router
        self._sink = sink
        self._responses = responses
        self._timeout_s = timeout_s
        self._emit = emit
        self._now_ms = stream_now_ms
        self._speakers = speakers
        # hassil (and the fuzzy matcher) on one thread of their own: a slow match never
        # delays the event loop, and the matcher is never used from two threads at once.
        self._matcher = Worker("intents")
        self.last_reply: str | None = None
        self.speaking = False
        """True from a reply's first audio until its playback ended."""
        self.on_speaking: Callable[[], None] = lambda: None
        """Called when `speaking` changes (the conversation reports the state)."""

    async def run(self, utterance: Utterance) -> bool:
        """False when the utterance held no speech (so the caller may keep listening)."""
        turn_id = utterance.turn_id
        try:
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await self._understand(utterance)
            except TimeoutError:
                self._fail(turn_id, Stage.TURN, TURN_TIMEOUT,
                           f"no answer within {self._timeout_s:g} s (conversation.turn_timeout_s)")
                answer = (self._responses.failed, False)
            if answer is None:
                return False
            reply, success = answer
            if reply:
                prepared = await _prepared(utterance.head_start, reply)
                if utterance.head_start is not None:
                    await utterance.head_start.cancel()  # before speaking: never two voices
                await self.speak(turn_id, reply, utterance.ended_wall, success, prepared)
            return True
        except asyncio.CancelledError:
            self._emit(TurnCancelled(at_ms=self._now_ms(), turn_id=turn_id, reason="interrupted"))
            raise
        except Exception as exc:  # a bug in one turn must not stop the daemon
            log.exception("turn %d failed", turn_id)
            self._fail(turn_id, Stage.TURN, INTERNAL, f"{type(exc).__name__}: {exc}")
            return True
        finally:
            if utterance.head_start is not None:
                await utterance.head_start.cancel()

    async def announce(self, text: str) -> bool:
        """Speak outside a turn (a timer, an MQTT `say`); a failure is reported, never raised."""
        try:
            await self.speak(None, text, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad announcement must not stop the daemon
            log.exception("announcement failed")
            self._fail(None, Stage.TTS, INTERNAL, f"{type(exc).__name__}: {exc}")
        return True

    def speculate(self, turn_id: int, pcm: bytes) -> Speculation:
        """Start working out `pcm` (speech up to a pause) before the endpoint is certain."""
        return Speculation(turn_id, pcm, self._asr, self._match, self._router, self._tts,
                           self.last_reply)

    async def _match(self, text: str) -> IntentMatch | None:
        return await self._matcher.call(self._router.match, text)

    async def _understand(self, utterance: Utterance) -> tuple[str, bool] | None:
        """What to say ("" for nothing) and whether it was done; None when there was no speech
        at all."""
        # Who is speaking is worked out while Whisper transcribes (its own worker).
        speaker = None if self._speakers is None else asyncio.ensure_future(
            self._speakers.identify(utterance.pcm, utterance.turn_id))
        try:
            return await self._answer(utterance, speaker)
        finally:
            if speaker is not None and not speaker.done():
                speaker.cancel()
                await asyncio.wait({speaker})

    async def _answer(self, utterance: Utterance,
                      speaker: asyncio.Future[tuple[str, float]] | None
                      ) -> tuple[str, bool] | None:
        turn_id = utterance.turn_id
        try:
            heard = await self._hear(utterance)
        except AssistantError as exc:
            if not isinstance(exc, WorkerError):  # the supervisor has reported those
                self._fail(turn_id, Stage.ASR, exc.code, exc.message)
            return self._responses.not_heard, False
        transcript = heard.transcript
        self._emit(Transcribed(
            at_ms=self._now_ms(), turn_id=turn_id, text=transcript.text,
            latency_ms=round((time.perf_counter() - utterance.ended_wall) * 1000, 1),
            no_speech_prob=round(transcript.no_speech_prob, 3), speculative=heard.speculative,
            audio_ms=transcript.audio_ms, compute_ms=round(transcript.compute_ms, 1),
        ))
        if not transcript.is_speech:
            return None  # silence, noise or the wake word's own tail: not a command
        who = await self._who(turn_id, speaker)
        context = HandlerContext(turn_id=turn_id, now=datetime.now().astimezone(),
                                 last_reply=self.last_reply, speaker=who)
        try:
            match = heard.match if heard.speculative else await self._match(transcript.text)
        except Exception as exc:  # a broken template must not leave the user without an answer
            log.exception("matching %r failed", transcript.text)
            self._fail(turn_id, Stage.INTENT, MATCH_FAILED, f"{type(exc).__name__}: {exc}")
            return self._responses.failed, False
        return await self._act(turn_id, transcript.text, match, context)

    async def _hear(self, utterance: Utterance) -> _Heard:
        """The speculation's transcript and match when it has them, else a transcription now.
        A worker fault during the speculation is this turn's fault: no second try (the worker
        is restarting), the user hears the fallback."""
        guess = await _guess(utterance.head_start)
        if guess is not None:
            return _Heard(guess.transcript, guess.match, True)
        transcript = await self._asr.transcribe(utterance.pcm, utterance.turn_id)
        return _Heard(transcript, None, False)

    async def _act(self, turn_id: int, text: str, match: IntentMatch | None,
                   context: HandlerContext) -> tuple[str, bool]:
        if match is None:
            self._emit(IntentNotMatched(at_ms=self._now_ms(), turn_id=turn_id, text=text))
            if not self._router.has_fallback:
                return self._responses.not_understood, False
            action = self._router.fallback(text, context)
            name = "conversation fallback"
        else:
            self._emit(IntentMatched(at_ms=self._now_ms(), turn_id=turn_id, intent=match.intent,
                                     slots=match.slots, text=text, fuzzy=match.fuzzy,
                                     score=match.score))
            action = self._router.handle(match, context)
            name = match.intent
        try:
            result = await action
        except AssistantError as exc:
            self._fail(turn_id, Stage.HANDLER, exc.code, exc.message)
            return self._responses.failed, False
        except Exception as exc:  # a handler bug is still a failure the user must hear about
            log.exception("handler for %s crashed", name)
            self._fail(turn_id, Stage.HANDLER, HANDLER_CRASHED, f"{type(exc).__name__}: {exc}")
            return self._responses.failed, False
        return result.speech, result.success

    async def _who(self, turn_id: int, speaker: asyncio.Future[tuple[str, float]] | None
                   ) -> str | None:
        if speaker is None:
            return None
        try:
            name, score = await speaker
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # unknown speaker, never a lost command
            if not isinstance(exc, WorkerError):
                log.exception("speaker identification failed")
                self._fail(turn_id, Stage.SPEAKER, SPEAKER_FAILED, f"{type(exc).__name__}: {exc}")
            return "unknown"
        self._emit(SpeakerIdentified(at_ms=self._now_ms(), turn_id=turn_id, name=name,
                                     score=round(score, 3)))
        return name

    async def speak(self, turn_id: int | None, text: str, since_wall: float | None,
                    success: bool = True, prepared: PreparedReply | None = None) -> None:
        """Synthesize piece by piece and play each as soon as it exists (or play the audio
        synthesized during the pause, when it is this very text). What is said, and reported,
        is the text as the voice gets it: cleaned and capped (TtsEngine.prepare)."""
        speech = self._tts.prepare(text)
        if not speech.pieces:
            log.warning("nothing to say: '%s' has no speakable characters", excerpt(text))
        text = speech.text
        started = False
        chunks = _replay(prepared.chunks) if prepared else self._tts.synthesize(speech, turn_id)
        try:
            async for voice, chunk in chunks:
                await self._sink.write(chunk)
                if not started:
                    started = self.speaking = True
                    self.on_speaking()
                    first_ms = None
                    if since_wall is not None:
                        first_ms = round((time.perf_counter() - since_wall) * 1000, 1)
                    self.last_reply = text
                    self._emit(Replied(at_ms=self._now_ms(), turn_id=turn_id, text=text,
                                       first_audio_ms=first_ms, voice=voice,
                                       success=success, prepared=prepared is not None))
            await self._sink.drain()
        except asyncio.CancelledError:
            self._sink.interrupt()
            if started:
                self._emit(PlaybackFinished(at_ms=self._now_ms(), turn_id=turn_id,
                                            interrupted=True))
            raise
        except AssistantError as exc:
            self._sink.interrupt()
            playback = started or isinstance(exc, AudioDeviceError)  # the speaker, not the voice
            self._fail(turn_id, Stage.PLAYBACK if playback else Stage.TTS, exc.code, exc.message)
            return
        finally:
            if self.speaking:
                self.speaking = False
                self.on_speaking()
        self._emit(PlaybackFinished(at_ms=self._now_ms(), turn_id=turn_id))

    def shutdown(self) -> None:
        self._matcher.shutdown()

    def _fail(self, turn_id: int | None, stage: Stage, code: str, message: str) -> None:
        log.error("%s failed: %s", stage.name.lower(), message)
        self._emit(StageFailed(at_ms=self._now_ms(), turn_id=turn_id, stage=stage, code=code,
                               message=message))


async def _guess(head_start: Speculation | None) -> Guess | None:
    """The speculative transcript and intent; None (transcribe again) if they failed for any
    reason but a worker fault."""
    if head_start is None:
        return None
    try:
        return await head_start.guess
    except WorkerError:
        raise
    except AssistantError as exc:
        log.warning("speculative transcription failed (%s); transcribing again", exc.message)
        return None


async def _prepared(head_start: Speculation | None, reply: str) -> PreparedReply | None:
    """Reply audio made during the pause, if it says exactly `reply` (the handler decides)."""
    if head_start is None or not head_start.guess.done() or head_start.guess.cancelled():
        return None
    if head_start.guess.exception() is not None or head_start.guess.result().preview != reply:
        return None
    try:
        prepared = await head_start.reply
    except AssistantError:
        return None
    return prepared if prepared is not None and prepared.text == reply else None


async def _replay(chunks: tuple[tuple[str, AudioChunk], ...]
                  ) -> AsyncIterator[tuple[str, AudioChunk]]:
    for item in chunks:
        yield item
