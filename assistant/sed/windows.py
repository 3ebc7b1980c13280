"""Cut a stream into overlapping windows for a classifier: the last `window_ms` every `hop_ms`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

RATE_HZ = 16000


class WaveformClassifier(Protocol):
    """A sound classifier the daemon feeds the last `window_ms` of audio every `hop_ms`."""

    labels: list[str]
    window_ms: int
    hop_ms: int

    def load(self) -> None: ...

    def scores_waveform(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz float samples of one window -> a probability per label."""
        ...


class WindowBuffer:
    """Float samples in (any chunk size); (window start ms, samples) out, one per hop."""

    def __init__(self, window_ms: int, hop_ms: int) -> None:
        self._window = window_ms * RATE_HZ // 1000
        self._hop = hop_ms * RATE_HZ // 1000
        self._hop_ms = hop_ms
        self._samples = np.zeros(0, dtype=np.float32)
        self._start_ms: int | None = None  # stream time of self._samples[0]

    def push(self, samples: np.ndarray, start_ms: int) -> list[tuple[int, np.ndarray]]:
        if self._start_ms is None:
            self._start_ms = start_ms
        self._samples = np.concatenate([self._samples, samples.astype(np.float32)])
        windows = []
        while len(self._samples) >= self._window:
            windows.append((self._start_ms, self._samples[:self._window].copy()))
            self._samples = self._samples[self._hop:]
            self._start_ms += self._hop_ms
        return windows
