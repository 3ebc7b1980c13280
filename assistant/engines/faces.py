"""What the daemon calls, whatever the placement: an async face per role.

Each face turns typed calls into requests on a placement (a thread in the daemon or a
supervised worker process; later a remote service) and the replies back into values.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from assistant.audio.format import AudioChunk
from assistant.engines import calls
from assistant.engines.base import Transcript
from assistant.engines.calls import Reply
from assistant.engines.spec import EngineSpec
from assistant.engines.wire import Header
from assistant.errors import AssistantError, ModelError, SynthesisError
from assistant.quoting import excerpt
from assistant.tts import text as speech_text
from assistant.tts.text import SpeechText

log = logging.getLogger(__name__)


class Placement(Protocol):
    spec: EngineSpec
    placement: str
    info: Header

    @property
    def ready(self) -> bool:
        """Loaded and able to take a request now (False while a worker restarts)."""
        ...

    async def start(self) -> None: ...

    async def request(self, method: str, header: Header, payload: bytes = b"",
                      turn_id: int | None = None) -> Reply: ...

    async def aclose(self) -> None: ...


class AsrEngine:
    def __init__(self, placement: Placement) -> None:
        self.placement = placement

    async def transcribe(self, pcm: bytes, turn_id: int | None = None) -> Transcript:
        """16 kHz mono int16 PCM -> transcript. Raises AssistantError (WorkerError when the
        worker crashed, hung or ran out of memory: it is being restarted)."""
        header, _ = await self.placement.request("transcribe", {}, pcm, turn_id)
        return calls.decode_transcript(header)


class TtsEngine:
    """The configured voice, then the fallback voice, piece by piece.

    Every text any voice speaks is prepared here first (tts/text.py): control characters
    removed, capped at `max_chars` (tts.max_chars) and split into short pieces, one request
    each, so no request can make a voice's memory grow without bound.
    """

    def __init__(self, voices: Sequence[Placement],
                 max_chars: int = speech_text.MAX_CHARS) -> None:
        self._voices = list(voices)
        self._ready: list[Placement] = []
        self._max_chars = max_chars

    async def start(self) -> None:
        """Load every voice; one that cannot load is left out (with a warning), unless none
        can."""
        for voice in self._voices:
            try:
                await voice.start()
                self._ready.append(voice)
            except AssistantError as exc:
                log.warning("voice %s unavailable: %s", voice.spec.name, exc.message)
        if not self._ready:
            raise ModelError("no voice could be loaded; see the warnings above")

    def prepare(self, text: str) -> SpeechText:
        """What of `text` is said, and in which pieces; a text over the cap is cut (at a word
        boundary, with an ellipsis) and the log says so."""
        speech = speech_text.prepare(text, self._max_chars)
        if speech.cut:
            said = len(speech.text) - len(speech_text.ELLIPSIS)
            log.warning("text to speak has %d characters, more than tts.max_chars (%d): saying "
                        "the first %d, to the end of a word ('%s…')", speech.full_chars,
                        self._max_chars, said, excerpt(speech.text[:60]))
        return speech

    async def synthesize(self, text: str | SpeechText, turn_id: int | None = None
                         ) -> AsyncIterator[tuple[str, AudioChunk]]:
        """(voice name, audio) per piece. A piece the voice fails on, or that comes while its
        worker restarts, is spoken by the next voice; the voice after is tried again."""
        speech = self.prepare(text) if isinstance(text, str) else text
        for piece in speech.pieces:
            yield await self._sentence(piece, turn_id)

    async def _sentence(self, sentence: str, turn_id: int | None) -> tuple[str, AudioChunk]:
        # A restarting voice is skipped while another can speak now; if none can, wait.
        voices = [v for v in self._ready if v.ready] or self._ready[:1]
        last_error: AssistantError | None = None
        for voice in voices:
            try:
                header, pcm = await voice.request("synthesize", {"text": sentence}, b"", turn_id)
            except AssistantError as exc:
                log.warning("voice %s failed, trying the next: %s", voice.info.get("name"),
                            exc.message)
                last_error = exc
                continue
            return str(voice.info.get("name")), calls.decode_audio(header, pcm)
        raise last_error or SynthesisError("no voice can speak")

    async def aclose(self) -> None:
        for voice in self._voices:
            await voice.aclose()


class SpeakerEngine:
    def __init__(self, placement: Placement) -> None:
        self.placement = placement

    async def embed(self, pcm: bytes, turn_id: int | None = None) -> npt.NDArray[np.float32]:
        header, payload = await self.placement.request("embed", {}, pcm, turn_id)
        return calls.decode_array(header, payload)


class SoundEngine:
    """A sound classifier; `labels`, `window_ms` and `hop_ms` are known once started."""

    def __init__(self, placement: Placement) -> None:
        self.placement = placement

    @property
    def labels(self) -> list[str]:
        return [str(label) for label in self.placement.info.get("labels", [])]

    @property
    def window_ms(self) -> int:
        return int(self.placement.info["window_ms"])

    @property
    def hop_ms(self) -> int:
        return int(self.placement.info["hop_ms"])

    async def scores(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        data = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        header, payload = await self.placement.request("scores", {}, data)
        return calls.decode_array(header, payload)
