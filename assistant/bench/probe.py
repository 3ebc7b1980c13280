"""Play a file into the default output and record the default input, on one clock.

Run as `python -m assistant.bench.probe IN.wav OUT.wav` with PULSE_SINK / PULSE_SOURCE set (the
mouth-to-ear bench points them at the virtual microphone and the virtual speaker). PortAudio
stamps every output block with the time it reaches the device (DAC) and every input block with
the time it left it (ADC), on the same clock; OUT.wav.json keeps those stamps, so a sample of
IN.wav and a sample of OUT.wav can be put on one time line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT

BLOCK = 320
TAIL_S = 3.0  # keep recording for the last answer


class _Probe:
    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.played = 0
        self.played_dac_s: float | None = None
        self.recorded: list[bytes] = []
        self.recorded_adc_s: float | None = None
        self.done = threading.Event()

    def play(self, outdata: Any, frames: int, info: Any, status: Any) -> None:
        chunk = self.pcm[self.played * 2:(self.played + frames) * 2]
        outdata[:len(chunk)] = chunk
        outdata[len(chunk):] = bytes(frames * 2 - len(chunk))
        if self.played_dac_s is None:
            self.played_dac_s = float(info.outputBufferDacTime)
        self.played += frames
        if not chunk:
            self.done.set()

    def record(self, indata: Any, frames: int, info: Any, status: Any) -> None:
        if self.recorded_adc_s is None:
            self.recorded_adc_s = float(info.inputBufferAdcTime)
        self.recorded.append(bytes(indata))


def main(source: Path, out: Path) -> None:
    import sounddevice as sd

    probe = _Probe(read_file(source))
    rate = STREAM_FORMAT.rate_hz
    with sd.RawInputStream(samplerate=rate, channels=1, dtype="int16", blocksize=BLOCK,
                           callback=probe.record), \
            sd.RawOutputStream(samplerate=rate, channels=1, dtype="int16", blocksize=BLOCK,
                               callback=probe.play, latency=0.05):
        probe.done.wait(timeout=len(probe.pcm) / 2 / rate + 30)
        time.sleep(TAIL_S)
    write_wav(out, b"".join(probe.recorded), STREAM_FORMAT)
    stamps = {"played_dac_s": probe.played_dac_s, "recorded_adc_s": probe.recorded_adc_s}
    Path(f"{out}.json").write_text(json.dumps(stamps), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
