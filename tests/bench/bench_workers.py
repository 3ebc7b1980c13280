"""What the worker-process boundary costs per request, next to the in-daemon thread placement.

Run from the repo root: `python -m tests.bench.bench_workers [--rounds N]`.

The real engines (Whisper tiny.en on the real `asr` clips of ../shared/audio, Piper on the
replies the daemon gives) are placed both ways in one run, and requests alternate between
them. The engine times its own work (`serve_ms`, inside the worker or the thread); the
overhead of a placement is what the caller waits beyond that: framing, the pipe of raw PCM
both ways, waking the worker, and the asyncio hops. An empty `ping` with payloads of 0 B,
160 kB (5 s of 16 kHz PCM) and 1 MB shows the transfer alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from assistant.audio.files import read_file
from assistant.config import Settings
from assistant.engines.configured import Engines, asr_spec, voice_specs
from assistant.engines.faces import Placement
from tests.bench.bench_asr import asr_clips
from tests.conftest import AUDIO

REPLIES = ["It's 12:03 PM.", "Today is Wednesday, December 2, 2026.", "Timer set for 5 minutes.",
           "Turned on the kitchen lights.", "Sorry, I didn't understand."]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(placement: Placement, method: str, header: dict[str, object],
                payload: bytes) -> tuple[float, float]:
    """(round trip, the engine's own time) in ms."""
    started = time.perf_counter()
    reply, _ = await placement.request(method, header, payload)
    return (time.perf_counter() - started) * 1000, float(reply["serve_ms"])


async def run(rounds: int) -> list[tuple[str, str, list[float], list[float]]]:
    settings = Settings()
    engines = Engines(settings, lambda event: None)
    asr = {where: engines.place(asr_spec(settings), where, 60)  # type: ignore[arg-type]
           for where in ("process", "thread")}
    tts = {where: engines.place(voice_specs(settings)[0], where, 60)  # type: ignore[arg-type]
           for where in ("process", "thread")}
    clips = [read_file(clip.path) for clip in asr_clips(AUDIO)]
    rows: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    try:
        for placement in (*asr.values(), *tts.values()):
            await placement.start()
        for _ in range(rounds):
            for where in ("process", "thread"):
                for name, placement, method, requests in (
                        ("ASR (asr clips)", asr[where], "transcribe",
                         [({}, pcm) for pcm in clips]),
                        ("TTS (one sentence)", tts[where], "synthesize",
                         [({"text": text}, b"") for text in REPLIES]),
                        ("ping, 0 B", asr[where], "ping", [({}, b"")] * 20),
                        ("ping, 160 kB", asr[where], "ping", [({}, bytes(160_000))] * 20),
                        ("ping, 1 MB", asr[where], "ping", [({}, bytes(1_000_000))] * 20)):
                    trips, overheads = rows.setdefault((name, where), ([], []))
                    for header, payload in requests:
                        trip, serve = await timed(placement, method, header, payload)
                        trips.append(trip)
                        overheads.append(trip - serve)
    finally:
        await engines.aclose()
    return [(name, where, trips, overheads) for (name, where), (trips, overheads) in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = asyncio.run(run(args.rounds))
    print(f"{'request':<20} {'placement':<9} {'n':>4} {'round trip p50':>15} "
          f"{'overhead p50':>13} {'p90':>7} {'max':>7}")
    for name, where, trips, overheads in rows:
        print(f"{name:<20} {where:<9} {len(trips):>4} {statistics.median(trips):>12.2f} ms "
              f"{statistics.median(overheads):>10.2f} ms {percentile(overheads, 0.9):>7.2f} "
              f"{max(overheads):>7.2f}")
    print(f"(real recordings from {Path(AUDIO)}; overhead = round trip - the engine's own time)")


if __name__ == "__main__":
    main()
