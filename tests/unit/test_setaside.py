"""Setting a broken state file aside: real files, real renames, the log line users will read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.setaside import KEEP, set_aside, set_aside_copies
from tests.unwritable import frozen

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_the_file_is_renamed_beside_itself_and_the_log_says_where_and_what_now(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    path.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING):
        result = set_aside(path, "not JSON", "starting without saved timers.", now=T0)
    assert result.moved_to == tmp_path / "timers.json.corrupt-20260301T120000Z"
    assert result.moved_to.read_bytes() == b"\x00garbage"
    assert not path.exists()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    for needle in (str(path), "not JSON", str(result.moved_to), "starting without saved timers"):
        assert needle in message, message


def test_only_the_newest_copies_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    for n in range(KEEP + 3):
        path.write_text(f"copy {n}")
        set_aside(path, "broken", "going on.", now=T0 + timedelta(minutes=n))
    copies = set_aside_copies(path)
    assert [c.read_text() for c in copies] == [f"copy {n}" for n in range(3, KEEP + 3)]
    assert sorted(tmp_path.iterdir()) == copies  # the older ones are gone, nothing else made


def test_two_in_the_same_second_never_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    for n in range(3):
        path.write_text(f"copy {n}")
        set_aside(path, "broken", "going on.", now=T0)
    assert [c.read_text() for c in set_aside_copies(path)] == ["copy 0", "copy 1", "copy 2"]
    assert set_aside_copies(path)[-1].name == "a.json.corrupt-20260301T120000Z-3"


def test_companions_go_with_it_and_are_pruned_with_it(tmp_path: Path) -> None:
    path = tmp_path / "transcripts.db"
    for n in range(KEEP + 1):
        path.write_text(f"db {n}")
        (tmp_path / "transcripts.db-wal").write_text(f"wal {n}")
        set_aside(path, "not SQLite", "a new one is made.", companions=("-wal", "-shm"),
                  now=T0 + timedelta(hours=n))
    assert not (tmp_path / "transcripts.db-wal").exists()  # never met by a fresh database
    newest = set_aside_copies(path)[-1]
    assert newest.with_name(newest.name + "-wal").read_text() == f"wal {KEEP}"
    assert len(list(tmp_path.glob("*-wal"))) == KEEP
    assert not (tmp_path / "transcripts.db.corrupt-20260301T120000Z-wal").exists()


def test_other_files_are_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "bob.json"
    others = [tmp_path / "bob.json.bak", tmp_path / "bobby.json.corrupt-20200101T000000Z",
              tmp_path / "bob.json.corrupt-notes.txt"]
    for other in others:
        other.write_text("mine")
    for n in range(KEEP + 2):
        path.write_text("x")
        set_aside(path, "broken", "going on.", now=T0 + timedelta(seconds=n))
    assert all(other.read_text() == "mine" for other in others)


def test_a_folder_in_the_way_is_moved_but_never_deleted(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    path.mkdir()
    (path / "inside.txt").write_text("keep me")
    first = set_aside(path, "a folder", "going on.", now=T0).moved_to
    for n in range(KEEP + 1):
        path.write_text("x")
        set_aside(path, "broken", "going on.", now=T0 + timedelta(minutes=n + 1))
    assert first is not None and (first / "inside.txt").read_text() == "keep me"


def test_a_file_that_cannot_be_moved_is_left_and_said_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    path = folder / "timers.json"
    path.write_text("{")
    with frozen(folder), caplog.at_level(logging.WARNING):
        result = set_aside(path, "not JSON", "starting without saved timers.")
    assert result.moved_to is None and result.error
    assert path.read_text() == "{"
    assert "could not be moved aside" in caplog.text and str(path) in caplog.text
    assert "starting without saved timers" in caplog.text


def test_many_in_the_same_second_keep_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    for n in range(KEEP + 3):
        path.write_text(f"copy {n}")
        set_aside(path, "broken", "going on.", now=T0)
    assert [c.read_text() for c in set_aside_copies(path)] == [
        f"copy {n}" for n in range(3, KEEP + 3)]
