"""Microphone and speaker through sounddevice (PortAudio). Conversion happens at this edge."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.audio.convert import StreamConverter, resample_pcm, to_float_mono
from assistant.audio.format import AudioChunk
from assistant.audio.hub import AudioHub
from assistant.errors import AudioDeviceError
from assistant.events import Event

log = logging.getLogger(__name__)
OUTPUT_LATENCY_S = 0.1
"""Output buffer. PortAudio's default (40 ms through ALSA's pulse plugin) underruns under load."""
PREROLL_S = 0.02
"""Silence before a reply: a starting stream may lose its first ms (measured up to 9 ms)."""
DRAIN_MARGIN_S = 2.0
TAIL_S = 0.04
"""Silence after a reply, beyond the output latency: a stop sometimes drops the last block."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio library missing
        raise AudioDeviceError(
            f"PortAudio is not available ({exc}); "
            "install it (Debian: apt-get install libportaudio2)."
        ) from exc
    return sounddevice


def find_device(spec: str | int | None, kind: str) -> int | None:
    """A device by index or by (case-insensitive) part of its name; None is the system default."""
    if spec is None:
        return None
    sd = _sounddevice()
    devices = sd.query_devices()
    channels_key = "max_input_channels" if kind == "input" else "max_output_channels"
    if isinstance(spec, int):
        if 0 <= spec < len(devices) and devices[spec][channels_key] > 0:
            return spec
    else:
        for index, device in enumerate(devices):
            if spec.lower() in device["name"].lower() and device[channels_key] > 0:
                return index
    names = [f"{i}: {d['name']}" for i, d in enumerate(devices) if d[channels_key] > 0]
    raise AudioDeviceError(
        f"no {kind} device matches {spec!r}. Available: {'; '.join(names) or 'none'}."
    )


def list_devices() -> list[str]:
    sd = _sounddevice()
    lines = []
    for index, device in enumerate(sd.query_devices()):
        kinds = [k for k, key in (("in", "max_input_channels"), ("out", "max_output_channels"))
                 if device[key] > 0]
        lines.append(f"{index:3d}  {device['name']}  ({'/'.join(kinds)}, "
                     f"{device['default_samplerate']:.0f} Hz)")
    return lines


def _default_rate(sd: Any, index: int | None, kind: str) -> int:
    try:
        return int(sd.query_devices(index, kind)["default_samplerate"])
    except (sd.PortAudioError, ValueError) as exc:
        setting = f"audio.{kind}.device"
        raise AudioDeviceError(
            f"no audio {kind} device ({exc}). Is a sound server running? Set {setting}; "
            "'assistant devices' lists what there is. For files use --input/--output."
        ) from exc


class Microphone:
    """Captures from an input device; the PortAudio thread only hands blocks to the event loop."""

    def __init__(self, device: str | int | None, hub: AudioHub,
                 emit: Callable[[Event], None] = lambda event: None) -> None:
        self._device = device
        self._hub = hub
        self._emit = emit
        self._stream: Any = None
        self._converter: StreamConverter | None = None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the device now (errors surface before models load); capture starts in start()."""
        sd = _sounddevice()
        index = find_device(self._device, "input")
        rate = 16000
        try:
            sd.check_input_settings(device=index, samplerate=rate, channels=1, dtype="int16")
        except sd.PortAudioError:
            rate = _default_rate(sd, index, "input")
        self._converter = StreamConverter(rate)

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            loop.call_soon_threadsafe(self._on_block, indata.copy())

        try:
            self._stream = sd.InputStream(
                device=index, samplerate=rate, channels=1, dtype="int16",
                blocksize=rate // 50, callback=callback, latency="low",
            )
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the microphone ({exc}). "
                                   "Set audio.input.device; 'assistant devices' lists devices."
                                   ) from exc
        log.info("microphone open: %s at %d Hz", self._stream.device, rate)

    def start(self) -> None:
        self._stream.start()

    async def run(self) -> None:
        """Capture until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()  # capture runs in PortAudio's thread until cancelled
        finally:
            self.stop()  # first in the shutdown order: no new audio

    def _on_block(self, block: np.ndarray) -> None:
        assert self._converter is not None
        for chunk in self._converter.push(to_float_mono(block[:, 0])):
            self._hub.publish(chunk)

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class Speaker:
    """Plays chunks on an output device. `write` never blocks; `drain` waits until heard."""

    def __init__(self, device: str | int | None,
                 emit: Callable[[Event], None] = lambda event: None) -> None:
        self._device = device
        self._emit = emit
        self._stream: Any = None
        self._buffer: collections.deque[bytes] = collections.deque()
        self._lock = threading.Lock()
        self.rate_hz = 0

    def open(self) -> None:
        sd = _sounddevice()
        index = find_device(self._device, "output")
        self.rate_hz = _default_rate(sd, index, "output")
        try:
            self._stream = sd.RawOutputStream(
                device=index, samplerate=self.rate_hz, channels=1, dtype="int16",
                blocksize=self.rate_hz // 50, callback=self._callback, latency=OUTPUT_LATENCY_S,
            )
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the speaker ({exc}). "
                                   "Set audio.output.device; 'assistant devices' lists devices."
                                   ) from exc
        log.info("speaker open: %s at %d Hz", self._stream.device, self.rate_hz)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        needed = frames * 2
        with self._lock:
            out = b""
            while len(out) < needed and self._buffer:
                out += self._buffer.popleft()
            if len(out) > needed:
                self._buffer.appendleft(out[needed:])
                out = out[:needed]
        outdata[: len(out)] = out
        outdata[len(out):] = bytes(needed - len(out))

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._buffer)

    def _queue(self, pcm: bytes) -> None:
        """In pieces of one callback block, so the callback never copies a whole reply."""
        block = 2 * self.rate_hz // 50
        self._buffer.extend(pcm[i:i + block] for i in range(0, len(pcm), block))

    async def write(self, chunk: AudioChunk) -> None:
        pcm = resample_pcm(chunk.pcm, chunk.format, self.rate_hz)
        starting = not self._stream.active
        with self._lock:
            if starting:  # the first few ms of a starting stream can be lost: make them silence
                self._queue(self._silence(PREROLL_S))
            self._queue(pcm)
        if starting:
            self._stream.start()

    async def drain(self) -> None:
        """Play out, then stop. The stream ends with enough silence to fill the device buffer:
        stopping may drop what the device has not played yet, and that must not be speech."""
        if not self._stream.active:
            return
        tail_s = float(self._stream.latency) + TAIL_S
        with self._lock:
            self._queue(self._silence(tail_s))
            queued_s = sum(len(b) for b in self._buffer) / (2 * self.rate_hz)
        # Emptied by PortAudio's thread, which cannot set an asyncio.Event: poll, but never
        # for longer than the audio lasts (a lost device must not hang the turn).
        deadline = time.monotonic() + queued_s + DRAIN_MARGIN_S
        while self.pending and self._stream.active and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self.pending:
            log.warning("the speaker stopped playing; dropping the rest of the reply")
        # What is still in the device buffer is the silent tail: aborting loses no speech, and
        # unlike stop() it returns at once, on this thread.
        self.interrupt()

    def _silence(self, seconds: float) -> bytes:
        return bytes(2 * round(self.rate_hz * seconds))

    def interrupt(self) -> None:
        with self._lock:
            self._buffer.clear()
        if self._stream is not None and self._stream.active:
            self._stream.abort()

    def close(self) -> None:
        if self._stream is not None:
            self.interrupt()
            self._stream.close()
            self._stream = None
