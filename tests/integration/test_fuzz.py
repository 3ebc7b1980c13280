"""Fuzzing what reaches the daemon from outside: MQTT, the control socket, config files.

The real daemon on live stdin audio, with a private Mosquitto: seeded random and mutated
payloads on every topic it subscribes to (its commands and its devices' state topics) as fast
as the broker takes them, then requests on the control socket (random bytes, huge and partial
lines, invalid UTF-8, JSON, many connections at once). After that storm it must be the same
process, answer on the control socket, have grown by a bounded amount, have logged no
Traceback, and answer a real spoken command. Config files: mutated copies of a valid one must
load or raise ConfigError with a message, quickly.

A failure names the case: `python -m tests.fuzzing {mqtt,control,config} SEED INDEX` prints it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from assistant.commands.check_config import check_config
from assistant.config import Settings
from assistant.config.loading import load_settings
from assistant.errors import ConfigError
from assistant.intents.devices import DeviceRegistry
from tests.fuzzing import (
    ControlCase,
    MqttCase,
    Topic,
    config_cases,
    control_cases,
    describe,
    mqtt_cases,
    mutate_text_file,
)
from tests.integration.broker import Broker, Collector
from tests.integration.live import LiveDaemon, wait
from tests.integration.test_worker_faults import TIME, command

pytestmark = pytest.mark.integration

SEED = 12
MQTT_MESSAGES = 10_000
CONTROL_REQUESTS = 2_000
CONTROL_CLIENTS = 64
"""Control requests in flight at once."""
IDLE_CONNECTIONS = 200
"""Connections opened together that send half a line and wait: the daemon must close them."""
CONFIG_FILES = 1_000
CHECKED_CONFIGS = 30
"""Of the configs that load, this many also go through check-config (intents, templates)."""
CHECKED_INTENTS = 30
"""Mutated intents files, checked with the valid config."""
CLI_CONFIGS = 3
SAY_BUDGET = 3
"""Valid `say` payloads let through (each is spoken); every other `say` payload is invalid."""
RSS_GROWTH_LIMIT_MB = 100
CONFIG_TIME_LIMIT_S = 5.0
MAX_CONFIG_MESSAGE = 65_536
"""A ConfigError message is read by a person."""
MAX_LOG_LINE = 16_384
CONTROL_REPLY_S = 8.0
"""The daemon drops a silent client after 5 s."""

SITE = "fuzz"
PREFIX = f"assistant/{SITE}/"
LAMP_STATE = "home/living_room/lamp/state"
SENSOR_STATE = "home/sensors/+/temperature"
GARAGE_STATE = "home/garage/state"

TOPICS = (
    Topic(PREFIX + "say", (b"Hello.", b"Dinner is ready.", b"One, two, three."), 2.0,
          speaks=True),
    Topic(PREFIX + "listen", (b"", b"1", b"press"), 0.5),
    Topic(PREFIX + "mute", (b"",), 0.5),
    Topic(PREFIX + "unmute", (b"",), 0.5),
    Topic(PREFIX + "mute/set", (b"ON", b"OFF", b"on", b" off "), 1.5),
    Topic(LAMP_STATE, (b"ON", b"OFF", b'{"state": "ON"}', b'{"state":"OFF","brightness":120}',
                       b'{"POWER": "ON"}'), 2.0),
    Topic(SENSOR_STATE, (b"21.5", b'{"value": 21.5}', b'{"temperature": 19, "unit": "C"}'), 1.5),
    Topic(GARAGE_STATE, (b"open", b"closed", b'{"state": "opening"}'), 1.0),
)
"""Everything the daemon subscribes to with daemon_config(): the commands under its prefix
(README, MQTT) and the state topics of its devices, one of them a pattern. It subscribes to
nothing of Home Assistant's (discovery is only published)."""


