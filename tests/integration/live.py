"""The real daemon as its own process on live audio: raw PCM on its stdin, in real time.

Silence flows all the time, as from a microphone; `say` puts speech into that stream. The
daemon's JSON events are read back from its events file as they come.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from assistant.bench.idle import BLOCK_MS, silence_block

BLOCK_BYTES = len(silence_block())


class LiveDaemon:
    def __init__(self, tmp_path: Path, config: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, speaker: bool = False,
                 events_to_stdout: bool = False, module: str = "assistant") -> None:
        """`speaker`: replies go to the default output device instead of reply.wav;
        `events_to_stdout`: `--events -` into a pipe that nobody reads; `module`: what runs
        the daemon's command line (`python -m MODULE`)."""
        self.events_path = tmp_path / "events.jsonl"
        self.log_path = tmp_path / "daemon.log"
        self.reply_path = tmp_path / "reply.wav"
        self.socket = tmp_path / "control.sock"
        settings = {"conversation": {"control_socket": str(self.socket)}, **(config or {})}
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        self._pending: collections.deque[bytes] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._log = self.log_path.open("wb")
        output = [] if speaker else ["--output", str(self.reply_path)]
        events = "-" if events_to_stdout else str(self.events_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config_path), "run",
             "--input", "-", *output, "--events", events, "--quiet"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if events_to_stdout else subprocess.DEVNULL,
            stderr=self._log, env={**os.environ, **(env or {})})
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()

    def __enter__(self) -> LiveDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """The control socket appears once every model is loaded and warm."""
        deadline = time.monotonic() + timeout_s
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def say(self, pcm: bytes) -> None:
        """Speech into the stream, in real time, after what is already queued."""
        blocks = [pcm[i:i + BLOCK_BYTES] for i in range(0, len(pcm), BLOCK_BYTES)]
        if blocks and len(blocks[-1]) < BLOCK_BYTES:
            blocks[-1] += bytes(BLOCK_BYTES - len(blocks[-1]))
        with self._lock:
            self._pending.extend(blocks)

    def spoken(self) -> bool:
        with self._lock:
            return not self._pending

    def events(self, kind: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        found = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if (kind is None or event["type"] == kind) and all(
                        event.get(k) == v for k, v in fields.items()):
                    found.append(event)
        return found

    def wait_for(self, kind: str, count: int = 1, timeout_s: float = 60.0,
                 **fields: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(found := self.events(kind, **fields)) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}) waiting for "
                                     f"{kind}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} x {kind} {fields} within {timeout_s} s; "
                                     f"events: {[e['type'] for e in self.events()]}")
            time.sleep(0.05)
        return found

    def workers(self) -> list[int]:
        """The daemon's child processes (its engine workers)."""
        children: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += [int(p) for p in (task / "children").read_text().split()]
        return children

    def worker_pid(self, stage: str) -> int:
        """The pid of the newest worker that became ready for `stage` (asr, tts, ...)."""
        ready = [e for e in self.events("engine_ready", stage=stage, placement="process")]
        assert ready, f"no {stage} worker is ready"
        return int(ready[-1]["pid"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._feeder.join(timeout=2)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    pipe.close()
        self._log.close()

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                with self._lock:
                    block = self._pending.popleft() if self._pending else silence_block()
                stdin.write(block)
                stdin.flush()
                next_at += BLOCK_MS / 1000
                time.sleep(max(0.0, next_at - time.monotonic()))
        except (BrokenPipeError, ValueError, OSError):
            pass  # the daemon is gone


def wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)
