"""Built-in intents: the time, the date, stop / never mind, repeat that."""

from __future__ import annotations

from datetime import datetime

from assistant.config import ResponseSettings
from assistant.intents.handlers.base import Handler, HandlerContext, HandlerResult
from assistant.intents.matching import IntentMatch


def spoken_time(now: datetime) -> str:
    """12-hour clock, as people say it: 'It's 3:05 PM.'"""
    hour = now.hour % 12 or 12
    suffix = "AM" if now.hour < 12 else "PM"
    if now.minute == 0:
        return f"It's {hour} o'clock {suffix}."
    return f"It's {hour}:{now.minute:02d} {suffix}."


def spoken_date(now: datetime) -> str:
    return f"Today is {now:%A}, {now:%B} {now.day}, {now.year}."


class TimeHandler:
    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return HandlerResult(spoken_time(context.now))

    def preview(self, match: IntentMatch, context: HandlerContext) -> str | None:
        return spoken_time(context.now)


class DateHandler:
    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return HandlerResult(spoken_date(context.now))

    def preview(self, match: IntentMatch, context: HandlerContext) -> str | None:
        return spoken_date(context.now)


class SilentHandler:
    """Stop / cancel / never mind: the barge-in already stopped any speech; say nothing."""

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        return HandlerResult("")


class RepeatHandler:
    def __init__(self, responses: ResponseSettings) -> None:
        self._responses = responses

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        if not context.last_reply:
            return HandlerResult(self._responses.nothing_to_repeat)
        return HandlerResult(context.last_reply)


def builtin_handlers(responses: ResponseSettings) -> dict[str, Handler]:
    silent = SilentHandler()
    return {
        "HassGetCurrentTime": TimeHandler(),
        "HassGetCurrentDate": DateHandler(),
        "HassNevermind": silent,
        "AssistantStop": silent,
        "AssistantRepeat": RepeatHandler(responses),
    }
