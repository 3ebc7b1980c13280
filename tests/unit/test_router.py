import asyncio
from datetime import datetime

import pytest

from assistant.config import Settings
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.handlers.builtin import spoken_date, spoken_time
from assistant.intents.router import Router


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_settings(Settings())


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("What time is it?", "HassGetCurrentTime"),
        ("what's the time", "HassGetCurrentTime"),
        ("Um, what time is it?", "HassGetCurrentTime"),
        ("WHAT TIME IS IT", "HassGetCurrentTime"),
        ("What's the date today?", "HassGetCurrentDate"),
        ("What day is it today?", "HassGetCurrentDate"),
        ("Never mind.", "HassNevermind"),
        ("Stop.", "AssistantStop"),
        ("Cancel", "AssistantStop"),
        ("Stop it, please.", "AssistantStop"),
        ("Repeat that.", "AssistantRepeat"),
        ("Say that again.", "AssistantRepeat"),
    ],
)
def test_matches(router: Router, text: str, intent: str) -> None:
    match = router.match(text)
    assert match is not None and match.intent == intent


@pytest.mark.parametrize("text", ["", "   ", "Tell me a joke.", "turn on the lamp", "stop the"])
def test_does_not_match(router: Router, text: str) -> None:
    assert router.match(text) is None


def context(last_reply: str | None = None) -> HandlerContext:
    return HandlerContext(turn_id=1, now=datetime(2026, 3, 5, 15, 7), last_reply=last_reply)


def answer(router: Router, text: str, ctx: HandlerContext) -> str:
    match = router.match(text)
    assert match is not None
    return asyncio.run(router.handle(match, ctx)).speech


def test_time_answer(router: Router) -> None:
    assert answer(router, "what time is it", context()) == "It's 3:07 PM."


def test_date_answer(router: Router) -> None:
    assert answer(router, "what's the date today", context()) == "Today is Thursday, March 5, 2026."


def test_stop_is_silent(router: Router) -> None:
    assert answer(router, "stop", context("It's 3:07 PM.")) == ""


def test_repeat_says_last_reply_or_explains(router: Router) -> None:
    assert answer(router, "repeat that", context("It's 3:07 PM.")) == "It's 3:07 PM."
    assert answer(router, "repeat that", context(None)) == Settings().responses.nothing_to_repeat


@pytest.mark.parametrize(
    ("hour", "minute", "spoken"),
    [(0, 0, "It's 12 o'clock AM."), (0, 5, "It's 12:05 AM."), (12, 30, "It's 12:30 PM."),
     (23, 59, "It's 11:59 PM."), (9, 0, "It's 9 o'clock AM.")],
)
def test_spoken_time(hour: int, minute: int, spoken: str) -> None:
    assert spoken_time(datetime(2026, 1, 1, hour, minute)) == spoken


def test_spoken_date() -> None:
    assert spoken_date(datetime(2026, 11, 23)) == "Today is Monday, November 23, 2026."
