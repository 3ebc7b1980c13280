"""The microphone's and speaker's bounded buffers on real PortAudio streams (private PulseAudio):
a stalled event loop loses the oldest audio beyond ~2 s and counts it, and `Speaker.write` waits,
without blocking the loop, while too much reply audio is queued."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.audio.files import read_file
from assistant.bench.pulse import PulseServer, pulse_server
from tests.conftest import require_binary
from tests.integration.test_e2e_pulse import recording

pytestmark = pytest.mark.integration

# PortAudio reads the environment when it initializes, so the devices run in a child process.
_STALLED_CAPTURE = """
import asyncio, json, time
from assistant.audio.devices import Microphone
from assistant.audio.hub import AudioHub

async def main():
    hub = AudioHub(max_chunks=10_000)
    heard = hub.subscribe("test")
    mic = Microphone(None, hub)
    mic.open(asyncio.get_running_loop())
    capture = asyncio.create_task(mic.run())
    await asyncio.sleep(1.0)
    before = heard._queue.qsize()
    time.sleep(3.0)  # the event loop is blocked: the callback keeps capturing
    await asyncio.sleep(0.2)
    after = heard._queue.qsize()
    capture.cancel()
    await asyncio.gather(capture, return_exceptions=True)
    print(json.dumps({"delivered": after - before, "dropped": mic.dropped,
                      "overflows": mic.overflows, "available": mic.available}))

asyncio.run(main())
"""

_BOUNDED_PLAYBACK = """
import asyncio, json, time
import numpy as np
from assistant.audio import devices
from assistant.audio.format import AudioChunk, AudioFormat

devices.PLAYBACK_BUFFER_S = 1.0  # as with 10 s, in a tenth of the time

async def main():
    speaker = devices.Speaker(None)
    speaker.open()
    lag = [0.0]

    async def ticker():
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lag[0] = max(lag[0], time.monotonic() - t - 0.01)

    ticking = asyncio.create_task(ticker())
    t = np.arange(1600) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    start = time.monotonic()
    returned = []
    for _ in range(30):  # 3 s in 100 ms chunks
        await speaker.write(AudioChunk(tone, AudioFormat(16000)))
        returned.append(time.monotonic() - start)
    await speaker.drain()
    played = time.monotonic() - start
    ticking.cancel()
    speaker.close()
    print(json.dumps({"returned": returned, "played": played, "lag": lag[0],
                      "underflows": speaker.underflows}))

asyncio.run(main())
"""


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[PulseServer]:
    for binary in ("pulseaudio", "pactl", "parec"):
        require_binary(binary)
    with pulse_server(tmp_path) as server:
        yield server


def run_child(server: PulseServer, script: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", script], env=server.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_stalled_loop_keeps_the_newest_two_seconds_of_capture(pulse: PulseServer) -> None:
    result = run_child(pulse, _STALLED_CAPTURE)
    # 3 s stalled: 2 s kept (100 blocks of 20 ms), ~1 s (50 blocks) dropped and counted;
    # then 0.2 s live.
    assert 40 <= result["dropped"] <= 60, result
    assert 100 <= result["delivered"] <= 100 + 15, result
    assert isinstance(result["overflows"], int)
    assert result["available"] is True, result


def test_speaker_write_waits_while_the_buffer_is_full_without_blocking_the_loop(
    pulse: PulseServer, tmp_path: Path
) -> None:
    heard = tmp_path / "speaker.wav"
    with recording(pulse, heard):
        result = run_child(pulse, _BOUNDED_PLAYBACK)
    returned = result["returned"]
    # The first second's worth is queued at once; after that each write waits for room, so the
    # last one returns when ~1 s is left to play, and everything is heard by the end of drain.
    assert returned[8] < 0.5, returned
    assert 1.6 < returned[-1] < 2.6, returned
    assert 2.9 < result["played"] < 4.0, result
    assert result["lag"] < 0.1, f"the event loop was blocked for {result['lag']:.3f} s"
    assert isinstance(result["underflows"], int)
    audio = np.frombuffer(read_file(heard), dtype="<i2").astype(np.float64) / 32768
    loud_s = np.count_nonzero(np.abs(audio) > 0.05) / 16000
    assert 2.5 < loud_s <= 3.1, f"{loud_s:.2f} s of the 3 s tone heard"
