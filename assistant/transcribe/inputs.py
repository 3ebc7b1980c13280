"""Which files `assistant transcribe PATH...` works on, and where each one's outputs go."""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# What a folder is searched for; a file named explicitly is tried whatever its name.
AUDIO_SUFFIXES = frozenset({
    ".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff",
    ".amr", ".3gp", ".caf", ".webm", ".mp4", ".mkv", ".mov", ".avi",
})


@dataclass(frozen=True)
class InputFile:
    path: Path
    stem: Path
    """Outputs are this path plus ".srt", ".json", ...; its folder may not exist yet."""


@dataclass(frozen=True)
class BadInput:
    given: str
    reason: str


@dataclass(frozen=True)
class Inputs:
    files: tuple[InputFile, ...]
    bad: tuple[BadInput, ...]


def find_inputs(given: Sequence[str], output_dir: Path | None) -> Inputs:
    """Files, folders (searched recursively for audio) and globs -> the files, each once."""
    found: list[Path] = []
    bad: list[BadInput] = []
    for text in given:
        path = Path(text).expanduser()
        if path.is_dir():
            found += _audio_in(path)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                bad.append(BadInput(text, "nothing matches this pattern"))
            found += files
        else:
            bad.append(BadInput(text, "no such file or folder"))
    unique: dict[Path, Path] = {}
    for file in found:
        unique.setdefault(file.resolve(), file)  # the first spelling, in the order given
    return Inputs(_name_outputs(list(unique.values()), output_dir), tuple(bad))


def _audio_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _name_outputs(files: list[Path], output_dir: Path | None) -> tuple[InputFile, ...]:
    """talk.mp3 -> talk.srt, next to it or under `output_dir` in the same sub-folders (relative
    to the folder all inputs share). Files that would share outputs keep their whole name
    (talk.mp3.srt, talk.wav.srt)."""
    folders = [file.resolve().parent for file in files]
    root = Path(os.path.commonpath(folders)) if folders else Path()

    def folder(file: Path, parent: Path) -> Path:
        return file.parent if output_dir is None else output_dir / parent.relative_to(root)

    targets = [folder(f, p) / f.stem for f, p in zip(files, folders, strict=True)]
    while clashes := {t for t, n in Counter(targets).items() if n > 1}:
        # Whole names are unique within a folder, so this ends.
        targets = [t.with_name(f.name) if t in clashes else t
                   for f, t in zip(files, targets, strict=True)]
    return tuple(InputFile(f, t) for f, t in zip(files, targets, strict=True))


def outputs_current(item: InputFile, formats: Sequence[str]) -> bool:
    """Every output exists and is newer than the audio (so an interrupted run resumes)."""
    try:
        audio_mtime = item.path.stat().st_mtime
        return all(output_path(item.stem, fmt).stat().st_mtime >= audio_mtime for fmt in formats)
    except OSError:
        return False


def output_path(stem: Path, fmt: str) -> Path:
    return stem.with_name(f"{stem.name}.{fmt}")
