"""One worker process, from spawn to exit: requests over its pipes, and why it ended.

Restarting is not done here but by the supervisor (engines/supervisor.py), which owns the
current WorkerProcess and replaces it after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from assistant.engines.calls import Reply
from assistant.engines.host import EXIT_OUT_OF_MEMORY
from assistant.engines.spec import EngineSpec
from assistant.engines.wire import FrameError, Header, encode, read_frame
from assistant.errors import (
    WorkerCrashed,
    WorkerError,
    WorkerOutOfMemory,
    WorkerTimeout,
    error_for,
)

log = logging.getLogger(__name__)
STOP_GRACE_S = 2.0
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class WorkerProcess:
    def __init__(self, spec: EngineSpec, log_level: str = "INFO") -> None:
        self.spec = spec
        self._log_level = log_level
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._killed_for: WorkerError | None = None
        self.ended: WorkerError | None = None
        """Why the process ended (None while it runs)."""
        self.on_exit: Callable[[WorkerProcess, WorkerError], None] = lambda w, e: None
        self.info: Header = {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self, timeout_s: float) -> Header:
        """Spawn, load and warm the engine; its description once ready. Raises the typed error
        the worker reported (ModelError, DeviceError, ...) or WorkerTimeout."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant.engines.host",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            # Its own session: Ctrl-C in a terminal reaches the daemon, which stops its workers.
            start_new_session=True, env=_environment(),
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.writelines(encode({"op": "load", "log_level": self._log_level},
                                           pickle.dumps(self.spec)))
        try:
            async with asyncio.timeout(timeout_s):
                await self._proc.stdin.drain()
                frame = await read_frame(self._proc.stdout)
        except (TimeoutError, FrameError, ConnectionError) as exc:
            await self.kill(WorkerTimeout(f"did not load within {timeout_s:g} s")
                            if isinstance(exc, TimeoutError) else None)
            if isinstance(exc, TimeoutError):
                raise WorkerTimeout(f"{self.spec.role} worker did not load within "
                                    f"{timeout_s:g} s (workers.start_timeout_s)") from exc
            raise WorkerCrashed(f"{self.spec.role} worker failed while loading: {exc}") from exc
        if frame is None:
            code = await self._proc.wait()
            raise self._exit_error(code, loading=True)
        header, _ = frame
        if not header.get("ok"):
            await self.kill()
            raise error_for(str(header.get("code")), str(header.get("message")))
        self.info = dict(header.get("info") or {})
        self._reader = asyncio.create_task(self._read_replies(), name=f"{self.spec.role}-replies")
        return self.info

    async def request(self, method: str, header: Header, payload: bytes) -> Reply:
        """Send one request and wait for its reply. Raises the engine's typed error, or a
        WorkerError when the process ends first."""
        if self.ended is not None:
            raise self.ended
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            proc.stdin.writelines(encode({**header, "id": request_id, "method": method}, payload))
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # it is gone: the reader is about to say why
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)

    def rss_mb(self) -> float | None:
        """Resident memory of the process, from /proc (None once it is gone)."""
        try:
            pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return pages * PAGE_BYTES / 2**20

    async def kill(self, because: WorkerError | None = None) -> None:
        """SIGKILL (it may be hung, or stopped) and reap it."""
        if because is not None and self._killed_for is None:
            self._killed_for = because
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.wait({self._reader})

    async def stop(self) -> None:
        """Ask it to exit (close its stdin), then kill it if it does not."""
        proc = self._proc
        if proc is None:
            return
        self._killed_for = self._killed_for or WorkerCrashed("stopped")
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            log.warning("%s worker did not stop in %.0f s; killing it", self.spec.role,
                        STOP_GRACE_S)
        await self.kill()

    async def _read_replies(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        error: WorkerError | None = None
        try:
            while (frame := await read_frame(proc.stdout)) is not None:
                header, payload = frame
                future = self._pending.get(int(header.get("id", -1)))
                if future is None or future.done():
                    continue  # the caller stopped waiting
                if header.get("ok"):
                    future.set_result((dict(header.get("result") or {}), payload))
                else:
                    future.set_exception(
                        error_for(str(header.get("code")), str(header.get("message"))))
        except (FrameError, ConnectionError, ValueError) as exc:
            error = WorkerCrashed(f"{self.spec.role} worker sent a broken reply: {exc}")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        code = await proc.wait()
        self.ended = self._killed_for or error or self._exit_error(code)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self.ended)
        self.on_exit(self, self.ended)

    def _exit_error(self, code: int, loading: bool = False) -> WorkerError:
        role, during = self.spec.role, " while loading" if loading else ""
        if code == EXIT_OUT_OF_MEMORY:
            return WorkerOutOfMemory(f"the {role} worker ran out of memory{during}")
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (the kernel's OOM killer sends SIGKILL when memory runs out)" \
                if -code == signal.SIGKILL else ""
            return WorkerCrashed(f"the {role} worker was killed by {name}{during}{hint}")
        return WorkerCrashed(f"the {role} worker exited with code {code}{during}")


def _project_root() -> str:
    """Where `assistant` is importable from, whatever the daemon's working folder."""
    return str(Path(__file__).resolve().parents[2])


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    root = _project_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env

