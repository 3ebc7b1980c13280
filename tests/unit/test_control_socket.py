"""The control socket's file at start-up: a stale socket left by a killed daemon is replaced, a
live daemon's is refused, anything else in its place is set aside. Real Unix sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from assistant.control import open_control, send_command, serve_control
from assistant.errors import ControlError
from assistant.setaside import set_aside_copies


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    return folder / "control.sock"


def leave_stale_socket(path: Path) -> None:
    """What a SIGKILLed daemon leaves: the socket file, with no one listening on it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        sock.listen()
    assert path.is_socket()


async def serve_and_listen(path: Path) -> list[str]:
    """Open the control socket, answer one `listen` through it, stop."""
    heard: list[str] = []
    server = await open_control(path, lambda: heard.append("listen"))
    task = asyncio.create_task(serve_control(server, path))
    try:
        reply = await asyncio.to_thread(send_command, path, "listen")
        assert reply == "ok"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return heard


def test_a_stale_socket_is_replaced(sock_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    leave_stale_socket(sock_path)
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(serve_and_listen(sock_path)) == ["listen"]
    assert str(sock_path) in caplog.text and "no daemon answers" in caplog.text
    assert not sock_path.exists()  # removed again when it stopped


def test_a_live_daemon_is_refused_and_keeps_its_socket(sock_path: Path) -> None:
    async def scenario() -> str:
        first = await open_control(sock_path, lambda: None)
        task = asyncio.create_task(serve_control(first, sock_path))
        try:
            with pytest.raises(ControlError) as refused:
                await open_control(sock_path, lambda: None)
            assert await asyncio.to_thread(send_command, sock_path, "listen") == "ok"
            return refused.value.message
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    message = asyncio.run(scenario())
    assert str(sock_path) in message and "already running" in message
    assert "Stop it first" in message


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_something_else_in_its_place_is_set_aside(sock_path: Path, kind: str) -> None:
    if kind == "file":
        sock_path.write_text("my notes")
    else:
        sock_path.mkdir()
    assert asyncio.run(serve_and_listen(sock_path)) == ["listen"]
    [aside] = set_aside_copies(sock_path)
    assert aside.is_dir() if kind == "folder" else aside.read_text() == "my notes"


def ask(path: Path, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return sock.makefile("rb").readline()


def test_a_huge_request_is_answered_and_too_many_clients_are_turned_away(
    sock_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.control.MAX_CLIENTS", 3)

    async def scenario() -> tuple[bytes, bytes, bytes, list[str]]:
        heard: list[str] = []
        server = await open_control(sock_path, lambda: heard.append("listen"))
        task = asyncio.create_task(serve_control(server, sock_path))
        idle = []
        try:
            huge = await asyncio.to_thread(ask, sock_path, b"l" * 70_000 + b"\n")
            for _ in range(3):  # idle clients hold every place
                _reader, writer = await asyncio.open_unix_connection(str(sock_path))
                idle.append(writer)
            await asyncio.sleep(0.1)
            busy = await asyncio.to_thread(ask, sock_path, b"listen\n")
            for writer in idle:
                writer.close()
            await asyncio.sleep(0.1)
            ok = await asyncio.to_thread(ask, sock_path, b"listen\n")
            return huge, busy, ok, heard
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    huge, busy, ok, heard = asyncio.run(scenario())
    assert huge == b"error: request longer than 1024 bytes\n"
    assert busy == b"error: busy; try again\n"
    assert ok == b"ok\n" and heard == ["listen"]
    assert "Traceback" not in caplog.text and "Unhandled exception" not in caplog.text
