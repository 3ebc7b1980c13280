"""Transcript outputs read back by independent parsers: srt, webvtt-py, csv and read_json."""

from __future__ import annotations

import csv
import html
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt

from assistant.errors import ConfigError
from assistant.transcribe.formats import (
    FORMATS,
    TranscriptFileError,
    parse_formats,
    read_json,
    render,
    write_outputs,
)
from assistant.transcribe.result import FileTranscript, Segment, Word

PLAIN = FileTranscript(
    path=Path("/recordings/talk.v2.flac"),
    duration_s=9.0,
    language="de",
    model="small",
    segments=(
        Segment(0.0, 2.5, " Hello there."),
        Segment(2.5, 4.25, " Fish & chips <3 --> yum"),
        Segment(4.25, 4.25, " Zero."),  # zero length: must still end after it starts
        Segment(5.0, 7.125, " Grüße aus 東京\n  second line "),
        Segment(7.5, 8.0, "   "),  # nothing said: no subtitle cue
        Segment(8.0, 8.75, ' "quoted"\tand tabbed'),
    ),
)

SPEAKERS = FileTranscript(
    path=Path("/recordings/meeting.wav"),
    duration_s=4.0,
    language="en",
    model="large-v3",
    segments=(
        Segment(0.0, 1.2, " Hi Bob.", speaker="Alice",
                words=(Word(0.0, 0.5, " Hi", 0.9), Word(0.5, 1.2, " Bob.", 0.875))),
        Segment(1.5, 3.0, " Hi <Alice> & all", speaker="Bob & Co",
                words=(Word(1.5, 1.8, " Hi"), Word(1.8, 2.6, " <Alice>", 0.5),
                       Word(2.6, 2.7, " &", 0.25), Word(2.7, 3.0, " all", 0.75))),
        Segment(3.0, 3.5, " Unknown voice."),
    ),
)

# What subtitle cues show for PLAIN: one line, blank segment left out.
PLAIN_CUES = [
    (0, 2500, "Hello there."),
    (2500, 4250, "Fish & chips <3 --> yum"),
    (4250, 4251, "Zero."),
    (5000, 7125, "Grüße aus 東京 second line"),
    (8000, 8750, '"quoted" and tabbed'),
]


def test_parse_formats_lists_names_in_order_without_duplicates() -> None:
    assert parse_formats("json,srt") == ("json", "srt")
    assert parse_formats(" SRT , json,srt ,Json") == ("srt", "json")
    assert parse_formats("tsv,") == ("tsv",)


def test_parse_formats_all_means_every_format() -> None:
    assert parse_formats("all") == FORMATS == ("txt", "json", "srt", "vtt", "tsv")
    assert parse_formats("txt, ALL") == FORMATS


@pytest.mark.parametrize("text", ["docx", "json,docx", "json srt"])
def test_unknown_format_names_it_and_the_valid_ones(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_formats(text)
    message = err.value.message
    assert repr(text.split(",")[-1].strip().lower()) in message
    for name in (*FORMATS, "all"):
        assert name in message


@pytest.mark.parametrize("text", ["", " ", ",,"])
def test_no_format_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError, match="no transcript format"):
        parse_formats(text)


def test_render_refuses_an_unknown_format() -> None:
    with pytest.raises(ConfigError, match="'doc'"):
        render(PLAIN, "doc")


def test_txt_is_one_stripped_segment_per_line() -> None:
    assert render(PLAIN, "txt") == (
        "Hello there.\nFish & chips <3 --> yum\nZero.\nGrüße aus 東京 second line\n\n"
        '"quoted" and tabbed\n'
    )


def test_srt_cues_are_the_segments() -> None:
    subtitles = list(srt.parse(render(PLAIN, "srt")))
    assert [s.index for s in subtitles] == [1, 2, 3, 4, 5]
    got = [(_ms(s.start), _ms(s.end), s.content) for s in subtitles]
    # SubRip has no escapes; only "-->" must go, or readers take the line for a timing line.
    expected = [(a, b, text.replace("-->", "->")) for a, b, text in PLAIN_CUES]
    assert got == expected


def test_srt_prefixes_known_speakers() -> None:
    subtitles = list(srt.parse(render(SPEAKERS, "srt")))
    assert [(_ms(s.start), _ms(s.end), s.content) for s in subtitles] == [
        (0, 1200, "[Alice] Hi Bob."),
        (1500, 3000, "[Bob & Co] Hi <Alice> & all"),
        (3000, 3500, "Unknown voice."),
    ]


def test_srt_timestamp_layout() -> None:
    long = FileTranscript(Path("/a.wav"), 4000.0, "en", "tiny",
                          (Segment(3723.0456, 3725.5, "late"),))
    assert render(long, "srt") == "1\n01:02:03,046 --> 01:02:05,500\nlate\n\n"


