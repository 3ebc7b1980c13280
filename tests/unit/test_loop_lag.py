"""The loop's lag as the voice loop sees it: a blocked event loop shows up in `stats`."""

from __future__ import annotations

import asyncio
import time

from assistant.audio.format import AudioChunk
from assistant.events import Event, Stats
from assistant.frontend.listener import FrontEnd
from assistant.frontend.vad import VoiceActivity
from assistant.health import Counters, Health, LoopLag


def block_the_loop(seconds: float) -> None:
    time.sleep(seconds)


def test_a_blocked_loop_is_seen_by_the_next_chunk() -> None:
    lag = LoopLag()

    async def main() -> None:
        front = FrontEnd(None, VoiceActivity(2), lambda event: None, lag)
        try:
            await front.analyse(AudioChunk(bytes(640)))
            assert lag.take() < 20  # nothing blocks: a thread hop
            pending = asyncio.ensure_future(front.analyse(AudioChunk(bytes(640))))
            await asyncio.sleep(0)  # the chunk goes to the front end's thread...
            block_the_loop(0.08)  # ...and is done while something blocks the loop for 80 ms
            await pending
        finally:
            front.shutdown()

    asyncio.run(main())
    assert 60 <= lag.take() < 200
    assert lag.take() == 0.0  # taken: the next report starts afresh


def test_stats_report_what_changed_since_the_last_report() -> None:
    events: list[Event] = []
    totals = {"over": 3, "under": 0, "dropped": 10, "events": 0}
    lag = LoopLag()
    health = Health(Counters(lambda: totals["over"], lambda: totals["under"],
                             lambda: totals["dropped"], lambda: totals["events"]),
                    lag, events.append, lambda: 1234)
    lag.note(12.34)
    lag.note(5.0)
    totals.update(over=5, dropped=11, events=7)
    health.report()
    health.report()
    assert events == [
        Stats(at_ms=1234, loop_lag_max_ms=12.3, input_overflows=2, output_underflows=0,
              audio_dropped=1, events_dropped=7),
        Stats(at_ms=1234),
    ]
