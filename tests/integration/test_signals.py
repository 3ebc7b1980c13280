"""Signals as a service manager sends them, to the real daemon on live stdin audio: SIGHUP
reloads the settings (a bad file is reported and the old settings kept), SIGHUP in the middle of
a turn does not kill it, SIGTERM in the middle of a turn cancels it and stops cleanly."""

from __future__ import annotations

import configparser
import json
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.audio.files import read_file
from assistant.bench.pulse import PulseServer, pulse_server
from assistant.control import send_command
from tests.conftest import REPO, require_binary, silence
from tests.integration.broker import Broker, Collector
from tests.integration.helpers import speak
from tests.integration.live import LiveDaemon, wait
from tests.integration.test_e2e_pulse import play, running_daemon

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
JARVIS = "wakeword/pymicrowakeword_hey_jarvis_1.wav"
TIME = "asr/rhasspy3_what_time_is_it.wav"
SLOW_S = 4
"""How long the garage command's action takes: a turn that is thinking for that long."""


def command(audio_dir: Path, wake: str, clip: str) -> bytes:
    return read_file(audio_dir / wake) + silence(300) + read_file(audio_dir / clip) \
        + silence(1500)


def rewrite(daemon_dir: Path, config: dict[str, Any]) -> None:
    """The settings file LiveDaemon started with, with new contents (its control socket kept)."""
    settings = {"conversation": {"control_socket": str(daemon_dir / "control.sock")}, **config}
    (daemon_dir / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")


class Notifications:
    """A systemd notify socket: what the daemon tells its service manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.setblocking(False)
        self.received: list[str] = []

    def read(self) -> list[str]:
        try:
            while True:
                self.received.append(self._socket.recv(4096).decode())
        except BlockingIOError:
            pass
        return self.received

    def close(self) -> None:
        self._socket.close()


def test_sighup_applies_a_good_config(audio_dir: Path, tmp_path: Path) -> None:
    """The wake word changes from hey_jarvis to okay_nabu without a restart; turn ids go on."""
    notes = Notifications(tmp_path / "notify.sock")
    try:
        with LiveDaemon(tmp_path, {"wake": {"words": ["hey_jarvis"]}},
                        env={"NOTIFY_SOCKET": str(notes.path)}) as daemon:
            daemon.wait_ready()
            daemon.say(command(audio_dir, JARVIS, TIME))
            daemon.wait_for("replied", 1)
            rewrite(tmp_path, {"wake": {"words": ["okay_nabu"]}})
            daemon.proc.send_signal(signal.SIGHUP)
            [reloaded] = daemon.wait_for("settings_reloaded", timeout_s=60)
            assert reloaded["changed"] == ["wake"]
            daemon.say(command(audio_dir, NABU, TIME))
            daemon.wait_for("replied", 2)
            assert send_command(daemon.socket, "listen") == "ok"  # the same socket, still there
            assert daemon.stop() == 0
        told = notes.read()
    finally:
        notes.close()
    wakes = [e["wake_word"] for e in daemon.events("wake_detected")]
    assert wakes == ["hey_jarvis", "okay_nabu"]
    turns = [e["turn_id"] for e in daemon.events("intent_matched")]
    assert turns == [1, 2]  # unique in the file, across the reload
    assert [m.split("\n")[0] for m in told if not m.startswith("WATCHDOG")] == [
        "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
    assert "\nMONOTONIC_USEC=" in next(m for m in told if m.startswith("RELOADING=1"))
    assert "Traceback" not in daemon.log()


def test_sighup_with_a_bad_config_keeps_the_old_settings(audio_dir: Path, tmp_path: Path) -> None:
    with LiveDaemon(tmp_path) as daemon:
        daemon.wait_ready()
        rewrite(tmp_path, {"wake": {"treshold": 0.5}})
        daemon.proc.send_signal(signal.SIGHUP)
        [failed] = daemon.wait_for("stage_failed", stage="config")
        assert failed["code"] == "config_invalid"
        assert "wake.treshold: unknown key" in failed["message"]
        daemon.say(command(audio_dir, NABU, TIME))  # the old settings still answer
        [replied] = daemon.wait_for("replied", 1)
        assert replied["text"].startswith("It's ")
        assert daemon.stop() == 0
    log = daemon.log()
    assert "the new settings are not valid; keeping the ones in use" in log
    assert "Traceback" not in log
    assert not daemon.events("settings_reloaded")


def test_sighup_with_settings_that_cannot_run(audio_dir: Path, tmp_path: Path) -> None:
    """Valid settings whose model is not there are refused before anything stops; a model
    that only fails to load is found while loading, and the daemon goes back to the settings it
    had. Either way it answers on them."""
    with LiveDaemon(tmp_path) as daemon:
        daemon.wait_ready()
        ready = len(daemon.events("engine_ready"))
        rewrite(tmp_path, {"asr": {"model": str(tmp_path / "no-such-model")},
                           "models": {"offline": True}})
        daemon.proc.send_signal(signal.SIGHUP)
        [missing] = daemon.wait_for("stage_failed", stage="config")
        assert missing["code"] == "reload_failed"
        assert "no-such-model' is not available offline" in missing["message"]
        assert len(daemon.events("engine_ready")) == ready  # nothing was stopped for it

        broken = tmp_path / "broken-model"
        broken.mkdir()
        (broken / "model.bin").write_bytes(b"not a model")
        rewrite(tmp_path, {"asr": {"model": str(broken)}})
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("stage_failed", 2, stage="config", code="reload_failed", timeout_s=90)
        wait(lambda: daemon.log().count("listening (") == 2, 90, "the old settings running again")
        daemon.say(command(audio_dir, NABU, TIME))
        daemon.wait_for("replied", 1)
        assert daemon.stop() == 0
    assert not daemon.events("settings_reloaded")
    assert "Traceback" not in daemon.log()


def slow_home(broker: Broker, tmp_path: Path) -> dict[str, Any]:
    """MQTT on a private broker, and a command whose action takes SLOW_S seconds."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    intents = tmp_path / "garage.yaml"
    intents.write_text(yaml.safe_dump({"language": "en", "intents": {"OpenGarage": {
        "data": [{"sentences": ["open the garage [door]"]}],
        "response": "Opening the garage.",
        "action": {"type": "shell", "command": [sleep, str(SLOW_S)]}}}}))
    return {"site": {"name": "test"},
            "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_s": 0.1,
                     "reconnect_max_s": 0.5},
            "intents": {"files": [str(intents)]}, "shell": {"allow": [sleep]}}


