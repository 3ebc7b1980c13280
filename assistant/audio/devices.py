"""Microphone and speaker through sounddevice (PortAudio). Conversion happens at this edge.

Both survive their device going away and coming back; see `assistant.audio.portaudio` for what
PortAudio does then, and why a reply opens a fresh output stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.audio.buffers import CaptureBuffer, PlaybackBuffer
from assistant.audio.convert import StreamConverter, resample_pcm, to_float_mono
from assistant.audio.format import AudioChunk
from assistant.audio.hub import AudioHub
from assistant.audio.portaudio import (
    DEVICE_OP_S,
    PA,
    StreamSlot,
    call_soon,
    default_rate,
    find_device,
    list_devices,
    open_stream,
)
from assistant.errors import INPUT_LOST, OUTPUT_LOST, AudioDeviceError
from assistant.events import DeviceChanged, Event, Stage, StageFailed

__all__ = ["Microphone", "Speaker", "find_device", "list_devices"]
log = logging.getLogger(__name__)
BLOCK_MS = 20
OUTPUT_LATENCY_S = 0.1
"""Output buffer. PortAudio's default (40 ms through ALSA's pulse plugin) underruns under load."""
PREROLL_S = 0.02
"""Silence before a reply: a starting stream may lose its first ms (measured up to 9 ms)."""
DRAIN_MARGIN_S = 2.0
TAIL_S = 0.04
"""Silence after a reply, beyond the output latency: a stop sometimes drops the last block."""
CAPTURE_BUFFER_S = 2.0
"""Capture blocks waiting for a stalled event loop; older ones are dropped (and counted)."""
PLAYBACK_BUFFER_S = 10.0
"""Reply audio queued ahead of the speaker; `write` waits beyond it."""
STALL_S = 2.0
"""A running input stream that delivers nothing for this long has lost its device."""
FIRST_AUDIO_S = 5.0
"""Allowed before a (re)opened input's first block: a reloaded null sink takes up to 2 s."""
WATCH_S = 0.5
"""How often the input watch looks at the time of the last block."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


class Microphone:
    """Captures from an input device; the PortAudio thread only hands blocks to the event loop.

    `run` watches the stream and reopens the device, with backoff, when it is lost: the stream
    ended, or no audio came for `STALL_S`.
    """

    def __init__(self, device: str | int | None, hub: AudioHub,
                 emit: Callable[[Event], None] = lambda event: None) -> None:
        self._device = device
        self._hub = hub
        self._emit = emit
        self._slot = StreamSlot()
        self._buffer = CaptureBuffer(round(CAPTURE_BUFFER_S * 1000 / BLOCK_MS))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._converter: StreamConverter | None = None
        self._rate = 0
        self._offset_ms = 0  # stream time delivered by the converters of earlier rates
        self._now_ms = 0
        self._label = "default" if device is None else str(device)
        self._available = True
        self._retry_s = RETRY_FIRST_S
        self._started_at = 0.0
        self._last_audio_at = 0.0  # monotonic, stamped by PortAudio's thread
        self._ended = asyncio.Event()
        self.overflows = 0
        """PortAudio input overflows: audio lost before it reached us."""

    @property
    def dropped(self) -> int:
        """20 ms blocks dropped because the event loop fell ~2 s behind."""
        return self._buffer.dropped

    @property
    def available(self) -> bool:
        """False from the loss of the device until audio flows again (`run` is retrying)."""
        return self._available

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the device now (errors surface before models load); capture starts in start()."""
        self._loop = loop
        self._use_rate(self._open_stream(self._slot.epoch))

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._start_stream()

    async def run(self) -> None:
        """Capture until cancelled, reopening the device whenever it is lost."""
        try:
            self._started_at = time.monotonic()
            failed = await self._attempt(self._start_stream)
            while True:
                reason = failed or await self._until_lost()
                stream = self._slot.take()  # from now on its callbacks are ignored
                self._on_blocks()  # what it captured before it went
                if self._available:
                    self._report_lost(reason)
                else:
                    log.debug("the reopened microphone failed too: %s", reason)
                if stream is not None:
                    await self._attempt(functools.partial(PA.close, stream))
                failed = await self._reopen()
        finally:
            self.stop()  # first in the shutdown order: no new audio

    async def _until_lost(self) -> str:
        while not self._ended.is_set():
            flowing = self._last_audio_at > self._started_at
            limit = STALL_S if flowing else FIRST_AUDIO_S
            idle = time.monotonic() - max(self._last_audio_at, self._started_at)
            if idle >= limit:
                return f"no audio for {idle:.1f} s"
            with contextlib.suppress(TimeoutError):  # a look twice a second is not a hot poll
                async with asyncio.timeout(min(limit - idle, WATCH_S)):
                    await self._ended.wait()
        return "the audio stream stopped"

    def _report_lost(self, reason: str) -> None:
        self._available = False
        message = f"microphone {self._label!r} lost ({reason}); reopening it"
        log.error("%s", message)
        self._emit(StageFailed(at_ms=self._now_ms, stage=Stage.CAPTURE, code=INPUT_LOST,
                               message=message))
        self._emit(DeviceChanged(at_ms=self._now_ms, kind="input", available=False,
                                 device=self._label))

    async def _reopen(self) -> str | None:
        """Open and start a new stream; the error of the start, if only that failed. Once audio
        flows, `_on_blocks` says the device is back."""
        while True:
            await asyncio.sleep(self._retry_s)
            self._retry_s = min(2 * self._retry_s, RETRY_MAX_S)
            self._ended = asyncio.Event()
            self._started_at = time.monotonic()
            opening = functools.partial(self._open_stream, self._slot.epoch)
            try:
                async with asyncio.timeout(DEVICE_OP_S):
                    rate = await asyncio.to_thread(opening)
            except (AudioDeviceError, TimeoutError) as exc:
                why = getattr(exc, "message", "") or "the device did not respond"
                log.log(logging.INFO if self._retry_s < RETRY_MAX_S else logging.DEBUG,
                        "microphone still unavailable (%s); next try in %.1f s", why,
                        self._retry_s)
                self._slot.take()  # a stream that opens late closes itself
                continue
            self._use_rate(rate)  # here, on the loop, before blocks of the new rate arrive
            return await self._attempt(self._start_stream)

    async def _attempt(self, fn: Callable[[], None]) -> str | None:
        """A device call off the loop (it may block for tens of ms); its error, or None."""
        try:
            async with asyncio.timeout(DEVICE_OP_S):
                await asyncio.to_thread(fn)
        except AudioDeviceError as exc:
            return exc.message
        except TimeoutError:
            # Stuck in PortAudio: leave that stream alone, it cannot be closed either.
            self._slot.take()
            return "the device did not respond"
        return None

    def _open_stream(self, epoch: int) -> int:
        """A new stream, not started; its rate."""
        with PA.locked() as sd:
            make = functools.partial(self._make, sd, epoch)
            stream = open_stream(sd, self._device, "input", make)
            if not self._slot.install(stream, epoch):
                raise AudioDeviceError("the microphone was closed while opening")
        log.info("microphone open: %s at %d Hz", stream.device, stream.samplerate)
        return int(stream.samplerate)

    def _start_stream(self) -> None:
        with PA.locked() as sd:
            stream = self._slot.stream
            if stream is None:
                raise AudioDeviceError("the microphone is closed")
            try:
                stream.start()
            except sd.PortAudioError as exc:
                raise AudioDeviceError(f"cannot start the microphone ({exc})") from exc

    def _make(self, sd: Any, epoch: int, index: int | None) -> Any:
        rate = 16000
        try:
            sd.check_input_settings(device=index, samplerate=rate, channels=1, dtype="int16")
        except sd.PortAudioError:
            rate = default_rate(sd, index, "input")
        loop = self._loop
        assert loop is not None, "open() first"

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if epoch != self._slot.epoch:
                return
            if status.input_overflow:
                self.overflows += 1
            self._last_audio_at = time.monotonic()
            if self._buffer.push(indata.copy()):
                call_soon(loop, self._on_blocks)

        def finished() -> None:
            if epoch == self._slot.epoch:  # not closed by us: the device went away
                call_soon(loop, self._ended.set)

        try:
            return sd.InputStream(
                device=index, samplerate=rate, channels=1, dtype="int16",
                blocksize=rate * BLOCK_MS // 1000, callback=callback,
                finished_callback=finished, latency="low",
            )
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the microphone ({exc}). "
                                   "Set audio.input.device; 'assistant devices' lists devices."
                                   ) from exc

    def _use_rate(self, rate: int) -> None:
        if rate != self._rate:
            self._offset_ms, self._rate = self._now_ms, rate
            self._converter = StreamConverter(rate)

    def _on_blocks(self) -> None:
        blocks = self._buffer.take()
        if not blocks:
            return
        converter = self._converter
        assert converter is not None
        for block in blocks:
            for chunk in converter.push(to_float_mono(block[:, 0])):
                if self._offset_ms:
                    chunk = dataclasses.replace(chunk, start_ms=chunk.start_ms + self._offset_ms)
                self._now_ms = chunk.end_ms
                self._hub.publish(chunk)
        if not self._available:
            self._available = True
            self._retry_s = RETRY_FIRST_S
            log.info("microphone %r is back", self._label)
            self._emit(DeviceChanged(at_ms=self._now_ms, kind="input", available=True,
                                     device=self._label))

    def stop(self) -> None:
        stream = self._slot.take()
        if stream is not None:
            PA.close(stream)


