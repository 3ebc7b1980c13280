"""Output formats of `assistant transcribe`, and a reader for our own JSON.

Formats: txt (one segment per line), json (lossless, read back by `read_json`), srt (SubRip),
vtt (WebVTT) and tsv (like OpenAI Whisper's: start/end in integer milliseconds).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, ConfigError
from assistant.transcribe.result import FileTranscript, Segment, Word

FORMATS: tuple[str, ...] = ("txt", "json", "srt", "vtt", "tsv")
ALL = "all"

JSON_FORMAT_TAG = "assistant-transcript"
JSON_VERSION = 1

MIN_CUE_MS = 1
"""srt/vtt give zero or negative-length segments this duration: every cue ends after it starts."""

_NOT_OURS = "not a transcript written by `assistant transcribe`"


class TranscriptFileError(AssistantError):
    """A transcript file that cannot be read back: not JSON, not ours, or missing/invalid keys."""

    code = "transcript_invalid"
    exit_code = 1


# --- choosing formats -------------------------------------------------------------------------


def parse_formats(text: str) -> tuple[str, ...]:
    """`--format json,SRT` -> ("json", "srt"): case-insensitive, duplicates dropped, "all" = every
    format. Raises ConfigError naming the valid formats for an unknown or empty list."""
    chosen: list[str] = []
    for item in text.split(","):
        name = item.strip().lower()
        if not name:
            continue  # tolerate "json," and "json,,srt"
        if name == ALL:
            return FORMATS
        _check_format(name, given=text)
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ConfigError(f"no transcript format given in {text!r}: choose from {_valid_names()}")
    return tuple(chosen)


def _valid_names() -> str:
    return ", ".join(FORMATS) + f" or {ALL}"


def _check_format(fmt: str, given: str | None = None) -> None:
    if fmt in FORMATS:
        return
    where = f" in {given!r}" if given is not None else ""
    raise ConfigError(f"unknown transcript format {fmt!r}{where}: choose from {_valid_names()}")


# --- rendering --------------------------------------------------------------------------------


def render(transcript: FileTranscript, fmt: str) -> str:
    """The whole file in format `fmt` (one of FORMATS), ending with a newline."""
    _check_format(fmt)
    return _RENDERERS[fmt](transcript)


def _render_txt(transcript: FileTranscript) -> str:
    # Empty segments keep their (empty) line, as Whisper's txt does: line N is segment N.
    return "".join(_one_line(segment.text) + "\n" for segment in transcript.segments)


def _render_json(transcript: FileTranscript) -> str:
    document = {
        "format": JSON_FORMAT_TAG,
        "version": JSON_VERSION,
        "file": str(transcript.path),
        "duration_s": _r3(transcript.duration_s),
        "language": transcript.language,
        "model": transcript.model,
        "segments": [_segment_json(segment) for segment in transcript.segments],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _segment_json(segment: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "start": _r3(segment.start_s),
        "end": _r3(segment.end_s),
        "text": segment.text,
        "speaker": segment.speaker,
    }
    if segment.words:
        out["words"] = [
            {"start": _r3(w.start_s), "end": _r3(w.end_s), "word": w.text,
             "probability": _r3(w.probability)}
            for w in segment.words
        ]
    return out


def _r3(value: float) -> float:
    return round(value, 3)


def _render_srt(transcript: FileTranscript) -> str:
    blocks = []
    for index, (start_ms, end_ms, segment) in enumerate(_cues(transcript.segments), start=1):
        # "-->" inside text makes SubRip readers take the line for a timing line.
        text = _one_line(segment.text).replace("-->", "->")
        speaker = _speaker(segment)
        if speaker is not None:
            text = f"[{speaker}] {text}"
        timing = f"{_clock(start_ms, ',')} --> {_clock(end_ms, ',')}"
        blocks.append(f"{index}\n{timing}\n{text}\n\n")
    return "".join(blocks)


def _render_vtt(transcript: FileTranscript) -> str:
    blocks = ["WEBVTT\n\n"]
    for start_ms, end_ms, segment in _cues(transcript.segments):
        text = _vtt_escape(_one_line(segment.text))
        speaker = _speaker(segment)
        if speaker is not None:
            text = f"<v {_vtt_escape(speaker)}>{text}"
        blocks.append(f"{_clock(start_ms, '.')} --> {_clock(end_ms, '.')}\n{text}\n\n")
    return "".join(blocks)


def _render_tsv(transcript: FileTranscript) -> str:
    # Never quoted, like Whisper's: read it with csv's QUOTE_NONE or split on tabs.
    with_speaker = any(_speaker(segment) is not None for segment in transcript.segments)
    header = ["start", "end", "text"] + (["speaker"] if with_speaker else [])
    rows = ["\t".join(header)]
    for segment in transcript.segments:
        row = [str(_ms(segment.start_s)), str(_ms(segment.end_s)), _tsv_field(segment.text)]
        if with_speaker:
            row.append(_tsv_field(_speaker(segment) or ""))
        rows.append("\t".join(row))
    return "\n".join(rows) + "\n"


_RENDERERS = {
    "txt": _render_txt,
    "json": _render_json,
    "srt": _render_srt,
    "vtt": _render_vtt,
    "tsv": _render_tsv,
}


def _cues(segments: Iterable[Segment]) -> list[tuple[int, int, Segment]]:
    """Cue times in ms for subtitle players: starts never go back, every cue ends after it
    starts. Segments without text are left out (an empty SubRip cue is malformed)."""
    cues = []
    previous_start = 0
    for segment in segments:
        if not _one_line(segment.text):
            continue
        start = max(_ms(segment.start_s), previous_start)
        end = max(_ms(segment.end_s), start + MIN_CUE_MS)
        cues.append((start, end, segment))
        previous_start = start
    return cues


def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        return 0
    return max(0, round(seconds * 1000))


def _clock(ms: int, decimal_sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_sep}{millis:03d}"


def _one_line(text: str) -> str:
    """Stripped, with newlines and runs of whitespace collapsed: a blank line ends a cue."""
    return " ".join(text.split())


def _speaker(segment: Segment) -> str | None:
    if segment.speaker is None:
        return None
    name = _one_line(segment.speaker)
    return name or None


def _vtt_escape(text: str) -> str:
    # WebVTT cue text: "&" and "<" start entities and tags, ">" would allow a literal "-->".
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tsv_field(text: str) -> str:
    return _one_line(text.replace("\t", " "))


# --- writing ----------------------------------------------------------------------------------


def write_outputs(transcript: FileTranscript, formats: Sequence[str], stem_path: Path
                  ) -> list[Path]:
    """Write `<stem_path>.<fmt>` for each format, each atomically; return the paths written.

    The suffix is appended to the full name ("talk.v2" -> "talk.v2.srt"). Every format is
    rendered before any file is written; OSError from the file system propagates.
    """
    rendered = [(fmt, render(transcript, fmt)) for fmt in dict.fromkeys(formats)]
    paths = []
    for fmt, text in rendered:
        path = stem_path.with_name(f"{stem_path.name}.{fmt}")
        _write_atomically(path, text)
        paths.append(path)
    return paths


def _write_atomically(path: Path, text: str) -> None:
    """A crash leaves either the old file or the new one, never a truncated one under `path`."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any ordinary file
    # (tempfile.mkstemp would leave the output readable by its owner only).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --- reading our JSON back --------------------------------------------------------------------


