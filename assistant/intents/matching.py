"""Match transcripts with hassil: Home Assistant's sentences, the assistant's own, the user's."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from hassil import Intents, recognize_best
from hassil.intents import SlotList
from home_assistant_intents import get_intents

from assistant.errors import IntentError
from assistant.intents.fuzzy import Corrector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntentMatch:
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    fuzzy: bool = False
    """Matched only after correcting the transcript towards known words and names."""
    score: float = 1.0
    """Similarity of the corrected words (1.0 for an exact match)."""


@dataclass(frozen=True)
class MatcherConfig:
    language: str
    skip_words: list[str]
    ha_intents: tuple[str, ...]
    """Home Assistant intents to load (those the daemon has handlers for)."""
    slot_lists: dict[str, SlotList] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    """hassil data of the user's intents: intents, lists, expansion_rules."""
    area: str | None = None
    """The assistant's own area: context for "turn on the lights"."""
    fuzzy_threshold: float | None = None


class IntentMatcher:
    def __init__(self, config: MatcherConfig) -> None:
        self._config = config
        data = _load(config)
        self._intents = _parse(data)
        self._context = {"area": config.area} if config.area else None
        self._corrector = None
        if config.fuzzy_threshold is not None:
            self._corrector = Corrector(data, config.slot_lists, config.fuzzy_threshold)
        self.match("what time is it")  # hassil builds its indexes on first use: not in a turn

    @property
    def intent_names(self) -> list[str]:
        return sorted(self._intents.intents)

    def match(self, text: str) -> IntentMatch | None:
        clean = normalize(text)
        if not clean:
            return None
        found = self._recognize(clean, text)
        if found is not None or self._corrector is None:
            return found
        corrected, score = self._corrector.correct(clean)
        if corrected == clean:
            return None
        found = self._recognize(corrected, text)
        if found is None:
            return None
        log.info("fuzzy match: %r read as %r (similarity %.2f)", text, corrected, score)
        return IntentMatch(found.intent, found.slots, text, fuzzy=True, score=round(score, 3))

    def _recognize(self, clean: str, original: str) -> IntentMatch | None:
        result = recognize_best(
            clean, self._intents, slot_lists=self._config.slot_lists,
            skip_words=self._intents.skip_words, intent_context=self._context,
            language=self._config.language, best_slot_name="name",
        )
        if result is None:
            return None
        slots = {name: entity.value for name, entity in result.entities.items()}
        return IntentMatch(intent=result.intent.name, slots=slots, text=original)


def normalize(text: str) -> str:
    """What Whisper adds that templates don't have: casing, punctuation, hyphens, spacing.
    Digits, %, ° and apostrophes stay: templates and number ranges use them."""
    text = text.casefold().replace("-", " ")
    text = re.sub(r"[^\w\s%°'.,]", " ", text)
    text = re.sub(r"(?<!\d)[.,]|[.,](?!\d)", " ", text)  # keep 2.5 and 1,000
    return " ".join(text.split())


def _load(config: MatcherConfig) -> dict[str, Any]:
    ha = get_intents(config.language)
    if ha is None:
        raise IntentError(f"no Home Assistant sentences for language {config.language!r}")
    merged = dict(ha)
    merged["intents"] = {n: ha["intents"][n] for n in config.ha_intents if n in ha["intents"]}
    merged["skip_words"] = sorted({*ha.get("skip_words", []), *config.skip_words})
    own = yaml.safe_load(
        resources.files("assistant.data.intents").joinpath("builtin.yaml").read_text("utf-8"))
    for source in (own, config.custom):
        merged["lists"] = {**merged.get("lists", {}), **(source.get("lists") or {})}
        merged["expansion_rules"] = {**merged.get("expansion_rules", {}),
                                     **(source.get("expansion_rules") or {})}
        for name, intent in (source.get("intents") or {}).items():
            if source is own and name.startswith("Hass") and name not in config.ha_intents:
                continue  # extra sentences for an intent that has no handler in this setup
            if name in merged["intents"]:
                base = merged["intents"][name]
                merged["intents"][name] = {**base, "data": [*base["data"], *intent["data"]]}
            else:
                merged["intents"][name] = intent
    return merged


def _parse(data: dict[str, Any]) -> Intents:
    try:
        return Intents.from_dict(data)
    except Exception as exc:  # hassil raises several parse error types
        raise IntentError(f"cannot parse intent templates: {exc}") from exc
