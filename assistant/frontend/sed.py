"""The sound-event stage: YAMNet on every 0.48 s of the stream, beside the voice loop.

It reads its own hub subscription (when it falls behind, the hub drops its oldest audio, never
the voice loop's) and computes in its own thread. The assistant's own voice and speech in the
room do not start non-speech events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

from assistant.audio.format import AudioChunk
from assistant.events import Event, MusicDetected, SoundDetected, Stage, StageFailed
from assistant.pipeline.sound_rules import SoundRules
from assistant.pipeline.workers import Worker
from assistant.room_config import SoundSettings
from assistant.sed.detector import (
    DetectorSettings,
    SoundDetector,
    SoundEvent,
    Watch,
    build_watches,
    default_watches,
)
from assistant.sed.features import pcm_to_float
from assistant.sed.labels import GROUPS, LabelIndex
from assistant.sed.music import MusicSettings, MusicTags, MusicTracker
from assistant.sed.windows import WaveformClassifier, WindowBuffer

log = logging.getLogger(__name__)
BATCH_MS = 480  # one executor hop per window, not per 20 ms chunk
SPEECH_SCORE = 0.5


@dataclass(frozen=True)
class _Found:
    events: list[SoundEvent]
    music: list[MusicTags]


class SoundStage:
    def __init__(self, settings: SoundSettings, classifier: WaveformClassifier, rules: SoundRules,
                 emit: Callable[[Event], None], assistant_speaking: Callable[[], bool]) -> None:
        self._classifier = classifier
        self._rules = rules
        self._emit = emit
        self._speaking = assistant_speaking
        self._settings = settings
        self._worker = Worker("sounds")
        self._windows = WindowBuffer(classifier.window_ms, classifier.hop_ms)
        self._detector: SoundDetector | None = None
        self._music: MusicTracker | None = None
        self._speech_index = -1

    def load(self) -> None:
        """In the caller's thread, before the daemon says it is ready."""
        self._classifier.load()
        labels = tuple(self._classifier.labels)
        self._detector = SoundDetector(DetectorSettings(self._watches(labels), labels))
        music = self._settings.music
        if music.enabled:
            self._music = MusicTracker(labels, MusicSettings(
                threshold=music.threshold, min_duration_ms=int(music.min_duration_s * 1000)))
        self._speech_index = LabelIndex(labels).index("Speech")

    def _watches(self, labels: tuple[str, ...]) -> tuple[Watch, ...]:
        """One watch per rule label (merged across rules), and the usual groups no rule names."""
        watched: dict[str, tuple[float, int]] = {}
        for rule in self._settings.rules:
            for name in rule.labels:
                threshold, shortest = watched.get(name, (1.0, 60000))
                watched[name] = (min(threshold, rule.threshold),
                                 min(shortest, rule.min_duration_ms))
        watches = [w for name, (threshold, shortest) in watched.items()
                   for w in build_watches({name: threshold}, labels, shortest)]
        named = {name.casefold() for name in watched}
        watches += [w for w in default_watches(labels)
                    if w.name not in named and w.name in GROUPS]
        return tuple(watches)

    async def run(self, audio: AsyncIterable[AudioChunk]) -> None:
        pending: list[AudioChunk] = []
        try:
            async for chunk in audio:
                pending.append(chunk)
                if pending[-1].end_ms - pending[0].start_ms < BATCH_MS:
                    continue
                batch, pending = pending, []
                await self._process(batch)
        finally:
            await self._finish()
            self._worker.shutdown(wait=True)

    async def _process(self, batch: list[AudioChunk]) -> None:
        speaking = self._speaking()
        try:
            found = await self._worker.call(self._analyse, batch, speaking)
        except Exception as exc:  # a broken model must not stop the daemon
            log.exception("sound events failed")
            self._emit(StageFailed(at_ms=batch[-1].end_ms, stage=Stage.SOUND,
                                   code="sound_failed", message=f"{type(exc).__name__}: {exc}"))
            return
        await self._report(found)

    def _analyse(self, batch: list[AudioChunk], speaking: bool) -> _Found:
        assert self._detector is not None
        events: list[SoundEvent] = []
        music: list[MusicTags] = []
        samples = pcm_to_float(b"".join(c.pcm for c in batch))
        for start_ms, window in self._windows.push(samples, batch[0].start_ms):
            scores = self._classifier.scores_waveform(window)
            speech = speaking or float(scores[self._speech_index]) >= SPEECH_SCORE
            events += [e for e in self._detector.update(scores, start_ms, speech=speech)
                       if isinstance(e, SoundEvent)]
            if self._music is not None and (tags := self._music.update(scores, start_ms)):
                music.append(tags)
        return _Found(events, music)

    async def _report(self, found: _Found) -> None:
        for tags in found.music:
            self._emit(MusicDetected(at_ms=tags.at_ms, genre=tags.genre, mood=tags.mood,
                                     instrument=tags.instrument, score=round(tags.score, 3)))
        for event in found.events:
            detected = SoundDetected(at_ms=event.end_ms, label=event.label,
                                     score=round(float(event.score), 3),
                                     start_ms=event.start_ms, end_ms=event.end_ms)
            self._emit(detected)
            await self._rules.on_sound(detected)

    async def _finish(self) -> None:
        """The input ended: a sound still going on is reported with the audio seen."""
        if self._detector is None:
            return
        events = self._detector.finish()
        await self._report(_Found(list(events), []))