def test_cue_times_never_go_back_and_always_last() -> None:
    messy = FileTranscript(Path("/a.wav"), 20.0, "en", "tiny", (
        Segment(10.0, 11.0, "first"),
        Segment(9.5, 10.2, "starts before the first"),
        Segment(12.0, 11.0, "ends before it starts"),
        Segment(-0.5, 0.0, "negative"),
    ))
    for fmt in ("srt", "vtt"):
        cues = _srt_cues(messy) if fmt == "srt" else _vtt_cues(messy)
        starts = [start for start, _, _ in cues]
        assert starts == sorted(starts), fmt
        assert all(end > start for start, end, _ in cues), fmt
        assert [(s, e) for s, e, _ in cues] == [
            (10000, 11000), (10000, 10200), (12000, 12001), (12000, 12001)], fmt


def test_vtt_cues_are_the_segments_with_escaped_text() -> None:
    text = render(PLAIN, "vtt")
    assert text.startswith("WEBVTT\n\n")
    assert "Fish &amp; chips &lt;3 --&gt; yum" in text
    assert _vtt_cues(PLAIN) == PLAIN_CUES
    assert all(c.voice is None for c in webvtt.from_string(text, strict=True).captions)


def test_vtt_speakers_are_voice_tags() -> None:
    captions = webvtt.from_string(render(SPEAKERS, "vtt"), strict=True).captions
    assert [_unescape(c.voice) for c in captions] == ["Alice", "Bob & Co", None]
    assert [html.unescape(c.text) for c in captions] == [
        "Hi Bob.", "Hi <Alice> & all", "Unknown voice."]
    assert captions[0].raw_text == "<v Alice>Hi Bob."


def test_tsv_is_whisper_style_milliseconds() -> None:
    rows = _tsv(render(PLAIN, "tsv"))
    assert rows[0] == ["start", "end", "text"]
    assert rows[1:] == [
        ["0", "2500", "Hello there."],
        ["2500", "4250", "Fish & chips <3 --> yum"],
        ["4250", "4250", "Zero."],
        ["5000", "7125", "Grüße aus 東京 second line"],
        ["7500", "8000", ""],
        ["8000", "8750", '"quoted" and tabbed'],
    ]


def test_tsv_has_a_speaker_column_only_when_a_speaker_is_known() -> None:
    rows = _tsv(render(SPEAKERS, "tsv"))
    assert rows == [
        ["start", "end", "text", "speaker"],
        ["0", "1200", "Hi Bob.", "Alice"],
        ["1500", "3000", "Hi <Alice> & all", "Bob & Co"],
        ["3000", "3500", "Unknown voice.", ""],
    ]


@pytest.mark.parametrize("transcript", [PLAIN, SPEAKERS], ids=["plain", "speakers"])
def test_json_round_trip(transcript: FileTranscript, tmp_path: Path) -> None:
    [path] = write_outputs(transcript, ["json"], tmp_path / "out")
    assert read_json(path) == transcript


def test_json_layout() -> None:
    document = json.loads(render(SPEAKERS, "json"))
    assert document["format"] == "assistant-transcript"
    assert document["version"] == 1
    assert document["file"] == "/recordings/meeting.wav"
    assert (document["duration_s"], document["language"], document["model"]) == (
        4.0, "en", "large-v3")
    assert document["segments"][0] == {
        "start": 0.0, "end": 1.2, "text": " Hi Bob.", "speaker": "Alice",
        "words": [{"start": 0.0, "end": 0.5, "word": " Hi", "probability": 0.9},
                  {"start": 0.5, "end": 1.2, "word": " Bob.", "probability": 0.875}],
    }
    assert document["segments"][2] == {
        "start": 3.0, "end": 3.5, "text": " Unknown voice.", "speaker": None}
    assert "東京" in render(PLAIN, "json")  # not \u escapes


def test_json_rounds_to_milliseconds(tmp_path: Path) -> None:
    precise = FileTranscript(Path("/a.wav"), 1.23456, "en", "tiny", (
        Segment(0.00049, 1.0006, "x", words=(Word(0.1234, 0.9876, "x", 0.33333),)),))
    assert '"probability": 0.333' in render(precise, "json")
    [path] = write_outputs(precise, ["json"], tmp_path / "p")
    assert read_json(path) == FileTranscript(Path("/a.wav"), 1.235, "en", "tiny", (
        Segment(0.0, 1.001, "x", words=(Word(0.123, 0.988, "x", 0.333),)),))


def test_write_outputs_appends_the_suffix_to_the_whole_name(tmp_path: Path) -> None:
    paths = write_outputs(PLAIN, parse_formats("all"), tmp_path / "talk.v2")
    names = ["talk.v2.txt", "talk.v2.json", "talk.v2.srt", "talk.v2.vtt", "talk.v2.tsv"]
    assert paths == [tmp_path / name for name in names]
    assert sorted(os.listdir(tmp_path)) == sorted(names)  # no temporary files left
    for path, fmt in zip(paths, FORMATS, strict=True):
        assert path.read_bytes() == render(PLAIN, fmt).encode("utf-8")


