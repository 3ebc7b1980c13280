"""As a systemd service: READY=1 after warm-up, watchdog pings while audio flows, STOPPING=1."""

from __future__ import annotations

import configparser
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_unit_file_is_a_notify_user_service() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "systemd" / "assistant.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].endswith("assistant run")
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "default.target"


def drain(receiver: socket.socket) -> list[str]:
    receiver.setblocking(False)
    received = []
    try:
        while True:
            received.append(receiver.recv(256).decode())
    except BlockingIOError:
        pass
    finally:
        receiver.setblocking(True)
    return received


def pings_stop_within(receiver: socket.socket, limit_s: float) -> bool:
    """True once no ping has come for 1.5 s (several watchdog intervals)."""
    receiver.settimeout(1.5)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            receiver.recv(256)
        except TimeoutError:
            return True
    return False


def test_notify_protocol(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(notify_path))
    receiver.settimeout(90)
    config = tmp_path / "config.yaml"
    config.write_text(f"conversation:\n  control_socket: {tmp_path / 'ctl.sock'}\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "600000"}
    feeding = threading.Event()
    feeding.set()
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--config", str(config), "run", "--input", "-",
             "--output", "none", "--quiet"],
            stdin=subprocess.PIPE, stderr=log, env=env)
    assert daemon.stdin is not None

    def feed() -> None:  # real-time silence, like a quiet microphone
        assert daemon.stdin is not None
        try:
            while daemon.poll() is None:
                if feeding.is_set():
                    daemon.stdin.write(bytes(640))
                    daemon.stdin.flush()
                time.sleep(0.02)
        except (BrokenPipeError, ValueError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    messages: list[str] = []
    try:
        while "READY=1" not in messages:
            messages.append(receiver.recv(256).decode())
        assert (tmp_path / "ctl.sock").exists()  # ready means really listening
        receiver.settimeout(2)
        pings = [receiver.recv(256).decode() for _ in range(3)]
        assert pings == ["WATCHDOG=1"] * 3
        feeding.clear()  # audio stops: the watchdog must stop vouching for us
        assert pings_stop_within(receiver, 20.0)
        feeding.set()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        assert "STOPPING=1" in drain(receiver)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        daemon.stdin.close()
        feeder.join(timeout=5)
        receiver.close()
    assert messages[-1] == "READY=1"
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()
