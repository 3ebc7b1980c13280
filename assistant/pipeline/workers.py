"""Model workers: one thread each, lazy load under a lock, warm-up before READY.

A model is touched only from its worker thread, so stateful engines need no locking of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar, cast

from assistant.asr.base import Transcriber, Transcript
from assistant.audio.format import AudioChunk
from assistant.errors import AssistantError, ModelError, SynthesisError
from assistant.tts.base import Synthesizer

log = logging.getLogger(__name__)
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


class AsrWorker:
    def __init__(self, transcriber: Transcriber) -> None:
        self._transcriber = transcriber
        self._worker = Worker("asr")
        self._lock = asyncio.Lock()
        self._loaded = False

    async def load(self) -> None:
        async with self._lock:
            if not self._loaded:
                await self._worker.call(self._transcriber.load)
                self._loaded = True

    async def transcribe(self, pcm: bytes) -> Transcript:
        await self.load()
        return await self._worker.call(self._transcriber.transcribe, pcm)

    def shutdown(self) -> None:
        self._worker.shutdown()


class TtsWorker:
    """The configured voice, with a fallback voice if it cannot load or fails on a sentence."""

    def __init__(self, primary: Synthesizer, fallback: Synthesizer | None) -> None:
        self._voices = [primary, *([fallback] if fallback else [])]
        self._worker = Worker("tts")
        self._lock = asyncio.Lock()
        self._ready: list[Synthesizer] | None = None

    async def load(self) -> None:
        async with self._lock:
            if self._ready is not None:
                return
            ready = []
            for voice in self._voices:
                try:
                    await self._worker.call(voice.load)
                    ready.append(voice)
                except ModelError as exc:
                    log.warning("voice %s unavailable: %s", voice.name, exc.message)
            if not ready:
                raise ModelError("no voice could be loaded; see the warnings above")
            self._ready = ready

    async def synthesize(self, text: str) -> AsyncIterator[tuple[str, AudioChunk]]:
        """(voice name, chunk) pairs; falls back to the next voice if one fails before any audio."""
        await self.load()
        assert self._ready is not None
        last_error: AssistantError | None = None
        for voice in self._ready:
            produced = False
            try:
                async for chunk in self._worker.iterate(partial(voice.synthesize, text)):
                    produced = True
                    yield voice.name, chunk
                return
            except SynthesisError as exc:
                if produced:
                    raise
                log.warning("voice %s failed, trying the next: %s", voice.name, exc.message)
                last_error = exc
        assert last_error is not None
        raise last_error

    def shutdown(self) -> None:
        self._worker.shutdown()
