"""Home Assistant's timer intents, acted on the daemon's own TimerService.

hassil's slots: hours / minutes / seconds (a duration to set, add or remove), start_hours /
start_minutes / start_seconds (pick a timer by the duration it was set for), name (a wildcard),
area, and conversation_command ("turn off the lights in 5 minutes"). Numbers come as int or float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.intents.handlers.base import Handler, HandlerContext, HandlerResult
from assistant.intents.matching import IntentMatch
from assistant.timers import (
    SAVE_WAIT_S,
    Timer,
    TimerError,
    TimerService,
    check_duration,
    describe,
    format_duration,
    format_remaining,
)

_UNIT_S = {"hour": 3600.0, "minute": 60.0, "second": 1.0}
_SPOKEN_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*(hour|minute|second)s?(?:\s*,?\s*and)?")
NOT_SAVED_START = "But I could not save it, so a restart would lose it."
NOT_SAVED = "But I could not save that, so a restart would undo it."


@dataclass(frozen=True)
class TimerTarget:
    """Which timers a command is about; both None: whichever timers there are."""

    name: str | None = None
    start_s: float | None = None

    def describe(self) -> str:
        if self.name is not None:
            return f"timer called {self.name}"
        if self.start_s is not None:
            return f"{format_duration(self.start_s, adjective=True)} timer"
        return "timer"


def slot_seconds(slots: Mapping[str, Any], prefix: str = "") -> float | None:
    """hours/minutes/seconds (or start_hours...) as seconds; None when none was said."""
    total, said = 0.0, False
    for unit, size in _UNIT_S.items():
        value = _number(slots.get(f"{prefix}{unit}s"))
        if value is not None:
            total, said = total + value * size, True
    return total if said else None


def clean_name(name: str) -> str:
    """'The Pizza.' -> 'pizza': Whisper's capitals and punctuation are not part of a name."""
    words = re.sub(r"[^\w\s'-]|_", " ", name).casefold().split()
    if words and words[0] in ("the", "my", "a"):
        words = words[1:]
    return " ".join(words)


def spoken_duration(text: str) -> float | None:
    """'1 hour and 30 minute' -> 5400: hassil's wildcard name takes such words when no
    sentence has a slot for that unit combination."""
    parts = _SPOKEN_DURATION.findall(text)
    if not parts or _SPOKEN_DURATION.sub("", text).strip():
        return None
    return sum(float(count) * _UNIT_S[unit] for count, unit in parts)


def target_from_slots(slots: Mapping[str, Any]) -> TimerTarget:
    # An area is the only name a timer has here ("the kitchen timer"): this daemon is one room.
    raw = slots.get("name") or slots.get("area")
    name = clean_name(str(raw)) if raw else None
    start_s = slot_seconds(slots, "start_")
    if name is not None and start_s is None and (as_duration := spoken_duration(name)):
        return TimerTarget(start_s=as_duration)
    return TimerTarget(name=name or None, start_s=start_s)


def pick_timers(timers: Sequence[Timer], target: TimerTarget) -> list[Timer]:
    """The timers the target names (all of them when it names none)."""
    return [t for t in timers
            if (target.name is None or (t.name or "").casefold() == target.name)
            and (target.start_s is None or abs(t.duration_s - target.start_s) < 0.5)]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _start_request(match: IntentMatch) -> tuple[float, str | None] | HandlerResult:
    """(seconds, name) of a timer to start, or the reply saying why not."""
    if match.slots.get("conversation_command"):
        return HandlerResult("Sorry, I can't run a command later yet; I can only set timers.",
                             success=False)
    seconds = slot_seconds(match.slots)
    if seconds is None:
        return HandlerResult("How long should the timer be?", success=False)
    try:
        check_duration(seconds)
    except TimerError as exc:
        return HandlerResult(f"Sorry, {exc.message}.", success=False)
    raw = match.slots.get("name")
    return seconds, clean_name(str(raw)) if raw else None


def _started(seconds: float, name: str | None) -> str:
    what = f"{name} timer" if name else "timer"
    return f"{_capital(what)} set for {format_duration(seconds)}."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Call:
    """Adapts a plain function to the Handler protocol. A change is confirmed only once it is
    saved: otherwise the answer says so (and is not a success), as a restart would undo it."""

    act: Callable[[IntentMatch], HandlerResult]
    service: TimerService
    says: Callable[[IntentMatch], str] | None = None
    """The reply without acting, where it is known in advance."""
    not_saved: str = NOT_SAVED

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        before = self.service.changes
        result = self.act(match)
        if self.service.changes == before:
            return result
        # The save runs in the timers' writer thread; the loop goes on meanwhile.
        if await self.service.flush(SAVE_WAIT_S) is None:
            return result
        return HandlerResult(f"{result.speech} {self.not_saved}", success=False)

    def preview(self, match: IntentMatch, context: HandlerContext) -> str | None:
        return None if self.says is None else self.says(match)


