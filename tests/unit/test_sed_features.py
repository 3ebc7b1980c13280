"""YAMNet front end: framing, mel bands, and an independent slow reference."""

from __future__ import annotations

import numpy as np

from assistant.sed import features as f


def sine(freq_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(f.RATE_HZ * seconds)) / f.RATE_HZ
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_frame_and_patch_counts_follow_yamnet_padding() -> None:
    assert f.log_mel(np.zeros(399)).shape == (0, 64)
    assert f.log_mel(np.zeros(400 + 160 * 9)).shape == (10, 64)
    # Under 0.975 s is padded to one patch; a bit more rounds up to a whole extra hop.
    assert f.waveform_patches(np.zeros(8000)).shape == (1, 96, 64)
    assert f.waveform_patches(np.zeros(f.PATCH_SAMPLES)).shape == (1, 96, 64)
    assert f.waveform_patches(np.zeros(16000)).shape == (2, 96, 64)
    assert f.waveform_patches(np.zeros(16000 * 10)).shape == (20, 96, 64)
    assert (f.PATCH_MS, f.PATCH_HOP_MS, f.PATCH_SAMPLES) == (960, 480, 15600)


def test_mel_band_edges_and_silence_floor() -> None:
    edges = f.mel_band_edges_hz()
    assert len(edges) == 66
    assert np.isclose(edges[0], 125.0) and np.isclose(edges[-1], 7500.0)
    assert np.all(np.diff(edges) > 0)
    weights = f.mel_matrix()
    assert weights.shape == (257, 64)
    assert np.all(weights[0] == 0)  # DC never counts
    assert np.allclose(f.log_mel(np.zeros(1600)), np.log(0.001))


def test_a_sine_lands_in_the_band_whose_centre_is_nearest() -> None:
    edges = f.mel_band_edges_hz()
    for freq in (300.0, 1000.0, 3000.0, 6000.0):
        mel = f.log_mel(sine(freq, 0.5)).mean(axis=0)
        band = int(np.argmax(mel))
        assert abs(edges[1 + band] - freq) <= (edges[2 + band] - edges[band]) / 2, freq


def reference_log_mel_frame(frame: np.ndarray) -> np.ndarray:
    """Written from the spec, independently: explicit DFT sum and triangles built in Hz."""
    n = np.arange(400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)
    x = frame * window
    k = np.arange(257)[:, None]
    spectrum = np.abs((x[None, :] * np.exp(-2j * np.pi * k * n[None, :] / 512)).sum(axis=1))
    hz = np.arange(257) * 8000 / 256

    def mel(v: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1 + np.asarray(v) / 700.0)

    points = np.linspace(mel(125.0), mel(7500.0), 66)
    out = np.zeros(64)
    for b in range(64):
        lo, mid, hi = points[b], points[b + 1], points[b + 2]
        for i in range(1, 257):  # bin 0 (DC) is excluded, as in tf.signal
            m = mel(hz[i])
            w = min((m - lo) / (mid - lo), (hi - m) / (hi - mid))
            out[b] += max(0.0, w) * spectrum[i]
    return np.log(out + 0.001)


def test_matches_an_independent_reference() -> None:
    rng = np.random.default_rng(4)
    signal = (0.2 * rng.standard_normal(400 + 160 * 2) + sine(440, 0.045)[:720]).astype(
        np.float32)
    ours = f.log_mel(signal)
    for i in range(3):
        expected = reference_log_mel_frame(signal[i * 160:i * 160 + 400].astype(np.float64))
        assert np.allclose(ours[i], expected, atol=2e-3), i
