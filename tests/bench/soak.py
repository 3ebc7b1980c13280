"""Soak: hours of real audio through the real daemon, as fast as it takes it.

Run from the repo root: `python -m tests.bench.soak [--hours H | --minutes M] [--json]`.

The real daemon reads raw PCM on its stdin (`assistant run --input -`), written as fast as the
pipe takes it: the real recordings from ../shared/audio, "okay nabu" + a command ("what time is
it", "what's the date today", "turn on the living room lamp") every ~20 s of audio, and between
them real noise (rain, typing, dishes, an exercise bike, a car, a train, thunder, birds) and
silence. A command is given once the one before it is answered (while a turn works the daemon
would otherwise read a minute of audio and hear the next command inside it); the wait is fed
silence in real time, like a microphone. A private Mosquitto carries device states every command,
bursts of them, and a `say` now and then; the lamp commands must arrive on it. Every 30 minutes
of audio (once, half way, in a shorter run) a worker of the daemon (ASR, then TTS, alternating)
is killed with SIGKILL right after a command.

It prints, every 5 minutes of audio, the RSS of the daemon and of its workers and their open
files (/proc), commands given and answered (`replied`), then every `stage_failed` with its code,
and a verdict: the daemon's growth after the first hour of audio (judged from 2 h of audio on:
< 10%), answered/given, Tracebacks in its log, open files, its exit code. Exit status 1 when the
verdict fails. 6 h of audio take about 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import select
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio.files import read_file
from assistant.audio.format import STREAM_FORMAT
from tests.conftest import AUDIO
from tests.integration.broker import Broker, Collector, mosquitto_binary
from tests.integration.live import LiveDaemon

SEED = 12
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
COMMANDS = (  # clip, what the answer starts with
    ("asr/rhasspy3_what_time_is_it.wav", "It's"),
    ("asr/rhasspy3_whats_the_date_today.wav", "Today is"),
    ("asr/wyoming_faster_whisper_turn_on_the_living_room_lamp.wav", "Turned on"),
)
NOISE = ("sed/ibm_max_rain.wav", "sed/ibm_max_typing.wav",
         "sed/pyroomacoustics_doing_the_dishes.wav", "sed/pyroomacoustics_exercise_bike.wav",
         "sed/ibm_max_car_engine.wav",
         "sed/ibm_max_train.wav", "sed/ibm_max_thunder.wav", "sed/ibm_max_birds1.wav",
         "keyword/tflite_micro_noise_1000ms.wav")
CYCLE_MS = 20_000
KILL_EVERY_MIN = 30
SAMPLE_EVERY_MIN = 5
WARMUP_H = 1.0
JUDGE_GROWTH_FROM_H = 2.0
GROWTH_LIMIT = 0.10
FD_MARGIN = 5
REPLY_TIMEOUT_S = 60.0
STUCK_S = 60.0
"""A daemon that takes no audio for this long is hung."""
SITE = "soak"
PREFIX = f"assistant/{SITE}/"
LAMP_SET = "home/living_room/lamp/set"
BYTES_PER_MS = STREAM_FORMAT.bytes_for_ms(1)


def silence(ms: int) -> bytes:
    return bytes(STREAM_FORMAT.bytes_for_ms(ms))


@dataclass(frozen=True)
class Sample:
    audio_min: float
    wall_s: float
    rss_mb: float
    workers_rss_mb: float
    fds: int
    workers_fds: int
    given: int
    answered: int


@dataclass
class Tally:
    given: int = 0
    answered: int = 0
    correct: int = 0
    announced: int = 0
    announcements: int = 0
    lamp_commands: int = 0
    lamp_done: int = 0
    """Answered "Turned on ...": each must have reached the broker."""
    samples: list[Sample] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    wrong: collections.Counter[str] = field(default_factory=collections.Counter)


class Events:
    """The daemon's JSON events, read as they are appended."""

    def __init__(self, path: Path, clock: Callable[[], int]) -> None:
        """`clock`: the audio fed so far (ms), noted on each event as it is read ("seen_ms"):
        the engines' own events carry no stream time."""
        self._path = path
        self._clock = clock
        self._offset = 0
        self._partial = b""
        self.all: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        with self._path.open("rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            with contextlib.suppress(ValueError):
                new.append({**json.loads(line), "seen_ms": self._clock()})
        self.all += new
        return new

    def of(self, kind: str) -> list[dict[str, Any]]:
        self.poll()
        return [e for e in self.all if e["type"] == kind]


class SoakDaemon(LiveDaemon):
    """LiveDaemon whose stdin this script writes itself, as fast as the pipe takes it."""

    fed_bytes = 0
    _fd = -1

    def __enter__(self) -> SoakDaemon:
        return self

    def _feed(self) -> None:
        pass

    def start_writing(self) -> None:
        assert self.proc.stdin is not None
        self._fd = self.proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        self.fed_bytes = 0

    @property
    def fed_ms(self) -> int:
        return self.fed_bytes // BYTES_PER_MS

    def feed(self, pcm: bytes) -> None:
        view = memoryview(pcm)
        while view:
            _, ready, _ = select.select([], [self._fd], [], STUCK_S)
            if not ready:
                raise TimeoutError(f"the daemon took no audio for {STUCK_S:g} s")
            written = os.write(self._fd, view[:65536])
            view = view[written:]
            self.fed_bytes += written


class Material:
    def __init__(self, seed: int) -> None:
        self.nabu = read_file(AUDIO / NABU)
        self.commands = [(read_file(AUDIO / clip), prefix) for clip, prefix in COMMANDS]
        self.noise = [np.frombuffer(read_file(AUDIO / clip), "<i2") for clip in NOISE]
        self.random = random.Random(seed)

    def filler(self, ms: int) -> bytes:
        """Real noise at a random level, and silence."""
        parts, left = [], ms
        while left > 0:
            take = min(left, self.random.randint(1000, 8000))
            if self.random.random() < 0.6:
                clip = self.random.choice(self.noise)
                need = take * STREAM_FORMAT.rate_hz // 1000
                reps = np.tile(clip, need // len(clip) + 2)
                start = self.random.randrange(len(clip))
                gain = self.random.uniform(0.2, 1.0)
                parts.append((reps[start:start + need] * gain).astype("<i2").tobytes())
            else:
                parts.append(silence(take))
            left -= take
        return b"".join(parts)


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def sample(daemon: SoakDaemon, tally: Tally, started: float) -> Sample:
    workers = daemon.workers()
    return Sample(round(daemon.fed_ms / 60_000, 2), round(time.monotonic() - started, 1),
                  round(rss_mb(daemon.proc.pid), 1), round(sum(map(rss_mb, workers)), 1),
                  fds(daemon.proc.pid), sum(map(fds, workers)), tally.given, tally.answered)


def kill_times_ms(total_ms: int, every_min: float) -> list[int]:
    every = int(every_min * 60_000)
    times = list(range(every, total_ms, every))
    return times or [total_ms // 2]


def worker_pid(events: Events, stage: str) -> int | None:
    ready = [e for e in events.of("engine_ready")
             if e["stage"] == stage and e["placement"] == "process"]
    return int(ready[-1]["pid"]) if ready else None


def wait_answer(daemon: SoakDaemon, events: Events, from_ms: int, until_ms: int
                ) -> dict[str, Any] | None:
    """The reply to the turn woken between `from_ms` and `until_ms` of audio, once the daemon is
    idle again; real-time silence meanwhile."""
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        events.poll()
        turns = {e["turn_id"] for e in events.of("wake_detected")
                 if from_ms <= e["at_ms"] <= until_ms}
        replies = [e for e in events.of("replied") if e["turn_id"] in turns]
        states = events.of("state_changed")
        if replies and states and states[-1]["state"] == "idle" and \
                states[-1]["at_ms"] >= replies[-1]["at_ms"]:
            return replies[-1]
        if daemon.proc.poll() is not None:
            return None
        daemon.feed(silence(100))
        time.sleep(0.1)
    return None


def publish_traffic(publisher: Collector, r: random.Random, cycle: int) -> str | None:
    """Device states every command, a burst every 10th; every 15th, the text of a `say` to
    send once the command is answered (sent earlier, the command's wake word would cut it
    short: barge-in)."""
    states = [("home/living_room/lamp/state", r.choice(["ON", "OFF", '{"state": "ON"}'])),
              (f"home/sensors/{r.choice(['hall', 'attic'])}/temperature",
               json.dumps({"value": round(r.uniform(15, 25), 1)})),
              ("home/garage/state", r.choice(["open", "closed"]))]
    if cycle % 10 == 0:
        states *= 30
    for topic, payload in states:
        publisher.publish(topic, payload, retain=r.random() < 0.1)
    if cycle % 15 == 7:
        return f"Soak check {cycle}."
    return None


def run(total_ms: int, kill_every_min: float, quiet: bool, keep: Path | None = None
        ) -> dict[str, Any]:
    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed (Debian package mosquitto)")
    material = Material(SEED)
    tally = Tally()
    kills = kill_times_ms(total_ms, kill_every_min)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if keep is None else keep
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        broker = Broker(root / "mosquitto", binary)
        broker.start()
        config = {
            "site": {"name": SITE, "area": "living room"},
            "conversation": {"control_socket": str(root / "control.sock")},
            "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                     "reconnect_max_s": 0.5},
            "devices": [
                {"name": "living room lamp", "type": "light", "area": "living room",
                 "command_topic": LAMP_SET, "state_topic": "home/living_room/lamp/state"},
                {"name": "thermometer", "type": "sensor",
                 "state_topic": "home/sensors/+/temperature", "unit": "degrees"},
                {"name": "garage door", "type": "cover", "command_topic": "home/garage/set",
                 "state_topic": "home/garage/state"},
            ],
            "timers": {"state_file": str(root / "timers.json")},
        }
        env = {"XDG_STATE_HOME": str(root / "state"), "XDG_DATA_HOME": str(root / "data")}
        try:
            with SoakDaemon(root, config, env=env) as daemon, \
                    Collector(broker, [LAMP_SET]) as lamp, Collector(broker, []) as publisher:
                daemon.wait_ready()
                daemon.start_writing()
                events = Events(daemon.events_path, lambda: daemon.fed_ms)
                started = time.monotonic()
                r = random.Random(SEED)
                next_sample = 0
                sample_every = min(SAMPLE_EVERY_MIN * 60_000, max(60_000, total_ms // 10))
                cycle = 0
                exit_code: int | None = None
                while daemon.fed_ms < total_ms:
                    cycle += 1
                    pcm, prefix = material.commands[cycle % len(material.commands)]
                    lead = silence(r.randint(300, 800))
                    daemon.feed(lead)
                    wake_from = daemon.fed_ms
                    daemon.feed(material.nabu + silence(300) + pcm + silence(1500))
                    wake_until = daemon.fed_ms
                    tally.given += 1
                    if kills and daemon.fed_ms >= kills[0]:
                        kills.pop(0)
                        stage = ("asr", "tts")[len(tally.kills) % 2]
                        pid = worker_pid(events, stage)
                        if pid is not None:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(pid, signal.SIGKILL)
                            tally.kills.append({"stage": stage, "pid": pid,
                                                "audio_min": round(daemon.fed_ms / 60_000, 1)})
                            say(f"killed the {stage} worker (pid {pid}) at "
                                f"{daemon.fed_ms / 60_000:.1f} min of audio")
                    spoken = publish_traffic(publisher, r, cycle)
                    daemon.feed(material.filler(CYCLE_MS - (daemon.fed_ms - wake_from)))
                    reply = wait_answer(daemon, events, wake_from, wake_until)
                    if reply is not None:
                        tally.answered += 1
                        if str(reply["text"]).startswith(prefix):
                            tally.correct += 1
                            tally.lamp_done += prefix == "Turned on"
                        else:
                            tally.wrong[str(reply["text"])[:60]] += 1
                    if spoken is not None:
                        publisher.publish(PREFIX + "say", spoken)
                        tally.announcements += 1
                        deadline = time.monotonic() + 20
                        while time.monotonic() < deadline and not any(
                                e["text"] == spoken for e in events.of("replied")):
                            daemon.feed(silence(100))
                            time.sleep(0.1)
                        tally.announced += any(e["text"] == spoken for e in events.of("replied"))
                    if daemon.proc.poll() is not None:
                        say(f"the daemon exited ({daemon.proc.returncode})")
                        break
                    if daemon.fed_ms >= next_sample:
                        s = sample(daemon, tally, started)
                        tally.samples.append(s)
                        next_sample += sample_every
                        say(f"{s.audio_min:7.1f} min audio {s.wall_s:7.1f} s wall  daemon "
                            f"{s.rss_mb:6.1f} MB {s.fds:3d} fds  workers {s.workers_rss_mb:6.1f} "
                            f"MB {s.workers_fds:3d} fds  answered {s.answered}/{s.given}")
                wall_s = time.monotonic() - started
                if daemon.proc.poll() is None:
                    last = sample(daemon, tally, started)
                    if not tally.samples or tally.samples[-1].audio_min != last.audio_min:
                        tally.samples.append(last)
                    time.sleep(1)  # the lamp's MQTT messages on their way
                    tally.lamp_commands = len(lamp.payloads(LAMP_SET))
                    exit_code = daemon.stop(timeout_s=60)
                else:
                    exit_code = daemon.proc.returncode
                events.poll()
                log = daemon.log()
        finally:
            broker.stop()
    return summary(tally, events, log, exit_code, wall_s, total_ms)


def summary(tally: Tally, events: Events, log: str, exit_code: int | None, wall_s: float,
            total_ms: int) -> dict[str, Any]:
    failed = [{"stage": e["stage"], "code": e["code"], "turn_id": e.get("turn_id"),
               "audio_min": round(e["seen_ms"] / 60_000, 2), "message": str(e["message"])[:160]}
              for e in events.of("stage_failed")]
    restarts = collections.Counter(e["stage"] for e in events.of("engine_ready")
                                   if e["restarts"])
    samples = tally.samples
    audio_h = samples[-1].audio_min / 60 if samples else 0.0
    judged = audio_h >= JUDGE_GROWTH_FROM_H
    warm_min = WARMUP_H * 60 if judged else audio_h * 60 / 3
    base = next((s for s in samples if s.audio_min >= warm_min), samples[0] if samples else None)
    last = samples[-1] if samples else None
    growth = (last.rss_mb - base.rss_mb) / base.rss_mb if base and last and base.rss_mb else 0.0
    fd_growth = last.fds - base.fds if base and last else 0
    tracebacks = log.count("Traceback")
    problems = []
    if tally.answered < tally.given:
        problems.append(f"answered {tally.answered} of {tally.given}")
    if tracebacks:
        problems.append(f"{tracebacks} Traceback(s) in the log")
    if judged and growth > GROWTH_LIMIT:
        problems.append(f"daemon RSS grew {growth:+.1%} after the first hour")
    if fd_growth > FD_MARGIN:
        problems.append(f"open files grew by {fd_growth}")
    if exit_code != 0:
        problems.append(f"the daemon exited {exit_code}")
    if tally.lamp_commands < tally.lamp_done:
        problems.append(f"{tally.lamp_done} lamp commands done, {tally.lamp_commands} on MQTT")
    if tally.announced < tally.announcements:
        problems.append(f"spoke {tally.announced} of {tally.announcements} MQTT says")
    return {
        "audio_min": round(samples[-1].audio_min, 1) if samples else 0.0,
        "target_audio_min": total_ms / 60_000,
        "wall_s": round(wall_s, 1),
        "speed_x": round((samples[-1].audio_min * 60) / wall_s, 1) if samples and wall_s else 0,
        "given": tally.given, "answered": tally.answered, "correct": tally.correct,
        "wrong_answers": dict(tally.wrong),
        "lamp_commands_on_mqtt": tally.lamp_commands,
        "lamp_commands_done": tally.lamp_done,
        "mqtt_says": f"{tally.announced}/{tally.announcements}",
        "kills": tally.kills, "restarts": dict(restarts),
        "stage_failed": failed,
        "growth_from_audio_min": base.audio_min if base else None,
        "rss_growth": round(growth, 4), "growth_judged": judged,
        "fds": [base.fds if base else None, last.fds if last else None],
        "tracebacks": tracebacks, "exit_code": exit_code,
        "samples": [asdict(s) for s in samples],
        "verdict": "FAIL" if problems else "PASS", "problems": problems,
    }


def report(result: dict[str, Any]) -> None:
    print(f"stage_failed: {len(result['stage_failed'])}")
    for failure in result["stage_failed"]:
        print(f"  {failure['audio_min']:7.2f} min  {failure['stage']}/{failure['code']} "
              f"(turn {failure['turn_id']}): {failure['message']}")
    print(f"workers killed: {[(k['stage'], k['audio_min']) for k in result['kills']]}, "
          f"restarts seen: {result['restarts']}")
    print(f"answers: {result['correct']} correct of {result['answered']} answered; other "
          f"answers {result['wrong_answers']}; lamp commands on MQTT "
          f"{result['lamp_commands_on_mqtt']} for {result['lamp_commands_done']} done; MQTT "
          f"says spoken {result['mqtt_says']}")
    judged = "" if result["growth_judged"] else \
        f", not judged under {JUDGE_GROWTH_FROM_H:g} h of audio"
    print(f"verdict: {result['verdict']}: answered {result['answered']}/{result['given']}, "
          f"daemon RSS {result['rss_growth']:+.1%} after {result['growth_from_audio_min']} min "
          f"of audio (limit {GROWTH_LIMIT:.0%}{judged}), fds {result['fds'][0]} -> "
          f"{result['fds'][1]}, {result['tracebacks']} Tracebacks, exit {result['exit_code']}; "
          f"{result['audio_min']} min of audio in {result['wall_s']:.0f} s "
          f"({result['speed_x']}x real time)"
          + (f"; problems: {'; '.join(result['problems'])}" if result["problems"] else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak",
                                     description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--hours", type=float, default=6.0, help="hours of audio (default 6)")
    length.add_argument("--minutes", type=float, help="minutes of audio, for short runs")
    parser.add_argument("--kill-every", type=float, default=KILL_EVERY_MIN, metavar="MIN",
                        help="kill a worker every MIN minutes of audio (default 30)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="run in DIR and keep it (the daemon's log, events, config)")
    args = parser.parse_args(argv)
    minutes = args.minutes if args.minutes is not None else args.hours * 60
    result = run(int(minutes * 60_000), args.kill_every, quiet=args.json, keep=args.keep)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0 if result["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
