"""Wake-word detection with the microWakeWord models that ship in `pymicro-wakeword`."""

from __future__ import annotations

import logging

from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

from assistant.audio.format import AudioChunk
from assistant.config import WakeSettings
from assistant.engines.base import WakeHit
from assistant.errors import ModelError

log = logging.getLogger(__name__)


class WakeDetector:
    """Several wake words on one shared feature front end; stateful, so one thread owns it."""

    def __init__(self, settings: WakeSettings) -> None:
        self._settings = settings
        self._features = MicroWakeWordFeatures()
        try:
            self._models = [MicroWakeWord.from_builtin(Model(word)) for word in settings.words]
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load wake word models {settings.words}: {exc}") from exc
        self._cutoffs = [
            settings.threshold if settings.threshold is not None else m.probability_cutoff
            for m in self._models
        ]
        self._quiet_until_ms = -1

    def process(self, chunk: AudioChunk) -> WakeHit | None:
        """Feed one chunk; returns a hit at most once per refractory period."""
        best: WakeHit | None = None
        for features in self._features.process_streaming(chunk.pcm):
            for model, cutoff in zip(self._models, self._cutoffs, strict=True):
                prob = model.process_streaming_prob(features)
                if prob is None or prob <= cutoff:
                    continue
                if best is None or prob > best.probability:
                    best = WakeHit(word=str(model.id), probability=float(prob), at_ms=chunk.end_ms)
        if best is None or chunk.end_ms < self._quiet_until_ms:
            return None
        self._quiet_until_ms = chunk.end_ms + self._settings.refractory_ms
        log.debug("wake word %s p=%.2f at %d ms", best.word, best.probability, best.at_ms)
        return best

    def close(self) -> None:
        for model in self._models:
            model.close()
