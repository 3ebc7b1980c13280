"""Cut a stream into overlapping windows for a classifier: the last `window_ms` every `hop_ms`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

RATE_HZ = 16000
GAP_TOLERANCE_MS = 30  # rounding of ms stream times; a dropped 20 ms chunk is more


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
        self._start_ms = 0  # stream time of self._samples[0]
        self._started = False

    def push(self, samples: np.ndarray, start_ms: int) -> list[tuple[int, np.ndarray]]:
        """`start_ms`: stream time of samples[0]. After a gap (audio dropped while the stage
        was behind) it starts over, so no window joins audio from both sides of the gap."""
        expected = self._start_ms + len(self._samples) * 1000 // RATE_HZ
        if not self._started or abs(start_ms - expected) > GAP_TOLERANCE_MS:
            self._samples = np.zeros(0, dtype=np.float32)
            self._start_ms, self._started = start_ms, True
        self._samples = np.concatenate([self._samples, samples.astype(np.float32)])
        windows = []
        while len(self._samples) >= self._window:
            windows.append((self._start_ms, self._samples[:self._window].copy()))
            self._samples = self._samples[self._hop:]
            self._start_ms += self._hop_ms
        return windows
