"""systemd notifications (sd_notify): READY=1, RELOADING=1, WATCHDOG=1, STOPPING=1; no-ops outside
systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
AUDIO_STALL_S = 5.0


def notify(message: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify(%s) failed: %s", message, exc)
        return False
    return True


def notify_reloading() -> bool:
    """RELOADING=1 (READY=1 follows once the new settings run), stamped with the monotonic
    clock as systemd wants it, to match the message to the reload it asked for."""
    now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={now_us}")


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec, the interval systemd recommends for pings; None when not watched."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


async def watchdog(stream_ms: Callable[[], int], stall_s: float = AUDIO_STALL_S,
                   recovering: Callable[[], bool] = lambda: False) -> None:
    """Ping systemd only while audio really flows through the conversation loop (stream time
    moves on), so a stalled capture or a wedged loop gets the daemon restarted; but not while
    the microphone is being reopened (`recovering`): a restart would not bring it back."""
    interval = watchdog_interval_s()
    if interval is None:
        return
    seen_ms, seen_at, stalled = -1, time.monotonic(), False
    while True:
        if stream_ms() != seen_ms or recovering():
            seen_ms, seen_at, stalled = stream_ms(), time.monotonic(), False
        if time.monotonic() - seen_at <= stall_s:
            notify("WATCHDOG=1")
        elif not stalled:
            stalled = True
            log.error("no audio for %.0f s; no longer telling systemd we are alive", stall_s)
        await asyncio.sleep(interval)