def start_slow_turn(daemon: LiveDaemon, audio_dir: Path) -> int:
    """Say the slow command; its turn id once it is thinking."""
    daemon.say(read_file(audio_dir / NABU) + silence(300) + speak("Open the garage door.")
               + silence(1500))
    [matched] = daemon.wait_for("intent_matched", intent="OpenGarage")
    return int(matched["turn_id"])


def test_sighup_in_the_middle_of_a_turn(
    broker: Broker, audio_dir: Path, tmp_path: Path
) -> None:
    """It was killed at once: no MQTT "offline", the control socket left behind. Now the turn
    is answered, then the daemon reloads, and MQTT never says it went away."""
    with Collector(broker, ["assistant/test/available"]) as seen, \
            LiveDaemon(tmp_path, slow_home(broker, tmp_path)) as daemon:
        daemon.wait_ready()
        seen.wait_for("assistant/test/available", payload="online", timeout=30)
        turn = start_slow_turn(daemon, audio_dir)
        daemon.proc.send_signal(signal.SIGHUP)
        [reloaded] = daemon.wait_for("settings_reloaded", timeout_s=SLOW_S + 60)
        assert reloaded["changed"] == []
        assert daemon.proc.poll() is None
        assert send_command(daemon.socket, "listen") == "ok"
        assert daemon.stop() == 0
        seen.wait_for("assistant/test/available", payload="offline")
    replied = daemon.events("replied", turn_id=turn)
    assert [e["text"] for e in replied] == ["Opening the garage."]
    assert not daemon.events("turn_cancelled", turn_id=turn)
    # Reloaded after the answer, not in the middle of it.
    types = [e["type"] for e in daemon.events()]
    assert types.index("replied") < types.index("settings_reloaded")
    online = seen.payloads("assistant/test/available")
    assert online[:-1] == ["online"] * (len(online) - 1) and online[-1] == "offline", online
    assert not daemon.socket.exists()
    assert "Traceback" not in daemon.log()


