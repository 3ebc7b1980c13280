"""Sound rules: when a configured sound is heard, say so and/or run an intent action."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from assistant.config import ResponseSettings, ShellSettings, SoundRuleSettings
from assistant.errors import AssistantError
from assistant.events import Event, SoundDetected, Stage, StageFailed
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.actions import CustomIntent
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import HandlerContext, Publisher
from assistant.intents.matching import IntentMatch
from assistant.intents.templates import check, render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    settings: SoundRuleSettings
    labels: frozenset[str]
    """The AudioSet class names the rule's labels and groups stand for."""
    action: ActionHandler | None


class SoundRules:
    def __init__(self, rules: list[Rule], announce: Callable[[str], None],
                 emit: Callable[[Event], None]) -> None:
        self._rules = rules
        self._announce = announce
        self._emit = emit
        self._quiet_until_ms: dict[int, int] = {}

    @classmethod
    def build(cls, rules: list[SoundRuleSettings], expand: Callable[[list[str]], set[str]],
              announce: Callable[[str], None], emit: Callable[[Event], None], *,
              publisher: Publisher | None, homeassistant: HomeAssistantClient | None,
              shell: ShellSettings, responses: ResponseSettings) -> SoundRules:
        built = []
        for i, rule in enumerate(rules):
            name = f"sounds.rules.{i}"
            if rule.say is not None:
                check(rule.say, name=f"{name}.say")
            action = None
            if rule.action is not None:
                action = ActionHandler(name, CustomIntent(action=rule.action),
                                       publisher=publisher, homeassistant=homeassistant,
                                       shell=shell, responses=responses)
            built.append(Rule(rule, frozenset(expand(rule.labels)), action))
        return cls(built, announce, emit)

    async def on_sound(self, event: SoundDetected) -> None:
        """Fire every rule this sound satisfies (each at most once per cooldown)."""
        for i, rule in enumerate(self._rules):
            if not self._fires(i, rule, event):
                continue
            self._quiet_until_ms[i] = event.end_ms + int(rule.settings.cooldown_s * 1000)
            slots = {"label": event.label, "score": round(event.score, 2)}
            try:
                if rule.settings.say is not None:
                    self._announce(render(rule.settings.say, slots, event.label,
                                          name=f"sounds.rules.{i}.say"))
                if rule.action is not None:
                    context = HandlerContext(turn_id=0, now=datetime.now().astimezone(),
                                             last_reply=None)
                    match = IntentMatch(f"SoundRule{i}", slots, event.label)
                    result = await rule.action.handle(match, context)
                    if not result.success:
                        log.warning("sound rule %d: %s", i, result.speech)
            except AssistantError as exc:
                log.error("sound rule %d failed: %s", i, exc.message)
                self._emit(StageFailed(at_ms=event.at_ms, stage=Stage.SOUND, code=exc.code,
                                       message=f"sounds.rules.{i}: {exc.message}"))

    def _fires(self, i: int, rule: Rule, event: SoundDetected) -> bool:
        if event.label not in rule.labels or event.score < rule.settings.threshold:
            return False
        if event.end_ms - event.start_ms < rule.settings.min_duration_ms:
            return False
        return event.end_ms >= self._quiet_until_ms.get(i, -1)
