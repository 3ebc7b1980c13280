"""The private PulseAudio fixture routes sounddevice's default output to the virtual speaker."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.bench.pulse import pulse_server

# PortAudio reads the environment when it initializes, so play from a child process.
_PLAY_TONE = """
import time
import numpy as np, sounddevice as sd
t = np.arange(16000) / 16000
sd.play((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 16000, latency=0.2)
sd.wait()
time.sleep(0.3)  # sd.wait() returns before the sound server has played its buffer
"""


@pytest.mark.integration
def test_sounddevice_tone_reaches_speaker_recording(tmp_path: Path) -> None:
    out = tmp_path / "speaker.wav"
    with pulse_server(tmp_path) as pulse:
        recorder = pulse.record_speaker(out)
        try:
            subprocess.run(
                [sys.executable, "-c", _PLAY_TONE], env=pulse.env, check=True, timeout=30
            )
        finally:
            recorder.terminate()
            recorder.wait()
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16) / 32768.0
    assert np.count_nonzero(np.abs(audio) > 0.1) > 0.5 * 16000, "the 1 s tone was not recorded"
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.fft.rfftfreq(len(audio), 1 / 16000)[spectrum.argmax()]
    assert abs(peak_hz - 1000) < 10
