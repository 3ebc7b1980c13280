"""The always-on front end: wake word and voice activity for every chunk, in one thread.

Both models are stateful and cheap; one thread owns them (one hop per chunk, off the event
loop). A model that fails on a chunk is reported (rate-limited) and listening goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from assistant.audio.format import AudioChunk
from assistant.engines.base import Vad, Wake, WakeHit
from assistant.errors import FRONTEND_FAILED
from assistant.events import Event, Stage, StageFailed
from assistant.health import LoopLag
from assistant.pipeline.workers import Worker

log = logging.getLogger(__name__)


class FrontEnd:
    def __init__(self, wake: Wake | None, vad: Vad, emit: Callable[[Event], None],
                 lag: LoopLag | None = None) -> None:
        self._wake = wake
        self._vad = vad
        self._emit = emit
        self._worker = Worker("frontend")
        self._failures = 0
        self.lag = lag or LoopLag()

    async def analyse(self, chunk: AudioChunk) -> tuple[WakeHit | None, bool]:
        """(wake word heard in this chunk, speech in this chunk)."""
        try:
            hit, speech, ready_at = await self._worker.call(self._analyse, chunk)
        except Exception as exc:  # a broken model must not stop listening for the next chunk
            self._failures += 1
            if self._failures in (1, 10) or self._failures % 3000 == 0:  # not 50 a second
                log.exception("front end failed (%d times)", self._failures)
                self._emit(StageFailed(at_ms=chunk.end_ms, stage=Stage.WAKE,
                                       code=FRONTEND_FAILED,
                                       message=f"{exc} ({self._failures} times)"))
            return None, False
        self._failures = 0
        # From the verdicts being ready in the thread to this line: the event loop's delay.
        self.lag.note((time.monotonic() - ready_at) * 1000)
        return hit, speech

    def _analyse(self, chunk: AudioChunk) -> tuple[WakeHit | None, bool, float]:
        hit = self._wake.process(chunk) if self._wake is not None else None
        return hit, self._vad.is_speech(chunk), time.monotonic()

    def shutdown(self) -> None:
        """Waits for a running chunk, so the models can be freed right after."""
        self._worker.shutdown(wait=True)
