"""Text -> intent -> handler. The pipeline talks to this and nothing below it."""

from __future__ import annotations

from assistant.config import Settings
from assistant.errors import IntentError
from assistant.intents.handlers.base import Handler, HandlerContext, HandlerResult
from assistant.intents.handlers.builtin import builtin_handlers
from assistant.intents.matching import IntentMatch, IntentMatcher


class Router:
    def __init__(self, matcher: IntentMatcher, handlers: dict[str, Handler]) -> None:
        missing = [name for name in matcher.intent_names if name not in handlers]
        if missing:
            raise IntentError(f"intents without a handler: {', '.join(missing)}")
        self._matcher = matcher
        self._handlers = handlers

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        matcher = IntentMatcher(settings.intents.language, settings.intents.skip_words)
        return cls(matcher, builtin_handlers(settings.responses))

    def match(self, text: str) -> IntentMatch | None:
        return self._matcher.match(text)

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return await self._handlers[match.intent].handle(match, context)
