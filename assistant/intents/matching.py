"""Match transcripts with hassil: Home Assistant's sentences, the assistant's own, the user's."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from hassil import Intents, recognize_best
from hassil.expression import Expression, Group, ListReference, RuleReference, Sentence
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
        _check_lists(self._intents, set(config.slot_lists))
        self._context = {"area": config.area} if config.area else None
        self._corrector = None
        if config.fuzzy_threshold is not None:
            self._corrector = Corrector(data, config.slot_lists, config.fuzzy_threshold)
        for warm_up in ("what time is it", "turn on the kitchen lights"):
            self.match(warm_up)  # hassil builds its indexes on first use: not in a turn

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
    taken = {*merged.get("lists", {}), *config.slot_lists}
    clash = sorted(taken & set(config.custom.get("lists") or {}))
    if clash:
        raise IntentError(f"the list name(s) {', '.join(clash)} are built in (Home Assistant's "
                          "sentences or your devices use them); rename your list")
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


def _check_lists(intents: Intents, provided: set[str]) -> None:
    """A sentence naming a list nobody defines would fail at match time, inside a turn."""
    known = provided | set(intents.slot_lists)
    for name, intent in intents.intents.items():
        for block in intent.data:
            try:
                sentences = block.sentences  # hassil parses them on first use
            except Exception as exc:  # hassil raises several parse error types
                raise IntentError(f"intent {name}: cannot parse a sentence: {exc}") from exc
            for sentence in sentences:
                for ref in _list_refs(sentence.expression, intents.expansion_rules, set()):
                    if ref not in known:
                        raise IntentError(
                            f"intent {name}: the sentence {sentence.text!r} uses the list "
                            f"{{{ref}}}, which is not defined; add it under `lists:` in the "
                            "intents file (values, a range, or wildcard: true)")


def _list_refs(expr: Expression, rules: dict[str, Sentence], seen: set[str]) -> Iterator[str]:
    if isinstance(expr, ListReference):
        if not expr.is_inline_range:
            yield expr.list_name
    elif isinstance(expr, RuleReference):
        if expr.rule_name in rules and expr.rule_name not in seen:
            seen.add(expr.rule_name)
            yield from _list_refs(rules[expr.rule_name].expression, rules, seen)
    elif isinstance(expr, Group):
        for item in expr.items:
            yield from _list_refs(item, rules, seen)


def _parse(data: dict[str, Any]) -> Intents:
    try:
        return Intents.from_dict(data)
    except Exception as exc:  # hassil raises several parse error types
        raise IntentError(f"cannot parse intent templates: {exc}") from exc
