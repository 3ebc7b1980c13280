"""Folders a process cannot write, for real: tests here run as root, whom chmod does not stop.

- `read_only(folders)`: for a command run as a subprocess. As root, the command runs in a mount
  namespace of its own where the folders are read-only bind mounts (a real EROFS, gone with the
  process, nothing left mounted if a test dies); as anyone else, the folders lose their write
  bits for the duration.
- `frozen(folder)`: for this process. As root, `chattr +i` (no entry can be created, renamed or
  removed in it: EPERM); as anyone else, chmod.
Either skips the test where the machine offers no way (a container without mount rights).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path

import pytest

Wrap = Callable[[Sequence[str]], list[str]]

# Each folder before "--" becomes a read-only bind mount of itself; then the command runs.
_MOUNT_AND_RUN = ('while [ "$1" != -- ]; do mount --bind -o ro "$1" "$1" || exit 97; shift; '
                  'done; shift; exec "$@"')


def _root() -> bool:
    return os.geteuid() == 0


@cache
def _can_bind_read_only() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            ["unshare", "-m", "sh", "-c", _MOUNT_AND_RUN, "sh", folder, "--",
             "sh", "-c", 'touch "$1/probe" 2>/dev/null && exit 1 || exit 0', "sh", folder],
            capture_output=True, timeout=30)
        return probe.returncode == 0 and not os.path.exists(os.path.join(folder, "probe"))


@contextlib.contextmanager
def read_only(*folders: Path) -> Iterator[Wrap]:
    """Yields a function that turns an argv into one that sees `folders` read-only."""
    if _root():
        if not _can_bind_read_only():
            pytest.skip("running as root without mount namespaces: no way to make a folder "
                        "read-only for a process")
        names = [str(f) for f in folders]
        yield lambda argv: ["unshare", "-m", "sh", "-c", _MOUNT_AND_RUN, "sh", *names, "--",
                            *argv]
        return
    with _no_write_bits(folders):
        yield list


@contextlib.contextmanager
def frozen(folder: Path) -> Iterator[None]:
    """`folder` cannot get, lose or rename entries while inside (this process included)."""
    if not _root():
        with _no_write_bits([folder]):
            yield
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: no way to freeze a folder")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@contextlib.contextmanager
def _no_write_bits(folders: Sequence[Path]) -> Iterator[None]:
    saved: list[tuple[Path, int]] = []
    try:
        for folder in folders:
            for path in [folder, *folder.rglob("*")]:
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):
                    continue
                saved.append((path, stat.S_IMODE(mode)))
                path.chmod(stat.S_IMODE(mode) & ~0o222)
        yield
    finally:
        for path, mode in reversed(saved):
            path.chmod(mode)
