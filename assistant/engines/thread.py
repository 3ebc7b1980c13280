"""The in-process placement: the engine in one thread of the daemon (light engines, or when a
user chooses `placement: thread`). Same face as the supervisor; no isolation: a hang keeps the
thread busy and a crash is the daemon's."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from assistant.engines import calls
from assistant.engines.calls import Reply
from assistant.engines.spec import EngineSpec, load_somewhere
from assistant.engines.wire import Header
from assistant.errors import (
    INTERNAL,
    AssistantError,
    WorkerOutOfMemory,
    WorkerTimeout,
    error_for,
)
from assistant.events import EngineReady, Event, StageFailed

log = logging.getLogger(__name__)
T = TypeVar("T")


class ThreadPlacement:
    placement = "thread"

    def __init__(self, spec: EngineSpec, timeout_s: float, emit: Callable[[Event], None]
                 ) -> None:
        self.spec = spec
        self._timeout_s = timeout_s
        self._emit = emit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=spec.role)
        self._engine: Any = None
        self.info: Header = {}

    @property
    def ready(self) -> bool:
        return self._engine is not None

    async def start(self) -> None:
        async def load(spec: EngineSpec) -> Any:
            engine = await self._call(spec.build)
            await self._call(engine.load)
            return engine

        self.spec, engine = await load_somewhere(
            self.spec, load, lambda code, message: self._report(None, code, message))
        self._engine = engine
        self.info = calls.describe(engine)
        self._emit(EngineReady(at_ms=0, stage=self.spec.stage, engine=str(self.info["name"]),
                               placement=self.placement, device=str(self.info["device"]),
                               pid=os.getpid()))

    async def request(self, method: str, header: Header, payload: bytes = b"",
                      turn_id: int | None = None) -> Reply:
        if self._engine is None:
            await self.start()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, calls.serve, self._engine, method, header, payload)
        try:
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            error = WorkerTimeout(
                f"the {self.spec.role} engine took longer than {self._timeout_s:g} s "
                f"({self.spec.role}.timeout_s); it runs in the daemon (placement: thread) and "
                "cannot be stopped: later requests wait for it")
            self._report(turn_id, error.code, error.message)
            raise error from None
        except AssistantError:
            raise
        except MemoryError as exc:
            raise WorkerOutOfMemory(f"the {self.spec.role} engine ran out of memory") from exc
        except Exception as exc:
            log.exception("%s engine failed", self.spec.role)
            raise error_for(INTERNAL, f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        # Off the event loop: the engine may still be busy with a last request.
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        close = getattr(self._engine, "close", None)
        if callable(close):
            close()

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _report(self, turn_id: int | None, code: str, message: str) -> None:
        log.error("%s: %s", self.spec.role, message)
        self._emit(StageFailed(at_ms=0, turn_id=turn_id, stage=self.spec.stage, code=code,
                               message=message))
