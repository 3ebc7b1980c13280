"""YAMNet's log-mel front end in numpy, batch and streaming.

Matches tensorflow/models research/audioset/yamnet features.py and params.py: a 25 ms periodic Hann
window, 10 ms hop, 512-point FFT magnitude, 64 HTK-mel bands 125-7500 Hz (the triangles of
tf.signal.linear_to_mel_weight_matrix, DC bin zeroed), log(mel + 0.001), and patches of 96 frames
(0.96 s) every 48 frames (0.48 s). Frames and patches are only ever complete (no centre padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

RATE_HZ = 16000
WINDOW_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_MS = PATCH_FRAMES * HOP_SAMPLES * 1000 // RATE_HZ
PATCH_HOP_MS = PATCH_HOP_FRAMES * HOP_SAMPLES * 1000 // RATE_HZ
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP_SAMPLES
# One patch needs its 96 frames plus the tail of the last analysis window: 0.975 s.
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES


def hertz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale, as tf.signal uses it."""
    return np.asarray(1127.0 * np.log1p(np.asarray(freq_hz, dtype=np.float64) / 700.0))


def mel_band_edges_hz() -> np.ndarray:
    """The 66 band edges (lower edge, 64 centres, upper edge) in Hz."""
    mels = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    return np.asarray(700.0 * np.expm1(mels / 1127.0))


@cache
def mel_matrix() -> np.ndarray:
    """[257, 64] weights, as tf.signal.linear_to_mel_weight_matrix builds them."""
    bins = FFT_LENGTH // 2 + 1
    spectrum_mel = hertz_to_mel(np.linspace(0.0, RATE_HZ / 2, bins)[1:])[:, None]
    edges = hertz_to_mel(mel_band_edges_hz())
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (spectrum_mel - lower) / (center - lower)
    falling = (upper - spectrum_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # The DC bin gets no weight (tf's bands_to_zero=1).
    weights = np.vstack([np.zeros((1, MEL_BANDS)), weights]).astype(np.float32)
    weights.setflags(write=False)
    return weights


@cache
def _hann() -> np.ndarray:
    # Periodic, like tf.signal.hann_window's default.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_SAMPLES) / WINDOW_SAMPLES)
    return window.astype(np.float32)


def frame_count(samples: int) -> int:
    """Complete 25 ms frames in `samples` samples."""
    return 1 + (samples - WINDOW_SAMPLES) // HOP_SAMPLES if samples >= WINDOW_SAMPLES else 0


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> [frames, 64] log-mel; only complete 25 ms windows."""
    count = frame_count(len(samples))
    if count == 0:
        return np.zeros((0, MEL_BANDS), dtype=np.float32)
    starts = np.arange(count)[:, None] * HOP_SAMPLES + np.arange(WINDOW_SAMPLES)[None, :]
    frames = samples.astype(np.float32)[starts] * _hann()
    magnitude = np.abs(np.fft.rfft(frames, n=FFT_LENGTH, axis=1)).astype(np.float32)
    return np.asarray(np.log(magnitude @ mel_matrix() + LOG_OFFSET), dtype=np.float32)


def pad_waveform(samples: np.ndarray) -> np.ndarray:
    """Zero-pad like YAMNet: at least one patch, then a whole number of patch hops."""
    missing = max(0, PATCH_SAMPLES - len(samples))
    after_first = max(len(samples), PATCH_SAMPLES) - PATCH_SAMPLES
    missing += -after_first % PATCH_HOP_SAMPLES
    return np.pad(samples, (0, missing)) if missing else samples


def frame_patches(mel: np.ndarray) -> np.ndarray:
    """[frames, 64] -> [patches, 96, 64], complete patches only."""
    if len(mel) < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, MEL_BANDS), dtype=np.float32)
    count = 1 + (len(mel) - PATCH_FRAMES) // PATCH_HOP_FRAMES
    index = np.arange(count)[:, None] * PATCH_HOP_FRAMES + np.arange(PATCH_FRAMES)[None, :]
    return np.asarray(mel[index], dtype=np.float32)


def waveform_patches(samples: np.ndarray) -> np.ndarray:
    """A whole recording (float, 16 kHz) -> [patches, 96, 64]; patch k starts at k * 480 ms."""
    return frame_patches(log_mel(pad_waveform(np.asarray(samples, dtype=np.float32))))


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


@dataclass(frozen=True)
class PatchSpan:
    """Where patch `index` lies in the classifier's input, in ms of audio."""

    index: int
    start_ms: int
    end_ms: int


def patch_span(index: int, offset_ms: int = 0) -> PatchSpan:
    start = offset_ms + index * PATCH_HOP_MS
    return PatchSpan(index, start, start + PATCH_MS)
