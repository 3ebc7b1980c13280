"""CPU cost of the sound-event stage, and YAMNet's accuracy on the labelled sed/ clips.

Run from the repo root: `python -m tests.bench.bench_sed [--seconds N]`.
The streaming stage is the daemon's own SoundStage: 20 ms chunks in, the model on the last
0.96 s every 0.48 s in its engine's thread, the detector and the music tracker on its scores. Its
process time per second of audio, as % of one core, is its cost while the assistant sits idle
(the model uses one thread).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from assistant.audio.files import read_file
from assistant.audio.format import AudioChunk
from assistant.config import ModelSettings, Settings, SoundSettings
from assistant.engines.configured import Engines, sound_placement, sound_spec
from assistant.engines.faces import SoundEngine
from assistant.frontend.sed import SoundStage
from assistant.pipeline.sound_rules import SoundRules
from assistant.sed import features
from assistant.sed.yamnet import YamnetClassifier
from tests.conftest import AUDIO
from tests.integration.test_sed import EXPECTED, TOP_K, accuracy_table

CHUNK_BYTES = 640  # 20 ms


def stream_cost(pcm: bytes, cache: Path) -> tuple[float, int]:
    """% of one core per second of audio through the daemon's own SoundStage (20 ms chunks,
    YAMNet placed in its thread as the daemon places it, detector, music tracker), and how many
    windows were classified."""
    settings = Settings(sounds=SoundSettings(enabled=True), models=ModelSettings(cache_dir=cache))

    async def chunks() -> AsyncIterator[AudioChunk]:
        for offset in range(0, len(pcm), CHUNK_BYTES):
            yield AudioChunk(pcm[offset:offset + CHUNK_BYTES], start_ms=offset // 32)

    async def run() -> tuple[float, int]:
        engines = Engines(settings, lambda event: None)
        counting = _Counting(engines.place(sound_spec(settings), sound_placement(settings), 10))
        try:
            await counting.placement.start()
            stage = SoundStage(settings.sounds, counting,
                               SoundRules([], lambda text: None, lambda event: None),
                               lambda event: None, lambda: False)
            stage.prepare()
            started = time.process_time()  # all threads: the engine's thread included
            await stage.run(chunks())
            return time.process_time() - started, counting.calls
        finally:
            await engines.aclose()

    with threadpool_limits(limits=1, user_api="blas"):  # as the daemon runs it
        spent, windows = asyncio.run(run())
    return 100 * spent / (len(pcm) / 32000), windows


class _Counting(SoundEngine):
    """The daemon's sound engine, counting its calls."""

    calls = 0

    async def scores(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.calls += 1
        return await super().scores(samples)


def looped(pcm: bytes, seconds: float) -> bytes:
    need = int(seconds * 32000)
    return (pcm * (need // len(pcm) + 1))[:need]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        classifier = YamnetClassifier(Path(cache))
        classifier.load()
        rng = np.random.default_rng(0)
        inputs = {
            "silence": bytes(int(args.seconds * 32000)),
            "noise -50 dBFS": (rng.standard_normal(int(args.seconds * 16000)) * 104
                               ).astype("<i2").tobytes(),
            "real clip (Vibe Ace, music)": looped(
                read_file(AUDIO / "sed" / "librosa_Kevin_MacLeod_-_Vibe_Ace.ogg"), args.seconds),
        }
        print(f"streaming sound-event stage, {args.seconds:.0f} s of audio each, 1 thread:")
        for name, pcm in inputs.items():
            percent, patches = stream_cost(pcm, Path(cache))
            print(f"  {name:30s} {percent:5.2f} % of one core ({patches} patches, "
                  f"{percent * 10 * features.PATCH_HOP_MS / 1000:.1f} ms per patch)")
        rows = accuracy_table(AUDIO, classifier)
    print(f"\naccuracy on {len(EXPECTED)} labelled sed/ clips (rank of the best expected class "
          "in the clip-mean scores):")
    for name, rank, top in rows:
        print(f"  {rank:4d}  {name[:60]:60s} top-1: {top}")
    top1 = sum(r == 1 for _, r, _ in rows) / len(rows)
    topk = sum(r <= TOP_K for _, r, _ in rows) / len(rows)
    print(f"top-1 {top1:.0%}, top-{TOP_K} {topk:.0%}")


if __name__ == "__main__":
    main()
