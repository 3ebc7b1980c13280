"""What the user hears when an engine fails, and how long until the daemon is whole again.

Run from the repo root: `python -m tests.bench.bench_faults`.

The real daemon on live audio (raw PCM on its stdin, in real time), with the real recordings
"okay nabu" + "what time is it" / "what's the date today" from ../shared/audio. For each fault:
the answer to the command that hit it, the time from the end of that command to its answer,
and the time from the fault to the worker being back (its `engine_ready`), then a second
command that must be answered normally. Default settings, except no idle health checks (a
stopped worker must fail its request, not a ping) and, for the runaway memory case, Whisper
replaced by a copy that allocates without end after hearing the time (700 MB limit).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import AUDIO
from tests.integration.live import LiveDaemon
from tests.integration.test_worker_faults import DATE, QUIET_WORKERS, TIME, command


@dataclass(frozen=True)
class Outcome:
    case: str
    heard: str
    answer_s: float
    """The endpoint of the command that hit the fault -> its answer (stream time)."""
    recovery_s: float
    """The fault -> the worker ready again."""
    next_answer: str


def run_case(case: str, stage: str, prepare: Callable[[int], None],
             inject: Callable[[LiveDaemon, int], float], config: dict[str, object],
             module: str = "assistant") -> Outcome:
    """`prepare(pid)` before the command (e.g. stop the worker), `inject` while it runs; it
    returns when the fault happened."""
    with tempfile.TemporaryDirectory() as tmp, \
            LiveDaemon(Path(tmp), {**QUIET_WORKERS, **config}, module=module) as daemon:
        daemon.wait_ready()
        pid = daemon.worker_pid(stage)
        prepare(pid)
        daemon.say(command(AUDIO, TIME))
        faulted_at = inject(daemon, pid)
        ended = daemon.wait_for("speech_ended")[0]
        [first] = daemon.wait_for("replied", timeout_s=60)
        answer_s = (first["at_ms"] - ended["at_ms"]) / 1000
        daemon.wait_for("engine_ready", stage=stage, restarts=1, timeout_s=60)
        ready_at = time.monotonic()
        daemon.say(command(AUDIO, DATE))
        second = daemon.wait_for("replied", 2, timeout_s=60)[1]
        daemon.stop()
    return Outcome(case, f"{first['text']} ({first['voice']})", answer_s,
                   ready_at - faulted_at, f"{second['text']} ({second['voice']})")


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)


def nothing(pid: int) -> None:
    pass


def kill_at(event: str) -> Callable[[LiveDaemon, int], float]:
    def inject(daemon: LiveDaemon, pid: int) -> float:
        daemon.wait_for(event)
        os.kill(pid, signal.SIGKILL)
        return time.monotonic()

    return inject


def hung_at_request(daemon: LiveDaemon, pid: int) -> float:
    daemon.wait_for("speech_started")  # the speculation's request hangs from here on
    return time.monotonic()


def kill_everything(daemon: LiveDaemon, pid: int) -> float:
    daemon.wait_for("transcribed")
    for worker in daemon.workers():
        os.kill(worker, signal.SIGKILL)
    return time.monotonic()


def grows(daemon: LiveDaemon, pid: int) -> float:
    daemon.wait_for("stage_failed", timeout_s=60)  # it grows until the supervisor stops it
    return time.monotonic()


def main() -> None:
    outcomes = [
        run_case("ASR worker killed mid-turn", "asr", stop, kill_at("speech_ended"), {}),
        run_case("ASR worker hangs (asr.timeout_s: 15)", "asr", stop, hung_at_request, {}),
        run_case("TTS worker killed mid-reply", "tts", stop, kill_at("transcribed"), {}),
        run_case("every worker killed at once", "asr", nothing, kill_everything, {}),
        run_case("ASR worker grows past 700 MB", "asr", nothing, grows,
                 {"workers": {**QUIET_WORKERS["workers"], "max_memory_mb": 700}},
                 module="tests.integration.growing_daemon"),
    ]
    print(f"{'case':<38} {'answer':>8} {'recovery':>9}  the faulty turn heard / the next turn")
    for o in outcomes:
        print(f"{o.case:<38} {o.answer_s:>7.1f}s {o.recovery_s:>8.1f}s  {o.heard}")
        print(f"{'':<58}{o.next_answer}")


if __name__ == "__main__":
    main()
