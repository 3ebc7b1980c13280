"""Text -> intent -> handler. The pipeline talks to this and nothing below it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError, IntentError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.actions import CustomIntent, HomeAssistantAction
from assistant.intents.custom import load_custom_intents
from assistant.intents.devices import DeviceRegistry
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import (
    Handler,
    HandlerContext,
    HandlerResult,
    Previewable,
    Publisher,
)
from assistant.intents.handlers.builtin import builtin_handlers
from assistant.intents.handlers.home import HomeHandlers
from assistant.intents.handlers.timers import timer_handlers
from assistant.intents.matching import IntentMatch, IntentMatcher, MatcherConfig
from assistant.timers import TimerService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What handlers act through; None where the config has no such section."""

    registry: DeviceRegistry
    publisher: Publisher | None = None
    homeassistant: HomeAssistantClient | None = None
    timers: TimerService | None = None


class Router:
    def __init__(self, matcher: IntentMatcher, handlers: dict[str, Handler],
                 fallback: Handler | None = None) -> None:
        missing = [name for name in matcher.intent_names if name not in handlers]
        if missing:
            raise IntentError(f"intents without a handler: {', '.join(missing)}")
        self._matcher = matcher
        self._handlers = handlers
        self._fallback = fallback

    @classmethod
    def from_settings(cls, settings: Settings, services: Services | None = None) -> Router:
        services = services or Services(DeviceRegistry(settings.devices))
        handlers = builtin_handlers(settings.responses)
        handlers |= HomeHandlers(services.registry, services.publisher, services.homeassistant,
                                 settings.responses).handlers()
        if services.timers is not None:
            handlers |= timer_handlers(services.timers)
        ha_intents = tuple(handlers)
        custom = load_custom_intents(settings.intents.files)
        for name, spec in custom.specs.items():
            if name in handlers:
                raise ConfigError(f"{custom.sources[name]}: {name} is a built-in intent; give "
                                  "your intent a name of its own")
            try:
                handlers[name] = ActionHandler(
                    name, spec, publisher=services.publisher,
                    homeassistant=services.homeassistant, shell=settings.shell,
                    responses=settings.responses, language=settings.intents.language)
            except IntentError as exc:
                raise ConfigError(f"{custom.sources[name]}: {exc.message}") from exc
        try:
            matcher = _matcher(settings, services, ha_intents, custom.templates)
        except IntentError as exc:
            files = ", ".join(str(path) for path in settings.intents.files)
            raise ConfigError(f"{files}: {exc.message}" if files else exc.message) from exc
        fallback = None
        ha = settings.homeassistant
        if ha is not None and ha.conversation_fallback and services.homeassistant is not None:
            converse = CustomIntent(action=HomeAssistantAction(type="homeassistant",
                                                               conversation=True))
            fallback = ActionHandler(
                "HomeAssistantConversation", converse, publisher=None,
                homeassistant=services.homeassistant, shell=settings.shell,
                responses=settings.responses, language=settings.intents.language)
        return cls(matcher, handlers, fallback)

    def match(self, text: str) -> IntentMatch | None:
        return self._matcher.match(text)

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return await self._handlers[match.intent].handle(match, context)

    def preview(self, match: IntentMatch, context: HandlerContext) -> str | None:
        """The reply known before acting (the time, a timer's confirmation), or None."""
        handler = self._handlers[match.intent]
        return handler.preview(match, context) if isinstance(handler, Previewable) else None

    @property
    def has_fallback(self) -> bool:
        return self._fallback is not None

    async def fallback(self, text: str, context: HandlerContext) -> HandlerResult:
        """What no intent here matched goes to Home Assistant's conversation agent."""
        assert self._fallback is not None
        return await self._fallback.handle(IntentMatch("HomeAssistantConversation", text=text),
                                           context)


def _matcher(settings: Settings, services: Services, ha_intents: tuple[str, ...],
             custom: dict[str, Any]) -> IntentMatcher:
    return IntentMatcher(MatcherConfig(
        language=settings.intents.language,
        skip_words=[*settings.intents.skip_words, *_spoken_wake_words(settings)],
        ha_intents=ha_intents, slot_lists=services.registry.slot_lists(), custom=custom,
        area=settings.site.area, fuzzy_threshold=settings.intents.fuzzy_threshold,
    ))


def _spoken_wake_words(settings: Settings) -> list[str]:
    """Whisper sometimes keeps the wake word ("Okay Nabu, turn on ..."): not part of a command."""
    spoken = []
    for word in settings.wake.words:
        phrase = word.replace("_", " ")
        spoken.append(phrase)
        if phrase.startswith("okay "):
            spoken.append("ok " + phrase.removeprefix("okay "))
    return spoken