def test_write_outputs_replaces_an_old_output(tmp_path: Path) -> None:
    (tmp_path / "talk.srt").write_text("old and longer than the new one\n" * 100)
    write_outputs(SPEAKERS, ["srt", "srt"], tmp_path / "talk")
    assert (tmp_path / "talk.srt").read_text(encoding="utf-8") == render(SPEAKERS, "srt")
    assert os.listdir(tmp_path) == ["talk.srt"]


def test_interrupted_write_keeps_the_old_file_and_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "talk.json").write_text("old")

    def crash(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(PLAIN, ["json"], tmp_path / "talk")
    assert os.listdir(tmp_path) == ["talk.json"]
    assert (tmp_path / "talk.json").read_text() == "old"


def test_write_outputs_writes_nothing_for_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_outputs(PLAIN, ["txt", "docx"], tmp_path / "talk")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("content", "problem"), [
    ("", "the file is empty"),
    ("\n  \n", "the file is empty"),
    ("WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n", "not valid JSON"),
    ('{"format": "assistant-transcript", ', "not valid JSON"),
    ('{"text": "hello", "segments": []}', "no \"format\": \"assistant-transcript\" key"),
    ("[1, 2]", "no \"format\": \"assistant-transcript\" key"),
])
def test_read_json_rejects_other_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TranscriptFileError) as err:
        read_json(path)
    assert err.value.code == "transcript_invalid"
    assert err.value.exit_code == 1
    assert str(path) in err.value.message
    assert "not a transcript written by `assistant transcribe`" in err.value.message
    assert problem in err.value.message


def _ours(**changes: object) -> dict[str, object]:
    document: dict[str, object] = json.loads(render(SPEAKERS, "json"))
    document.update(changes)
    return document


@pytest.mark.parametrize(("document", "problem"), [
    ({k: v for k, v in _ours().items() if k != "segments"},
     "not a transcript written by `assistant transcribe`: missing 'segments'"),
    (_ours(segments=[{"start": 0, "text": "x"}]), "missing 'segments[0].end'"),
    (_ours(segments={"0": {}}), "segments must be a list, got an object"),
    (_ours(segments=[{"start": "0", "end": 1, "text": "x"}]),
     "segments[0].start must be a number, got a string"),
    (_ours(segments=[{"start": 0, "end": True, "text": "x"}]),
     "segments[0].end must be a number, got a boolean"),
    (_ours(segments=[{"start": 0, "end": 1, "text": "x", "words": [{"start": 0, "end": 1}]}]),
     "missing 'segments[0].words[0].word'"),
    (_ours(segments=[{"start": 0, "end": 1, "text": "x", "speaker": 3}]),
     "segments[0].speaker must be a string, got a number"),
    (_ours(language=None), "language must be a string, got null"),
    (_ours(version=2), "version 2 is not supported"),
])
def test_read_json_names_what_is_wrong(tmp_path: Path, document: object, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(TranscriptFileError) as err:
        read_json(path)
    assert err.value.message.startswith(f"{path}: ")
    assert problem in err.value.message


def test_read_json_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TranscriptFileError, match="cannot read transcript .*nothing.json"):
        read_json(tmp_path / "nothing.json")


def test_read_json_accepts_a_minimal_transcript(tmp_path: Path) -> None:
    # Segments without words or speaker, words without probability: the dataclass defaults.
    path = tmp_path / "min.json"
    path.write_text(json.dumps(_ours(segments=[
        {"start": 1, "end": 2, "text": "a"},
        {"start": 2, "end": 3, "text": "b", "speaker": None,
         "words": [{"start": 2, "end": 3, "word": "b"}]},
    ])), encoding="utf-8")
    assert read_json(path).segments == (
        Segment(1.0, 2.0, "a"), Segment(2.0, 3.0, "b", words=(Word(2.0, 3.0, "b", 1.0),)))


def _ms(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)


def _srt_cues(transcript: FileTranscript) -> list[tuple[int, int, str]]:
    return [(_ms(s.start), _ms(s.end), s.content)
            for s in srt.parse(render(transcript, "srt"))]


def _vtt_cues(transcript: FileTranscript) -> list[tuple[int, int, str]]:
    captions = webvtt.from_string(render(transcript, "vtt"), strict=True).captions
    return [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds(),
             html.unescape(c.text)) for c in captions]


def _unescape(text: str | None) -> str | None:
    return None if text is None else html.unescape(text)


def _tsv(text: str) -> list[list[str]]:
    # Fields are never quoted (as in Whisper's tsv), so a '"' in text is just a character.
    return list(csv.reader(io.StringIO(text, newline=""), delimiter="\t",
                           quoting=csv.QUOTE_NONE))
