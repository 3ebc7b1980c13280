"""`assistant classify`: top AudioSet labels over time, sound events and music tags of a file.

It uses the daemon's own front end, model, detector and music tracker, so what a file shows here
is what the live stage would report for the same audio.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio.files import read_file
from assistant.sed import features
from assistant.sed.detector import DetectorSettings, SoundDetector, SoundEvent, default_watches
from assistant.sed.labels import speech_flags  # a file has no VAD: the model's opinion
from assistant.sed.music import MusicSettings, MusicTags, MusicTracker
from assistant.sed.yamnet import Classifier, YamnetClassifier


@dataclass(frozen=True)
class WindowLabels:
    start_ms: int
    end_ms: int
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ClassifyResult:
    path: str
    duration_ms: int
    windows: tuple[WindowLabels, ...]
    events: tuple[SoundEvent, ...]
    music: tuple[MusicTags, ...]
    log_mel: np.ndarray = field(repr=False, compare=False)
    """[frames, 64], 10 ms per frame: for the plot."""
    scores: np.ndarray = field(repr=False, compare=False)
    """[windows, classes]."""

    def clip_scores(self) -> np.ndarray:
        """Mean over the windows: what the whole file sounds like."""
        if len(self.scores) == 0:
            return np.zeros(self.scores.shape[1:] or (0,), dtype=np.float32)
        return np.asarray(self.scores.mean(axis=0))


def classify_samples(samples: np.ndarray, classifier: Classifier, *, top_n: int = 3,
                     path: str = "", detector: DetectorSettings | None = None,
                     music: MusicSettings | None = None) -> ClassifyResult:
    """16 kHz float samples -> result; windows start every 0.48 s from 0."""
    classifier.load()
    # End padding only adds frames: the unpadded log-mel (for the plot) is its head.
    mel = features.log_mel(features.pad_waveform(np.asarray(samples, dtype=np.float32)))
    patches = features.frame_patches(mel)
    scores = (np.stack([classifier.scores(p) for p in patches]) if len(patches)
              else np.zeros((0, len(classifier.labels)), dtype=np.float32))
    labels = classifier.labels
    settings = detector or DetectorSettings(default_watches(labels), tuple(labels))
    sounds = SoundDetector(settings)
    tracker = MusicTracker(labels, music)
    windows: list[WindowLabels] = []
    events: list[SoundEvent] = []
    tags: list[MusicTags] = []
    for i, (row, speech) in enumerate(zip(scores, speech_flags(scores, labels), strict=True)):
        span = features.patch_span(i)
        top = np.argsort(-row)[:top_n]
        windows.append(WindowLabels(span.start_ms, span.end_ms,
                                    tuple((labels[j], round(float(row[j]), 3)) for j in top)))
        events.extend(e for e in sounds.update(row, span.start_ms, bool(speech))
                      if isinstance(e, SoundEvent))
        found = tracker.update(row, span.start_ms)
        if found is not None:
            tags.append(found)
    events.extend(sounds.finish())
    return ClassifyResult(path, round(len(samples) * 1000 / features.RATE_HZ), tuple(windows),
                          tuple(events), tuple(tags),
                          mel[:features.frame_count(len(samples))], scores)


def classify_file(path: Path, top_n: int = 3, classifier: Classifier | None = None,
                  detector: DetectorSettings | None = None,
                  music: MusicSettings | None = None) -> ClassifyResult:
    """Decode any audio file and classify it. Raises AudioInputError or ModelError."""
    samples = features.pcm_to_float(read_file(path))
    return classify_samples(samples, classifier or YamnetClassifier(), top_n=top_n,
                            path=str(path), detector=detector, music=music)


def _record(kind: str, path: str, **values: Any) -> str:
    return json.dumps({"type": kind, "file": path, **values}, ensure_ascii=False)


def render_jsonl(result: ClassifyResult) -> Iterator[str]:
    """One JSON object per window, per sound event and per music report."""
    for w in result.windows:
        yield _record("window", result.path, start_ms=w.start_ms, end_ms=w.end_ms,
                      labels=[{"label": name, "score": score} for name, score in w.top])
    for e in result.events:
        yield _record("sound_detected", result.path, label=e.label, group=e.watch,
                      score=e.score, start_ms=e.start_ms, end_ms=e.end_ms)
    for m in result.music:
        yield _record("music_detected", result.path, at_ms=m.at_ms, since_ms=m.since_ms,
                      score=m.score, genre=m.genre, mood=m.mood, instrument=m.instrument)


def clock(ms: int) -> str:
    minutes, rest = divmod(ms, 60000)
    return f"{minutes:02d}:{rest / 1000:05.2f}"


def render_text(result: ClassifyResult) -> Iterator[str]:
    yield f"{result.path} ({result.duration_ms / 1000:.1f} s)"
    for w in result.windows:
        top = ", ".join(f"{name} {score:.2f}" for name, score in w.top)
        yield f"  {clock(w.start_ms)}-{clock(w.end_ms)}  {top}"
    for e in result.events:
        yield (f"  sound {e.label} ({e.watch}) {clock(e.start_ms)}-{clock(e.end_ms)} "
               f"score {e.score:.2f}")
    for m in result.music:
        yield (f"  music at {clock(m.at_ms)}: genre {m.genre}, mood {m.mood}, "
               f"instrument {m.instrument} (music {m.score:.2f})")
    if not result.windows:
        yield "  (too short: no 0.96 s window)"


# Event bar colours by watch (group); other watches cycle through the rest.
COLOURS = {"alarm": (230, 40, 40), "glass": (80, 200, 255), "dog": (240, 160, 40),
           "baby": (250, 120, 200), "doorbell": (120, 230, 90), "speech": (200, 200, 200)}
EXTRA = ((170, 110, 255), (255, 240, 80), (40, 170, 140))
MAX_WIDTH_PX, ROW_PX, MEL_PX = 1600, 10, 3


def _heat(values: np.ndarray) -> np.ndarray:
    """[h, w] in 0..1 -> [h, w, 3] uint8, a black-blue-yellow-white ramp."""
    stops = np.array([[0, 0, 0], [40, 20, 120], [200, 60, 90], [250, 200, 60], [255, 255, 255]])
    pos = np.clip(values, 0, 1) * (len(stops) - 1)
    low = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    frac = (pos - low)[..., None]
    return np.asarray(stops[low] * (1 - frac) + stops[low + 1] * frac, dtype=np.uint8)


def plot_image(result: ClassifyResult) -> np.ndarray:
    """Spectrogram (high bands on top) with one bar row per sound watch and music under it."""
    mel = result.log_mel
    step = max(1, -(-len(mel) // MAX_WIDTH_PX))  # frames per pixel column
    cols = max(1, len(mel) // step)
    image = mel[:cols * step].reshape(cols, step, -1).mean(axis=1).T[::-1] if len(mel) else (
        np.zeros((features.MEL_BANDS, 1)))
    lo, hi = np.percentile(image, [5, 99.5]) if image.size else (0.0, 1.0)
    heat = np.repeat(_heat((image - lo) / max(hi - lo, 1e-6)), MEL_PX, axis=0)
    ms_per_px = step * 1000 * features.HOP_SAMPLES / features.RATE_HZ
    rows = sorted({e.watch for e in result.events}) + (["music"] if result.music else [])
    bars = np.full((ROW_PX * len(rows) + 2, cols, 3), 24, dtype=np.uint8)
    spans = [(e.watch, e.start_ms, e.end_ms) for e in result.events]
    spans += [("music", m.since_ms, m.at_ms + features.PATCH_MS) for m in result.music]
    for watch, start, end in spans:
        y = rows.index(watch) * ROW_PX + 2
        colour = COLOURS.get(watch, EXTRA[rows.index(watch) % len(EXTRA)])
        a, b = int(start / ms_per_px), max(int(start / ms_per_px) + 1, int(end / ms_per_px))
        bars[y:y + ROW_PX - 2, a:b] = colour
    ticks = np.arange(0, cols * ms_per_px, 1000) / ms_per_px  # a white mark every second
    bars[:2, ticks.astype(int).clip(0, cols - 1)] = 255
    return np.concatenate([heat, bars], axis=0)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """A minimal RGB PNG (stdlib zlib + struct): no plotting library is needed."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def plot(result: ClassifyResult, path: Path) -> None:
    write_png(path, plot_image(result))
