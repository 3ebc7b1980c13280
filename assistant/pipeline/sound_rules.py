"""Sound rules: when a configured sound is heard, say so and/or run an intent action."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from assistant.config import ResponseSettings, ShellSettings, SoundRuleSettings
from assistant.errors import RULE_FAILED, AssistantError
from assistant.events import Event, SoundDetected, Stage, StageFailed
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.actions import CustomIntent
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import HandlerContext, Publisher
from assistant.intents.matching import IntentMatch
from assistant.intents.templates import check, render
from assistant.quoting import excerpt

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
        """Fire every rule this sound satisfies (each at most once per cooldown).

        Whatever a rule raises is reported and contained: one broken part of a rule (a template,
        a webhook's odd answer, a bug in a handler) must not stop listening, the rule's other
        part (a failed announcement still sends the alert) or the other rules.
        """
        for i, rule in enumerate(self._rules):
            if not self._fires(i, rule, event):
                continue
            self._quiet_until_ms[i] = event.end_ms + int(rule.settings.cooldown_s * 1000)
            slots = {"label": event.label, "score": round(event.score, 2)}
            if (say := rule.settings.say) is not None:
                where = f"sounds.rules.{i}.say"
                await self._contained(where, event, self._say(say, slots, event, where))
            if rule.action is not None:
                await self._contained(f"sounds.rules.{i}.action", event,
                                      self._act(i, rule.action, slots, event))

    async def _say(self, say: str, slots: dict[str, Any], event: SoundDetected,
                   where: str) -> None:
        self._announce(render(say, slots, event.label, name=where))

    async def _act(self, i: int, action: ActionHandler, slots: dict[str, Any],
                   event: SoundDetected) -> None:
        context = HandlerContext(turn_id=0, now=datetime.now().astimezone(), last_reply=None)
        result = await action.handle(IntentMatch(f"SoundRule{i}", slots, event.label), context)
        if not result.success:  # its answer may be a web hook's whole reply
            log.warning("sound rule %d: %s", i, excerpt(result.speech))

    async def _contained(self, where: str, event: SoundDetected,
                         step: Coroutine[Any, Any, None]) -> None:
        """Run one part of a rule; what it raises becomes a stage_failed (CancelledError, a
        BaseException, still stops it)."""
        try:
            await step
        except AssistantError as exc:  # says what to fix: its own code, no traceback needed
            log.error("%s failed: %s", where, exc.message)
            self._emit(StageFailed(at_ms=event.at_ms, stage=Stage.SOUND, code=exc.code,
                                   message=f"{where}: {exc.message}"))
        except Exception as exc:  # a bug: the traceback goes to the log
            log.exception("%s crashed on %s", where, event.label)
            self._emit(StageFailed(at_ms=event.at_ms, stage=Stage.SOUND, code=RULE_FAILED,
                                   message=f"{where}: {type(exc).__name__}: {exc}"))

    def _fires(self, i: int, rule: Rule, event: SoundDetected) -> bool:
        if event.label not in rule.labels or event.score < rule.settings.threshold:
            return False
        if event.end_ms - event.start_ms < rule.settings.min_duration_ms:
            return False
        return event.end_ms >= self._quiet_until_ms.get(i, -1)
