"""Timer service and timer handlers: a fake clock, real files in tmp_path, real asyncio."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.intents.handlers.base import HandlerContext, HandlerResult
from assistant.intents.handlers.timers import (
    TimerTarget,
    pick_timers,
    spoken_duration,
    target_from_slots,
    timer_handlers,
)
from assistant.intents.matching import IntentMatch
from assistant.timers import (
    Timer,
    TimerError,
    TimerService,
    format_duration,
    format_remaining,
)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock, said: list[str]) -> TimerService:
    return TimerService(tmp_path / "state" / "timers.json", said.append, clock)


def ask(service: TimerService, intent: str, **slots: Any) -> HandlerResult:
    context = HandlerContext(turn_id=1, now=datetime(2024, 5, 1, 12, 0), last_reply=None)
    handler = timer_handlers(service)[intent]
    return asyncio.run(handler.handle(IntentMatch(intent, dict(slots), ""), context))


@pytest.mark.parametrize(("seconds", "spoken"), [
    (1, "1 second"), (2, "2 seconds"), (90, "1 minute and 30 seconds"), (600, "10 minutes"),
    (5400, "1 hour and 30 minutes"), (3661, "1 hour, 1 minute and 1 second"),
    (7200, "2 hours"), (0, "0 seconds"),
])
def test_durations_are_spoken_naturally(seconds: float, spoken: str) -> None:
    assert format_duration(seconds) == spoken


def test_adjective_durations_and_remaining_round_up() -> None:
    assert format_duration(600, adjective=True) == "10 minute"
    assert format_duration(5400, adjective=True) == "1 hour and 30 minute"
    assert format_remaining(599.7) == "10 minutes"
    assert format_remaining(0.2) == "1 second"


def test_start_pause_resume_keeps_the_remaining_time(service: TimerService,
                                                     clock: FakeClock) -> None:
    timer = service.start(600, "pizza")
    clock.now += 100
    paused = service.pause(timer.id)
    assert paused.paused and paused.remaining_s == pytest.approx(500)
    clock.now += 1000  # paused time does not count
    assert service.remaining_s(service.list()[0]) == pytest.approx(500)
    resumed = service.resume(timer.id)
    assert resumed.ends_at == pytest.approx(clock.now + 500)
    clock.now += 200
    assert service.remaining_s(resumed) == pytest.approx(300)


def test_add_and_subtract(service: TimerService, clock: FakeClock) -> None:
    timer = service.start(600)
    clock.now += 60
    assert service.remaining_s(service.add(timer.id, 300)) == pytest.approx(840)
    assert service.remaining_s(service.add(timer.id, -120)) == pytest.approx(720)
    # Shortened past zero it is due now; the original duration still names it.
    shortened = service.add(timer.id, -10_000)
    assert service.remaining_s(shortened) == 0 and shortened.duration_s == 600
    with pytest.raises(TimerError):
        service.add(timer.id, 25 * 3600)


@pytest.mark.parametrize("seconds", [0, -5, 24 * 3600 + 1, float("nan")])
def test_zero_and_absurd_durations_are_refused(service: TimerService, seconds: float) -> None:
    with pytest.raises(TimerError):
        service.start(seconds)
    assert service.list() == []


def test_targets_from_slots() -> None:
    assert target_from_slots({}) == TimerTarget()
    assert target_from_slots({"name": "The Pizza."}) == TimerTarget(name="pizza")
    assert target_from_slots({"start_minutes": 5.0}) == TimerTarget(start_s=300)
    assert target_from_slots({"start_hours": 1, "start_minutes": 30}) == TimerTarget(start_s=5400)
    # hassil's wildcard name swallows durations it has no sentence for
    assert target_from_slots({"name": "1 hour and 30 minute"}) == TimerTarget(start_s=5400)
    assert target_from_slots({"area": "Kitchen"}) == TimerTarget(name="kitchen")
    assert spoken_duration("90 second") == 90 and spoken_duration("pizza") is None


def _timer(name: str | None, duration_s: float) -> Timer:
    return Timer(f"{name}-{duration_s}", name, duration_s, 0.0, duration_s, duration_s)


def test_pick_timers_by_name_and_start_duration() -> None:
    pizza, tea, plain = _timer("pizza", 600), _timer("tea", 300), _timer(None, 300)
    timers = [pizza, tea, plain]
    assert pick_timers(timers, TimerTarget(name="pizza")) == [pizza]
    assert pick_timers(timers, TimerTarget(start_s=300)) == [tea, plain]
    assert pick_timers(timers, TimerTarget(name="tea", start_s=300)) == [tea]
    assert pick_timers(timers, TimerTarget()) == timers
    assert pick_timers(timers, TimerTarget(name="cake")) == []


def test_handlers_reply_in_sentences(service: TimerService, clock: FakeClock) -> None:
    assert ask(service, "HassStartTimer", minutes=10).speech == "Timer set for 10 minutes."
    reply = ask(service, "HassStartTimer", minutes=4.0, seconds=30, name="Pizza")
    assert reply.speech == "Pizza timer set for 4 minutes and 30 seconds."
    clock.now += 30
    reply = ask(service, "HassTimerStatus", name="pizza")
    assert reply.speech == "Your pizza timer has 4 minutes left."
    ask(service, "HassPauseTimer", name="pizza")
    assert ask(service, "HassTimerStatus").speech == (
        "You have 2 timers. The pizza timer is paused with 4 minutes left. "
        "The 10 minute timer has 9 minutes and 30 seconds left.")
    reply = ask(service, "HassIncreaseTimer", minutes=1.0, start_minutes=10)
    assert reply.speech == "Added 1 minute to the 10 minute timer."
    reply = ask(service, "HassDecreaseTimer", seconds=30.0, name="pizza")
    assert reply.speech == "Removed 30 seconds from the pizza timer."
    assert ask(service, "HassCancelTimer", name="pizza").speech == (
        "Cancelled the pizza timer.")
    reply = ask(service, "HassCancelTimer", name="pizza")
    assert reply.speech == "You have no timer called pizza." and not reply.success
    assert ask(service, "HassCancelAllTimers").speech == "Cancelled the 10 minute timer."
    assert ask(service, "HassTimerStatus").speech == "You have no timers."


@pytest.mark.parametrize(("slots", "speech"), [
    ({"minutes": 0}, "Sorry, a timer needs a duration longer than zero."),
    ({"hours": 100.0}, "Sorry, a timer can be at most 24 hours long."),
    ({"minutes": 5, "conversation_command": "turn off the lights"},
     "Sorry, I can't run a command later yet; I can only set timers."),
])
def test_bad_timers_are_refused(service: TimerService, slots: dict[str, Any],
                                      speech: str) -> None:
    reply = ask(service, "HassStartTimer", **slots)
    assert (reply.speech, reply.success) == (speech, False)
    assert service.list() == []


def test_an_ambiguous_target_is_asked_about_not_guessed(service: TimerService) -> None:
    service.start(600, "pizza")
    service.start(300)
    reply = ask(service, "HassCancelTimer")
    assert reply.speech == ("Which timer: the 5 minute timer with 5 minutes left, "
                            "or the pizza timer with 10 minutes left?")
    assert len(service.list()) == 2
    # "Pause the timer" when only one runs means that one; likewise for resume.
    service.pause(service.list()[0].id)
    assert ask(service, "HassPauseTimer").speech == "Paused the 5 minute timer."
    assert ask(service, "HassUnpauseTimer").speech.startswith("Which timer:")
    reply = ask(service, "HassCancelAllTimers")
    assert reply.speech == "Cancelled 2 timers." and service.list() == []


def test_persistence_round_trip(tmp_path: Path, service: TimerService, clock: FakeClock) -> None:
    running = service.start(600, "pizza")
    paused = service.pause(service.start(300).id)
    clock.now += 100
    saved = json.loads((tmp_path / "state" / "timers.json").read_text())
    assert saved["version"] == 1 and len(saved["timers"]) == 2
    again = TimerService(tmp_path / "state" / "timers.json", lambda text: None, clock)
    again.load()
    assert again.list() == [running, paused]
    assert [again.remaining_s(t) for t in again.list()] == [pytest.approx(500), 300]
    assert list((tmp_path / "state").iterdir()) == [tmp_path / "state" / "timers.json"]


def test_a_corrupt_state_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                             said: list[str]) -> None:
    path = tmp_path / "timers.json"
    path.write_text('{"version": 1, "timers": [{"id": 3}]')
    service = TimerService(path, said.append)
    with caplog.at_level(logging.WARNING):
        service.load()
    assert service.list() == []
    [aside] = tmp_path.glob("timers.json.corrupt-*")
    assert aside.read_text().startswith('{"version": 1')
    assert f"Moved it to {aside}" in caplog.text
    service.start(60)  # and the service saves afresh
    assert json.loads(path.read_text())["timers"][0]["duration_s"] == 60


def test_a_missing_state_file_means_no_timers(tmp_path: Path) -> None:
    service = TimerService(tmp_path / "nothing" / "timers.json", lambda text: None)
    service.load()
    assert service.list() == []


async def run_until(service: TimerService, heard: asyncio.Queue[str], count: int,
                     timeout_s: float) -> list[str]:
    """Run the service until it has announced `count` things; return them."""
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(timeout_s):
            return [await heard.get() for _ in range(count)]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_run_announces_timers_in_order(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        service = TimerService(tmp_path / "timers.json", heard.put_nowait)
        service.start(0.15, "tea")
        service.start(0.05, "egg")
        said = await run_until(service, heard, 2, timeout_s=2)
        assert service.list() == [] and heard.empty()
        return said

    assert asyncio.run(scenario()) == ["Your egg timer is done.", "Your tea timer is done."]
    assert json.loads((tmp_path / "timers.json").read_text())["timers"] == []


def test_run_wakes_for_a_timer_started_while_it_sleeps(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        service = TimerService(tmp_path / "timers.json", heard.put_nowait)
        service.start(3600, "long")
        task = asyncio.create_task(run_until(service, heard, 1, timeout_s=2))
        await asyncio.sleep(0.02)  # run() is now sleeping until the hour-long timer
        service.add(service.start(1, "short").id, -0.95)
        said = await task
        assert [t.name for t in service.list()] == ["long"]
        return said

    assert asyncio.run(scenario()) == ["Your short timer is done."]


def test_a_timer_due_while_off_is_announced_at_start(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "timers.json"
    before = TimerService(path, lambda text: None, clock)
    before.start(300)
    before.start(600, "pizza")
    before.start(7200, "roast")
    clock.now += 300 + 12 * 60  # the daemon was off; the first ended 12 minutes ago

    async def scenario() -> list[str]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        after = TimerService(path, heard.put_nowait, clock)
        after.load()
        said = await run_until(after, heard, 2, timeout_s=2)
        assert [t.name for t in after.list()] == ["roast"]
        return said

    assert asyncio.run(scenario()) == [
        "Your 5 minute timer finished 12 minutes ago, while I was off.",
        "Your pizza timer finished 7 minutes ago, while I was off."]
