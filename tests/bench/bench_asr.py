"""Word error rate and compute time of the default ASR: 10 s minimum window vs Whisper's 30 s.

Run from the repo root: `python -m tests.bench.bench_asr [--audio DIR] [--repeats N]`.
Normalisation: lowercase, hyphens to spaces, punctuation removed (so "what's" -> "whats"),
whitespace collapsed. Numbers are compared as written: "10" vs "ten" counts as an error.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np

from assistant.asr.whisper import WhisperOptions, WhisperTranscriber
from assistant.audio.files import read_file
from assistant.config import Settings

REPO = Path(__file__).resolve().parents[2]
WINDOWS_S = (10.0, 30.0)
NORMALISE = jiwer.Compose([
    jiwer.ToLowerCase(), jiwer.SubstituteRegexes({r"[-\u2010-\u2014]": " "}),
    jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
    jiwer.ReduceToListOfListOfWords(),
])


@dataclass(frozen=True)
class Clip:
    path: Path
    truth: str


class RetryCounter(logging.Handler):
    """Counts the transcriber's 'decoding again on a 30 s window' fallbacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "decoding again" in record.getMessage()


def asr_clips(audio: Path) -> list[Clip]:
    with (audio / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [Clip(audio / r["file"], r["truth"]) for r in rows if r["category"] == "asr"]


def wer(truths: list[str], hyps: list[str]) -> float:
    return float(jiwer.wer(truths, hyps, reference_transform=NORMALISE,
                           hypothesis_transform=NORMALISE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=REPO.parent / "shared" / "audio")
    parser.add_argument("--repeats", type=int, default=1, help="timing runs per clip and window")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    clips = asr_clips(args.audio)
    base = Settings()
    models: dict[float, WhisperTranscriber] = {}
    for window in WINDOWS_S:
        models[window] = WhisperTranscriber(WhisperOptions.from_settings(
            base.asr.model_copy(update={"min_window_s": window}), base.models))
        models[window].load()
    counter = RetryCounter()
    whisper_log = logging.getLogger("assistant.asr.whisper")
    whisper_log.setLevel(logging.DEBUG)
    whisper_log.addHandler(counter)
    texts: dict[float, list[str]] = {w: [] for w in WINDOWS_S}
    times: dict[float, list[float]] = {w: [] for w in WINDOWS_S}
    retries = {w: 0 for w in WINDOWS_S}
    for i, clip in enumerate(clips):
        pcm = read_file(clip.path)
        for rep in range(args.repeats):
            order = WINDOWS_S if (i + rep) % 2 == 0 else WINDOWS_S[::-1]  # alternate who goes first
            for window in order:
                before = counter.count
                result = models[window].transcribe(pcm)
                retries[window] += counter.count - before
                times[window].append(result.compute_ms)
                if rep == 0:
                    texts[window].append(result.text)
    truths = [c.truth for c in clips]
    print(f"{len(clips)} asr clips, {args.repeats} timing run(s) each, model {base.asr.model}, "
          f"interleaved per clip")
    print(f"{'min_window_s':>12} {'WER':>7} {'median ms':>10} {'p90 ms':>8} {'30s retries':>11}")
    medians = {}
    for window in WINDOWS_S:
        medians[window] = float(np.median(times[window]))
        p90 = float(np.percentile(times[window], 90))
        print(f"{window:>12g} {wer(truths, texts[window]):>7.4f} {medians[window]:>10.1f} "
              f"{p90:>8.1f} {retries[window]:>11}")
    print(f"median compute ratio 30s/10s: {medians[30.0] / medians[10.0]:.2f}")
    plain = [i for i in range(len(clips)) if not any(ch.isdigit() for w in WINDOWS_S
                                                     for ch in texts[w][i])]
    print(f"WER without the {len(clips) - len(plain)} clip(s) where either output has digits: "
          + ", ".join(f"{w:g}s {wer([truths[i] for i in plain], [texts[w][i] for i in plain]):.4f}"
                      for w in WINDOWS_S))
    raw = [i for i in range(len(clips)) if texts[10.0][i] != texts[30.0][i]]
    differ = [i for i in raw if NORMALISE(texts[10.0][i]) != NORMALISE(texts[30.0][i])]
    print(f"\nclips whose normalised transcripts differ: {len(differ)} "
          f"(+{len(raw) - len(differ)} differing only in case/punctuation)")
    for i in differ:
        print(f"- {clips[i].path.name}  truth: {truths[i]!r}")
        for window in WINDOWS_S:
            text = texts[window][i]
            print(f"  {window:>2g}s: {text!r} (WER {wer([truths[i]], [text]):.3f}, "
                  f"{times[window][i * args.repeats]:.0f} ms)")
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")


if __name__ == "__main__":
    main()
