"""Transcript search: time to build an index, its size, and query latency by kind of query.

Run from the repo root: `python -m tests.bench.bench_search [--segments N] [--index PATH]`.

Segments are sentences of 6 to 30 words drawn from a Zipf-weighted vocabulary (real common words
first, then made-up words for the long tail), 60 segments a file, each file its own transaction
as `assistant transcribe` does. A few known phrases and one rare word are planted. Each query
goes through `TranscriptIndex.search` (query parsing, bm25 ranking, snippet, 20 hits) on an
index opened afresh, as the CLI does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.result import FileTranscript, Segment

T = TypeVar("T")
SEGMENTS_PER_FILE = 60
REPEATS = 200
COMMON = (
    "the", "and", "to", "of", "a", "I", "you", "it", "in", "that", "is", "we", "was", "for", "on",
    "this", "with", "but", "so", "they", "have", "be", "not", "what", "are", "just", "like", "do",
    "at", "know", "there", "all", "about", "one", "can", "if", "well", "yeah", "think", "get",
    "go", "right", "going", "out", "then", "up", "time", "now", "people", "really", "see",
    "because", "when", "want", "how", "no", "make", "some", "kitchen", "timer", "lamp", "light",
    "door", "music", "weather", "meeting", "call", "tomorrow", "today", "morning", "evening",
    "garden", "car", "house", "work", "project", "email", "report", "number", "minutes", "hours",
    "set", "turn", "open", "close", "play", "stop", "start", "remember", "check", "send", "call",
    "write", "read", "running", "ran", "runs", "walked", "talking", "said", "asked", "answer",
    "question", "idea", "plan", "budget", "team", "client", "café", "naïve", "résumé", "coffee",
    "dinner", "lunch", "breakfast", "water", "phone", "computer", "window"
)
SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "sa", "vor", "el", "qui", "dan", "po", "zer", "ith")
PLANTED = {"kitchen timer rang twice": 40, "quarterly budget review": 25, "xylophone": 3,
           "what's the weather like": 20}

QUERIES: dict[str, list[str]] = {
    "single word": ["weather", "garden", "meeting", "budget", "coffee", "window"],
    "two words": ["kitchen timer", "team meeting", "email report", "phone call"],
    "phrase": ['"kitchen timer rang"', '"quarterly budget review"', '"turn the lamp"'],
    "prefix": ["kitch*", "meet*", "bud*", "ka*"],
    "rare word": ["xylophone", "quarterly"],
    "common word": ["the", "and", "you"],
    "operators": ["kitchen OR garden timer", "meeting NOT client"],
    "hostile": ["what's", "NEAR(timer", "meeting:", "-garden", '"unbalanced budget'],
}


def vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[float]]:
    words = list(COMMON)
    while len(words) < size:
        words.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return words, [1 / rank for rank in range(1, len(words) + 1)]


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(words, weights, k=rng.randint(6, 30)))


def corpus(segments: int, seed: int = 7) -> list[FileTranscript]:
    rng = random.Random(seed)
    words, weights = vocabulary(rng, 5000)
    texts = [sentence(rng, words, weights) for _ in range(segments)]
    for phrase, count in PLANTED.items():
        for i in rng.sample(range(segments), count):
            cut = rng.randint(0, len(texts[i].split()))
            parts = texts[i].split()
            texts[i] = " ".join([*parts[:cut], phrase, *parts[cut:]])
    files = []
    for n, first in enumerate(range(0, segments, SEGMENTS_PER_FILE)):
        chunk = texts[first:first + SEGMENTS_PER_FILE]
        files.append(FileTranscript(
            path=Path(f"/bench/recordings/file{n:05d}.wav"), duration_s=8.0 * len(chunk),
            language="en", model="bench",
            segments=tuple(Segment(8.0 * i, 8.0 * i + 7.5, t) for i, t in enumerate(chunk))))
    return files


def timed_ms(action: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    start = time.perf_counter()
    result = action(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (f"p50 {statistics.median(ordered):7.3f} ms  p90 {p90:7.3f} ms"
            f"  max {ordered[-1]:7.3f} ms")


def build(path: Path, files: list[FileTranscript]) -> None:
    start = time.perf_counter()
    with TranscriptIndex(path) as index:
        per_file = [timed_ms(index.replace_file, f, None, 1.7e9)[0] for f in files]
        said = datetime.now()
        per_utterance = [timed_ms(index.add_utterance, f"set a timer for {i} minutes",
                                  said - timedelta(minutes=i), None)[0] for i in range(200)]
        files_n, segments_n = index.stats()
    elapsed_s = time.perf_counter() - start
    size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    print(f"index: {files_n} files, {segments_n} segments, {size_mb:.1f} MB ({path})")
    print(f"build: {elapsed_s:.2f} s, {segments_n / elapsed_s:,.0f} segments/s")
    print(f"  replace_file ({SEGMENTS_PER_FILE} segments), n={len(per_file)}: "
          + percentiles(per_file))
    print(f"  add_utterance, n={len(per_utterance)}: " + percentiles(per_utterance))


def query(path: Path) -> None:
    opening = [timed_ms(lambda: TranscriptIndex(path).close())[0] for _ in range(20)]
    print("open an existing index, n=20: " + percentiles(opening))
    print(f"{'query kind':12} {'n':>5} {'hits':>5}  latency of search(limit=20)")
    overall: list[float] = []
    with TranscriptIndex(path) as index:
        for kind, queries in QUERIES.items():
            figures, hits = [], []
            for i in range(REPEATS):
                q = queries[i % len(queries)]
                ms, found = timed_ms(index.search, q)
                figures.append(ms)
                hits.append(len(found))
            overall += figures
            print(f"{kind:12} {len(figures):5d} {statistics.mean(hits):5.1f}  "
                  + percentiles(figures))
        print(f"{'all':12} {len(overall):5d} {'':5}  " + percentiles(overall))
        recent = [timed_ms(index.recent, limit=20)[0] for _ in range(REPEATS)]
        print(f"{'recent()':12} {len(recent):5d} {20:5d}  " + percentiles(recent))
        since = datetime.now() - timedelta(hours=1)
        voice = [timed_ms(index.search, "timer", since=since, source="voice")[0]
                 for _ in range(REPEATS)]
        print(f"{'voice+since':12} {len(voice):5d} {'':5}  " + percentiles(voice))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=12000)
    parser.add_argument("--index", type=Path, default=None,
                        help="index file to build (default: in a temporary folder)")
    args = parser.parse_args()
    files = corpus(args.segments)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.index or Path(tmp) / "transcripts.db"
        if path.exists():
            print(f"note: {path} exists; its bench files are replaced, anything else is kept")
        build(path, files)
        query(path)


if __name__ == "__main__":
    main()
