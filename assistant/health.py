"""How well the daemon keeps up: the event loop's lag, and losses counted by the audio edges.

`LoopLag` keeps the worst delay the event loop imposed on the voice loop (anything that blocks
the loop shows up there). `Health` sends a `stats` event every minute (and at the end) with
what happened since the last one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from assistant.events import Event, Stats

log = logging.getLogger(__name__)
REPORT_EVERY_S = 60.0
LAG_WARNING_MS = 100.0


class LoopLag:
    """The worst lateness of the event loop, as the voice loop sees it: how long a chunk's
    wake-word and VAD verdicts, ready in the front end's thread, wait for the loop to take
    them (`note`, 50 times a second while audio flows). Free to measure: no timer of its own."""

    def __init__(self) -> None:
        self.max_ms = 0.0
        """The worst since the last `take()`."""

    def note(self, late_ms: float) -> None:
        if late_ms > self.max_ms:
            self.max_ms = late_ms
            if late_ms > LAG_WARNING_MS:
                log.warning("the event loop was blocked for %.0f ms", late_ms)

    def take(self) -> float:
        worst, self.max_ms = self.max_ms, 0.0
        return worst


@dataclass(frozen=True)
class Counters:
    """Where each count comes from (running totals; `stats` reports their increase)."""

    input_overflows: Callable[[], int] = lambda: 0
    output_underflows: Callable[[], int] = lambda: 0
    audio_dropped: Callable[[], int] = lambda: 0
    events_dropped: Callable[[], int] = lambda: 0


class Health:
    def __init__(self, counters: Counters, lag: LoopLag, emit: Callable[[Event], None],
                 stream_ms: Callable[[], int]) -> None:
        self._counters = counters
        self._emit = emit
        self._stream_ms = stream_ms
        self.lag = lag
        self._last = self._totals()

    async def run(self, every_s: float = REPORT_EVERY_S) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.report()

    def report(self) -> None:
        totals = self._totals()
        delta = [now - before for now, before in zip(totals, self._last, strict=True)]
        self._last = totals
        self._emit(Stats(at_ms=self._stream_ms(), loop_lag_max_ms=round(self.lag.take(), 1),
                         input_overflows=delta[0], output_underflows=delta[1],
                         audio_dropped=delta[2], events_dropped=delta[3]))

    def _totals(self) -> tuple[int, int, int, int]:
        c = self._counters
        return (c.input_overflows(), c.output_underflows(), c.audio_dropped(),
                c.events_dropped())
