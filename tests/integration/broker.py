"""A real Mosquitto broker for tests, and a subscriber that collects what arrives.

``Broker`` keeps its port and its persistence file across ``stop()`` / ``start()``, so persistent
sessions and the QoS 1 messages queued for them survive a restart, like a real broker reboot.
Register the ``broker`` fixture with ``pytest_plugins = ["tests.integration.broker"]``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import require

MOSQUITTO = "/usr/sbin/mosquitto"


def mosquitto_binary() -> str | None:
    return MOSQUITTO if os.access(MOSQUITTO, os.X_OK) else shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    def __init__(self, root: Path, binary: str = MOSQUITTO, port: int | None = None,
                 users: dict[str, str] | None = None) -> None:
        """`users`: name -> password; then anonymous clients are refused."""
        self.root = root
        self.binary = binary
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.log_file = root / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "mosquitto.conf"
        auth = "allow_anonymous true\n"
        if users:
            passwords = root / "passwords"
            passwords.write_text("".join(f"{name}:{pw}\n" for name, pw in users.items()))
            passwords.chmod(0o600)
            tool = shutil.which("mosquitto_passwd")
            require(tool is not None, "mosquitto_passwd is not installed (package mosquitto)")
            assert tool is not None
            subprocess.run([tool, "-U", str(passwords)], check=True, capture_output=True)
            auth = f"allow_anonymous false\npassword_file {passwords}\n"
        self.config.write_text(
            f"listener {self.port} {self.host}\n"
            + auth +
            "persistence true\n"
            f"persistence_location {root}/\n"
            f"log_dest file {self.log_file}\n"
            "log_type all\n"
            # As root, mosquitto would switch to the `mosquitto` user and lose its files here.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 5.0) -> None:
        if self.running:
            return
        self._output = (self.root / "mosquitto.out").open("ab")
        self._process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                         stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self.log()}")
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its persistence file), SIGKILL if it does not exit."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        parts = [p.read_text(errors="replace") for p in
                 (self.log_file, self.root / "mosquitto.out") if p.exists()]
        return "\n".join(parts)[-4000:]

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    binary = mosquitto_binary()
    require(binary is not None, "mosquitto is not installed (Debian package mosquitto)")
    assert binary is not None
    server = Broker(tmp_path / "mosquitto", binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")


class Collector:
    """A paho subscriber on its own thread. Persistent (``client_id`` with ``clean=False``) it
    gets, after reconnecting, the QoS 1 messages the broker kept for it while it was away."""

    def __init__(self, broker: Broker, topics: list[str], *, client_id: str = "",
                 clean: bool = True, qos: int = 1) -> None:
        self.received: list[Received] = []
        self._topics = [(topic, qos) for topic in topics]
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=clean)
        # Sub-second delays work (paho only sleeps on them); its stubs say int.
        self._client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._broker = broker

    def __enter__(self) -> Collector:
        self._client.connect(self._broker.host, self._broker.port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            self.__exit__()
            raise RuntimeError("collector: not connected and subscribed within 5 s")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def payloads(self, topic: str) -> list[str]:
        with self._cond:
            return [m.text for m in self.received if m.topic == topic]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(condition, timeout):
                raise AssertionError(f"timed out; received: {self.received}")

    def wait_for(self, topic: str, timeout: float = 5.0, payload: str | None = None) -> str:
        """The newest payload on `topic` (equal to `payload` if given), waiting for one."""
        def find() -> Received | None:
            matches = [m for m in self.received if m.topic == topic
                       and (payload is None or m.payload == payload.encode())]
            return matches[-1] if matches else None

        self.wait_until(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found.text

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        if self._topics:
            client.subscribe(self._topics)
        else:
            self._subscribed.set()

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.received.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()
