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

from assistant.bench.idle import feed, process_tree, pss_kb, silence_block, tree_kb, tree_ticks

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
    pss_kb: int = 0
    processes: int = 1


def noise_blocks() -> Callable[[], bytes]:
    """20 ms blocks of gaussian noise at NOISE_DBFS RMS."""
    rng = np.random.default_rng(0)
    samples = RATE_HZ * BLOCK_MS // 1000
    rms = 32768 * 10 ** (NOISE_DBFS / 20)
    return lambda: np.clip(rng.normal(0, rms, samples), -32768, 32767).astype("<i2").tobytes()


def measure(label: str, noise: bool, seconds: float, tmp: Path, vad: str, sounds: bool,
            repo: Path = REPO) -> Sample:
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
                            cwd=repo)
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
        pids = process_tree(proc.pid)
        t0, c0 = time.monotonic(), tree_ticks(pids)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), tree_ticks(pids)
        rss, hwm = tree_kb(pids, "VmRSS"), tree_kb(pids, "VmHWM")
        pss = pss_kb(pids)
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
    return Sample(label, cpu, rss, hwm, startup_s, stop_s, code, complaints, pss, len(pids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, help="unused; accepted like the other benchmarks")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--vad", choices=["webrtc", "silero"], default="webrtc")
    parser.add_argument("--sounds", action="store_true",
                        help="also run the sound-event stage (YAMNet), as sounds.enabled does")
    parser.add_argument("--repo", type=Path, default=[], action="append", dest="repos",
                        help="run the daemon of this checkout (repeat to compare checkouts in "
                             "one run, e.g. a git worktree of an older commit)")
    parser.add_argument("--no-noise", action="store_true", help="only the silent input")
    args = parser.parse_args()
    repos = args.repos or [REPO]
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        samples = []
        for i, repo in enumerate(repos):
            tag = f"{i}:" if len(repos) > 1 else ""
            samples.append(measure(f"{tag}zeros", False, args.seconds, Path(tmp), args.vad,
                                   args.sounds, repo))
            if not args.no_noise:
                samples.append(measure(f"{tag}noise{NOISE_DBFS:g}dBFS", True, args.seconds,
                                       Path(tmp), args.vad, args.sounds, repo))
    print(f"idle daemon, {args.seconds:g} s measured after {SETTLE_S:g} s settle, "
          f"{os.cpu_count()} CPUs, {TICKS_PER_S} ticks/s")
    for i, repo in enumerate(repos):
        print(f"{i}: {repo}")
    print("(CPU and memory of the daemon and its worker processes together)")
    print(f"{'input':<18} {'procs':>5} {'CPU % core':>10} {'RSS MB':>7} {'PSS MB':>7} "
          f"{'peak MB':>8} {'ready s':>8} {'stop s':>7} {'exit':>5}")
    for s in samples:
        print(f"{s.label:<18} {s.processes:>5} {s.cpu_percent:>10.2f} {s.rss_kb / 1024:>7.1f} "
              f"{s.pss_kb / 1024:>7.1f} {s.hwm_kb / 1024:>8.1f} {s.startup_s:>8.1f} "
              f"{s.stop_s:>7.2f} {s.exit_code!s:>5}")
    for s in samples:
        print(s)
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    if any(s.exit_code != 0 for s in samples):
        sys.exit("the daemon did not exit 0 on SIGTERM")


if __name__ == "__main__":
    main()
