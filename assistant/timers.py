"""Voice timers owned by the daemon: their state, persistence across restarts, and announcing them.

Timers keep wall-clock epoch times (`ends_at`) rather than a monotonic clock: a timer set before a
restart must still end at the same moment afterwards.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError
from assistant.setaside import set_aside

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_DURATION_S = 24 * 3600.0
_UNITS = (("hour", 3600), ("minute", 60), ("second", 1))
_RECHECK_S = 30.0
SAVE_WAIT_S = 2.0
"""How long an answer waits for its change to be on disk before saying it is not saved."""
_FIELDS = ("id", "name", "duration_s", "created_at", "ends_at", "remaining_s")
MAX_STATE_BYTES = 2**20  # thousands of timers; anything larger is not this daemon's file


class TimerError(AssistantError):
    code = "timer_invalid"


@dataclass(frozen=True)
class Timer:
    """One timer; a value: the service replaces it when it changes."""

    id: str
    name: str | None
    duration_s: float
    """As first set: "the 5 minute timer" still means this one after time is added or removed."""
    created_at: float
    """Epoch seconds."""
    ends_at: float | None
    """Epoch seconds while running; None while paused."""
    remaining_s: float
    """Time left while paused; stale while running (use TimerService.remaining_s)."""

    @property
    def paused(self) -> bool:
        return self.ends_at is None


def format_duration(seconds: float, *, adjective: bool = False) -> str:
    """Speak a duration: 90 -> '1 minute and 30 seconds'; as an adjective ('a 5 minute timer')
    the units stay singular. Rounds to whole seconds."""
    left = max(0, round(seconds))
    parts = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 or adjective else 's'}")
    if not parts:
        return "0 second" if adjective else "0 seconds"
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def format_remaining(seconds: float) -> str:
    """Time left, rounded up as countdowns are: 599.7 s is still '10 minutes'."""
    return format_duration(math.ceil(seconds - 1e-3))


def describe(timer: Timer) -> str:
    """'pizza timer' or '10 minute timer': how the user knows it."""
    if timer.name:
        return f"{timer.name} timer"
    return f"{format_duration(timer.duration_s, adjective=True)} timer"


def check_duration(seconds: float) -> None:
    if not math.isfinite(seconds) or seconds <= 0:
        raise TimerError("a timer needs a duration longer than zero")
    if seconds > MAX_DURATION_S:
        raise TimerError("a timer can be at most 24 hours long")


class TimerService:
    """All timers of the daemon. Every change is saved at once; `run` announces finished ones."""

    def __init__(self, state_file: Path, announce: Callable[[str], None],
                 clock: Callable[[], float] = time.time) -> None:
        self._path = state_file
        self._announce = announce
        self._clock = clock
        self._timers: dict[str, Timer] = {}
        self._missed: builtins.list[str] = []
        """Ids already due when the state was loaded: they ended while the daemon was off."""
        self._changed = asyncio.Event()
        # Saves (with an fsync) run in this one thread, in order, never on the event loop.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="timers-save")
        self._saving: asyncio.Future[str | None] | None = None
        self._unsaved: str | None = None
        """Why the last save made without an event loop failed; None when it succeeded."""
        self._save_failing = False  # only the writer thread touches it
        self.changes = 0
        """Counts changes, so a caller can tell whether a call changed anything."""

    # -- queries

    def list(self) -> builtins.list[Timer]:
        """Oldest first."""
        return sorted(self._timers.values(), key=lambda t: t.created_at)

    def get(self, timer_id: str) -> Timer | None:
        return self._timers.get(timer_id)

    def remaining_s(self, timer: Timer) -> float:
        if timer.ends_at is None:
            return timer.remaining_s
        return max(0.0, timer.ends_at - self._clock())

    # -- changes

    def start(self, duration_s: float, name: str | None = None) -> Timer:
        check_duration(duration_s)
        now = self._clock()
        timer = Timer(id=uuid.uuid4().hex, name=name or None, duration_s=duration_s,
                      created_at=now, ends_at=now + duration_s, remaining_s=duration_s)
        self._store(timer)
        return timer

    def cancel(self, timer_ids: Iterable[str]) -> builtins.list[Timer]:
        """Remove these timers; returns those that existed."""
        removed = [self._timers.pop(i) for i in timer_ids if i in self._timers]
        if removed:
            self._changed_now()
        return removed

    def cancel_all(self) -> builtins.list[Timer]:
        return self.cancel(list(self._timers))

    def pause(self, timer_id: str) -> Timer:
        timer = self._existing(timer_id)
        if timer.paused:
            return timer
        return self._store(replace(timer, ends_at=None, remaining_s=self.remaining_s(timer)))

    def resume(self, timer_id: str) -> Timer:
        timer = self._existing(timer_id)
        if not timer.paused:
            return timer
        return self._store(replace(timer, ends_at=self._clock() + timer.remaining_s))

    def add(self, timer_id: str, delta_s: float) -> Timer:
        """Lengthen (or with a negative delta shorten) the time left. Shortened past zero, the
        timer finishes now, as Home Assistant's do."""
        timer = self._existing(timer_id)
        left = self.remaining_s(timer) + delta_s
        if left > MAX_DURATION_S:
            raise TimerError("a timer can be at most 24 hours long")
        left = max(0.0, left)
        if timer.paused:
            return self._store(replace(timer, remaining_s=left))
        return self._store(replace(timer, ends_at=self._clock() + left))

    def _existing(self, timer_id: str) -> Timer:
        timer = self._timers.get(timer_id)
        if timer is None:
            raise TimerError(f"no timer with id {timer_id!r}; it may have finished already")
        return timer

    def _store(self, timer: Timer) -> Timer:
        self._timers[timer.id] = timer
        self._changed_now()
        return timer

    def _changed_now(self) -> None:
        self.changes += 1
        text = json.dumps({"version": FORMAT_VERSION, "timers": [asdict(t) for t in self.list()]},
                          indent=1)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script, a test): write it now
            self._saving, self._unsaved = None, self._save(text)
        else:
            self._saving = loop.run_in_executor(self._writer, self._save, text)
        self._changed.set()  # run() re-plans its sleep

    async def flush(self, timeout_s: float | None = None) -> str | None:
        """Wait (at most `timeout_s`) until every change so far is on disk. None when it is;
        else why not, in words ("Read-only file system"). The save runs in its own thread, so
        waiting here never blocks the event loop."""
        saving = self._saving
        if saving is None:
            return self._unsaved
        done, _ = await asyncio.wait({saving}, timeout=timeout_s)
        if not done:
            return f"saving took longer than {timeout_s:g} s"
        return saving.result()

    # -- firing

    async def run(self) -> None:
        """Until cancelled: announce each timer when it ends, then forget it."""
        try:
            await self._announce_due()
        finally:
            await self.flush()

    async def _announce_due(self) -> None:
        missed, self._missed = self._missed, []
        self._finish(missed, while_off=True)
        while True:
            self._changed.clear()
            now = self._clock()
            self._finish([t.id for t in self.list()
                          if t.ends_at is not None and t.ends_at <= now], while_off=False)
            ends = [t.ends_at for t in self._timers.values() if t.ends_at is not None]
            delay = max(0.0, min(ends) - self._clock()) if ends else None
            if delay is not None:
                # asyncio sleeps on the monotonic clock, which stands still while the machine
                # is suspended; re-reading the wall clock now and then keeps timers on time.
                delay = min(delay, _RECHECK_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._changed.wait()

    def _finish(self, timer_ids: builtins.list[str], *, while_off: bool) -> None:
        now = self._clock()
        done = [self._timers[i] for i in timer_ids if i in self._timers]
        for timer in done:
            late_s = now - (timer.ends_at or now)
            text = _missed_text(timer, late_s) if while_off else f"Your {describe(timer)} is done."
            log.info("timer %s finished: %s", timer.id, text)
            try:
                self._announce(text)
            except Exception:  # a failed announcement must not stop the other timers
                log.exception("cannot announce timer %s", timer.id)
        if done:
            # Forgotten only once handed to the announcer (which queues it behind any turn).
            self.cancel(t.id for t in done)

    # -- persistence

    def load(self) -> None:
        """Read the saved timers. A missing file means none. One that cannot be read, is not
        a timer file or holds broken timers is set aside (assistant.setaside), never a reason
        not to start: the timers that could be read run, and are saved afresh."""
        problem: str | None = None
        try:
            with self._path.open("rb") as file:
                raw = file.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            timers: builtins.list[Timer] = []
        except OSError as exc:  # a folder in its place, no permission, an I/O error
            timers, problem = [], f"it cannot be read ({exc.strerror or exc})"
        else:
            timers, problem = _parse(raw) if len(raw) <= MAX_STATE_BYTES else (
                [], f"it is larger than {MAX_STATE_BYTES // 2**20} MiB")
        if problem is not None:
            kept = (f"starting with the {len(timers)} timers that could be read" if timers
                    else "starting without saved timers")
            set_aside(self._path, f"not a usable timer file: {problem}",
                      f"{kept}. Set again any timer that is missing; the copy can be deleted.")
        now = self._clock()
        self._timers = {t.id: t for t in timers}
        self._missed = [t.id for t in timers if t.ends_at is not None and t.ends_at <= now]
        if problem is not None and timers:
            self._changed_now()  # the file was set aside: put the good timers back on disk
        self._changed.set()
        log.info("loaded %d timers from %s", len(timers), self._path)

    def _save(self, text: str) -> str | None:
        """Write the state; None when it is on disk, else why not."""
        folder = self._path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Same folder so os.replace is an atomic rename: a crash leaves the old or new file.
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self._path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(tmp, self._path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            # Timers still work in memory; only a restart would lose them.
            why = exc.strerror or str(exc)
            if not self._save_failing:
                log.warning(
                    "cannot save timers to %s: %s. Timers still run and ring, but a restart "
                    "would lose them; make %s writable (with free space) or set "
                    "timers.state_file.", self._path, why, folder)
            self._save_failing = True
            return why
        if self._save_failing:
            log.info("timers are saved to %s again", self._path)
            self._save_failing = False
        return None


def _missed_text(timer: Timer, late_s: float) -> str:
    late_min = int(late_s // 60)
    if 1 <= late_min < 24 * 60:
        ago = format_duration(late_min * 60)
        return f"Your {describe(timer)} finished {ago} ago, while I was off."
    return f"Your {describe(timer)} finished while I was off."


def _parse(raw: bytes) -> tuple[list[Timer], str | None]:
    """The timers in a state file, and what is wrong with it (None: nothing). Broken timers
    are left out; the others are still good."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return [], f"not JSON text ({_short(exc)})"
    if not isinstance(data, dict) or not isinstance(data.get("timers"), list):
        return [], "not an object with a 'timers' list"
    if data.get("version") != FORMAT_VERSION:
        return [], f"format version {data.get('version')!r}, this assistant reads {FORMAT_VERSION}"
    items: list[Any] = data["timers"]
    timers: dict[str, Timer] = {}
    broken: list[str] = []
    for number, item in enumerate(items, 1):
        try:
            timer = _timer(item)
        except ValueError as exc:
            broken.append(f"timer {number}: {exc}")
            continue
        if timer.id in timers:
            broken.append(f"timer {number}: id {timer.id!r} is used twice")
            continue
        timers[timer.id] = timer
    if not broken:
        return list(timers.values()), None
    more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
    problem = f"{len(broken)} of {len(items)} timers are broken ({broken[0]}{more})"
    return list(timers.values()), problem


def _timer(item: Any) -> Timer:
    if not isinstance(item, dict):
        raise ValueError("not an object")
    if missing := [key for key in _FIELDS if key not in item]:
        raise ValueError(f"no {', '.join(missing)}")
    timer_id, name = item["id"], item["name"]
    if not isinstance(timer_id, str) or not timer_id or not (name is None or isinstance(name, str)):
        raise ValueError("its id or name is not text")
    ends_at = None if item["ends_at"] is None else _number(item["ends_at"])
    timer = Timer(id=timer_id, name=name, duration_s=_number(item["duration_s"]),
                  created_at=_number(item["created_at"]), ends_at=ends_at,
                  remaining_s=_number(item["remaining_s"]))
    if timer.duration_s <= 0 or timer.remaining_s < 0:
        raise ValueError("its duration or time left is not positive")
    return timer


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number")
    return float(value)