def test_sighup_with_new_mqtt_settings_moves_the_link(
    broker: Broker, audio_dir: Path, tmp_path: Path
) -> None:
    """New MQTT settings (here the site's name, so its topics): the old link says "offline",
    the new one "online", and commands are published under the new name."""
    home = slow_home(broker, tmp_path)
    with Collector(broker, ["assistant/+/available", "assistant/+/intent"]) as seen, \
            LiveDaemon(tmp_path, home) as daemon:
        daemon.wait_ready()
        seen.wait_for("assistant/test/available", payload="online", timeout=30)
        rewrite(tmp_path, {**home, "site": {"name": "kitchen"}})
        daemon.proc.send_signal(signal.SIGHUP)
        [reloaded] = daemon.wait_for("settings_reloaded")
        assert reloaded["changed"] == ["site"]
        seen.wait_for("assistant/test/available", payload="offline")
        seen.wait_for("assistant/kitchen/available", payload="online")
        daemon.say(command(audio_dir, NABU, TIME))
        assert json.loads(seen.wait_for("assistant/kitchen/intent", timeout=60))["intent"] == \
            "HassGetCurrentTime"
        assert daemon.stop() == 0
        seen.wait_for("assistant/kitchen/available", payload="offline")
    assert not seen.payloads("assistant/test/intent")
    assert "Traceback" not in daemon.log()


def test_sigterm_in_the_middle_of_a_turn(
    broker: Broker, audio_dir: Path, tmp_path: Path
) -> None:
    with Collector(broker, ["assistant/test/available"]) as seen, \
            LiveDaemon(tmp_path, slow_home(broker, tmp_path)) as daemon:
        daemon.wait_ready()
        seen.wait_for("assistant/test/available", payload="online", timeout=30)
        turn = start_slow_turn(daemon, audio_dir)
        assert daemon.stop(timeout_s=20) == 0
        seen.wait_for("assistant/test/available", payload="offline")
    [cancelled] = daemon.events("turn_cancelled", turn_id=turn)
    assert cancelled["reason"] == "interrupted"
    assert not daemon.events("replied", turn_id=turn)
    assert seen.payloads("assistant/test/available")[-1] == "offline"
    assert not daemon.socket.exists()
    assert "Traceback" not in daemon.log()


def test_the_unit_file_reloads_with_sighup() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "systemd" / "assistant.service")
    assert unit["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"


@pytest.fixture
def sound_server(tmp_path: Path) -> Iterator[PulseServer]:
    for binary in ("pulseaudio", "pactl", "paplay", "parec"):
        require_binary(binary)
    with pulse_server(tmp_path) as server:
        yield server


def test_sighup_with_the_microphone(sound_server: PulseServer, audio_dir: Path, tmp_path: Path,
                                    build_input: Callable[..., Path]) -> None:
    """On a real (private) sound server: the microphone and speaker are opened again from the
    new settings, and stream time goes on from where it was."""
    with running_daemon(sound_server, tmp_path, {}) as daemon:
        settings = json.loads(daemon.config.read_text())
        daemon.config.write_text(json.dumps({**settings, "wake": {"words": ["hey_jarvis"]}}))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_event("settings_reloaded")
        play(sound_server, build_input(500, audio_dir / JARVIS, 300, audio_dir / TIME, 2000))
        daemon.wait_for_event("playback_finished")
        assert daemon.stop() == 0, daemon.describe()
    [reloaded] = daemon.of_type("settings_reloaded")
    [wake] = daemon.of_type("wake_detected")
    assert reloaded["changed"] == ["wake"] and wake["wake_word"] == "hey_jarvis"
    assert wake["at_ms"] > reloaded["at_ms"] > 0, daemon.describe()
    assert daemon.of_type("replied")[0]["text"].startswith("It's ")
    assert "Traceback" not in daemon.log()
