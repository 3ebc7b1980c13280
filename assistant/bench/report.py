"""The bench table (and its JSON): each figure of the tuned run next to the baseline's."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from assistant.bench.idle import Idle
from assistant.bench.turns import Run, Turn


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    tuned: tuple[float | None, float | None]
    """(p50, p90); a single value has no p90."""
    baseline: tuple[float | None, float | None]

    @property
    def ratio(self) -> float | None:
        """Tuned p50 over baseline p50: below 1 is better for times and error rates."""
        tuned, base = self.tuned[0], self.baseline[0]
        return None if tuned is None or not base else tuned / base


@dataclass(frozen=True)
class Report:
    clips: int
    setup: str
    figures: tuple[Figure, ...]
    speculative_turns: tuple[int, int]
    idle: Idle | None
    mouth_to_ear_ms: tuple[float | None, float | None] | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["figures"] = [{**asdict(f), "ratio": f.ratio} for f in self.figures]
        return json.dumps(data, indent=2)


def percentiles(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    found = [v for v in values if v is not None]
    if not found:
        return None, None
    p50, p90 = np.percentile(found, [50, 90])
    return round(float(p50), 1), round(float(p90), 1)


def figures(tuned: Run, baseline: Run, tts_first_ms: list[float]) -> tuple[Figure, ...]:
    def pair(name: str, unit: str, pick: Callable[[Turn], float | None],
             keep: Callable[[Turn], bool] = lambda t: True) -> Figure:
        return Figure(name, unit, percentiles([pick(t) for t in tuned.turns if keep(t)]),
                      percentiles([pick(t) for t in baseline.turns if keep(t)]))

    # By command, not by reply text: the time in "It's 4:31" moves on between the runs.
    known = {t.placed for t in tuned.turns if t.prepared and t.placed is not None}
    tts = percentiles(tts_first_ms)
    return (
        pair("endpoint -> transcript", "ms", lambda t: t.latency_ms),
        pair("endpoint -> first reply audio", "ms", lambda t: t.first_audio_ms),
        pair("  answers known before the endpoint", "ms", lambda t: t.first_audio_ms,
             lambda t: t.placed in known),
        pair("  other answers", "ms", lambda t: t.first_audio_ms,
             lambda t: t.placed not in known),
        pair("ASR compute per second of audio", "ms", lambda t: t.asr_ms_per_s),
        Figure("TTS time to first chunk", "ms", tts, tts),
        Figure("word error rate", "", (round(tuned.wer, 4), None), (round(baseline.wer, 4), None)),
    )


def render(report: Report) -> list[str]:
    lines = [f"assistant bench: {report.clips} commands; {report.setup}",
             f"{'':<42}{'p50':>9}{'p90':>9}   {'baseline p50':>12}{'p90':>9}{'ratio':>8}"]
    for f in report.figures:
        digits = 1 if f.unit else 3  # times in ms; rates as fractions
        lines.append(f"{f.name + (f' ({f.unit})' if f.unit else ''):<42}"
                     f"{_num(f.tuned[0], digits):>9}{_num(f.tuned[1], digits):>9}   "
                     f"{_num(f.baseline[0], digits):>12}{_num(f.baseline[1], digits):>9}"
                     f"{_num(f.ratio, 2):>8}")
    used, total = report.speculative_turns
    lines.append(f"turns transcribed at a pause (speculation): {used} of {total}")
    if report.mouth_to_ear_ms is not None:
        p50, p90 = report.mouth_to_ear_ms
        lines.append(f"mouth-to-ear, end of speech -> first sound (ms): p50 {_num(p50)}, "
                     f"p90 {_num(p90)}")
    if report.idle is not None:
        idle = report.idle
        lines.append(f"idle over {idle.seconds:.0f} s of silence ({idle.stages}), "
                     f"{idle.processes} processes: {idle.cpu_percent:.2f}% of one core; "
                     f"RSS {idle.rss_mb:.0f} MB (peak {idle.peak_rss_mb:.0f} MB), "
                     f"PSS {idle.pss_mb:.0f} MB")
    return lines


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
