"""Setting a broken state file aside, so the daemon starts without it and nothing is lost.

A file the daemon cannot use (corrupt, written by something else, a folder where a file belongs)
is renamed in its own folder to `<name>.corrupt-<UTC time>`: an atomic rename on the same file
system, which frees the name for a fresh file and keeps the contents for inspection. Only the
newest KEEP copies of each file are kept, so a file that breaks on every start cannot fill the
disk; set-aside folders are never deleted (they may hold anything).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

KEEP = 5
"""Set-aside copies kept per file, newest first."""
MARK = ".corrupt-"
_STAMP = "%Y%m%dT%H%M%SZ"  # UTC: names sort in the order they were made, whatever the DST


@dataclass(frozen=True)
class SetAside:
    path: Path
    moved_to: Path | None
    """Where it went; None when it could not be moved (see `error`)."""
    error: str | None = None


def set_aside(path: Path, problem: str, then: str, *, companions: Sequence[str] = (),
              keep: int = KEEP, now: datetime | None = None) -> SetAside:
    """Move `path` aside and log one warning naming the file, `problem`, where it went and
    `then` (what happens now, what the user may do).

    `companions` are suffixes of files that belong to it ("-wal" of a SQLite database): they
    go with it, under the same new name plus their suffix, as a fresh file must not meet them.
    """
    when = (now or datetime.now(UTC)).astimezone(UTC)
    target = _free_name(path, when)
    try:
        os.replace(path, target)
    except OSError as exc:
        error = exc.strerror or str(exc)
        log.warning("%s: %s. It could not be moved aside (%s), so it is left as it is; %s",
                    path, problem, error, then)
        return SetAside(path, None, error)
    for suffix in companions:
        companion = path.with_name(path.name + suffix)
        try:
            os.replace(companion, target.with_name(target.name + suffix))
        except FileNotFoundError:
            continue
        except OSError as exc:  # the main file is aside already: a fresh one is safe to make
            log.warning("cannot move %s aside: %s", companion, exc.strerror or exc)
    log.warning("%s: %s. Moved it to %s (the newest %d such copies are kept); %s",
                path, problem, target, keep, then)
    _prune(path, keep)
    return SetAside(path, target)


def set_aside_copies(path: Path) -> list[Path]:
    """The set-aside copies of `path` (companions not included), oldest first."""
    stamps = sorted(_groups(path), key=_sort_key)
    return [path.with_name(path.name + MARK + stamp) for stamp in stamps]


def _free_name(path: Path, when: datetime) -> Path:
    """A name after every copy made in the same second (even pruned ones' names are not
    reused: the newest copy must sort last), never an existing one."""
    stamp = when.strftime(_STAMP)
    taken = [_sort_key(s)[1] for s in _groups(path) if _sort_key(s)[0] == stamp]
    n = max(taken, default=0) + 1
    candidate = path.with_name(path.name + MARK + (stamp if n == 1 else f"{stamp}-{n}"))
    while os.path.lexists(candidate):  # a companion of that name, or a race
        n += 1
        candidate = path.with_name(f"{path.name}{MARK}{stamp}-{n}")
    return candidate


def _groups(path: Path) -> dict[str, list[Path]]:
    """Set-aside copies of `path` by their stamp, each with its companions."""
    pattern = re.compile(re.escape(path.name + MARK) + r"(\d{8}T\d{6}Z(?:-\d+)?)(.*)")
    groups: dict[str, list[Path]] = {}
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return groups
    for entry in entries:
        if found := pattern.fullmatch(entry.name):
            groups.setdefault(found[1], []).append(Path(entry.path))
    return groups


def _sort_key(stamp: str) -> tuple[str, int]:
    base, _, n = stamp.partition("-")
    return base, int(n or 1)


def _prune(path: Path, keep: int) -> None:
    groups = _groups(path)
    for stamp in sorted(groups, key=_sort_key, reverse=True)[keep:]:
        for old in groups[stamp]:
            if old.is_dir() and not old.is_symlink():
                continue
            try:
                old.unlink()
            except OSError as exc:
                log.warning("cannot delete the old set-aside copy %s: %s", old,
                            exc.strerror or exc)
