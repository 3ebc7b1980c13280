"""The timers' state file when it is broken, foreign or cannot be written: real files, real
folders that refuse writes, a real full file system; the answers the user would hear."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from assistant.intents.handlers.base import HandlerContext, HandlerResult
from assistant.intents.handlers.timers import timer_handlers
from assistant.intents.matching import IntentMatch
from assistant.setaside import KEEP, set_aside_copies
from assistant.timers import TimerService
from tests.unit.test_timers import run_until
from tests.unwritable import frozen

CONTEXT = HandlerContext(turn_id=1, now=datetime(2024, 5, 1, 12, 0), last_reply=None)
NOT_SAVED = "But I could not save it, so a restart would lose it."
GOOD = {"id": "a1", "name": "pizza", "duration_s": 600.0, "created_at": 1e9,
        "ends_at": 1e9 + 600, "remaining_s": 600.0}


def ask(service: TimerService, intent: str, **slots: object) -> HandlerResult:
    handler = timer_handlers(service)[intent]
    return asyncio.run(handler.handle(IntentMatch(intent, dict(slots), ""), CONTEXT))


def saved(path: Path) -> list[dict[str, object]]:
    data = json.loads(path.read_text())
    assert data["version"] == 1
    timers: list[dict[str, object]] = data["timers"]
    return timers


@pytest.mark.parametrize("content", [
    random.Random(12).randbytes(400),  # random bytes: the start-up crash of issue 12
    b'{"version": 1, "timers": [{"id": "a1", "na',  # truncated
    "{\"version\": 1, \"timers\": []}".encode("utf-16"),
    b"[]", b"null", b"42", b'"timers"', b'{"version": 1}', b'{"version": 1, "timers": {}}',
    b'{"version": 7, "timers": []}', b"[" * 100_000, b"",
    b" " * 2**20 + b'{"version": 1, "timers": []}',
], ids=["random", "truncated", "utf16", "list", "null", "number", "string", "no-timers",
        "timers-object", "version-7", "deep", "empty", "huge"])
def test_a_state_file_that_is_not_a_timer_file_is_set_aside(
        tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    path.write_bytes(content)
    service = TimerService(path, lambda text: None)
    with caplog.at_level(logging.WARNING):
        service.load()
    assert service.list() == []
    [aside] = set_aside_copies(path)
    assert aside.read_bytes() == content
    assert str(path) in caplog.text and str(aside) in caplog.text
    assert "starting without saved timers" in caplog.text
    assert ask(service, "HassStartTimer", minutes=5).success  # and it saves afresh
    assert [t["duration_s"] for t in saved(path)] == [300]


def test_broken_timers_are_left_out_and_the_good_ones_kept_and_saved(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    broken = [{**GOOD, "id": "b1", "ends_at": "soon"}, {**GOOD, "id": "b2", "duration_s": -5},
              {k: v for k, v in GOOD.items() if k != "id"}, {**GOOD, "name": 3}, "a timer",
              {**GOOD}, {**GOOD, "id": "b3", "remaining_s": float("nan")},
              {**GOOD, "id": "b4", "created_at": True}]
    path.write_text(json.dumps({"version": 1, "timers": [GOOD, *broken]}))
    service = TimerService(path, lambda text: None)
    with caplog.at_level(logging.WARNING):
        service.load()
    assert [t.id for t in service.list()] == ["a1"]
    assert "8 of 9 timers are broken" in caplog.text
    assert "starting with the 1 timers that could be read" in caplog.text
    [aside] = set_aside_copies(path)
    assert len(json.loads(aside.read_text())["timers"]) == 9  # the original, as it was
    assert [t["id"] for t in saved(path)] == ["a1"]  # a restart now finds the good one


def test_a_folder_where_the_file_belongs_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    path.mkdir()
    (path / "note.txt").write_text("mine")
    service = TimerService(path, lambda text: None)
    service.load()
    [aside] = set_aside_copies(path)
    assert (aside / "note.txt").read_text() == "mine"
    assert ask(service, "HassStartTimer", minutes=1).success
    assert len(saved(path)) == 1


def test_a_file_broken_on_every_start_keeps_only_the_newest_copies(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    for n in range(KEEP + 2):
        path.write_text(f"broken {n}")
        TimerService(path, lambda text: None).load()
    assert [c.read_text() for c in set_aside_copies(path)] == [
        f"broken {n}" for n in range(2, KEEP + 2)]


# -- saves that fail

def test_a_timer_that_cannot_be_saved_is_said_so_and_still_rings(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "timers.json"

    async def scenario() -> tuple[HandlerResult, list[str]]:
        heard: asyncio.Queue[str] = asyncio.Queue(maxsize=10)
        service = TimerService(path, heard.put_nowait)
        service.load()
        handler = timer_handlers(service)["HassStartTimer"]
        reply = await handler.handle(IntentMatch("HassStartTimer", {"seconds": 0.3}, ""),
                                     CONTEXT)
        return reply, await run_until(service, heard, 1, timeout_s=5)

    with frozen(folder), caplog.at_level(logging.WARNING):
        reply, rang = asyncio.run(scenario())
    assert reply == HandlerResult(f"Timer set for 0 seconds. {NOT_SAVED}", success=False)
    assert rang == ["Your 0 second timer is done."]
    assert not path.exists()
    assert f"cannot save timers to {path}" in caplog.text and "restart" in caplog.text


def test_every_change_that_is_not_saved_says_so_until_saves_work_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "timers.json"
    service = TimerService(path, lambda text: None)
    service.load()
    assert ask(service, "HassStartTimer", minutes=10).success
    undo = "But I could not save that, so a restart would undo it."
    with frozen(folder), caplog.at_level(logging.INFO):
        assert ask(service, "HassStartTimer", minutes=5) == HandlerResult(
            f"Timer set for 5 minutes. {NOT_SAVED}", success=False)
        assert ask(service, "HassPauseTimer", start_minutes=10) == HandlerResult(
            f"Paused the 10 minute timer. {undo}", success=False)
        # A question changes nothing: nothing to save, a plain answer.
        assert ask(service, "HassTimerStatus", start_minutes=5).success
        assert ask(service, "HassCancelTimer", start_minutes=5) == HandlerResult(
            f"Cancelled the 5 minute timer. {undo}", success=False)
    assert caplog.text.count("cannot save timers") == 1  # once per failing streak, not per save
    assert [t["ends_at"] for t in saved(path)] != [None]  # the pause never reached the disk
    with caplog.at_level(logging.INFO):
        assert ask(service, "HassUnpauseTimer").success  # writable again: a plain answer
    assert "timers are saved to" in caplog.text
    assert [t["duration_s"] for t in saved(path)] == [600]


def test_a_folder_in_the_way_of_the_file_or_of_its_folder_is_a_failed_save(
        tmp_path: Path) -> None:
    in_the_way = tmp_path / "timers.json"
    service = TimerService(in_the_way, lambda text: None)
    service.load()
    in_the_way.mkdir()  # after start-up: the daemon cannot replace a folder with its file
    assert ask(service, "HassStartTimer", minutes=1) == HandlerResult(
        f"Timer set for 1 minute. {NOT_SAVED}", success=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    service = TimerService(blocker / "timers.json", lambda text: None)
    assert not ask(service, "HassStartTimer", minutes=1).success


DISK_FULL = """
import asyncio, sys
from pathlib import Path
from tests.unit.test_timer_state import ask
from assistant.timers import TimerService

folder = Path(sys.argv[1])
try:
    with (folder / "filler").open("wb") as filler:
        while True:
            filler.write(bytes(4096))
            filler.flush()
except OSError:
    pass
reply = ask(TimerService(folder / "timers.json", print), "HassStartTimer", minutes=10)
print(f"{reply.success}|{reply.speech}")
"""


def test_a_full_disk_is_a_failed_save(tmp_path: Path) -> None:
    """A real file system with no space left: a tmpfs of 64 kB in a mount namespace of its
    own (root only; elsewhere skipped)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a small file system of its own needs root and unshare")
    folder = tmp_path / "small"
    folder.mkdir()
    mount = 'mount -t tmpfs -o size=64k tmpfs "$1" || exit 97; shift; exec "$@"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", mount, "sh", str(folder), sys.executable, "-c", DISK_FULL,
         str(folder)], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    if done.returncode == 97:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"False|Timer set for 10 minutes. {NOT_SAVED}"
    assert "No space left on device" in done.stderr
