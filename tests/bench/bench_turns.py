"""Whole-turn latency of the real daemon on the real spoken commands (wake word + command).

Run from the repo root: `python -m tests.bench.bench_turns [--audio DIR] [--passes N]`.
All passes go into ONE input file (models load once); each turn is mapped back to its clip
by the stream time of its wake event. latency_ms: endpoint -> transcript; first_audio_ms:
endpoint -> first reply audio chunk (both wall clock, measured inside the daemon).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT
from assistant.config import Settings
from tests.integration.helpers import run_file

REPO = Path(__file__).resolve().parents[2]
WAKE = "wakeword/pymicrowakeword_okay_nabu_2.wav"
COMMANDS = ["asr/wyoming_faster_whisper_turn_on_the_living_room_lamp.wav", "asr/rhasspy3_*.wav"]
LEAD_MS, AFTER_WAKE_MS, AFTER_CLIP_MS, GAP_MS = 500, 300, 1500, 2000


@dataclass(frozen=True)
class Segment:
    clip: str
    start_ms: int
    clip_end_ms: int
    """where the command clip's file ends (it may itself end in silence)"""
    end_ms: int


def silence(ms: int) -> bytes:
    return bytes(STREAM_FORMAT.bytes_for_ms(ms))


def ms(pcm: bytes) -> int:
    return len(pcm) * 1000 // STREAM_FORMAT.bytes_for_ms(1000)


def build_input(audio: Path, clips: list[Path], passes: int, out: Path) -> list[Segment]:
    wake = read_file(audio / WAKE)
    parts, segments, at_ms = [silence(LEAD_MS)], [], LEAD_MS
    for _ in range(passes):
        for clip in clips:
            pcm = wake + silence(AFTER_WAKE_MS) + read_file(clip)
            clip_end_ms = at_ms + ms(pcm)
            pcm += silence(AFTER_CLIP_MS)
            span_ms = ms(pcm)
            segments.append(Segment(clip.name, at_ms, clip_end_ms, at_ms + span_ms + GAP_MS))
            parts += [pcm, silence(GAP_MS)]
            at_ms += span_ms + GAP_MS
    write_wav(out, b"".join(parts), STREAM_FORMAT)
    return segments


def stats(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (f"n={len(values):<3} median {np.median(values):7.1f}  "
            f"p90 {np.percentile(values, 90):7.1f}  min {min(values):7.1f}  max {max(values):7.1f}")


def outcome(events: list[dict[str, Any]]) -> str:
    for e in events:
        if e["type"] == "intent_matched":
            return f"{e['intent']} {e['slots'] or ''} {e['text']!r}".replace("  ", " ")
        if e["type"] == "intent_not_matched":
            return f"not matched {e['text']!r}"
        if e["type"] in ("listen_timed_out", "stage_failed"):
            return e["type"]
    return "no intent event"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=REPO.parent / "shared" / "audio")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--vad", choices=["webrtc", "silero"], default="webrtc")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    clips = sorted({p for pattern in COMMANDS for p in args.audio.glob(pattern)})
    with tempfile.TemporaryDirectory() as tmp:
        segments = build_input(args.audio, clips, args.passes, Path(tmp) / "input.wav")
        settings = Settings.model_validate({"endpoint": {"vad": args.vad}})
        run = run_file(settings, Path(tmp) / "input.wav", Path(tmp))
    turns: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in run.events:
        if e.get("turn_id") is not None:
            turns[e["turn_id"]].append(e)
    by_segment: dict[int, list[list[dict[str, Any]]]] = defaultdict(list)
    for events in turns.values():
        at = events[0]["at_ms"]
        index = next((i for i, s in enumerate(segments) if s.start_ms <= at < s.end_ms), -1)
        by_segment[index].append(events)
    latency: list[float] = []
    first_audio: list[float] = []
    rows: dict[str, list[str]] = defaultdict(list)
    for i, segment in enumerate(segments):
        found = by_segment.get(i, [])
        if not found:
            rows[segment.clip].append("no turn (wake word missed?)")
        for events in found:
            latency += [e["latency_ms"] for e in events if e["type"] == "transcribed"]
            first_audio += [e["first_audio_ms"] for e in events
                            if e["type"] == "replied" and e["first_audio_ms"] is not None]
            figures = {e["type"]: e for e in events}
            ended = figures.get("speech_ended", {}).get("at_ms")
            rows[segment.clip].append(
                f"{outcome(events)}; latency {figures.get('transcribed', {}).get('latency_ms')}"
                f" first_audio {figures.get('replied', {}).get('first_audio_ms')} ms; endpoint "
                f"{None if ended is None else ended - segment.clip_end_ms} ms after clip end")
    print(f"{len(clips)} command clips x {args.passes} passes in one input; daemon exit code "
          f"{run.code}; {len(turns)} turns, {len(by_segment.get(-1, []))} outside any segment")
    print(f"transcribed.latency_ms   {stats(latency)}")
    print(f"replied.first_audio_ms   {stats(first_audio)}")
    print("\nper clip, one line per pass:")
    for clip in (c.name for c in clips):
        print(f"- {clip}")
        for row in rows[clip]:
            print(f"    {row}")
    print("\nexact figures (turn order: clip order above, pass after pass):")
    print("latency_ms     ", latency)
    print("first_audio_ms ", first_audio)
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")


if __name__ == "__main__":
    main()
