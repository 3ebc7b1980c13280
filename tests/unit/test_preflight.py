"""The up-front checks of where a run writes: real folders, files and permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.errors import OutputPathError
from assistant.preflight import (
    check_output_file,
    check_output_folder,
    check_run_outputs,
    file_problem,
    folder_problem,
    state_problems,
)
from tests.unwritable import frozen


def test_writable_places_have_no_problem(tmp_path: Path) -> None:
    (tmp_path / "old.wav").write_bytes(b"RIFF")
    assert file_problem(tmp_path / "new.wav") is None
    assert file_problem(tmp_path / "old.wav") is None
    assert file_problem(tmp_path / "not" / "yet" / "made.wav") is None  # created when opened
    assert folder_problem(tmp_path) is None
    assert folder_problem(tmp_path / "to" / "be" / "made") is None
    assert file_problem(Path("/dev/null")) is None  # --events /dev/null is fine


def test_a_folder_where_a_file_is_wanted(tmp_path: Path) -> None:
    assert file_problem(tmp_path) == "is a folder, not a file"
    with pytest.raises(OutputPathError) as raised:
        check_output_file("--output", tmp_path)
    assert raised.value.message == (
        f"--output {tmp_path}: is a folder, not a file. Give a file name inside it, such as "
        f"{tmp_path / 'reply.wav'}.")
    assert raised.value.exit_code == 1


def test_a_file_where_a_folder_is_wanted(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("x")
    assert folder_problem(tmp_path / "notes") == "is a file, not a folder"
    problem = file_problem(tmp_path / "notes" / "reply.wav")
    assert problem == f"needs the folder {tmp_path / 'notes'}, but {tmp_path / 'notes'} is a file"
    with pytest.raises(OutputPathError, match="--output-dir .*notes: is a file, not a folder"):
        check_output_folder("--output-dir", tmp_path / "notes")


def test_read_only_folders(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "old.wav").write_bytes(b"RIFF")
    with frozen(ro):
        assert file_problem(ro / "new.wav") == (
            f"cannot be created: its folder {ro} cannot be written (no permission, or a "
            "read-only file system)")
        assert "the folder that would hold it, " + str(ro) in (
            file_problem(ro / "sub" / "new.wav") or "")
        assert folder_problem(ro) == ("cannot be written in (no permission, or a read-only file "
                                      "system)")
        assert folder_problem(ro, write=False) is None  # reading it is fine
        # Replacing a file needs its folder (a rename), whatever the file's own mode.
        assert file_problem(ro / "old.wav", replaced=True) is not None


def test_run_outputs_are_reported_together(tmp_path: Path) -> None:
    check_run_outputs(None, None)
    check_run_outputs("none", "-")  # discard and stdout are not paths
    (tmp_path / "notes").write_text("x")
    with pytest.raises(OutputPathError) as raised:
        check_run_outputs(str(tmp_path), str(tmp_path / "notes" / "events.jsonl"))
    lines = raised.value.message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"--output {tmp_path}: is a folder")
    assert lines[1].startswith(f"--events {tmp_path / 'notes' / 'events.jsonl'}: needs the folder")


def test_state_problems_name_the_setting_and_what_is_lost(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    with frozen(ro):
        settings = Settings.model_validate({
            "timers": {"state_file": str(ro / "timers.json")},
            "transcripts": {"index": str(ro / "index.db"), "keep_commands": False},
        })
        problems = state_problems(settings)
        assert [p.setting for p in problems] == ["timers.state_file"]  # no history: not checked
        message = problems[0].message
        assert message.startswith(f"timers.state_file {ro / 'timers.json'}: cannot be created")
        assert "a restart loses them" in message
        assert f"Set timers.state_file to a writable place, or fix {ro}." in message

        keeping = settings.model_copy(update={"transcripts": settings.transcripts.model_copy(
            update={"keep_commands": True})})
        assert [p.setting for p in state_problems(keeping)] == [
            "timers.state_file", "transcripts.index"]
        assert "the command history is off" in state_problems(keeping)[1].message


def test_speaker_profiles_are_checked_only_when_speakers_are_on(tmp_path: Path) -> None:
    (tmp_path / "voices").write_text("not a folder")
    off = Settings.model_validate({"speakers": {"profiles_dir": str(tmp_path / "voices")},
                                   "timers": {"state_file": str(tmp_path / "t.json")}})
    assert state_problems(off) == []
    on = off.model_copy(update={"speakers": off.speakers.model_copy(update={"enabled": True})})
    [problem] = state_problems(on)
    assert problem.setting == "speakers.profiles_dir"
    assert "is a file, not a folder" in problem.message
    assert "every speaker is unknown" in problem.message


def test_default_state_places_are_fine() -> None:
    """The test run's private XDG folders (tests/conftest.py) hold the defaults."""
    assert state_problems(Settings.model_validate({"transcripts": {"keep_commands": True}})) == []