class TimerHandlers:
    def __init__(self, service: TimerService) -> None:
        self._service = service

    def start(self, match: IntentMatch) -> HandlerResult:
        request = _start_request(match)
        if isinstance(request, HandlerResult):
            return request
        seconds, name = request
        timer = self._service.start(seconds, name)
        return HandlerResult(_started(seconds, timer.name))

    @staticmethod
    def start_says(match: IntentMatch) -> str:
        request = _start_request(match)
        return request.speech if isinstance(request, HandlerResult) else _started(*request)

    def status(self, match: IntentMatch) -> HandlerResult:
        target = target_from_slots(match.slots)
        timers = pick_timers(self._service.list(), target)
        if not timers:
            return self._none(target)
        timers.sort(key=self._service.remaining_s)
        if len(timers) == 1:
            return HandlerResult(f"Your {self._state(timers[0])}.")
        lines = [f"{self._state(t, article='The')}." for t in timers]
        return HandlerResult(f"You have {len(timers)} timers. {' '.join(lines)}")

    def cancel(self, match: IntentMatch) -> HandlerResult:
        timer = self._one(match)
        if isinstance(timer, HandlerResult):
            return timer
        self._service.cancel([timer.id])
        return HandlerResult(f"Cancelled the {describe(timer)}.")

    def cancel_all(self, match: IntentMatch) -> HandlerResult:
        removed = self._service.cancel_all()
        if not removed:
            return HandlerResult("You have no timers.", success=False)
        if len(removed) == 1:
            return HandlerResult(f"Cancelled the {describe(removed[0])}.")
        return HandlerResult(f"Cancelled {len(removed)} timers.")

    def pause(self, match: IntentMatch) -> HandlerResult:
        timer = self._one(match, prefer=lambda t: not t.paused)
        if isinstance(timer, HandlerResult):
            return timer
        if timer.paused:
            return HandlerResult(f"The {describe(timer)} is already paused.")
        self._service.pause(timer.id)
        return HandlerResult(f"Paused the {describe(timer)}.")

    def resume(self, match: IntentMatch) -> HandlerResult:
        timer = self._one(match, prefer=lambda t: t.paused)
        if isinstance(timer, HandlerResult):
            return timer
        if not timer.paused:
            return HandlerResult(f"The {describe(timer)} is already running.")
        self._service.resume(timer.id)
        return HandlerResult(f"Resumed the {describe(timer)}.")

    def change(self, match: IntentMatch, sign: float) -> HandlerResult:
        seconds = slot_seconds(match.slots)
        if not seconds or seconds <= 0:
            return HandlerResult("How much time should I change it by?", success=False)
        timer = self._one(match)
        if isinstance(timer, HandlerResult):
            return timer
        try:
            self._service.add(timer.id, sign * seconds)
        except TimerError as exc:
            return HandlerResult(f"Sorry, {exc.message}.", success=False)
        done = "Added" if sign > 0 else "Removed"
        where = "to" if sign > 0 else "from"
        return HandlerResult(f"{done} {format_duration(seconds)} {where} the {describe(timer)}.")

    def _one(self, match: IntentMatch, prefer: Callable[[Timer], bool] = lambda t: True
             ) -> Timer | HandlerResult:
        """The one timer a command is about, or the reply to give instead: not found, or a
        question listing the candidates (never a guess)."""
        target = target_from_slots(match.slots)
        timers = pick_timers(self._service.list(), target)
        if len(timers) > 1:
            # "Pause the timer" with one running and one paused means the running one.
            preferred = [t for t in timers if prefer(t)]
            timers = preferred or timers
        if not timers:
            return self._none(target)
        if len(timers) == 1:
            return timers[0]
        timers.sort(key=self._service.remaining_s)
        listed = [self._state(t, article="the", brief=True) for t in timers]
        names = f"{', '.join(listed[:-1])}, or {listed[-1]}"
        return HandlerResult(f"Which timer: {names}?", success=False)

    def _none(self, target: TimerTarget) -> HandlerResult:
        if target.name is None and target.start_s is None:
            return HandlerResult("You have no timers.", success=False)
        if target.name is not None:
            return HandlerResult(f"You have no timer called {target.name}.", success=False)
        return HandlerResult(f"You have no {target.describe()}.", success=False)

    def _state(self, timer: Timer, article: str = "", brief: bool = False) -> str:
        """'pizza timer has 4 minutes left' (brief: 'the pizza timer with 4 minutes left')."""
        left = format_remaining(self._service.remaining_s(timer))
        what = f"{article} {describe(timer)}".strip()
        if brief:
            return f"{what} with {left} left{', paused' if timer.paused else ''}"
        if timer.paused:
            return f"{what} is paused with {left} left"
        return f"{what} has {left} left"


def timer_handlers(service: TimerService) -> dict[str, Handler]:
    h = TimerHandlers(service)
    return {
        "HassStartTimer": _Call(h.start, service, says=h.start_says, not_saved=NOT_SAVED_START),
        "HassCancelTimer": _Call(h.cancel, service),
        "HassCancelAllTimers": _Call(h.cancel_all, service),
        "HassTimerStatus": _Call(h.status, service),
        "HassPauseTimer": _Call(h.pause, service),
        "HassUnpauseTimer": _Call(h.resume, service),
        "HassIncreaseTimer": _Call(lambda m: h.change(m, 1.0), service),
        "HassDecreaseTimer": _Call(lambda m: h.change(m, -1.0), service),
    }