def daemon_config(host: str, port: int, folder: Path) -> dict[str, Any]:
    return {
        "site": {"name": SITE, "area": "living room"},
        "mqtt": {"host": host, "port": port, "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5},
        "devices": [
            {"name": "living room lamp", "type": "light", "area": "living room",
             "command_topic": "home/living_room/lamp/set", "state_topic": LAMP_STATE},
            {"name": "thermometer", "type": "sensor", "state_topic": SENSOR_STATE,
             "unit": "degrees"},
            {"name": "garage door", "type": "cover", "command_topic": "home/garage/set",
             "state_topic": GARAGE_STATE},
        ],
        "timers": {"state_file": str(folder / "timers.json")},
    }


# The storm ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    rss_mb: float
    workers_rss_mb: float
    fds: int

    @classmethod
    def of(cls, daemon: LiveDaemon) -> Usage:
        workers = sum(_rss_mb(pid) for pid in daemon.workers())
        return cls(_rss_mb(daemon.proc.pid), workers,
                   len(os.listdir(f"/proc/{daemon.proc.pid}/fd")))


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def publish_storm(broker: Broker, cases: list[MqttCase]) -> float:
    """Every case, as fast as the broker acknowledges; the seconds it took."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="fuzzer")
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    started = time.monotonic()
    try:
        pending = [client.publish(c.topic, c.payload, qos=c.qos, retain=c.retain)
                   for c in cases]
        for info in pending:
            info.wait_for_publish(timeout=60)
            assert info.is_published(), "the broker did not take the storm"
        return time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()


def control_request(path: Path, case: ControlCase) -> str:
    """What came of one request: ok, error, no reply, closed early (reset), or hung."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONTROL_REPLY_S)
        sock.connect(str(path))
        try:
            for chunk in case.chunks:
                sock.sendall(chunk)
            if case.half_close:
                sock.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        except TimeoutError:
            return "hung"
        except (BrokenPipeError, ConnectionResetError):
            return "reset"  # it stopped reading a request it would not take: fair
    if not reply:
        return "no reply"
    if reply == b"ok\n":
        return "ok"
    if reply.startswith(b"error: ") and reply.endswith(b"\n") and reply.count(b"\n") == 1:
        return "error"
    return f"bad reply {reply[:200]!r}"


def control_storm(path: Path, cases: list[ControlCase]) -> tuple[collections.Counter[str],
                                                                    list[str]]:
    with ThreadPoolExecutor(CONTROL_CLIENTS) as pool:
        outcomes = list(pool.map(lambda case: control_request(path, case), cases))
    problems = []
    for case, outcome in zip(cases, outcomes, strict=True):
        exact = case.data in (b"listen\n", b"listen") and case.half_close
        if outcome == "hung" or outcome.startswith("bad reply") or (exact and outcome != "ok"):
            problems.append(f"control case {case.index} ({describe(case.data, 80)}, "
                            f"half_close={case.half_close}): {outcome}")
    return collections.Counter(o if not o.startswith("bad") else "bad reply" for o in outcomes), \
        problems


def idle_connections(path: Path, count: int) -> list[str]:
    """`count` clients that send half a line and wait: each must be dropped by the daemon, and
    a request meanwhile answered at once."""
    problems = []
    clients = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            clients.append(sock)
            sock.connect(str(path))
            sock.sendall(b"lis")
        started = time.monotonic()
        if control_request(path, ControlCase(-1, (b"nothing\n",), True)) != "error":
            problems.append(f"with {count} idle clients the control socket did not answer")
        elif (waited := time.monotonic() - started) > 2:
            problems.append(f"with {count} idle clients a request took {waited:.1f} s")
        still_open = 0
        for sock in clients:
            sock.settimeout(max(0.1, started + CONTROL_REPLY_S - time.monotonic()))
            try:
                while sock.recv(4096):
                    pass
            except TimeoutError:
                still_open += 1
            except ConnectionResetError:
                pass
        if still_open:
            problems.append(f"{still_open} of {count} idle control clients were not dropped "
                            f"within {CONTROL_REPLY_S:g} s")
    finally:
        for sock in clients:
            sock.close()
    return problems


def announced(daemon: LiveDaemon, text: str) -> bool:
    return any(e.get("text") == text for e in daemon.events("replied"))


def wait_dispatched(daemon: LiveDaemon, broker: Broker, label: str) -> int:
    """A last valid `say` spoken means every message before it was dispatched (one receiver,
    in order). It is repeated: a full incoming queue may drop it. Returns the tries."""
    with Collector(broker, []) as publisher:
        for attempt in range(1, 16):
            text = f"{label}, {attempt}."
            publisher.publish(PREFIX + "say", text)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if announced(daemon, text):
                    return attempt
                assert daemon.proc.poll() is None, f"the daemon died:\n{daemon.log()[-3000:]}"
                time.sleep(0.1)
    raise AssertionError("the daemon never spoke the last say: are MQTT commands still heard?")


def long_lines(log: str) -> list[str]:
    return [f"{len(line)} chars: {line[:160]}" for line in log.splitlines()
            if len(line) > MAX_LOG_LINE]


_CHAINED = ("Traceback", "During handling", "The above exception")


def _traceback_end(lines: list[str], start: int) -> int:
    """The index of the exception line that ends the (chained) traceback at `start`."""
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line[:1] in (" ", "") or line.startswith(_CHAINED):
            end += 1
            continue
        after = next((x for x in lines[end + 1:end + 3] if x.strip()), "")
        if not after.startswith(_CHAINED[1:]):
            return end
        end += 1
    return end


def tracebacks(log: str) -> list[str]:
    """One entry per distinct failure: the log record, the exception it ended with, how often,
    and the first one in full."""
    lines = log.splitlines()
    seen: dict[tuple[str, str], list[int]] = {}
    i = 0
    while i < len(lines):
        if not lines[i].startswith("Traceback"):
            i += 1
            continue
        record = next((lines[j] for j in range(i - 1, -1, -1)
                       if lines[j][:1].isupper() and not lines[j].startswith(_CHAINED)), "")
        end = _traceback_end(lines, i)
        error = lines[end] if end < len(lines) else lines[-1]
        seen.setdefault((record[:200], error[:300]), []).append(i)
        i = end + 1
    found = []
    for (record, error), starts in seen.items():
        first = starts[0]
        body = "\n".join(line[:300] for line in lines[first:first + 30])
        found.append(f"{len(starts)} x {record} -> {error}\n{body}")
    return found


def test_the_daemon_survives_a_storm_of_bad_input(audio_dir: Path, tmp_path: Path,
                                                  broker: Broker) -> None:
    mqtt = mqtt_cases(SEED, MQTT_MESSAGES, TOPICS, SAY_BUDGET)
    control = control_cases(SEED, CONTROL_REQUESTS)
    problems: list[str] = []
    with LiveDaemon(tmp_path, daemon_config(broker.host, broker.port, tmp_path)) as daemon, \
            Collector(broker, [PREFIX + "available"]) as watcher:
        daemon.wait_ready()
        watcher.wait_for(PREFIX + "available", 10, payload="online")
        pid = daemon.proc.pid
        before = Usage.of(daemon)
        log_before = daemon.log_path.stat().st_size

        publish_s = publish_storm(broker, mqtt)
        tries = wait_dispatched(daemon, broker, "Storm over")
        storm_s = time.monotonic()
        broker.restart()  # on reconnecting it gets the retained junk again
        wait_dispatched(daemon, broker, "Back again")
        outcomes, found = control_storm(daemon.socket, control)
        problems += found
        problems += idle_connections(daemon.socket, IDLE_CONNECTIONS)
        control_s = time.monotonic() - storm_s
        after_storm = Usage.of(daemon)

        with Collector(broker, []) as publisher:
            publisher.publish(PREFIX + "mute/set", "OFF")
        wait(lambda: daemon.events("mute_changed")[-1]["muted"] is False, 20, "unmuted")
        answered = len(daemon.events("replied"))
        daemon.say(command(audio_dir, TIME))
        wait(lambda: any(str(e["text"]).startswith("It's")
                         for e in daemon.events("replied")[answered:]), 90,
             "the spoken command answered after the storm")
        after = Usage.of(daemon)
        if daemon.proc.poll() is not None or daemon.proc.pid != pid:
            problems.append("the daemon is not the same process")
        if control_request(daemon.socket, ControlCase(-1, (b"ping\n",), True)) != "error":
            problems.append("the control socket does not answer after the storm")
        assert daemon.stop() == 0
    log = daemon.log()
    failed = collections.Counter(f"{e['stage']}/{e['code']}" for e in daemon.events("stage_failed"))
    print(f"\nfuzz seed {SEED}: {len(mqtt)} MQTT messages in {publish_s:.1f} s "
          f"(dispatched after {tries} last say), {len(control)} control requests "
          f"{dict(outcomes)} and {IDLE_CONNECTIONS} idle clients in {control_s:.1f} s")
    print(f"daemon RSS {before.rss_mb:.0f} -> {after_storm.rss_mb:.0f} -> {after.rss_mb:.0f} MB, "
          f"workers {before.workers_rss_mb:.0f} -> {after.workers_rss_mb:.0f} MB, "
          f"fds {before.fds} -> {after.fds}, log +{(len(log.encode()) - log_before) / 1e6:.1f} MB, "
          f"replies {len(daemon.events('replied'))}, stage_failed {dict(failed)}")
    if after.rss_mb - before.rss_mb > RSS_GROWTH_LIMIT_MB:
        problems.append(f"daemon RSS grew {after.rss_mb - before.rss_mb:.0f} MB "
                        f"(limit {RSS_GROWTH_LIMIT_MB})")
    if after.fds > before.fds + 5:
        problems.append(f"open files {before.fds} -> {after.fds}")
    found_tracebacks = tracebacks(log)
    for tb in found_tracebacks:
        print(f"Traceback: {tb.splitlines()[0]}")
    problems += [f"log line of {line}" for line in long_lines(log)[:5]]
    problems += [f"Traceback in the log: {tb}" for tb in found_tracebacks[:5]]
    assert not problems, "\n".join(problems)


def test_device_states_from_fuzzed_payloads_are_read_without_error() -> None:
    """The states the storm sends, straight into the registry the answers come from: every
    one is a state, unreadable or not, never an exception."""
    settings = Settings.model_validate(daemon_config("127.0.0.1", 1883, Path("/tmp")))
    registry = DeviceRegistry(settings.devices)
    devices = {d.state_topic: d for d in settings.devices}
    problems = []
    checked = 0
    for case in mqtt_cases(SEED, MQTT_MESSAGES, TOPICS, SAY_BUDGET):
        pattern = SENSOR_STATE if case.topic.endswith("/temperature") else case.topic
        device = devices.get(pattern)
        if device is None:
            continue
        try:
            text = case.payload.decode("utf-8")
        except UnicodeDecodeError:
            continue
        checked += 1
        try:
            registry.record_state(device, text)
            if registry.is_on(device) not in (True, False, None):
                problems.append(f"mqtt case {case.index}: is_on is not True/False/None")
        except Exception as exc:
            problems.append(f"mqtt case {case.index} on {case.topic}: {type(exc).__name__}: "
                            f"{str(exc)[:200]} ({describe(case.payload, 80)})")
    print(f"\n{checked} state payloads read")
    assert checked > 1000
    assert not problems, "\n".join(problems[:20])


# Config files ---------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
INTENTS = """\
language: en
intents:
  OpenGarage:
    data:
      - sentences:
          - "open the garage [door]"
    response: "Opening the garage."
    action: {type: mqtt, topic: home/garage/set, payload: OPEN, qos: 1, retain: false}
  Echo:
    data:
      - sentences:
          - "echo {message}"
        lists:
          message: {wildcard: true}
    response: "{{ result }}"
    action: {type: shell, command: [/usr/bin/echo, "{{ message }}"], timeout_s: 2}
"""


def base_config(folder: str) -> dict[str, Any]:
    """config/default.yaml (every key) with every optional section filled in: valid."""
    doc: dict[str, Any] = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    doc["site"] = {"name": "kitchen", "area": "kitchen"}
    doc["mqtt"] = {"host": "127.0.0.1", "port": 1883, "username": "assistant",
                   "password": "secret", "prefix": "assistant/kitchen/", "queue_size": 100}
    doc["homeassistant"] = {"url": "http://127.0.0.1:8123", "token": "token", "timeout_s": 10}
    doc["devices"] = [
        {"name": "kitchen lights", "aliases": ["kitchen light"], "area": "kitchen",
         "floor": "ground floor", "type": "light", "command_topic": "home/kitchen/light/set",
         "state_topic": "home/kitchen/light/state", "payload_on": "ON", "payload_off": "OFF",
         "brightness_command_topic": "home/kitchen/light/brightness", "brightness_scale": 255,
         "qos": 1, "retain": False},
        {"name": "thermostat", "type": "climate", "state_topic": "home/climate/state",
         "temperature_command_topic": "home/climate/set", "unit": "degrees"},
        {"name": "garage door", "type": "cover", "entity_id": "cover.garage_door"},
    ]
    doc["intents"]["files"] = [f"{folder}/intents.yaml"]
    doc["shell"]["allow"] = ["/usr/bin/echo"]
    doc["timers"]["state_file"] = f"{folder}/timers.json"
    doc["conversation"]["control_socket"] = f"{folder}/control.sock"
    doc["sounds"]["rules"] = [{"labels": ["alarm"], "threshold": 0.4, "min_duration_ms": 500,
                               "say": "I hear {{ label }}.", "cooldown_s": 60}]
    doc["models"]["offline"] = True
    return doc


class _Overtime(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise _Overtime in this (the main) thread after `seconds`: a hang fails, never waits."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Overtime(f"still working after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_outcome(path: Path, check: bool = False) -> tuple[str, str | None]:
    """("loaded" | "ConfigError", None) or (what went wrong, a problem)."""
    try:
        with deadline(CONFIG_TIME_LIMIT_S), contextlib.redirect_stdout(None):
            if check:
                check_config(path)
            else:
                load_settings(path)
    except ConfigError as exc:
        if not exc.message.strip():
            return "ConfigError", "ConfigError without a message"
        if len(exc.message) > MAX_CONFIG_MESSAGE:
            return "ConfigError", f"a ConfigError message of {len(exc.message)} characters"
        return "ConfigError", None
    except Exception as exc:  # RecursionError, ValueError, _Overtime: anything else is a bug
        return type(exc).__name__, f"{type(exc).__name__}: {str(exc)[:200]}"
    return "loaded", None


def test_mutated_config_files_load_or_say_why(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "intents.yaml").write_text(INTENTS)
    base = base_config(str(folder))
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    assert load_outcome(path, check=True) == ("loaded", None), "the base config must be valid"

    cases = config_cases(SEED, CONFIG_FILES, base)
    outcomes: collections.Counter[str] = collections.Counter()
    problems = []
    loaded = []
    slowest = (0.0, -1)
    started = time.perf_counter()
    for index, data in enumerate(cases):
        path.write_bytes(data)
        began = time.perf_counter()
        outcome, problem = load_outcome(path)
        slowest = max(slowest, (time.perf_counter() - began, index))
        outcomes[outcome] += 1
        if problem:
            problems.append(f"config case {index}: {problem} ({describe(data, 120)})")
        elif outcome == "loaded":
            loaded.append(index)
    load_s = time.perf_counter() - started

    # The whole check (intents, templates, allowlist, sound labels) on some that load, and on
    # mutated intents files.
    checked: collections.Counter[str] = collections.Counter()
    for index in loaded[:CHECKED_CONFIGS]:
        path.write_bytes(cases[index])
        outcome, problem = load_outcome(path, check=True)
        checked[outcome] += 1
        if problem:
            problems.append(f"check-config of config case {index}: {problem}")
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    for index in range(CHECKED_INTENTS):
        intents = mutate_text_file(SEED, index, INTENTS.encode())
        (folder / "intents.yaml").write_bytes(intents)
        outcome, problem = load_outcome(path, check=True)
        checked[f"intents {outcome}"] += 1
        if problem:
            problems.append(f"check-config with intents case {index}: {problem} "
                            f"({describe(intents, 120)})")
    (folder / "intents.yaml").write_text(INTENTS)

    # The command itself: its exit code and what it prints.
    for index in range(CLI_CONFIGS):
        path.write_bytes(cases[index])
        run = subprocess.run([sys.executable, "-m", "assistant", "check-config", str(path)],
                             capture_output=True, text=True, timeout=60, cwd=REPO)
        if run.returncode not in (0, 2) or "Traceback" in run.stderr or \
                (run.returncode == 2 and "error" not in run.stderr):
            problems.append(f"assistant check-config on config case {index}: exit "
                            f"{run.returncode}, stderr {run.stderr[-500:]!r}")

    print(f"\nconfig seed {SEED}: {len(cases)} files in {load_s:.1f} s: {dict(outcomes)}, "
          f"slowest {slowest[0]:.2f} s (case {slowest[1]}); check-config {dict(checked)}")
    assert outcomes["loaded"] > 0 and outcomes["ConfigError"] > 0  # the mutations do both
    assert not problems, "\n".join(problems[:30])
