"""Spoken timer commands through real hassil and Home Assistant's English sentences, real time,
and a real state file across a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import pytest
from hassil import Intents, TextSlotList, recognize_best
from hassil.intents import SlotList
from home_assistant_intents import get_intents

from assistant.intents.handlers.base import Handler, HandlerContext, HandlerResult
from assistant.intents.handlers.timers import timer_handlers
from assistant.intents.matching import IntentMatch
from assistant.timers import TimerService
from tests.unit.test_timers import run_until

pytestmark = pytest.mark.integration

CONTEXT = HandlerContext(turn_id=1, now=datetime(2024, 5, 1, 12, 0), last_reply=None)
SLOT_LISTS: dict[str, SlotList] = {"area": TextSlotList.from_strings(["kitchen", "office"])}


@pytest.fixture(scope="module")
def intents() -> Intents:
    data = get_intents("en")
    assert data is not None
    names = [name for name in data["intents"] if "Timer" in name]
    assert len(names) == 8, names  # the eight timer intents the handlers cover
    return Intents.from_dict({**data, "intents": {n: data["intents"][n] for n in names}})


class Assistant:
    """Recognize a sentence and hand it to the timer handlers, as the router does."""

    def __init__(self, intents: Intents, service: TimerService) -> None:
        self.intents = intents
        self.handlers: dict[str, Handler] = timer_handlers(service)

    async def say(self, text: str) -> HandlerResult:
        result = recognize_best(text, self.intents, slot_lists=SLOT_LISTS)
        assert result is not None, f"hassil did not understand {text!r}"
        slots = {name: entity.value for name, entity in result.entities.items()}
        match = IntentMatch(result.intent.name, slots, text)
        return await self.handlers[match.intent].handle(match, CONTEXT)

    def reply(self, text: str) -> str:
        return asyncio.run(self.say(text)).speech


def test_a_spoken_timer_is_announced_when_done(intents: Intents, tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[str], float]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        service = TimerService(tmp_path / "timers.json", heard.put_nowait)
        service.load()
        reply = await Assistant(intents, service).say("set a timer for 2 seconds")
        started = time.monotonic()
        said = await run_until(service, heard, 1, timeout_s=5)
        return reply.speech, said, time.monotonic() - started

    reply, said, took_s = asyncio.run(scenario())
    assert reply == "Timer set for 2 seconds."
    assert said == ["Your 2 second timer is done."]
    assert 1.8 < took_s < 3


def test_named_timers_status_and_cancel(intents: Intents, tmp_path: Path) -> None:
    assistant = Assistant(intents, TimerService(tmp_path / "timers.json", lambda text: None))
    assert assistant.reply("set a timer for 10 minutes called pizza") == (
        "Pizza timer set for 10 minutes.")
    assert assistant.reply("set a 5 minute timer") == "Timer set for 5 minutes."
    assert assistant.reply("how much time is left on the pizza timer") == (
        "Your pizza timer has 10 minutes left.")
    assert assistant.reply("pause the 5 minute timer") == "Paused the 5 minute timer."
    assert assistant.reply("timer status") == (
        "You have 2 timers. The 5 minute timer is paused with 5 minutes left. "
        "The pizza timer has 10 minutes left.")
    assert assistant.reply("cancel the timer").startswith("Which timer: the 5 minute timer")
    assert assistant.reply("add 5 minutes to my pizza timer") == (
        "Added 5 minutes to the pizza timer.")
    assert assistant.reply("remove 1 minute from the 5 minute timer") == (
        "Removed 1 minute from the 5 minute timer.")
    assert assistant.reply("how much time is left on my 5 minute timer") == (
        "Your 5 minute timer is paused with 4 minutes left.")
    assert assistant.reply("cancel the tea timer") == "You have no timer called tea."
    assert assistant.reply("cancel the pizza timer") == "Cancelled the pizza timer."
    assert assistant.reply("resume the timer") == "Resumed the 5 minute timer."
    assert assistant.reply("cancel my timer") == "Cancelled the 5 minute timer."
    assert assistant.reply("how much time is left on my timers") == "You have no timers."


def test_durations_and_targets_hassil_gives_in_odd_shapes(intents: Intents,
                                                          tmp_path: Path) -> None:
    assistant = Assistant(intents, TimerService(tmp_path / "timers.json", lambda text: None))
    assert assistant.reply("set a timer for 1 hour and 30 minutes") == (
        "Timer set for 1 hour and 30 minutes.")
    assert assistant.reply("set a timer for 90 seconds") == (
        "Timer set for 1 minute and 30 seconds.")
    assert assistant.reply("set a timer for two and a half minutes") == (
        "Timer set for 2 minutes and 30 seconds.")
    assert assistant.reply("set a timer for 30 minutes called kitchen") == (
        "Kitchen timer set for 30 minutes.")
    # hassil gives this one as the wildcard name "1 hour and 30 minute"
    assert assistant.reply("cancel the 1 hour and 30 minute timer") == (
        "Cancelled the 1 hour and 30 minute timer.")
    # and "kitchen" as an area: the only name a timer has on a one-room assistant
    assert assistant.reply("cancel the kitchen timer") == "Cancelled the kitchen timer."
    assert assistant.reply("set a timer for 100 hours") == (
        "Sorry, a timer can be at most 24 hours long.")
    assert assistant.reply("cancel all timers") == "Cancelled 2 timers."


def test_timers_survive_a_restart(intents: Intents, tmp_path: Path) -> None:
    path = tmp_path / "state" / "timers.json"
    first = Assistant(intents, TimerService(path, lambda text: None))
    assert first.reply("set a timer for 1 second") == "Timer set for 1 second."
    assert first.reply("set a timer for 3 seconds called tea") == (
        "Tea timer set for 3 seconds.")
    time.sleep(1.2)  # the daemon is off while the first timer ends

    async def second_run() -> list[str]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        service = TimerService(path, heard.put_nowait)
        service.load()
        assert (await Assistant(intents, service).say("how much time is left on the tea timer")
                ).speech in ("Your tea timer has 2 seconds left.",
                             "Your tea timer has 1 second left.")
        return await run_until(service, heard, 2, timeout_s=5)

    assert asyncio.run(second_run()) == ["Your 1 second timer finished while I was off.",
                                         "Your tea timer is done."]
    after = TimerService(path, lambda text: None)
    after.load()
    assert after.list() == []  # announced timers are gone from the file too
