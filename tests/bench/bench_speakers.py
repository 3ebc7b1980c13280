"""Speaker identification on ../shared/audio/SPEAKERS.tsv: accuracy, score distributions, speed.

Run from the repo root: `python -m tests.bench.bench_speakers [--audio DIR]`.
- Leave-one-out: each clip of a speaker with >= 2 clips is identified against profiles enrolled
  from all the other clips (its own speaker's profile without it).
- Open set: each single-clip speaker (never enrolled) against profiles made from all clips;
  its best score is what a stranger scores, so the threshold must sit above it.
- Threshold sweep: share of enrolled utterances named correctly vs strangers named wrongly.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.audio.files import read_file
from assistant.speakers.encoder import RATE_HZ, VoiceEncoder, trim_silence
from assistant.speakers.identify import DEFAULT_THRESHOLD, identify
from assistant.speakers.profiles import UNKNOWN, SpeakerProfile

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.6, 0.65, 0.7, 0.72, 0.75, 0.78, 0.8, 0.85)


@dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str


def load_clips(audio_dir: Path) -> dict[str, list[Clip]]:
    """Speaker id -> clips, in SPEAKERS.tsv order."""
    clips: dict[str, list[Clip]] = defaultdict(list)
    with (audio_dir / "SPEAKERS.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            clips[row["speaker_id"]].append(Clip(audio_dir / row["file"], row["speaker_id"]))
    return dict(clips)


def enroll_split(clips: list[Clip]) -> tuple[list[Clip], list[Clip]]:
    """The integration test's split: enroll from the first half (at least one), test the rest."""
    k = max(1, len(clips) // 2)
    return clips[:k], clips[k:]


def profile(name: str, embeddings: list[np.ndarray]) -> SpeakerProfile:
    mean = np.mean(embeddings, axis=0)
    unit = (mean / np.linalg.norm(mean)).astype(np.float32)
    return SpeakerProfile(name, unit, len(embeddings), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", type=Path, default=REPO.parent / "shared" / "audio")
    args = parser.parse_args()
    speakers = load_clips(args.audio)
    encoder = VoiceEncoder()
    encoder.load()
    encoder.embed(bytes(2 * RATE_HZ))  # warm-up: first-call allocations are not the steady cost

    emb: dict[Path, np.ndarray] = {}
    audio_s = spent_s = 0.0
    for clip in (c for cs in speakers.values() for c in cs):
        pcm = trim_silence(read_file(clip.path))
        started = time.perf_counter()
        emb[clip.path] = encoder.embed(pcm)
        spent_s += time.perf_counter() - started
        audio_s += len(pcm) / 2 / RATE_HZ
    print(f"device {encoder.device}; embedded {len(emb)} clips, {audio_s:.1f} s of speech in "
          f"{spent_s:.2f} s: {1000 * spent_s / audio_s:.1f} ms per second of audio")

    multi = {s: cs for s, cs in speakers.items() if len(cs) >= 2}
    single = [cs[0] for cs in speakers.values() if len(cs) == 1]
    print(f"{len(multi)} enrolled speakers ({sum(map(len, multi.values()))} clips), "
          f"{len(single)} unenrolled voices")

    genuine: list[float] = []  # clip vs its own speaker's profile
    impostor: list[float] = []  # clip vs each other enrolled profile
    loo_best: list[tuple[str, str, float]] = []  # (truth, best name, best score)
    for name, clips in multi.items():
        for held in clips:
            profiles = [profile(other, [emb[c.path] for c in cs if c.path != held.path])
                        for other, cs in multi.items()]
            for p in profiles:
                score = float(p.embedding @ emb[held.path])
                (genuine if p.name == name else impostor).append(score)
            best = identify(emb[held.path], profiles, threshold=-1.0)
            loo_best.append((name, best.name, best.score))
    full = [profile(name, [emb[c.path] for c in cs]) for name, cs in multi.items()]
    stranger = [identify(emb[c.path], full, threshold=-1.0).score for c in single]

    closed = np.mean([truth == got for truth, got, _ in loo_best])
    print(f"\nleave-one-out closed-set accuracy (best profile, no threshold): {closed:.1%} "
          f"({len(loo_best)} clips)")
    for label, scores in (("same speaker (LOO)", genuine), ("other enrolled", impostor),
                          ("stranger's best", stranger)):
        q = np.percentile(scores, [0, 5, 25, 50, 75, 95, 100])
        print(f"  {label:<20} n={len(scores):<4} min/p5/p25/median/p75/p95/max: "
              + " ".join(f"{v:.3f}" for v in q))

    print("\nthreshold  named right (LOO)  wrong name (LOO)  stranger named (open set)")
    for t in sorted({*THRESHOLDS, DEFAULT_THRESHOLD}):
        right = np.mean([g == truth and s >= t for truth, g, s in loo_best])
        wrong = np.mean([g != truth and s >= t for truth, g, s in loo_best])
        named = np.mean([s >= t for s in stranger])
        mark = "  <- default" if t == DEFAULT_THRESHOLD else ""
        print(f"  {t:.2f}     {right:>8.1%}          {wrong:>8.1%}          {named:>8.1%}{mark}")

    print("\nintegration-test split (enroll first half, identify the rest, default threshold):")
    split_profiles, tests = [], []
    for name, clips in multi.items():
        enroll, rest = enroll_split(clips)
        split_profiles.append(profile(name, [emb[c.path] for c in enroll]))
        tests += rest
    got = [identify(emb[c.path], split_profiles, DEFAULT_THRESHOLD) for c in tests]
    right = np.mean([m.name == c.speaker for m, c in zip(got, tests, strict=True)])
    unknown = np.mean([m.name == UNKNOWN for m in got])
    strangers = np.mean([identify(emb[c.path], split_profiles).name != UNKNOWN for c in single])
    print(f"  accuracy {right:.1%} of {len(tests)} clips ({unknown:.1%} unknown); "
          f"strangers named: {strangers:.1%} of {len(single)}")


if __name__ == "__main__":
    main()