def read_json(path: Path) -> FileTranscript:
    """A transcript written by `render(..., "json")`; TranscriptFileError naming the file and the
    problem when it cannot be read, is not JSON, is not ours, or has missing or invalid keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TranscriptFileError(f"cannot read transcript {path}: {err}") from err
    if not text.strip():
        raise TranscriptFileError(f"{path}: {_NOT_OURS}: the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise TranscriptFileError(
            f"{path}: {_NOT_OURS}: not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno})") from err
    return _transcript_from_json(document, path)


def _transcript_from_json(document: object, path: Path) -> FileTranscript:
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT_TAG:
        raise TranscriptFileError(
            f"{path}: {_NOT_OURS}: no \"format\": \"{JSON_FORMAT_TAG}\" key")
    version = document.get("version")
    if version != JSON_VERSION:
        raise TranscriptFileError(
            f"{path}: transcript format version {version!r} is not supported (this assistant "
            f"reads version {JSON_VERSION}); transcribe the audio again with this version")
    reader = _Reader(path)
    segments = reader.items(document, "segments", "")
    return FileTranscript(
        path=Path(reader.text(document, "file", "")),
        duration_s=reader.number(document, "duration_s", ""),
        language=reader.text(document, "language", ""),
        model=reader.text(document, "model", ""),
        segments=tuple(reader.segment(item, f"segments[{i}]") for i, item in enumerate(segments)),
    )


class _Reader:
    """Typed access to the parsed JSON; errors say which key of which file is wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def segment(self, item: object, where: str) -> Segment:
        fields = self.mapping(item, where)
        words = self.items(fields, "words", where, required=False)
        return Segment(
            start_s=self.number(fields, "start", where),
            end_s=self.number(fields, "end", where),
            text=self.text(fields, "text", where),
            words=tuple(self.word(w, f"{where}.words[{i}]") for i, w in enumerate(words)),
            speaker=self.optional_text(fields, "speaker", where),
        )

    def word(self, item: object, where: str) -> Word:
        fields = self.mapping(item, where)
        probability = (self.number(fields, "probability", where)
                       if "probability" in fields else 1.0)
        return Word(
            start_s=self.number(fields, "start", where),
            end_s=self.number(fields, "end", where),
            text=self.text(fields, "word", where),
            probability=probability,
        )

    def mapping(self, item: object, where: str) -> Mapping[str, object]:
        if not isinstance(item, dict):
            raise self.error(f"{where} must be an object, got {_json_type(item)}")
        return item

    def items(self, fields: Mapping[str, object], key: str, where: str, *, required: bool = True
              ) -> list[object]:
        if key not in fields and not required:
            return []
        value = self.get(fields, key, where)
        if not isinstance(value, list):
            raise self.error(f"{_key(where, key)} must be a list, got {_json_type(value)}")
        return value

    def number(self, fields: Mapping[str, object], key: str, where: str) -> float:
        value = self.get(fields, key, where)
        # bool is an int in Python, but `true` is not a time.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{_key(where, key)} must be a number, got {_json_type(value)}")
        return float(value)

    def text(self, fields: Mapping[str, object], key: str, where: str) -> str:
        value = self.get(fields, key, where)
        if not isinstance(value, str):
            raise self.error(f"{_key(where, key)} must be a string, got {_json_type(value)}")
        return value

    def optional_text(self, fields: Mapping[str, object], key: str, where: str) -> str | None:
        if fields.get(key) is None:
            return None
        return self.text(fields, key, where)

    def get(self, fields: Mapping[str, object], key: str, where: str) -> object:
        if key not in fields:
            raise self.error(f"missing {_key(where, key)!r}", ours=False)
        return fields[key]

    def error(self, problem: str, *, ours: bool = True) -> TranscriptFileError:
        # A missing key suggests someone else's JSON; a wrongly typed one, a damaged file.
        if ours:
            return TranscriptFileError(f"{self.path}: damaged transcript: {problem}")
        return TranscriptFileError(f"{self.path}: {_NOT_OURS}: {problem}")


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
