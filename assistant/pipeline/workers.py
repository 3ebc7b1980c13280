"""A single-thread worker for stateful in-process models (wake word and VAD, sound events).

A model is touched only from its worker thread, so stateful engines need no locking of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")
_DONE = object()


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def iterate(self, make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Run a lazy generator inside the worker thread, one item per hop."""
        iterator = await self.call(make)
        while (item := await self.call(next, iterator, _DONE)) is not _DONE:
            yield cast(T, item)

    def shutdown(self, wait: bool = False) -> None:
        """`wait`: let a running call finish first (before freeing what it uses)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
