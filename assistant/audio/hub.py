"""One producer, N subscribers, each with a bounded queue. Live capture never blocks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from assistant.audio.format import AudioChunk

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, name: str, max_chunks: int) -> None:
        self.name = name
        self._queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue(max_chunks)
        self.dropped = 0

    def offer(self, chunk: AudioChunk | None) -> None:
        """Put without waiting; when full, drop the oldest chunk (fresh audio matters more)."""
        while self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 500 == 0:
                log.warning("%s is falling behind: %d audio chunks dropped",
                            self.name, self.dropped)
        self._queue.put_nowait(chunk)

    async def put(self, chunk: AudioChunk | None) -> None:
        await self._queue.put(chunk)

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk


class AudioHub:
    def __init__(self, max_chunks: int) -> None:
        self._max_chunks = max_chunks
        self._subscribers: list[Subscription] = []

    def subscribe(self, name: str) -> Subscription:
        sub = Subscription(name, self._max_chunks)
        self._subscribers.append(sub)
        return sub

    @property
    def dropped(self) -> int:
        """Chunks dropped so far by subscribers that fell behind."""
        return sum(sub.dropped for sub in self._subscribers)

    def publish(self, chunk: AudioChunk) -> None:
        """For live sources: never waits."""
        for sub in self._subscribers:
            sub.offer(chunk)

    async def publish_wait(self, chunk: AudioChunk) -> None:
        """For files: waits for room, so a replay loses nothing however fast it reads."""
        for sub in self._subscribers:
            await sub.put(chunk)

    async def close(self) -> None:
        """End of input: every subscriber's iteration ends after the chunks already queued."""
        for sub in self._subscribers:
            await sub.put(None)

    def close_nowait(self) -> None:
        for sub in self._subscribers:
            sub.offer(None)
