"""Local control socket: `assistant listen` from another shell starts a turn (push-to-talk).

Protocol: one line per request ("listen"), one line back ("ok" or "error: ...").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from assistant.errors import ControlError
from assistant.setaside import set_aside

log = logging.getLogger(__name__)
COMMANDS = ("listen",)
MAX_REQUEST_BYTES = 1024
MAX_CLIENTS = 256
"""At once (each holds a file for at most 5 s); more are turned away at once, so idle clients
cannot use up the daemon's files (systemd's default limit is 1024)."""


async def open_control(path: Path, on_listen: Callable[[], None]) -> asyncio.Server:
    """Bind the socket now (so READY=1 can follow); refuses if another daemon answers on it."""
    _claim(path)

    clients = 0

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal clients
        clients += 1
        try:
            if clients > MAX_CLIENTS:
                writer.write(b"error: busy; try again\n")
                await writer.drain()
                return
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            command = line.decode("utf-8", "replace").strip().lower()
            if command == "listen":
                on_listen()
                writer.write(b"ok\n")
            else:
                writer.write(f"error: unknown command {command[:40]!r}; "
                             f"known: {', '.join(COMMANDS)}\n".encode())
            await writer.drain()
        except ValueError:  # a line longer than MAX_REQUEST_BYTES
            with contextlib.suppress(ConnectionError):
                writer.write(f"error: request longer than {MAX_REQUEST_BYTES} bytes\n".encode())
                await writer.drain()
        except (TimeoutError, ConnectionError) as exc:
            log.debug("control client dropped: %s", exc)
        finally:
            clients -= 1
            writer.close()

    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_REQUEST_BYTES)
    os.chmod(path, 0o600)  # only this user may start turns
    log.info("control socket: %s", path)
    return server


async def serve_control(server: asyncio.Server, path: Path) -> None:
    """Serve until cancelled, then remove the socket file."""
    try:
        async with server:
            await server.serve_forever()
    finally:
        _release(path)


def _claim(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = path.parent.stat()
    if folder.st_uid != os.getuid() or folder.st_mode & 0o077:
        # Anyone who can write there could plant a socket and start or see our turns.
        raise ControlError(
            f"{path.parent}: must belong to you with mode 0700 (it is {folder.st_mode & 0o777:o}, "
            f"owner uid {folder.st_uid}); fix it or set conversation.control_socket.")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        set_aside(path, "not a socket, where the control socket belongs",
                  "a new control socket is made in its place.")
        return
    if _answers(path):
        raise ControlError(
            f"{path}: another assistant daemon is already running and answers on this socket. "
            "Stop it first (systemctl --user stop assistant), or give this one another "
            "conversation.control_socket.")
    # Left behind by a daemon that was killed: a socket holds nothing, so it is just replaced.
    path.unlink(missing_ok=True)
    log.warning("%s: no daemon answers on this control socket (left by one that did not stop "
                "cleanly); replaced it with a new one. Nothing to do.", path)


def _release(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _answers(path: Path) -> bool:
    """Whether a process listens on the socket. Only "refused" means no one: any other failure
    (a full backlog, a timeout) may be a busy live daemon, whose socket must not be taken."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError as exc:
            raise ControlError(
                f"{path}: cannot tell whether another daemon is using it ({exc}); if none is, "
                "remove the file and start again.") from exc
    return True


def send_command(path: Path, command: str, timeout_s: float = 5.0) -> str:
    """Client side, for `assistant listen`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            reply = sock.makefile("rb").readline().decode().strip()
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(
            f"no assistant daemon is listening on {path}; start one with 'assistant run'."
        ) from exc
    except OSError as exc:
        raise ControlError(f"{path}: {exc}") from exc
    if reply != "ok":
        raise ControlError(f"the daemon said: {reply or 'nothing'}")
    return reply
