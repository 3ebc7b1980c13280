"""`assistant bench`: the tuned pipeline and the baseline on the same commands, one report."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.bench.clips import build_input, load_clips
from assistant.bench.idle import measure_idle
from assistant.bench.report import Report, figures, render
from assistant.bench.turns import bench_settings, run_turns
from assistant.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchRequest:
    folder: Path
    passes: int = 1
    realtime: bool = True
    idle_seconds: float = 60.0
    """0: do not measure idle cost."""
    mouth_to_ear: bool = False
    json: bool = False


def run_bench(settings: Settings, request: BenchRequest) -> int:
    clips = load_clips(request.folder)
    with tempfile.TemporaryDirectory(prefix="assistant-bench-") as scratch:
        work = Path(scratch)
        wav = work / "commands.wav"
        placed = build_input(clips, request.passes, wav)
        runs = []
        for name, baseline in (("tuned", False), ("baseline", True)):
            log.info("%s run: %d commands%s", name, len(placed),
                     " in real time" if request.realtime else "")
            state = work / name  # each run its own timers
            state.mkdir()
            chosen = bench_settings(settings, state, baseline)
            runs.append(asyncio.run(run_turns(name, chosen, wav, placed, work / f"{name}.jsonl",
                                              request.realtime)))
        tuned, base = runs
        replies = sorted({t.reply for t in tuned.turns if t.reply})
        tts_first = asyncio.run(_tts_first_chunk_ms(settings, replies))
        mouth = None
        if request.mouth_to_ear:
            from assistant.bench.mouth import mouth_to_ear

            mouth = mouth_to_ear(settings, clips, request.folder, work)
        idle = measure_idle(settings, request.idle_seconds, work) if request.idle_seconds else None
    setup = (f"{settings.asr.model} on {os.cpu_count()} CPUs, voice {settings.tts.voice}; "
             f"baseline: 30 s Whisper window, no speculation; "
             f"{'real-time' if request.realtime else 'fast'} replay of {request.folder}")
    report = Report(
        clips=len(placed), setup=setup, figures=figures(tuned, base, tts_first),
        speculative_turns=(sum(t.speculative for t in tuned.turns), len(tuned.turns)),
        idle=idle, mouth_to_ear_ms=mouth)
    print(report.to_json() if request.json else "\n".join(render(report)))
    return 0


async def _tts_first_chunk_ms(settings: Settings, texts: list[str]) -> list[float]:
    """The voice's time to its first audio chunk for each reply the tuned run gave (placed as
    the daemon places it)."""
    from assistant.app import make_tts
    from assistant.engines.configured import Engines

    engines = Engines(settings, lambda event: None)
    tts = make_tts(settings, engines)
    try:
        await tts.start()
        found = []
        for text in texts:
            started = time.perf_counter()
            async for _chunk in tts.synthesize(text):
                found.append((time.perf_counter() - started) * 1000)
                break
        return found
    finally:
        await engines.aclose()
