"""Home control end to end: real clips and voices in, a real Mosquitto broker, replies heard."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.audio.files import read_file
from assistant.config import Settings
from tests.conftest import silence
from tests.integration.broker import Broker, Collector
from tests.integration.helpers import run_file, speak, transcribe_file

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
LAMP_CLIP = "asr/wyoming_faster_whisper_turn_on_the_living_room_lamp.wav"
LAMP_SET = "home/living_room/lamp/set"
LAMP_STATE = "home/living_room/lamp/state"
KITCHEN_SET = "home/kitchen/light/set"
PREFIX = "assistant/test/"


def home_config(broker: Broker, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "site": {"name": "test", "area": "living room"},
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                 "reconnect_max_s": 0.5},
        "devices": [
            {"name": "living room lamp", "type": "light", "area": "living room",
             "command_topic": LAMP_SET, "state_topic": LAMP_STATE},
            {"name": "kitchen lights", "aliases": ["kitchen light"], "type": "light",
             "area": "kitchen", "command_topic": KITCHEN_SET},
        ],
        "timers": {"state_file": str(tmp_path / "timers.json")},
        **extra,
    }


def test_spoken_command_publishes_and_says_it_was_done(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    wav = build_input(500, audio_dir / NABU, 600, audio_dir / LAMP_CLIP, 1500)
    settings = Settings.model_validate(home_config(broker, tmp_path))
    with Collector(broker, [LAMP_SET, f"{PREFIX}#"]) as seen:
        run = run_file(settings, wav, tmp_path)
        assert seen.wait_for(LAMP_SET) == "ON"
        intent = json.loads(seen.wait_for(f"{PREFIX}intent"))
        assert seen.wait_for(f"{PREFIX}available", payload="offline") == "offline"
    assert run.code == 0
    matched = run.of_type("intent_matched")
    assert [(m["intent"], m["slots"].get("name")) for m in matched] == [
        ("HassTurnOn", "living room lamp")]
    assert intent["intent"] == "HassTurnOn"
    assert run.of_type("replied")[0]["text"] == "Turned on the living room lamp."
    heard = transcribe_file(run.reply_wav).lower()
    assert "turn" in heard and "living room" in heard, heard  # tiny.en: "turn on", "lap"
    # A level, not a stream: a repeat (at-least-once delivery at shutdown) changes nothing.
    states = [state for state, _ in itertools.groupby(seen.payloads(f"{PREFIX}state"))]
    assert states == ["idle", "listening", "thinking", "speaking", "idle"]
    assert run.states == ["idle", "listening", "thinking", "speaking", "idle"]


def test_state_question_is_answered_from_the_broker(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    with Collector(broker, []) as device:
        device.publish(LAMP_STATE, "OFF", retain=True)  # what the lamp itself reports
    wav = build_input(500, audio_dir / NABU, 400, speak("Is the living room lamp on?"), 1500)
    run = run_file(Settings.model_validate(home_config(broker, tmp_path)), wav, tmp_path)
    heard = run.of_type("transcribed")
    assert [m["intent"] for m in run.of_type("intent_matched")] == ["HassGetState"], heard
    assert run.of_type("replied")[0]["text"] == "No, the living room lamp is off."


class StdinDaemon:
    """`assistant run --input -` as a subprocess, fed silence in real time (a live input)."""

    def __init__(self, config: dict[str, Any], tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.events = tmp_path / "events.jsonl"
        self.output = tmp_path / "out.wav"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--config", str(path), "run", "--input", "-",
             "--output", str(self.output), "--events", str(self.events), "--quiet"],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()

    def say(self, pcm: bytes) -> None:
        with self._lock:
            self._pending.append(pcm)

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        while not self._stop.is_set():
            with self._lock:
                block = self._pending.pop(0) if self._pending else silence(100)
            try:
                self.proc.stdin.write(block)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            time.sleep(len(block) / 32000)

    def read_events(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines() if line]

    def wait_event(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30
                   ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.read_events() if check(e)]
            if found:
                return found[0]
            assert self.proc.poll() is None, self.proc.stderr.read().decode() \
                if self.proc.stderr else ""
            time.sleep(0.1)
        raise AssertionError(f"no such event within {timeout} s: {self.read_events()}")

    def kill(self) -> None:
        """Like a crash: no goodbye. Pipes are closed so nothing leaks into later tests."""
        self._stop.set()
        self.proc.kill()
        self.proc.wait()
        self._feeder.join()
        for pipe in (self.proc.stdin, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def close(self) -> tuple[int, str]:
        self._stop.set()
        self._feeder.join()
        try:
            _, err = self.proc.communicate(timeout=60)  # closes stdin: the input ends
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"the daemon did not stop: {err.decode()}") from None
        return self.proc.returncode, err.decode()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], StdinDaemon]]:
    started: list[StdinDaemon] = []

    def start(config: dict[str, Any]) -> StdinDaemon:
        daemon = StdinDaemon(config, tmp_path)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


def test_broker_restart_and_say(
    broker: Broker, audio_dir: Path, tmp_path: Path,
    daemon_factory: Callable[[dict[str, Any]], StdinDaemon],
) -> None:
    # A persistent subscriber: the broker keeps what is published for it across its restart.
    with Collector(broker, [KITCHEN_SET, f"{PREFIX}available"], client_id="watcher",
                   clean=False) as seen:
        daemon = daemon_factory(home_config(broker, tmp_path))
        seen.wait_for(f"{PREFIX}available", timeout=60, payload="online")
        broker.stop()
        daemon.say(silence(300) + read_file(audio_dir / NABU) + silence(400)
                   + speak("Please turn on the kitchen lights.") + silence(1500))
        replied = daemon.wait_event(lambda e: e["type"] == "replied" and e["turn_id"])
        heard = [e["text"] for e in daemon.read_events() if e["type"] == "transcribed"]
        assert replied["text"] == Settings().responses.queued, heard  # not a false "done"
        assert replied["success"] is False
        assert seen.payloads(KITCHEN_SET) == []
        broker.start()
        assert seen.wait_for(KITCHEN_SET, timeout=20) == "ON"  # sent on reconnect by itself
        seen.publish(f"{PREFIX}say", "The laundry is done.")
        daemon.wait_event(lambda e: e["type"] == "replied" and "laundry" in e["text"])
        daemon.wait_event(lambda e: e["type"] == "playback_finished" and not e["turn_id"])
        code, err = daemon.close()
    assert code == 0, err
    heard = transcribe_file(daemon.output).lower()
    assert "laundry" in heard, heard


def test_timer_set_by_voice_is_announced(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    wav = build_input(500, audio_dir / NABU, 400, speak("Set a timer for 3 seconds."), 6000)
    run = run_file(Settings.model_validate(home_config(broker, tmp_path)), wav, tmp_path,
                   realtime=True)
    replies = [(e["turn_id"], e["text"]) for e in run.of_type("replied")]
    assert replies[0][1] == "Timer set for 3 seconds."
    assert replies[1] == (None, "Your 3 second timer is done.")
    heard = transcribe_file(run.reply_wav).lower()
    assert "timer" in heard and "done" in heard, heard


def test_running_timer_survives_a_restart(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    settings = Settings.model_validate(home_config(broker, tmp_path))
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = build_input(500, audio_dir / NABU, 400, speak("Set a timer for 6 seconds."), 1500)
    run = run_file(settings, first, tmp_path / "first")
    assert run.of_type("replied")[0]["text"] == "Timer set for 6 seconds."
    assert "timers" in json.loads((tmp_path / "timers.json").read_text())
    quiet = build_input(9000, name="quiet.wav")
    again = run_file(settings, quiet, tmp_path / "second", realtime=True)
    replies = again.of_type("replied")
    assert [e["text"] for e in replies] == ["Your 6 second timer is done."]
    # It kept counting from when it was set (model loading alone takes over a second), rather
    # than starting again at 6 s.
    assert replies[0]["at_ms"] < 5600
    assert json.loads((tmp_path / "timers.json").read_text())["timers"] == []


def test_mute_ignores_the_wake_word_but_not_a_listen_request(
    broker: Broker, audio_dir: Path, tmp_path: Path,
    daemon_factory: Callable[[dict[str, Any]], StdinDaemon],
) -> None:
    wake = silence(300) + read_file(audio_dir / NABU) + silence(1200)
    ask = speak("What time is it?") + silence(1500)
    with Collector(broker, [f"{PREFIX}available", f"{PREFIX}mute/state"]) as seen:
        daemon = daemon_factory(home_config(broker, tmp_path))
        seen.wait_for(f"{PREFIX}available", timeout=60, payload="online")
        seen.publish(f"{PREFIX}mute", "")
        assert seen.wait_for(f"{PREFIX}mute/state", payload="ON") == "ON"
        daemon.say(wake)
        time.sleep(len(wake) / 32000 + 1.0)  # the wake word has been heard (and ignored)
        seen.publish(f"{PREFIX}listen", "")  # a button press still starts a turn
        daemon.wait_event(lambda e: e["type"] == "wake_detected")
        daemon.say(ask)
        daemon.wait_event(lambda e: e["type"] == "playback_finished")
        seen.publish(f"{PREFIX}mute/set", "OFF")
        assert seen.wait_for(f"{PREFIX}mute/state", payload="OFF") == "OFF"
        daemon.say(wake + ask)
        daemon.wait_event(lambda e: e["type"] == "wake_detected" and e["source"] == "wake_word")
        code, err = daemon.close()
    assert code == 0, err
    wakes = [e["source"] for e in daemon.read_events() if e["type"] == "wake_detected"]
    assert wakes == ["control", "wake_word"]
    intents = [e["intent"] for e in daemon.read_events() if e["type"] == "intent_matched"]
    assert intents == ["HassGetCurrentTime", "HassGetCurrentTime"]


def test_a_crashed_daemon_is_reported_offline_by_its_last_will(
    broker: Broker, tmp_path: Path, daemon_factory: Callable[[dict[str, Any]], StdinDaemon],
) -> None:
    with Collector(broker, [f"{PREFIX}available"]) as seen:
        daemon = daemon_factory(home_config(broker, tmp_path))
        seen.wait_for(f"{PREFIX}available", timeout=60, payload="online")
        daemon.kill()  # no goodbye: the broker speaks for it
        assert seen.wait_for(f"{PREFIX}available", timeout=10, payload="offline") == "offline"
