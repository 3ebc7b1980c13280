"""Batch transcription throughput: `BatchTranscriber` vs plain sequential faster-whisper.

Run from the repo root:
`python -m tests.bench.bench_transcribe [--minutes 10] [--model tiny.en] [--beam-size 5]
[--batch-size 8] [--repeats N] [--audio DIR] [--json]`.

The input is one long 16 kHz mono WAV made in a temporary folder from the real `asr` clips of
the shared recordings (MANIFEST.tsv), in manifest order, cycling through them until the length
is reached, with 1.5 to 3 s of silence between clips (seeded). The reference text is the
clips' truths in the same order.

Both paths run in this process on the same model files (`resolve_whisper`), on the CPU with
int8 and os.cpu_count() threads, with the same beam size; models are loaded before timing.
- batched: `BatchTranscriber(...).transcribe(path)`, the product path (blocks of ~5 min,
  Silero VAD, batched decoding, word timestamps to cut sentences). Its time includes decoding
  the WAV file, which is small next to the model.
- sequential: `WhisperModel.transcribe(audio, language="en", beam_size=...)` with
  faster-whisper's other defaults (no VAD, condition_on_previous_text, no word timestamps), on
  audio decoded before timing, consuming the segment generator.
With --repeats >= 2 the order alternates A,B,B,A,... to cancel drift; best and median reported.
Real-time factor = compute s / audio s; speed = audio s / compute s ("x real time").
WER is corpus WER (assistant.asr.wer) of the whole text; errors are attributed to clips by
aligning the hypothesis words to the reference words (insertions count for the word before).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from assistant.asr.wer import normalize, wer
from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT
from assistant.config import ModelSettings
from assistant.models import cache_dir, resolve_whisper
from assistant.transcribe.engine import BatchTranscriber, TranscribeOptions

REPO = Path(__file__).resolve().parents[2]
AUDIO = Path(os.environ.get("ASSISTANT_TEST_AUDIO", REPO.parent / "shared" / "audio"))
RATE_HZ = STREAM_FORMAT.rate_hz
GAP_S = (1.5, 3.0)
BATCHED, SEQUENTIAL = "batched", "sequential"


@dataclass(frozen=True)
class Clip:
    name: str
    truth: str
    pcm: bytes


@dataclass(frozen=True)
class Placed:
    """One occurrence of a clip in the long file."""
    clip: Clip
    start_s: float
    first_word: int
    """Index of its first word in the normalised reference."""
    words: int


@dataclass
class Run:
    seconds: list[float]
    texts: list[str]


def asr_clips(audio: Path) -> list[Clip]:
    with (audio / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if r["category"] == "asr"]
    return [Clip(Path(r["file"]).name, r["truth"], read_file(audio / r["file"])) for r in rows]


def build_audio(clips: list[Clip], minutes: float, seed: int) -> tuple[bytes, list[Placed]]:
    """Clips in order, cycled, with seeded silences between them, until `minutes` is reached."""
    rng = random.Random(seed)
    target = int(minutes * 60 * RATE_HZ)
    parts: list[bytes] = []
    placed: list[Placed] = []
    samples = words = 0
    i = 0
    while samples < target:
        if parts:
            gap = int(rng.uniform(*GAP_S) * RATE_HZ)
            parts.append(bytes(2 * gap))
            samples += gap
        clip = clips[i % len(clips)]
        n = len(normalize(clip.truth))
        placed.append(Placed(clip, samples / RATE_HZ, words, n))
        parts.append(clip.pcm)
        samples += len(clip.pcm) // 2
        words += n
        i += 1
    return b"".join(parts), placed


def timed(action: Callable[[], str]) -> tuple[float, str]:
    start = time.perf_counter()
    text = action()
    return time.perf_counter() - start, text


def align(ref: list[str], hyp: list[str]) -> tuple[list[int], list[int]]:
    """Per reference word: its errors (insertions go to the word before) and where it starts in
    the hypothesis (one extra entry: the end)."""
    errors = [0] * len(ref)
    start = [0] * (len(ref) + 1)
    i = j = 0
    for op in Levenshtein.editops(ref, hyp):
        while i < op.src_pos:
            start[i] = j
            i, j = i + 1, j + 1
        if op.tag == "insert":
            errors[max(i - 1, 0)] += 1
            j += 1
            continue
        start[i] = j
        errors[i] += 1
        i += 1
        j += op.tag == "replace"
    while i < len(ref):
        start[i] = j
        i, j = i + 1, j + 1
    start[0], start[len(ref)] = 0, len(hyp)  # leading insertions belong to the first word
    return errors, start


def per_clip(placed: list[Placed], ref: list[str], hyps: dict[str, str]
             ) -> dict[str, dict[str, Any]]:
    """For each clip file: words, and per path its errors and the worst occurrence's text."""
    out: dict[str, dict[str, Any]] = {}
    for path, text in hyps.items():
        hyp = normalize(text)
        errors, start = align(ref, hyp)
        for p in placed:
            row = out.setdefault(p.clip.name, {"truth": p.clip.truth, "occurrences": 0,
                                               "words": 0})
            if path == BATCHED:
                row["occurrences"] += 1
                row["words"] += p.words
            end = p.first_word + p.words
            n = sum(errors[p.first_word:end])
            stats = row.setdefault(path, {"errors": 0, "worst": -1, "worst_text": "",
                                          "worst_at_s": 0.0})
            stats["errors"] += n
            if n > stats["worst"]:
                stats.update(worst=n, worst_at_s=round(p.start_s, 2),
                             worst_text=" ".join(hyp[start[p.first_word]:start[end]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=AUDIO)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test file")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="batched path only")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each path")
    parser.add_argument("--seed", type=int, default=0, help="for the silences between clips")
    parser.add_argument("--show", type=int, default=15, help="clips with errors to list")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args()

    def note(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from faster_whisper import WhisperModel
    from faster_whisper import __version__ as fw_version
    from faster_whisper.audio import decode_audio

    load_before = [round(x, 2) for x in os.getloadavg()]
    threads = os.cpu_count() or 0
    clips = asr_clips(args.audio)
    pcm, placed = build_audio(clips, args.minutes, args.seed)
    reference = " ".join(p.clip.truth for p in placed)
    ref_words = [w for p in placed for w in normalize(p.clip.truth)]
    assert ref_words == normalize(reference)
    audio_s = len(pcm) / 2 / RATE_HZ
    settings = ModelSettings()
    resolved = resolve_whisper(args.model, settings)

    with tempfile.TemporaryDirectory(prefix="bench_transcribe_") as tmp:
        wav = Path(tmp) / "long.wav"
        write_wav(wav, pcm, STREAM_FORMAT)
        note(f"{wav}: {audio_s:.1f} s, {len(placed)} clip occurrences; loading models")
        batched = BatchTranscriber(TranscribeOptions(model=args.model, beam_size=args.beam_size,
                                                     batch_size=args.batch_size), settings)
        batched.load()
        model = WhisperModel(resolved.location, device="cpu", compute_type="int8",
                             cpu_threads=threads, local_files_only=settings.offline,
                             download_root=str(cache_dir(settings) / "whisper"))
        samples = decode_audio(str(wav), sampling_rate=RATE_HZ)  # float32, before timing

        def run_batched() -> str:
            transcript = batched.transcribe(wav)
            return " ".join(s.text.strip() for s in transcript.segments)

        def run_sequential() -> str:
            segments, _ = model.transcribe(samples, language="en", beam_size=args.beam_size)
            return " ".join(s.text.strip() for s in segments)

        actions = {BATCHED: run_batched, SEQUENTIAL: run_sequential}
        runs = {path: Run([], []) for path in actions}
        for rep in range(args.repeats):
            order = (BATCHED, SEQUENTIAL) if rep % 2 == 0 else (SEQUENTIAL, BATCHED)
            for path in order:
                seconds, text = timed(actions[path])
                runs[path].seconds.append(seconds)
                runs[path].texts.append(text)
                note(f"run {rep + 1}/{args.repeats} {path}: {seconds:.1f} s")

    figures: dict[str, dict[str, Any]] = {}
    for path, run in runs.items():
        best, median = min(run.seconds), statistics.median(run.seconds)
        figures[path] = {
            "seconds": [round(s, 3) for s in run.seconds],
            "best_s": round(best, 3), "median_s": round(median, 3),
            "rtf_best": round(best / audio_s, 5), "rtf_median": round(median / audio_s, 5),
            "speed_best": round(audio_s / best, 2), "speed_median": round(audio_s / median, 2),
            "wer": round(wer([(reference, run.texts[0])]), 5),
            "hypothesis_words": len(normalize(run.texts[0])),
            "texts_differ_between_runs": len(set(run.texts)) > 1,
        }
    speedup_best = figures[SEQUENTIAL]["best_s"] / figures[BATCHED]["best_s"]
    speedup_median = figures[SEQUENTIAL]["median_s"] / figures[BATCHED]["median_s"]
    clip_rows = per_clip(placed, ref_words,
                         {path: run.texts[0] for path, run in runs.items()})
    result = {
        "audio_s": round(audio_s, 2), "clips": len(clips), "clip_occurrences": len(placed),
        "reference_words": len(ref_words), "speech_s": round(
            sum(len(p.clip.pcm) for p in placed) / 2 / RATE_HZ, 2),
        "model": args.model, "model_location": resolved.location,
        "device": batched.device, "compute_type": "int8", "cpu_threads": threads,
        "beam_size": args.beam_size, "batch_size": args.batch_size, "repeats": args.repeats,
        "seed": args.seed, "faster_whisper": fw_version,
        BATCHED: figures[BATCHED], SEQUENTIAL: figures[SEQUENTIAL],
        "speedup_best": round(speedup_best, 3), "speedup_median": round(speedup_median, 3),
        "per_clip": clip_rows,
        "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"audio: {audio_s:.1f} s ({audio_s / 60:.2f} min; speech {result['speech_s']:.1f} s), "
          f"{len(placed)} occurrences of {len(clips)} asr clips, "
          f"{len(ref_words)} reference words")
    print(f"model {args.model} ({resolved.origin}: {resolved.location}), cpu int8, "
          f"{threads} threads, beam {args.beam_size}, batch {args.batch_size}, "
          f"faster-whisper {fw_version}, {args.repeats} run(s) each")
    print(f"{'path':>10} {'best s':>8} {'median s':>8} {'RTF':>7} {'speed':>8} {'WER':>7}"
          f" {'hyp words':>9}")
    for path in (BATCHED, SEQUENTIAL):
        f = figures[path]
        print(f"{path:>10} {f['best_s']:>8.1f} {f['median_s']:>8.1f} {f['rtf_best']:>7.4f} "
              f"{f['speed_best']:>7.1f}x {f['wer']:>7.4f} {f['hypothesis_words']:>9}"
              + ("  (texts differ between runs)" if f["texts_differ_between_runs"] else ""))
    print("(RTF and speed from the best run)")
    print(f"speed-up batched over sequential: {speedup_best:.2f}x best, "
          f"{speedup_median:.2f}x median")
    wrong = sorted(clip_rows.items(),
                   key=lambda kv: -(kv[1][BATCHED]["errors"] + kv[1][SEQUENTIAL]["errors"]))
    wrong = [(name, row) for name, row in wrong
             if row[BATCHED]["errors"] or row[SEQUENTIAL]["errors"]]
    print(f"\nclips with errors: {len(wrong)} of {len(clips)} "
          f"(errors/words over all occurrences; worst occurrence's text)")
    for name, row in wrong[:args.show]:
        print(f"- {name} x{row['occurrences']}: truth {row['truth']!r}")
        for path in (BATCHED, SEQUENTIAL):
            stats = row[path]
            print(f"  {path:>10} {stats['errors']:>3}/{row['words']:<3} "
                  f"@{stats['worst_at_s']:>6.1f}s {stats['worst_text']!r}")
    if len(wrong) > args.show:
        print(f"... and {len(wrong) - args.show} more (--show)")
    print(f"load average (1/5/15 min) before {load_before}, after {result['load_after']}")


if __name__ == "__main__":
    main()
