"""Which files `assistant transcribe PATH...` picks, and where their outputs go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.transcribe.inputs import (
    BadInput,
    InputFile,
    Inputs,
    find_inputs,
    output_path,
    outputs_current,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"placeholder")
    return path


def paths(inputs: Inputs) -> list[Path]:
    return [item.path for item in inputs.files]


def stems(inputs: Inputs) -> dict[str, Path]:
    return {item.path.name: item.stem for item in inputs.files}


# -- files, folders and globs

def test_a_file_is_taken_whatever_its_suffix(tmp_path: Path) -> None:
    notes = touch(tmp_path / "notes.txt")
    talk = touch(tmp_path / "talk.wav")
    inputs = find_inputs([str(notes), str(talk)], None)
    assert inputs.files == (InputFile(notes, tmp_path / "notes"),
                            InputFile(talk, tmp_path / "talk"))
    assert inputs.bad == ()


def test_a_folder_is_searched_recursively_for_audio_only(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    a = touch(root / "a.wav")
    b = touch(root / "sub" / "deeper" / "b.MP3")  # suffixes are case-insensitive
    c = touch(root / "sub" / "c.flac")
    touch(root / "readme.txt")
    touch(root / "sub" / "cover.jpg")
    touch(root / "a.srt")
    (root / "folder.wav").mkdir()  # a folder with an audio name is not a file
    inputs = find_inputs([str(root)], None)
    assert paths(inputs) == sorted([a, b, c])
    assert inputs.bad == ()


def test_hidden_files_and_folders_inside_a_folder_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    kept = touch(root / "kept.wav")
    touch(root / ".hidden.wav")
    touch(root / ".trash" / "old.wav")
    touch(root / "sub" / ".cache" / "deep" / "x.wav")
    assert paths(find_inputs([str(root)], None)) == [kept]


def test_a_hidden_folder_given_by_name_is_searched(tmp_path: Path) -> None:
    root = tmp_path / ".recordings"
    kept = touch(root / "a.wav")
    assert paths(find_inputs([str(root)], None)) == [kept]


def test_an_empty_folder_gives_nothing_and_no_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert find_inputs([str(tmp_path / "empty")], None) == Inputs((), ())


def test_a_glob_matches_files_only(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.wav")
    b = touch(tmp_path / "b.wav")
    touch(tmp_path / "c.mp3")
    touch(tmp_path / "sub" / "d.wav")
    (tmp_path / "dir.wav").mkdir()
    inputs = find_inputs([str(tmp_path / "*.wav")], None)
    assert paths(inputs) == [a, b]
    assert inputs.bad == ()


def test_a_double_star_glob_is_recursive(tmp_path: Path) -> None:
    top = touch(tmp_path / "top.wav")
    mid = touch(tmp_path / "x" / "mid.wav")
    deep = touch(tmp_path / "x" / "y" / "deep.wav")
    touch(tmp_path / "x" / "y" / "deep.mp3")
    inputs = find_inputs([str(tmp_path / "**" / "*.wav")], None)
    assert sorted(paths(inputs)) == sorted([top, mid, deep])
    assert stems(inputs)["deep.wav"] == tmp_path / "x" / "y" / "deep"


def test_a_glob_matching_nothing_is_a_bad_input(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp3")
    (tmp_path / "only_a_folder.wav").mkdir()
    pattern = str(tmp_path / "*.wav")
    assert find_inputs([pattern], None) == Inputs(
        (), (BadInput(pattern, "nothing matches this pattern"),))


def test_a_missing_path_is_a_bad_input_and_the_rest_still_counts(tmp_path: Path) -> None:
    good = touch(tmp_path / "good.wav")
    missing = str(tmp_path / "missing.wav")
    inputs = find_inputs([missing, str(good)], None)
    assert paths(inputs) == [good]
    assert inputs.bad == (BadInput(missing, "no such file or folder"),)


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    a = touch(tmp_path / "a.wav")
    b = touch(tmp_path / "b.wav")
    assert paths(find_inputs(["~/a.wav"], None)) == [a]
    assert sorted(paths(find_inputs(["~/*.wav"], None))) == [a, b]


# -- each file once

def test_the_same_file_given_twice_is_taken_once(tmp_path: Path) -> None:
    a = touch(tmp_path / "dir" / "a.wav")
    b = touch(tmp_path / "dir" / "b.wav")
    inputs = find_inputs(
        [str(a), str(tmp_path / "dir"), str(tmp_path / "dir" / ".." / "dir" / "a.wav"),
         str(tmp_path / "dir" / "*.wav"), str(a)],
        None)
    assert paths(inputs) == [a, b]  # first spelling wins, order of first appearance
    assert stems(inputs) == {"a.wav": tmp_path / "dir" / "a", "b.wav": tmp_path / "dir" / "b"}


def test_a_relative_and_an_absolute_spelling_are_the_same_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = touch(tmp_path / "dir" / "a.wav")
    monkeypatch.chdir(tmp_path)
    inputs = find_inputs(["dir/a.wav", str(a), "dir/../dir/a.wav"], None)
    assert paths(inputs) == [Path("dir/a.wav")]


# -- where the outputs go

def test_outputs_go_next_to_the_input_by_default(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    touch(root / "a.wav")
    touch(root / "sub" / "b.flac")
    assert stems(find_inputs([str(root)], None)) == {
        "a.wav": root / "a", "b.flac": root / "sub" / "b"}


def test_output_dir_mirrors_the_subfolders_of_a_folder_argument(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    out = tmp_path / "out"
    touch(root / "a.wav")
    touch(root / "sub" / "deeper" / "b.flac")
    assert stems(find_inputs([str(root)], out)) == {
        "a.wav": out / "a", "b.flac": out / "sub" / "deeper" / "b"}


def test_output_dir_mirrors_the_folders_below_the_one_all_inputs_share(tmp_path: Path) -> None:
    out = tmp_path / "out"
    a = touch(tmp_path / "x" / "a.wav")
    touch(tmp_path / "y" / "z" / "b.wav")
    inputs = find_inputs([str(a), str(tmp_path / "y" / "**" / "*.wav")], out)
    assert stems(inputs) == {"a.wav": out / "x" / "a", "b.wav": out / "y" / "z" / "b"}
    [only] = find_inputs([str(a)], out).files
    assert only.stem == out / "a"


def test_same_stem_in_one_folder_keeps_the_full_names(tmp_path: Path) -> None:
    touch(tmp_path / "talk.mp3")
    touch(tmp_path / "talk.wav")
    touch(tmp_path / "other.wav")
    inputs = find_inputs([str(tmp_path)], None)
    assert stems(inputs) == {"talk.mp3": tmp_path / "talk.mp3", "talk.wav": tmp_path / "talk.wav",
                             "other.wav": tmp_path / "other"}
    assert output_path(stems(inputs)["talk.mp3"], "srt") == tmp_path / "talk.mp3.srt"


def test_same_stem_in_different_folders_is_no_clash(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "talk.wav")
    touch(tmp_path / "b" / "talk.mp3")
    inputs = find_inputs([str(tmp_path)], None)
    assert sorted(item.stem for item in inputs.files) == [tmp_path / "a" / "talk",
                                                           tmp_path / "b" / "talk"]


def test_same_stem_clashes_in_the_output_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    mp3 = touch(tmp_path / "x" / "talk.mp3")
    wav = touch(tmp_path / "x" / "talk.wav")
    inputs = find_inputs([str(mp3), str(wav)], out)
    assert stems(inputs) == {"talk.mp3": out / "talk.mp3", "talk.wav": out / "talk.wav"}


def test_a_stem_with_dots_keeps_them(tmp_path: Path) -> None:
    touch(tmp_path / "talk.v2.final.wav")
    [item] = find_inputs([str(tmp_path)], None).files
    assert item.stem == tmp_path / "talk.v2.final"
    assert output_path(item.stem, "json") == tmp_path / "talk.v2.final.json"
    assert output_path(item.stem, "srt").name == "talk.v2.final.srt"


# -- resuming

FORMATS = ("json", "srt")


def written(tmp_path: Path, audio_mtime: float, output_mtimes: dict[str, float]) -> InputFile:
    audio = touch(tmp_path / "talk.wav")
    os.utime(audio, (audio_mtime, audio_mtime))
    item = InputFile(audio, tmp_path / "talk")
    for fmt, mtime in output_mtimes.items():
        out = touch(output_path(item.stem, fmt))
        os.utime(out, (mtime, mtime))
    return item


def test_outputs_all_present_and_newer_are_current(tmp_path: Path) -> None:
    item = written(tmp_path, 1_000_000, {"json": 1_000_100, "srt": 1_000_000})
    assert outputs_current(item, FORMATS)


def test_a_missing_output_is_not_current(tmp_path: Path) -> None:
    item = written(tmp_path, 1_000_000, {"json": 1_000_100})
    assert not outputs_current(item, FORMATS)
    assert outputs_current(item, ("json",))


def test_an_output_older_than_the_audio_is_not_current(tmp_path: Path) -> None:
    item = written(tmp_path, 1_000_000, {"json": 1_000_100, "srt": 999_999})
    assert not outputs_current(item, FORMATS)


def test_missing_audio_is_not_current(tmp_path: Path) -> None:
    item = written(tmp_path, 1_000_000, {"json": 1_000_100, "srt": 1_000_100})
    item.path.unlink()
    assert not outputs_current(item, FORMATS)


def test_output_path_appends_the_format_to_the_full_name(tmp_path: Path) -> None:
    assert output_path(tmp_path / "talk", "vtt") == tmp_path / "talk.vtt"
    assert output_path(tmp_path / "talk.mp3", "tsv") == tmp_path / "talk.mp3.tsv"


# -- known bugs: two inputs must never share outputs (one would overwrite the other)

def test_same_name_from_two_folders_into_the_output_dir_gets_distinct_outputs(
        tmp_path: Path) -> None:
    touch(tmp_path / "x" / "talk.wav")
    touch(tmp_path / "y" / "talk.wav")
    inputs = find_inputs([str(tmp_path / "*" / "talk.wav")], tmp_path / "out")
    assert len(inputs.files) == 2
    assert len({item.stem for item in inputs.files}) == 2


def test_a_clash_renamed_to_its_full_name_does_not_clash_again(tmp_path: Path) -> None:
    touch(tmp_path / "talk.wav")
    touch(tmp_path / "talk.mp3")
    touch(tmp_path / "talk.mp3.flac")
    inputs = find_inputs([str(tmp_path)], None)
    assert len(inputs.files) == 3
    assert len({item.stem for item in inputs.files}) == 3
