"""Inputs that end or never start, and outputs checked before anything loads: the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.audio.files import read_file
from tests.integration.helpers import speak
from tests.unwritable import read_only

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"
LOADING = "loading Whisper"  # the ASR worker's first line: models are being loaded


def assistant(*args: str, cwd: Path, stdin: Any = subprocess.DEVNULL,
              wrap: Callable[[list[str]], list[str]] = list) -> subprocess.CompletedProcess[str]:
    return subprocess.run(wrap([sys.executable, "-m", "assistant", *args]),
                          capture_output=True, text=True, cwd=cwd, timeout=120, stdin=stdin)


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_clean(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


# -- stdin that ends at once or is not there

def test_stdin_on_dev_null_ends_at_once(tmp_path: Path) -> None:
    """What cron, nohup and CI give: it hung for good after an asyncio traceback."""
    started = time.monotonic()
    with open("/dev/null", "rb") as null:
        result = assistant("run", "--input", "-", "--output", "none", "--events",
                           str(tmp_path / "events.jsonl"), cwd=tmp_path, stdin=null)
    assert_clean(result, 0)
    assert time.monotonic() - started < 30
    assert "stdin holds no audio" in result.stderr
    assert LOADING not in result.stderr  # nothing to hear: nothing is loaded
    assert [e["type"] for e in events_of(tmp_path / "events.jsonl")] == ["input_ended"]


def test_closed_stdin_is_a_clear_error(tmp_path: Path) -> None:
    """`<&-`: it was an AttributeError traceback."""
    result = assistant("run", "--input", "-", "--output", "none", cwd=tmp_path,
                       wrap=lambda argv: ["sh", "-c", 'exec "$@" <&-', "sh", *argv])
    assert_clean(result, 1)
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: --input -: stdin is closed, so there is no audio to read.")
    assert LOADING not in result.stderr


def test_a_regular_file_on_stdin_is_replayed(
    tmp_path: Path, audio_dir: Path, build_input: Callable[..., Path]
) -> None:
    """Two commands from a raw PCM file on stdin: both answered, like --input FILE."""
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500,
                      audio_dir / NABU, 300, speak("What is the date today?"), 1500)
    raw = tmp_path / "input.raw"
    raw.write_bytes(read_file(wav))
    config = tmp_path / "config.yaml"
    config.write_text(f"conversation:\n  control_socket: {tmp_path / 'control.sock'}\n")
    with raw.open("rb") as stdin:
        result = assistant("--config", str(config), "run", "--input", "-", "--output", "none",
                           "--events", "-", "--quiet", cwd=tmp_path, stdin=stdin)
    assert_clean(result, 0)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["intent"] for e in events if e["type"] == "intent_matched"] == [
        "HassGetCurrentTime", "HassGetCurrentDate"]
    assert events[-2]["type"] == "input_ended"


# -- outputs checked before anything loads

def test_output_that_is_a_folder(tmp_path: Path) -> None:
    result = assistant("run", "--input", "-", "--output", str(tmp_path), cwd=tmp_path)
    assert_clean(result, 1)
    assert f"error: --output {tmp_path}: is a folder, not a file." in result.stderr
    assert LOADING not in result.stderr


def test_outputs_in_a_read_only_folder_and_events_a_folder(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro) as wrap:
        result = assistant("run", "--input", "-", "--output", str(ro / "reply.wav"),
                           "--events", str(tmp_path), cwd=tmp_path, wrap=wrap)
    assert_clean(result, 1)
    assert f"error: --output {ro / 'reply.wav'}: cannot be created: its folder {ro} cannot " \
           "be written" in result.stderr
    assert f"--events {tmp_path}: is a folder, not a file." in result.stderr
    assert LOADING not in result.stderr


def test_say_and_transcribe_outputs_are_checked_first(tmp_path: Path) -> None:
    said = assistant("say", "hello", "--output", str(tmp_path), cwd=tmp_path)
    assert_clean(said, 1)
    assert f"error: --output {tmp_path}: is a folder, not a file." in said.stderr
    (tmp_path / "notes").write_text("x")
    (tmp_path / "clip.wav").write_bytes(b"")
    done = assistant("transcribe", str(tmp_path / "clip.wav"), "--output-dir",
                     str(tmp_path / "notes"), "--no-index", cwd=tmp_path)
    assert_clean(done, 1)
    assert f"error: --output-dir {tmp_path / 'notes'}: is a file, not a folder." in done.stderr


# -- state folders: one warning each, and the daemon still runs

def test_state_that_cannot_be_written_is_one_warning_each(
    tmp_path: Path, build_input: Callable[..., Path]
) -> None:
    quiet = build_input(1000)
    ro = tmp_path / "ro"
    ro.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"timers:\n  state_file: {ro / 'timers.json'}\n"
                      f"transcripts:\n  keep_commands: true\n  index: {ro / 'index.db'}\n")
    with read_only(ro) as wrap:
        result = assistant("--config", str(config), "run", "--input", str(quiet), "--output",
                           "none", "--quiet", cwd=tmp_path, wrap=wrap)
    assert_clean(result, 0)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len([w for w in warnings if "timers.state_file" in w]) == 1, warnings
    assert len([w for w in warnings if "transcripts.index" in w]) == 1, warnings
    timers = next(w for w in warnings if "timers.state_file" in w)
    assert str(ro) in timers and "a restart loses them" in timers
    index = next(w for w in warnings if "transcripts.index" in w)
    assert "the command history is off" in index


# -- --events: replaced, unless --append

def test_events_file_is_replaced_unless_appended(
    tmp_path: Path, audio_dir: Path, build_input: Callable[..., Path]
) -> None:
    """Run twice into one file: its turn ids were repeated (the second run appended)."""
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    events = tmp_path / "events.jsonl"
    run = ("run", "--input", str(wav), "--output", "none", "--events", str(events), "--quiet")
    for _ in range(2):
        assert_clean(assistant(*run, cwd=tmp_path), 0)
    once = events_of(events)
    assert [e["type"] for e in once].count("input_ended") == 1
    turns = [e["turn_id"] for e in once if e["type"] == "intent_matched"]
    assert turns == [1]
    assert_clean(assistant(*run, "--append", cwd=tmp_path), 0)
    assert [e["type"] for e in events_of(events)].count("input_ended") == 2
    assert len(events_of(events)) == 2 * len(once)


def test_append_needs_an_events_file(tmp_path: Path) -> None:
    result = assistant("run", "--input", "-", "--append", cwd=tmp_path)
    assert_clean(result, 2)
    assert "--append adds to an events file: give --events FILE too" in result.stderr
