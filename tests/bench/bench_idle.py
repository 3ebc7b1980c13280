"""Idle CPU and memory of the real daemon while it listens to silence and to faint noise.

Run from the repo root: `python -m tests.bench.bench_idle [--seconds N] [--sounds]`.
The daemon reads raw 16 kHz 16-bit mono PCM on stdin, fed in real time (20 ms blocks) from a
thread; measuring starts 5 s after its control socket appears (models loaded, listening).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.bench.idle import cpu_ticks, feed, silence_block, status_kb

REPO = Path(__file__).resolve().parents[2]
RATE_HZ, BLOCK_MS, SETTLE_S = 16000, 20, 5.0
NOISE_DBFS = -50.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    label: str
    cpu_percent: float
    rss_kb: int
    hwm_kb: int
    startup_s: float
    stop_s: float
    exit_code: int | None
    complaints: list[str]
    """WARNING/ERROR lines of the daemon's log"""


def noise_blocks() -> Callable[[], bytes]:
    """20 ms blocks of gaussian noise at NOISE_DBFS RMS."""
    rng = np.random.default_rng(0)
    samples = RATE_HZ * BLOCK_MS // 1000
    rms = 32768 * 10 ** (NOISE_DBFS / 20)
    return lambda: np.clip(rng.normal(0, rms, samples), -32768, 32767).astype("<i2").tobytes()


def measure(label: str, noise: bool, seconds: float, tmp: Path, vad: str, sounds: bool
            ) -> Sample:
    socket_path = tmp / f"{label}.sock"
    config = tmp / f"{label}.yaml"
    config.write_text(f"conversation: {{control_socket: '{socket_path}'}}\n"
                      f"endpoint: {{vad: {vad}}}\n"
                      f"sounds: {{enabled: {'true' if sounds else 'false'}}}\n")
    log = (tmp / f"{label}.log").open("wb")
    cmd = [sys.executable, "-m", "assistant", "--config", str(config), "run", "--input", "-",
           "--output", "none", "--quiet"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                            cwd=REPO)
    assert proc.stdin is not None
    stop = threading.Event()
    blocks = noise_blocks() if noise else silence_block
    feeder = threading.Thread(target=feed, args=(proc.stdin, stop, blocks), daemon=True)
    feeder.start()
    try:
        while not socket_path.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited {proc.returncode}: "
                                   f"{(tmp / f'{label}.log').read_text()[-2000:]}")
            time.sleep(0.05)
        startup_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), cpu_ticks(proc.pid)
        rss, hwm = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = proc.wait(timeout=20)  # keep feeding: a live pipe never stalls
        except subprocess.TimeoutExpired:
            code = None
        stop_s = time.monotonic() - stopping
    finally:
        stop.set()
        feeder.join(timeout=2)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    cpu = (c1 - c0) / TICKS_PER_S / (t1 - t0) * 100
    complaints = [line.strip() for line in (tmp / f"{label}.log").read_text().splitlines()
                  if "WARNING" in line or "ERROR" in line]
    return Sample(label, cpu, rss, hwm, startup_s, stop_s, code, complaints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, help="unused; accepted like the other benchmarks")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--vad", choices=["webrtc", "silero"], default="webrtc")
    parser.add_argument("--sounds", action="store_true",
                        help="also run the sound-event stage (YAMNet), as sounds.enabled does")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        samples = [measure("zeros", False, args.seconds, Path(tmp), args.vad, args.sounds),
                   measure(f"noise{NOISE_DBFS:g}dBFS", True, args.seconds, Path(tmp), args.vad,
                           args.sounds)]
    print(f"idle daemon, {args.seconds:g} s measured after {SETTLE_S:g} s settle, "
          f"{os.cpu_count()} CPUs, {TICKS_PER_S} ticks/s")
    print(f"{'input':<16} {'CPU % core':>10} {'VmRSS MB':>9} {'VmHWM MB':>9} {'ready s':>8} "
          f"{'stop s':>7} {'exit':>5}")
    for s in samples:
        print(f"{s.label:<16} {s.cpu_percent:>10.2f} {s.rss_kb / 1024:>9.1f} "
              f"{s.hwm_kb / 1024:>9.1f} {s.startup_s:>8.1f} {s.stop_s:>7.2f} {s.exit_code!s:>5}")
    for s in samples:
        print(s)
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    if any(s.exit_code != 0 for s in samples):
        sys.exit("the daemon did not exit 0 on SIGTERM")


if __name__ == "__main__":
    main()
