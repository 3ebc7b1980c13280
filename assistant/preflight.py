"""Before anything loads: can a run write where it is going to write?

What the user named on the command line (`--output`, `--events`, `--output-dir`) is an error
when it cannot be written, reported before any model loads (`check_output_file`,
`check_output_folder`). The daemon's state on disk (timers, the command history, voice
profiles) never stops it: `state_problems` gives one warning per place it cannot use, saying
what is lost and what to do.

Checks only look (stat, access); nothing is created here. Folders that do not exist yet are
fine when they can be created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings, paths
from assistant.errors import OutputPathError


def file_problem(path: Path, *, replaced: bool = False) -> str | None:
    """Why `path` cannot be written as a file, or None. `replaced`: it is written by renaming a
    new file over it (timers) or has companions beside it (SQLite's journal), so its folder
    must be writable too; a folder in its place is then set aside by its owner (setaside.py),
    and only the folder around it matters."""
    try:
        if path.is_dir():
            return _creatable(path.parent) if replaced else "is a folder, not a file"
        if path.exists():
            if not os.access(path, os.W_OK):
                return "cannot be written (no permission, or a read-only file system)"
            if not replaced:
                return None
        return _creatable(path.parent)
    except OSError as exc:  # a name too long, a loop of symlinks
        return f"cannot be used ({exc.strerror or exc})"


def folder_problem(path: Path, *, write: bool = True) -> str | None:
    """Why `path` cannot be used as a folder (written in, or with `write=False` read), or None."""
    try:
        if path.exists() and not path.is_dir():
            return "is a file, not a folder"
        if not path.exists():
            return _creatable(path) if write else None
        wanted = os.W_OK | os.X_OK if write else os.R_OK | os.X_OK
        if not os.access(path, wanted):
            what = "written in" if write else "read"
            return f"cannot be {what} (no permission, or a read-only file system)"
    except OSError as exc:
        return f"cannot be used ({exc.strerror or exc})"
    return None


def _creatable(folder: Path) -> str | None:
    """None when files can be made in `folder`, creating it (and its parents) first if need be."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"needs the folder {folder}, but {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "its folder" if existing == folder else "the folder that would hold it,"
        return (f"cannot be created: {where} {existing} cannot be written (no permission, or a "
                "read-only file system)")
    return None


def check_output_file(option: str, path: Path) -> None:
    """OutputPathError when `path` (what `option` names) cannot be written."""
    problem = file_problem(path)
    if problem is None:
        return
    hint = f" Give a file name inside it, such as {path / 'reply.wav'}." \
        if problem.startswith("is a folder") else " Choose a place you can write to."
    raise OutputPathError(f"{option} {path}: {problem}.{hint}")


def check_output_folder(option: str, path: Path) -> None:
    """OutputPathError when files cannot be written into the folder `path`."""
    problem = folder_problem(path)
    if problem is not None:
        raise OutputPathError(f"{option} {path}: {problem}. Choose a folder you can write to.")


def check_run_outputs(output: str | None, events: str | None) -> None:
    """`assistant run --output/--events`: both checked, every problem in one error."""
    named = [("--output", output)] if output not in (None, "none") else []
    named += [("--events", events)] if events not in (None, "-") else []
    problems = []
    for option, value in named:
        assert value is not None
        try:
            check_output_file(option, Path(value))
        except OutputPathError as exc:
            problems.append(exc.message)
    if problems:
        raise OutputPathError("\n".join(problems))


@dataclass(frozen=True)
class StateProblem:
    """A place for the daemon's state that cannot be used: it runs without it."""

    setting: str
    path: Path
    problem: str
    consequence: str
    remedy: str

    @property
    def message(self) -> str:
        return f"{self.setting} {self.path}: {self.problem}; {self.consequence}. {self.remedy}"


def state_problems(settings: Settings) -> list[StateProblem]:
    """Where the daemon keeps state and cannot (one item per place; empty when all is well)."""
    found = []
    timers = paths.timers_file(settings.timers.state_file)
    if (problem := file_problem(timers, replaced=True)) is not None:
        found.append(StateProblem(
            "timers.state_file", timers, problem,
            "timers still work, but are not saved and a restart loses them",
            f"Set timers.state_file to a writable place, or fix {timers.parent}."))
    if settings.transcripts.keep_commands:
        index = paths.index_file(settings.transcripts.index)
        if (problem := file_problem(index, replaced=True)) is not None:
            found.append(StateProblem(
                "transcripts.index", index, problem,
                "the command history is off (transcripts.keep_commands)",
                f"Set transcripts.index to a writable place, or fix {index.parent}."))
    if settings.speakers.enabled:
        profiles = paths.profiles_dir(settings.speakers.profiles_dir)
        if (problem := folder_problem(profiles, write=False)) is not None:
            found.append(StateProblem(
                "speakers.profiles_dir", profiles, problem,
                "no enrolled voice can be recognised (every speaker is unknown)",
                "Set speakers.profiles_dir to the folder 'assistant speakers enroll' writes, "
                f"or fix {profiles}."))
    return found
