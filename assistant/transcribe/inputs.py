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
    found: list[tuple[Path, Path]] = []  # (file, the folder its output path is relative to)
    bad: list[BadInput] = []
    for text in given:
        path = Path(text).expanduser()
        if path.is_dir():
            found += [(f, path) for f in _audio_in(path)]
        elif path.exists():
            found.append((path, path.parent))
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                bad.append(BadInput(text, "nothing matches this pattern"))
            found += [(f, f.parent) for f in files]
        else:
            bad.append(BadInput(text, "no such file or folder"))
    unique: dict[Path, tuple[Path, Path]] = {}
    for file, root in found:
        unique.setdefault(file.resolve(), (file, root))
    return Inputs(_name_outputs(list(unique.values()), output_dir), tuple(bad))


def _audio_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _name_outputs(files: list[tuple[Path, Path]], output_dir: Path | None
                  ) -> tuple[InputFile, ...]:
    """talk.mp3 -> talk.srt; if talk.wav is there too, both keep their suffix (talk.mp3.srt)."""
    def folder(file: Path, root: Path) -> Path:
        if output_dir is None:
            return file.parent
        return output_dir / file.parent.relative_to(root)

    targets = [folder(file, root) / file.stem for file, root in files]
    clashes = Counter(targets)
    return tuple(
        InputFile(file, target if clashes[target] == 1 else target.with_name(file.name))
        for (file, _root), target in zip(files, targets, strict=True)
    )


def outputs_current(item: InputFile, formats: Sequence[str]) -> bool:
    """Every output exists and is newer than the audio (so an interrupted run resumes)."""
    try:
        audio_mtime = item.path.stat().st_mtime
        return all(output_path(item.stem, fmt).stat().st_mtime >= audio_mtime for fmt in formats)
    except OSError:
        return False


def output_path(stem: Path, fmt: str) -> Path:
    return stem.with_name(f"{stem.name}.{fmt}")
