"""The supervisor of one engine's worker process: start, health, limits, restarts.

It gives the same face as a thread placement (start, request, aclose), and behind it:
- the worker is loaded and warm before `start` returns (before the daemon says READY);
- one request at a time; a request that takes longer than `timeout_s` kills the worker;
- a crash, an out-of-memory exit, a worker over `workers.max_memory_mb`, or an idle worker that
  does not answer a health check: `stage_failed` with the code, and a restart with backoff;
- a CUDA failure (at load or in a request) moves the engine to its CPU spec, and says so;
- a request made while the worker restarts waits for it, up to its own time limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from assistant.config import WorkerSettings
from assistant.engines.calls import Reply
from assistant.engines.process import WorkerProcess
from assistant.engines.spec import EngineSpec, load_somewhere
from assistant.engines.wire import Header
from assistant.errors import (
    AssistantError,
    DeviceError,
    WorkerError,
    WorkerOutOfMemory,
    WorkerTimeout,
    WorkerUnavailable,
    WorkerUnresponsive,
)
from assistant.events import EngineReady, Event, StageFailed

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_BUSY_S = 0.1
"""How often memory is checked while a request runs (a runaway allocation is fast). An idle
worker is looked at once per health check only: every wake-up of an always-on daemon costs."""


class Supervisor:
    placement = "process"

    def __init__(self, spec: EngineSpec, settings: WorkerSettings, timeout_s: float,
                 emit: Callable[[Event], None], log_level: str = "INFO") -> None:
        self.spec = spec
        self._settings = settings
        self._timeout_s = timeout_s
        self._emit = emit
        self._log_level = log_level
        self._worker: WorkerProcess | None = None
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._busy = asyncio.Event()
        """Set while a request holds the worker: wakes the watcher to poll memory often."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restarts = 0
        self._failures_in_a_row = 0
        self._last_ping = 0.0
        self._closing = False
        self._turn_id: int | None = None
        """The turn of the request in flight: a fault while it runs is that turn's."""
        self.info: Header = {}

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    async def start(self) -> None:
        """Load and warm the engine in a new worker. Raises ModelError (and the like) when it
        cannot load at all: the daemon must not start without it."""
        await self._spawn()
        self._keep(self._watch(), f"{self.spec.role}-watch")

    async def request(self, method: str, header: Header, payload: bytes = b"",
                      turn_id: int | None = None) -> Reply:
        """One request. A caller that stops waiting does not abort a request the worker has
        begun: it finishes (or is killed at the time limit) before the next one is sent."""
        await self._lock.acquire()
        self._busy.set()
        wanted = [True]
        exchange = self._keep(self._exchange(method, header, payload, turn_id, wanted),
                              f"{self.spec.role}-{method}")
        try:
            return await asyncio.shield(exchange)
        except asyncio.CancelledError:
            wanted[0] = False
            raise

    async def aclose(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._worker is not None:
            await self._worker.stop()

    async def _exchange(self, method: str, header: Header, payload: bytes,
                        turn_id: int | None, wanted: list[bool]) -> Reply:
        try:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                raise WorkerUnavailable(
                    f"the {self.spec.role} worker is restarting and was not ready within "
                    f"{self._timeout_s:g} s") from None
            worker = self._worker
            if not wanted[0] or worker is None:
                return {}, b""  # nobody waits for it any more: do not occupy the worker
            self._turn_id = turn_id
            try:
                async with asyncio.timeout(self._timeout_s):
                    reply = await worker.request(method, header, payload)
            except TimeoutError:
                error = WorkerTimeout(
                    f"the {self.spec.role} worker took longer than {self._timeout_s:g} s "
                    f"({self.spec.role}.timeout_s); killed, restarting")
                await self._fail(worker, error, turn_id)
                raise error from None
            except WorkerError as exc:
                await self._fail(worker, exc, turn_id)
                raise
            except DeviceError as exc:
                await self._fail(worker, exc, turn_id)
                raise
            self._failures_in_a_row = 0
            return reply
        finally:
            self._turn_id = None
            self._busy.clear()
            self._lock.release()

    async def _spawn(self) -> None:
        async def load(spec: EngineSpec) -> WorkerProcess:
            worker = WorkerProcess(spec, self._log_level)
            self.info = await worker.start(self._settings.start_timeout_s)
            return worker

        self.spec, worker = await load_somewhere(
            self.spec, load, lambda code, message: self._report(None, code, message))
        worker.on_exit = self._exited
        self._worker = worker
        self._last_ping = time.monotonic()
        log.info("%s worker ready: %s on %s (pid %s)", self.spec.role, self.info.get("name"),
                 self.info.get("device"), worker.pid)
        self._emit(EngineReady(at_ms=0, stage=self.spec.stage, engine=str(self.info.get("name")),
                               placement=self.placement, device=str(self.info.get("device")),
                               pid=worker.pid, restarts=self._restarts))
        self._ready.set()

    def _exited(self, worker: WorkerProcess, error: WorkerError) -> None:
        """The process ended while nobody was waiting on it (crashed or was killed while idle)."""
        if worker is self._worker and not self._closing:
            self._keep(self._fail(worker, error, self._turn_id), f"{self.spec.role}-exit")

    async def _fail(self, worker: WorkerProcess, error: AssistantError,
                    turn_id: int | None) -> None:
        """Once per worker: report, kill, and restart (on the CPU after a CUDA failure)."""
        if worker is not self._worker or self._closing:
            return
        self._worker = None
        self._ready.clear()
        to_cpu = isinstance(error, DeviceError) and self.spec.on_cpu is not None
        self._report(turn_id, error.code, f"{error.message}; the {self.spec.role} engine moves "
                                          "to the CPU" if to_cpu else error.message)
        await worker.kill(error if isinstance(error, WorkerError) else None)
        if to_cpu and self.spec.on_cpu is not None:
            self.spec = self.spec.on_cpu
        self._keep(self._restart(), f"{self.spec.role}-restart")

    async def _restart(self) -> None:
        while not self._closing:
            delay = min(self._settings.max_backoff_s,
                        self._settings.restart_backoff_s * 2 ** self._failures_in_a_row)
            self._failures_in_a_row += 1
            await asyncio.sleep(delay)
            self._restarts += 1
            try:
                await self._spawn()
                return
            except AssistantError as exc:
                self._report(None, "worker_start_failed",
                             f"restarting the {self.spec.role} worker failed: {exc.message}")

    async def _watch(self) -> None:
        """Memory limit (often while busy) and health checks (when idle)."""
        while True:
            if self._busy.is_set():
                await asyncio.sleep(POLL_BUSY_S)
            else:
                due = self._last_ping + self._settings.health_interval_s - time.monotonic()
                try:
                    async with asyncio.timeout(max(due, POLL_BUSY_S)):
                        await self._busy.wait()
                except TimeoutError:
                    pass
            worker = self._worker
            if worker is None:
                continue
            limit = self._settings.max_memory_mb
            rss = worker.rss_mb() if limit is not None else None
            if limit is not None and rss is not None and rss > limit:
                await self._fail(worker, WorkerOutOfMemory(
                    f"the {self.spec.role} worker used {rss:.0f} MB, more than "
                    f"workers.max_memory_mb ({limit}); killed, restarting"), self._turn_id)
            elif (not self._lock.locked()
                  and time.monotonic() - self._last_ping >= self._settings.health_interval_s):
                await self._check_health(worker)

    async def _check_health(self, worker: WorkerProcess) -> None:
        self._last_ping = time.monotonic()
        async with self._lock:
            if worker is not self._worker:
                return
            try:
                async with asyncio.timeout(self._settings.health_timeout_s):
                    await worker.request("ping", {}, b"")
            except TimeoutError:
                await self._fail(worker, WorkerUnresponsive(
                    f"the idle {self.spec.role} worker did not answer within "
                    f"{self._settings.health_timeout_s:g} s; killed, restarting"), None)
            except WorkerError as exc:
                await self._fail(worker, exc, None)

    def _report(self, turn_id: int | None, code: str, message: str) -> None:
        log.error("%s: %s", self.spec.role, message)
        self._emit(StageFailed(at_ms=0, turn_id=turn_id, stage=self.spec.stage, code=code,
                               message=message))

    def _keep(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Tasks are owned (cancelled and awaited at close), and their errors are logged."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and not isinstance(exc, AssistantError):
            log.error("%s failed", task.get_name(), exc_info=exc)