class Speaker:
    """Plays chunks on an output device. `write` waits only while ~10 s are queued; `drain`
    waits until heard. Each reply opens a fresh stream (off the loop) and closes it after."""

    def __init__(self, device: str | int | None,
                 emit: Callable[[Event], None] = lambda event: None) -> None:
        self._device = device
        self._emit = emit
        self._slot = StreamSlot()
        self._retired: list[Any] = []  # interrupted streams, closed by the next device call
        self._buffer = PlaybackBuffer(0)
        self._label = "default" if device is None else str(device)
        self._available = True
        self._died = False  # the current stream ended without being asked to
        self._wake: Callable[[], None] = lambda: None
        self._abort: type[Exception] = Exception
        self.rate_hz = 0
        self.underflows = 0
        """PortAudio output underflows: the speaker ran dry while playing."""

    def open(self) -> None:
        """Check the device now (a missing speaker is reported before slow loading)."""
        with PA.locked() as sd:
            stream = open_stream(sd, self._device, "output", functools.partial(self._make, sd, -1))
        PA.close(stream)
        log.info("speaker open: %s at %d Hz", stream.device, self.rate_hz)

    def _make(self, sd: Any, epoch: int, index: int | None) -> Any:
        self._abort = sd.CallbackAbort
        rate = default_rate(sd, index, "output")
        if rate != self.rate_hz:
            self.rate_hz = rate
            self._buffer = PlaybackBuffer(2 * rate * BLOCK_MS // 1000)
        try:
            return sd.RawOutputStream(
                device=index, samplerate=rate, channels=1, dtype="int16",
                blocksize=rate * BLOCK_MS // 1000, latency=OUTPUT_LATENCY_S,
                callback=functools.partial(self._callback, epoch),
                finished_callback=functools.partial(self._finished, epoch),
            )
        except sd.PortAudioError as exc:
            raise AudioDeviceError(f"cannot open the speaker ({exc}). "
                                   "Set audio.output.device; 'assistant devices' lists devices."
                                   ) from exc

    def _callback(self, epoch: int, outdata: Any, frames: int, time_info: Any,
                  status: Any) -> None:
        if epoch != self._slot.epoch:  # interrupted: stop from this thread, at once
            raise self._abort
        if status.output_underflow:
            self.underflows += 1
        out = self._buffer.read(frames * 2)
        outdata[: len(out)] = out
        outdata[len(out):] = bytes(frames * 2 - len(out))

    def _finished(self, epoch: int) -> None:
        if epoch == self._slot.epoch:  # not stopped by us: the device went away
            self._died = True
            self._wake()

    @property
    def pending(self) -> bool:
        return self._buffer.queued_bytes > 0

    async def write(self, chunk: AudioChunk) -> None:
        if self._slot.stream is None:
            await self._start()
        pcm = resample_pcm(chunk.pcm, chunk.format, self.rate_hz)
        await self._wait_until_queued(round(PLAYBACK_BUFFER_S * 2 * self.rate_hz))
        self._buffer.put(pcm)

    async def _start(self) -> None:
        self._buffer.clear()
        self._died = False
        epoch = self._slot.epoch
        try:
            async with asyncio.timeout(DEVICE_OP_S):
                await asyncio.to_thread(self._open_and_start, epoch)
        except AudioDeviceError as exc:
            stream = self._slot.take()
            if stream is not None:  # opened, but it would not start
                self._retired.append(stream)
            raise AudioDeviceError(self._lost(exc.message)) from exc
        except TimeoutError as exc:
            self._slot.take()  # stuck in PortAudio: leave it; if it opens late it closes itself
            raise AudioDeviceError(self._lost("it did not respond")) from exc
        if not self._available:
            self._available = True
            log.info("speaker %r is back", self._label)
            self._emit(DeviceChanged(at_ms=0, kind="output", available=True,
                                     device=self._label))

    def _open_and_start(self, epoch: int) -> None:
        self._close_retired()
        with PA.locked() as sd:
            make = functools.partial(self._make, sd, epoch)
            stream = open_stream(sd, self._device, "output", make)
            # the first few ms of a starting stream can be lost: make them silence
            self._buffer.put(self._silence(PREROLL_S))
            if not self._slot.install(stream, epoch):
                return
            try:
                stream.start()
            except sd.PortAudioError as exc:
                raise AudioDeviceError(f"cannot start the speaker ({exc})") from exc

    async def _wait_until_queued(self, level: int) -> None:
        """Until at most `level` bytes are queued; the speaker is lost if that takes longer
        than the audio lasts (a stopped device must not hang the turn)."""
        if self._died:
            await self._fail("the audio stream stopped")
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        self._wake = functools.partial(call_soon, loop, woken.set)
        if not self._buffer.wait_below(level, self._wake):
            return
        seconds = (self._buffer.queued_bytes - level) / (2 * self.rate_hz)
        try:
            async with asyncio.timeout(seconds + DRAIN_MARGIN_S):
                await woken.wait()
        except TimeoutError:
            await self._fail("it stopped playing")
        finally:
            self._buffer.forget_waiter()
        if self._died:
            await self._fail("the audio stream stopped")

    async def drain(self) -> None:
        """Play out, then close. The stream ends with enough silence to fill the device buffer:
        closing drops what the device has not played yet, and that must not be speech."""
        stream = self._slot.stream
        if stream is None:
            return
        self._buffer.put(self._silence(float(stream.latency) + TAIL_S))
        await self._wait_until_queued(0)
        stream = self._slot.take()
        if stream is not None:
            await asyncio.to_thread(PA.close, stream)

    async def _fail(self, why: str) -> None:
        stream = self._slot.take()
        self._buffer.clear()
        if stream is not None:
            await asyncio.to_thread(PA.close, stream)
        raise AudioDeviceError(self._lost(why))

    def _lost(self, why: str) -> str:
        message = f"speaker {self._label!r} unavailable: {why}"
        log.error("%s; the next reply reopens it", message)
        if self._available:
            self._available = False
            self._emit(StageFailed(at_ms=0, stage=Stage.PLAYBACK, code=OUTPUT_LOST,
                                   message=message))
            self._emit(DeviceChanged(at_ms=0, kind="output", available=False,
                                     device=self._label))
        return message

    def _silence(self, seconds: float) -> bytes:
        return bytes(2 * round(self.rate_hz * seconds))

    def interrupt(self) -> None:
        """Stop at once: the callback aborts the stream from PortAudio's own thread."""
        stream = self._slot.take()
        self._buffer.clear()
        if stream is not None:
            self._retired.append(stream)

    def _close_retired(self) -> None:
        while self._retired:
            PA.close(self._retired.pop())

    def close(self) -> None:
        self.interrupt()
        self._close_retired()
