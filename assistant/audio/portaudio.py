"""PortAudio (through sounddevice) as one process-wide resource: device lookup, opening under one
lock, rescans, and the slot that holds a device's current stream.

What PortAudio (19.6, ALSA host API) does through ALSA's pulse plugin when a device vanishes,
as measured with PulseAudio 16:
- A running stream whose source or sink is unloaded is moved by PulseAudio to another one if
  any exists (and back when one of the same name returns): the client sees nothing. With nowhere
  to go it is killed: the callback thread ends and `finished_callback` runs; nothing raises.
- Opening a stream while the named device is missing fails at once (PortAudioError -9999).
- Starting an *opened* stream whose device has gone since deadlocks Pa_StartStream forever.
  So a reply opens a fresh stream just before it starts it, and never restarts an old one.
- A reloaded null sink gives a new recorder nothing for up to 2 s. No rescan
  (`sd._terminate()/_initialize()`) is needed for pulse devices; for a hardware device that was
  absent at start-up it is, and it is only safe while no stream is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from assistant.errors import AudioDeviceError

log = logging.getLogger(__name__)
DEVICE_OP_S = 5.0
"""Longest an open/start/close may take before the device counts as lost."""
_RESCAN_CODES = (-9996, -9985)  # paInvalidDevice, paDeviceUnavailable


def sounddevice_module() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio library missing
        raise AudioDeviceError(
            f"PortAudio is not available ({exc}); "
            "install it (Debian: apt-get install libportaudio2)."
        ) from exc
    return sounddevice


class PortAudio:
    """PortAudio is one per process and not thread-safe: opens, closes and rescans from the worker
    threads of both devices go through one lock, which also knows whether a rescan is safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open_streams = 0

    @contextlib.contextmanager
    def locked(self) -> Iterator[Any]:
        # A deadlocked PortAudio call holds the lock forever: fail instead of piling up threads.
        if not self._lock.acquire(timeout=DEVICE_OP_S):
            raise AudioDeviceError("PortAudio is stuck in another audio device call.")
        try:
            sd = sounddevice_module()
            try:
                yield sd
            except sd.PortAudioError as exc:  # a typed error, never a dead capture task
                raise AudioDeviceError(f"PortAudio failed: {exc}") from exc
        finally:
            self._lock.release()

    def rescan(self, sd: Any) -> bool:
        """Find devices plugged in since start-up (under the lock); only with no stream open."""
        if self.open_streams:
            return False
        log.info("rescanning audio devices")
        try:
            if sd._initialized:
                sd._terminate()
            sd._initialize()
        except sd.PortAudioError as exc:
            log.warning("rescanning audio devices failed: %s", exc)
            return False
        return True

    def close(self, stream: Any) -> None:
        with self.locked():
            self.close_locked(stream)

    def close_locked(self, stream: Any) -> None:
        stream.close(ignore_errors=True)  # also aborts a running stream
        self.open_streams -= 1


PA = PortAudio()


def find_device(spec: str | int | None, kind: str) -> int | None:
    """A device by index or by (case-insensitive) part of its name; None is the system default."""
    if spec is None:
        return None
    sd = sounddevice_module()
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
    sd = sounddevice_module()
    lines = []
    for index, device in enumerate(sd.query_devices()):
        kinds = [k for k, key in (("in", "max_input_channels"), ("out", "max_output_channels"))
                 if device[key] > 0]
        lines.append(f"{index:3d}  {device['name']}  ({'/'.join(kinds)}, "
                     f"{device['default_samplerate']:.0f} Hz)")
    return lines


def default_rate(sd: Any, index: int | None, kind: str) -> int:
    try:
        return int(sd.query_devices(index, kind)["default_samplerate"])
    except (sd.PortAudioError, ValueError) as exc:
        setting = f"audio.{kind}.device"
        raise AudioDeviceError(
            f"no audio {kind} device ({exc}). Is a sound server running? Set {setting}; "
            "'assistant devices' lists what there is. For files use --input/--output."
        ) from exc


def open_stream(sd: Any, spec: str | int | None, kind: str,
                make: Callable[[int | None], Any]) -> Any:
    """`make(index)`, after one rescan if the device is not there. Under `PA.locked()`."""
    try:
        stream = make(find_device(spec, kind))
    except AudioDeviceError as exc:
        cause = exc.__cause__
        code = cause.args[1] if isinstance(cause, sd.PortAudioError) and cause.args[1:] else None
        missing = cause is None or isinstance(cause, ValueError) or code in _RESCAN_CODES
        if not missing or not PA.rescan(sd):
            raise
        stream = make(find_device(spec, kind))
    PA.open_streams += 1
    return stream


def call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """From a PortAudio thread; the loop may already be closed at shutdown."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn)


class StreamSlot:
    """The device's current stream. Worker threads install what they opened only if nobody gave
    up on them meanwhile (barge-in, shutdown, timeout): each `take` starts a new epoch, and a
    stream of an old epoch is closed by the thread that opened it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stream: Any = None
        self.epoch = 0

    def install(self, stream: Any, epoch: int) -> bool:
        """Under `PA.locked()`. False (and the stream closed) if its epoch is over."""
        with self._lock:
            if epoch == self.epoch:
                self.stream = stream
                return True
        PA.close_locked(stream)
        return False

    def take(self) -> Any:
        with self._lock:
            self.epoch += 1
            stream, self.stream = self.stream, None
            return stream
