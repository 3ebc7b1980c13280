"""Bounded, thread-safe audio buffers between PortAudio's callback thread and the event loop."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import numpy as np


class CaptureBuffer:
    """Blocks from PortAudio's thread to the event loop, at most `max_blocks` (oldest dropped).

    `push` says when the loop must be asked to drain: only when no drain is pending, so a stalled
    loop has one callback queued, not one per block.
    """

    def __init__(self, max_blocks: int) -> None:
        self._max = max_blocks
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._lock = threading.Lock()
        self._drain_pending = False
        self.dropped = 0
        """Blocks (20 ms each) dropped because the loop did not drain in time."""

    def push(self, block: np.ndarray) -> bool:
        with self._lock:
            self._blocks.append(block)
            while len(self._blocks) > self._max:
                self._blocks.popleft()
                self.dropped += 1
            if self._drain_pending:
                return False
            self._drain_pending = True
            return True

    def take(self) -> list[np.ndarray]:
        with self._lock:
            blocks = list(self._blocks)
            self._blocks.clear()
            self._drain_pending = False
            return blocks


class PlaybackBuffer:
    """PCM bytes from the event loop to PortAudio's thread, in pieces of one callback block.

    One waiter at a time (the speaker's writer): `wait_below(level, wake)` arranges for `wake()`
    to be called, from whichever thread makes it true, once at most `level` bytes are queued.
    """

    def __init__(self, block_bytes: int) -> None:
        self.block_bytes = block_bytes
        self._pieces: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._waiter: tuple[int, Callable[[], None]] | None = None

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def put(self, pcm: bytes) -> None:
        block = self.block_bytes
        with self._lock:
            self._pieces.extend(pcm[i:i + block] for i in range(0, len(pcm), block))
            self._queued += len(pcm)

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (fewer when it runs dry)."""
        with self._lock:
            out = b""
            while len(out) < n and self._pieces:
                out += self._pieces.popleft()
            if len(out) > n:
                self._pieces.appendleft(out[n:])
                out = out[:n]
            self._queued -= len(out)
            self._wake_if_low()
        return out

    def clear(self) -> None:
        with self._lock:
            self._pieces.clear()
            self._queued = 0
            self._wake_if_low()

    def wait_below(self, level: int, wake: Callable[[], None]) -> bool:
        """False if already at most `level` bytes are queued (nothing to wait for)."""
        with self._lock:
            if self._queued <= level:
                return False
            self._waiter = (level, wake)
            return True

    def forget_waiter(self) -> None:
        with self._lock:
            self._waiter = None

    def _wake_if_low(self) -> None:
        if self._waiter is not None and self._queued <= self._waiter[0]:
            wake = self._waiter[1]
            self._waiter = None
            wake()
