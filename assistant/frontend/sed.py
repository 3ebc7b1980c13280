"""The sound-event stage: a sound classifier on the last 0.96 s every 0.48 s, beside the voice loop.

It reads its own hub subscription (when it falls behind, the hub drops its oldest audio, never
the voice loop's) and classifies through its engine (a thread of its own for YAMNet, a worker
process for AST). Rules act as soon as a sound has lasted its
minimum time (an alarm is announced while it still rings), from their own bounded queue, so a
slow webhook never holds up listening. The assistant's own voice and speech in the room do not
start non-speech events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

from assistant.audio.format import AudioChunk
from assistant.config import SoundSettings
from assistant.engines.faces import SoundEngine
from assistant.errors import RULE_FAILED, SOUND_FAILED
from assistant.events import Event, MusicDetected, SoundDetected, Stage, StageFailed
from assistant.pipeline.sound_rules import SoundRules
from assistant.sed.detector import (
    DetectorSettings,
    SoundDetector,
    SoundEvent,
    SoundStarted,
    Watch,
    build_watches,
    default_watches,
)
from assistant.sed.features import pcm_to_float
from assistant.sed.labels import GROUPS, SPEECH, SPEECH_SCORE, LabelIndex
from assistant.sed.music import MusicSettings, MusicTags, MusicTracker
from assistant.sed.windows import WindowBuffer

log = logging.getLogger(__name__)
RULE_QUEUE = 16
RULES_DRAIN_S = 30.0
FAILURE_REPORTS = (1, 10, 100)  # then every 1000th: not a stage_failed every 0.48 s


@dataclass(frozen=True)
class _Found:
    started: list[SoundStarted]
    ended: list[SoundEvent]
    music: list[MusicTags]


class SoundStage:
    def __init__(self, settings: SoundSettings, classifier: SoundEngine, rules: SoundRules,
                 emit: Callable[[Event], None], assistant_speaking: Callable[[], bool]) -> None:
        self._classifier = classifier
        self._rules = rules
        self._emit = emit
        self._speaking = assistant_speaking
        self._settings = settings
        self._windows: WindowBuffer | None = None
        self._detector: SoundDetector | None = None
        self._music: MusicTracker | None = None
        self._speech_index = -1
        self._failures = 0
        self._fired: set[tuple[str, int]] = set()
        self._rule_queue: asyncio.Queue[SoundDetected] = asyncio.Queue(RULE_QUEUE)

    def prepare(self) -> None:
        """Once the classifier's engine has started (its labels and window are known)."""
        c = self._classifier
        labels = tuple(c.labels)
        self._windows = WindowBuffer(c.window_ms, c.hop_ms)
        self._detector = SoundDetector(DetectorSettings(self._watches(labels), labels,
                                                        window_ms=c.window_ms, hop_ms=c.hop_ms))
        music = self._settings.music
        if music.enabled:
            self._music = MusicTracker(labels, MusicSettings(
                threshold=music.threshold, min_duration_ms=int(music.min_duration_s * 1000)))
        self._speech_index = LabelIndex(labels).index(SPEECH)

    def _watches(self, labels: tuple[str, ...]) -> tuple[Watch, ...]:
        """One watch per rule label (merged across rules), and the usual groups whose classes no
        rule watches: overlapping watches would report one sound twice."""
        watched: dict[str, tuple[float, int]] = {}
        for rule in self._settings.rules:
            for name in rule.labels:
                threshold, shortest = watched.get(name, (1.0, 60000))
                watched[name] = (min(threshold, rule.threshold),
                                 min(shortest, rule.min_duration_ms))
        watches = [w for name, (threshold, shortest) in watched.items()
                   for w in build_watches({name: threshold}, labels, shortest)]
        taken = frozenset().union(*(w.indices for w in watches))
        watches += [w for w in default_watches(labels)
                    if w.name in GROUPS and w.indices and not w.indices & taken]
        return tuple(watches)

    async def run(self, audio: AsyncIterable[AudioChunk]) -> None:
        async with asyncio.TaskGroup() as group:
            rules = group.create_task(self._run_rules(), name="sound-rules")
            try:
                await self._listen(audio)
                # The input ended (a file): what still sounds is reported, rules finish.
                self._report_ended(self._detector.finish() if self._detector else [])
                await self._drain_rules()
            finally:
                rules.cancel()

    async def _listen(self, audio: AsyncIterable[AudioChunk]) -> None:
        pending: list[AudioChunk] = []
        hop_ms = self._classifier.hop_ms
        async for chunk in audio:
            pending.append(chunk)
            if pending[-1].end_ms - pending[0].start_ms >= min(hop_ms, 480):
                batch, pending = pending, []
                await self._process(batch)

    async def _process(self, batch: list[AudioChunk]) -> None:
        speaking = self._speaking()
        try:
            found = await self._analyse(batch, speaking)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken model must not stop the daemon
            self._failures += 1
            if self._failures in FAILURE_REPORTS or self._failures % 1000 == 0:
                log.exception("sound events failed (%d times)", self._failures)
                self._emit(StageFailed(at_ms=batch[-1].end_ms, stage=Stage.SOUND,
                                       code=getattr(exc, "code", SOUND_FAILED),
                                       message=f"{type(exc).__name__}: {exc}"))
            return
        self._failures = 0
        for tags in found.music:
            self._emit(MusicDetected(at_ms=tags.at_ms, genre=tags.genre, mood=tags.mood,
                                     instrument=tags.instrument, score=round(tags.score, 3)))
        for started in found.started:
            self._queue_rules(SoundDetected(at_ms=started.at_ms, label=started.label,
                                            score=round(float(started.score), 3),
                                            start_ms=started.start_ms, end_ms=started.at_ms))
        self._report_ended(found.ended)

    async def _analyse(self, batch: list[AudioChunk], speaking: bool) -> _Found:
        assert self._detector is not None and self._windows is not None
        found = _Found([], [], [])
        samples = pcm_to_float(b"".join(c.pcm for c in batch))
        for start_ms, window in self._windows.push(samples, batch[0].start_ms):
            scores = await self._classifier.scores(window)
            speech = speaking or float(scores[self._speech_index]) >= SPEECH_SCORE
            for event in self._detector.update(scores, start_ms, speech=speech):
                if isinstance(event, SoundStarted):
                    found.started.append(event)
                else:
                    found.ended.append(event)
            if self._music is not None and (tags := self._music.update(scores, start_ms)):
                found.music.append(tags)
        return found

    def _report_ended(self, ended: list[SoundEvent]) -> None:
        for event in ended:
            detected = SoundDetected(at_ms=event.end_ms, label=event.label,
                                     score=round(float(event.score), 3),
                                     start_ms=event.start_ms, end_ms=event.end_ms)
            self._emit(detected)
            self._queue_rules(detected)  # a sound shorter than a rule's minimum never started

    def _queue_rules(self, detected: SoundDetected) -> None:
        key = (detected.label, detected.start_ms)
        if key in self._fired:
            return  # already acted on when it started
        self._fired.add(key)
        if len(self._fired) > 1000:
            self._fired.clear()
        try:
            self._rule_queue.put_nowait(detected)
        except asyncio.QueueFull:
            log.warning("sound rules are behind; %s at %d ms not acted on", detected.label,
                        detected.start_ms)

    async def _run_rules(self) -> None:
        # This task is in the stage's TaskGroup: anything it let escape would end listening.
        while True:
            detected = await self._rule_queue.get()
            try:
                await self._rules.on_sound(detected)
            except Exception as exc:  # SoundRules contains a rule's faults; this is a bug in it
                log.exception("sound rules failed on %s at %d ms", detected.label,
                              detected.at_ms)
                self._emit(StageFailed(at_ms=detected.at_ms, stage=Stage.SOUND,
                                       code=RULE_FAILED, message=f"{type(exc).__name__}: {exc}"))
            finally:
                self._rule_queue.task_done()

    async def _drain_rules(self) -> None:
        """Let queued rules finish, for at most RULES_DRAIN_S (slow webhooks are cut off)."""
        try:
            async with asyncio.timeout(RULES_DRAIN_S):
                await self._rule_queue.join()
        except TimeoutError:
            log.warning("sound rules still busy after %g s at the end of the input; the rest "
                        "are not acted on", RULES_DRAIN_S)
