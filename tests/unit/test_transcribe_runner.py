"""Transcribing many files, with a stand-in for Whisper: outcomes, outputs, skipping, indexing."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from assistant.errors import AudioInputError
from assistant.transcribe.engine import Progress, WhoSpeaks
from assistant.transcribe.formats import read_json
from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.inputs import find_inputs, output_path
from assistant.transcribe.progress import TranscribeProgress
from assistant.transcribe.result import FileTranscript, Segment
from assistant.transcribe.runner import Job, Outcome, TranscribeRun, summary

DURATION_S = 0.5
FORMATS = ("json", "txt")
JOB = Job(FORMATS)


class FakeTranscriber:
    """Says "<name> <version>" for each file; a file named bad.wav cannot be read."""

    def __init__(self, version: str = "first") -> None:
        self.version = version
        self.calls: list[Path] = []

    def transcribe(self, path: Path, progress: Progress | None = None,
                   who: WhoSpeaks | None = None) -> FileTranscript:
        self.calls.append(path)
        if path.name == "bad.wav":
            raise AudioInputError(f"{path}: not a readable audio file.")
        if progress is not None:
            progress(DURATION_S)
        text = f"{path.stem} says the {self.version} version"
        return FileTranscript(path=path.resolve(), duration_s=DURATION_S, language="en",
                              model="fake", segments=(Segment(0.0, 0.25, text),
                                                      Segment(0.25, DURATION_S, "goodbye")))


def write_wav(path: Path, seconds: float = DURATION_S) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(seconds * 16000))
    return path


def progress() -> TranscribeProgress:
    return TranscribeProgress(Console(file=io.StringIO()), enabled=False)


def run(paths: list[str], index: TranscriptIndex | None, transcriber: FakeTranscriber,
        job: Job = JOB, output_dir: Path | None = None) -> list[Outcome]:
    return TranscribeRun(job, transcriber, index).run(  # type: ignore[arg-type]
        find_inputs(paths, output_dir), progress())


def statuses(outcomes: list[Outcome]) -> dict[str, str]:
    return {Path(o.name).name: o.status for o in outcomes}


def searched(index: TranscriptIndex, query: str) -> list[tuple[Path | None, str]]:
    return [(h.file, h.text) for h in index.search(query)]


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    write_wav(folder / "one.wav")
    write_wav(folder / "sub" / "two.wav")
    (folder / "bad.wav").write_bytes(b"not audio at all" * 64)
    return folder


@pytest.fixture
def index(tmp_path: Path) -> Iterator[TranscriptIndex]:
    with TranscriptIndex(tmp_path / "index" / "first.db") as opened:
        yield opened


# -- summary

def test_summary_counts_each_outcome_and_the_audio_transcribed() -> None:
    outcomes = [Outcome("a", "done", "a.srt", 3600.0), Outcome("b", "done", "b.srt", 125.9),
                Outcome("c", "skipped", "up to date", 50.0), Outcome("d", "failed", "bad", 70.0)]
    assert summary(outcomes) == ("2 transcribed (1:02:05 of audio), 1 skipped as up to date, "
                                 "1 failed")


def test_summary_of_nothing() -> None:
    assert summary([]) == "0 transcribed (0:00:00 of audio), 0 skipped as up to date, 0 failed"


def test_summary_of_only_failures() -> None:
    outcomes = [Outcome("x", "failed", "no such file or folder"), Outcome("y", "failed", "bad")]
    assert summary(outcomes) == ("0 transcribed (0:00:00 of audio), 0 skipped as up to date, "
                                 "2 failed")


# -- one run

def test_good_files_are_done_and_bad_ones_failed(audio: Path, index: TranscriptIndex) -> None:
    transcriber = FakeTranscriber()
    missing = str(audio / "missing.wav")
    outcomes = run([str(audio), missing], index, transcriber)
    assert statuses(outcomes) == {"missing.wav": "failed", "bad.wav": "failed", "one.wav": "done",
                                  "two.wav": "done"}
    assert outcomes[0] == Outcome(missing, "failed", "no such file or folder")
    [bad] = [o for o in outcomes if o.name.endswith("bad.wav")]
    assert bad.detail == f"{audio / 'bad.wav'}: not a readable audio file."
    done = {Path(o.name).name: o for o in outcomes if o.status == "done"}
    assert done["one.wav"].detail == "one.json, one.txt"
    assert done["one.wav"].audio_s == DURATION_S
    assert sorted(p.name for p in transcriber.calls) == ["bad.wav", "one.wav", "two.wav"]
    assert summary(outcomes) == ("2 transcribed (0:00:01 of audio), 0 skipped as up to date, "
                                 "2 failed")


def test_outputs_are_written_next_to_good_files_only(audio: Path, index: TranscriptIndex) -> None:
    run([str(audio)], index, FakeTranscriber())
    assert (audio / "one.txt").read_text() == "one says the first version\ngoodbye\n"
    assert (audio / "sub" / "two.txt").read_text() == "two says the first version\ngoodbye\n"
    written = read_json(audio / "sub" / "two.json")
    assert written.path == (audio / "sub" / "two.wav").resolve()
    assert [s.text for s in written.segments] == ["two says the first version", "goodbye"]
    assert not (audio / "bad.json").exists()
    assert not (audio / "bad.txt").exists()


def test_outputs_go_under_the_output_dir_in_new_folders(audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "new"
    outcomes = run([str(audio)], None, FakeTranscriber(), output_dir=out)
    assert statuses(outcomes) == {"bad.wav": "failed", "one.wav": "done", "two.wav": "done"}
    assert (out / "one.txt").read_text() == "one says the first version\ngoodbye\n"
    assert (out / "sub" / "two.txt").read_text() == "two says the first version\ngoodbye\n"
    assert not (audio / "one.txt").exists()


def test_done_files_are_indexed(audio: Path, index: TranscriptIndex) -> None:
    run([str(audio)], index, FakeTranscriber())
    assert searched(index, "first version") == [
        ((audio / "one.wav").resolve(), "one says the first version"),
        ((audio / "sub" / "two.wav").resolve(), "two says the first version")]
    assert index.stats() == (2, 4)


def test_without_an_index_nothing_is_indexed_and_outputs_are_written(audio: Path) -> None:
    outcomes = run([str(audio / "one.wav")], None, FakeTranscriber())
    assert statuses(outcomes) == {"one.wav": "done"}
    assert output_path(audio / "one", "json").exists()


# -- running again

def test_a_second_run_skips_up_to_date_files(audio: Path, index: TranscriptIndex) -> None:
    run([str(audio)], index, FakeTranscriber())
    again = FakeTranscriber("second")
    outcomes = run([str(audio)], index, again)
    assert statuses(outcomes) == {"bad.wav": "failed", "one.wav": "skipped", "two.wav": "skipped"}
    assert [o.detail for o in outcomes if o.status == "skipped"] == ["up to date", "up to date"]
    assert [p.name for p in again.calls] == ["bad.wav"]  # the failed one is tried again
    assert (audio / "one.txt").read_text() == "one says the first version\ngoodbye\n"
    assert summary(outcomes) == ("0 transcribed (0:00:00 of audio), 2 skipped as up to date, "
                                 "1 failed")


def test_a_second_run_with_a_new_index_indexes_skipped_files_from_their_json(
        audio: Path, index: TranscriptIndex, tmp_path: Path) -> None:
    run([str(audio)], index, FakeTranscriber())
    with TranscriptIndex(tmp_path / "index" / "second.db") as fresh:
        outcomes = run([str(audio)], fresh, FakeTranscriber("second"))
        assert statuses(outcomes)["one.wav"] == "skipped"
        assert searched(fresh, "first version") == [
            ((audio / "one.wav").resolve(), "one says the first version"),
            ((audio / "sub" / "two.wav").resolve(), "two says the first version")]
        assert fresh.stats() == (2, 4)
        assert fresh.indexed_mtime(audio / "one.wav") == (audio / "one.wav").stat().st_mtime


def test_skipped_files_are_not_indexed_without_json_output(audio: Path, tmp_path: Path) -> None:
    run([str(audio / "one.wav")], None, FakeTranscriber(), job=Job(("txt",)))
    with TranscriptIndex(tmp_path / "index" / "fresh.db") as fresh:
        outcomes = run([str(audio / "one.wav")], fresh, FakeTranscriber(), job=Job(("txt",)))
        assert statuses(outcomes) == {"one.wav": "skipped"}
        assert fresh.stats() == (0, 0)


def test_force_redoes_up_to_date_files(audio: Path, index: TranscriptIndex) -> None:
    run([str(audio)], index, FakeTranscriber())
    again = FakeTranscriber("second")
    outcomes = run([str(audio)], index, again, job=Job(FORMATS, force=True))
    assert statuses(outcomes) == {"bad.wav": "failed", "one.wav": "done", "two.wav": "done"}
    assert sorted(p.name for p in again.calls) == ["bad.wav", "one.wav", "two.wav"]
    assert (audio / "one.txt").read_text() == "one says the second version\ngoodbye\n"
    assert searched(index, "second version") == [
        ((audio / "one.wav").resolve(), "one says the second version"),
        ((audio / "sub" / "two.wav").resolve(), "two says the second version")]
    assert searched(index, "first version") == []  # replaced, not added to


def test_audio_newer_than_its_outputs_is_redone(audio: Path, index: TranscriptIndex) -> None:
    run([str(audio)], index, FakeTranscriber())
    later = (audio / "one.txt").stat().st_mtime + 10
    os.utime(audio / "one.wav", (later, later))
    outcomes = run([str(audio / "one.wav"), str(audio / "sub")], index, FakeTranscriber("second"))
    assert statuses(outcomes) == {"one.wav": "done", "two.wav": "skipped"}
    assert (audio / "one.txt").read_text() == "one says the second version\ngoodbye\n"


def test_a_format_missing_from_an_earlier_run_redoes_the_file(audio: Path) -> None:
    run([str(audio / "one.wav")], None, FakeTranscriber(), job=Job(("txt",)))
    outcomes = run([str(audio / "one.wav")], None, FakeTranscriber(), job=Job(("txt", "srt")))
    assert statuses(outcomes) == {"one.wav": "done"}
    assert outcomes[0].detail == "one.txt, one.srt"


def test_moved_files_are_indexed_where_they_are_now(audio: Path, index: TranscriptIndex,
                                                     tmp_path: Path) -> None:
    run([str(audio / "one.wav")], index, FakeTranscriber())
    moved = tmp_path / "moved"
    audio.rename(moved)  # keeps the mtimes, so the outputs are still up to date
    with TranscriptIndex(tmp_path / "index" / "second.db") as fresh:
        outcomes = run([str(moved / "one.wav")], fresh, FakeTranscriber())
        assert statuses(outcomes) == {"one.wav": "skipped"}
        assert [file for file, _ in searched(fresh, "first version")] == [
            (moved / "one.wav").resolve()]
