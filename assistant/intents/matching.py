"""Match transcripts with hassil: Home Assistant's sentences plus the assistant's own."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from hassil import Intents, recognize
from home_assistant_intents import get_intents

from assistant.errors import IntentError

log = logging.getLogger(__name__)

# The Home Assistant intents this daemon can act on itself (more come with the home handlers).
HA_INTENTS = ("HassGetCurrentTime", "HassGetCurrentDate", "HassNevermind")


@dataclass(frozen=True)
class IntentMatch:
    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    text: str = ""


class IntentMatcher:
    def __init__(self, language: str, skip_words: list[str]) -> None:
        self._intents = _load(language, skip_words)

    @property
    def intent_names(self) -> list[str]:
        return sorted(self._intents.intents)

    def match(self, text: str) -> IntentMatch | None:
        if not text.strip():
            return None
        result = recognize(text, self._intents)
        if result is None:
            return None
        slots = {name: entity.value for name, entity in result.entities.items()}
        return IntentMatch(intent=result.intent.name, slots=slots, text=text)


def _load(language: str, skip_words: list[str]) -> Intents:
    ha = get_intents(language)
    if ha is None:
        raise IntentError(f"no Home Assistant sentences for language {language!r}")
    merged = dict(ha)
    merged["intents"] = {name: ha["intents"][name] for name in HA_INTENTS if name in ha["intents"]}
    merged["skip_words"] = sorted({*ha.get("skip_words", []), *skip_words})
    own = yaml.safe_load(
        resources.files("assistant.data.intents").joinpath("builtin.yaml").read_text("utf-8")
    )
    for name, intent in own["intents"].items():
        if name in merged["intents"]:
            base = merged["intents"][name]
            merged["intents"][name] = {**base, "data": [*base["data"], *intent["data"]]}
        else:
            merged["intents"][name] = intent
    try:
        return Intents.from_dict(merged)
    except Exception as exc:  # hassil raises several parse error types
        raise IntentError(f"cannot parse intent templates: {exc}") from exc
