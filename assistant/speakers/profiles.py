"""Voice profiles on disk: one JSON file per enrolled person, readable only by the user.

A profile holds the L2-normalised mean of the person's clip embeddings, how many clips made it,
and when it was created. Voice embeddings are biometric data: the folder is 0700, the files 0600,
and every write is atomic (temporary file, fsync, rename) so a crash never leaves half a profile.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt

from assistant.config.paths import profiles_dir
from assistant.errors import AssistantError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_ID = "resemblyzer-ge2e-256"
EMBED_SIZE = 256
MAX_PROFILE_BYTES = 64 * 1024  # a profile is about 3 kB
UNKNOWN = "unknown"
"""What identification answers for a voice that matches no profile; so no one may be named it."""
_NAME = re.compile(r"\w[\w \-]{0,62}")  # \w: any letter or digit (Unicode) and "_"


class SpeakerError(AssistantError):
    code = "speaker_invalid"


class ProfileInvalid(SpeakerError):
    """A file in the profiles folder that is not a usable voice profile."""

    code = "profile_invalid"


@dataclass(frozen=True)
class SpeakerProfile:
    name: str
    embedding: npt.NDArray[np.float32]
    """256 floats, unit length."""
    clips: int
    created_s: float
    """Unix time of enrollment."""


@dataclass(frozen=True)
class BrokenProfile:
    path: Path
    problem: str
    """What is wrong with it, in words ("not JSON (...)", "made by another voice model")."""

    @property
    def name(self) -> str:
        return self.path.stem

    def message(self) -> str:
        return (f"{self.path}: not a usable voice profile ({self.problem}); remove it and "
                f"enroll {self.name} again (assistant speakers enroll {self.name} FILE...).")


@dataclass(frozen=True)
class ProfileScan:
    """What the profiles folder holds: the good profiles (sorted by name) and the bad files."""

    profiles: tuple[SpeakerProfile, ...]
    broken: tuple[BrokenProfile, ...]


def validate_name(name: str) -> str:
    """The name itself if usable as a speaker name (and file name), else SpeakerError."""
    if not _NAME.fullmatch(name) or name != name.strip():
        raise SpeakerError(
            f"{name!r} is not a valid speaker name: use 1-63 letters, digits, spaces, '-' or '_', "
            "starting with a letter or digit and not ending with a space."
        )
    if name.casefold() == UNKNOWN:
        raise SpeakerError(f"{name!r} is reserved for voices that match no profile; pick another.")
    return name


class ProfileStore:
    """The profiles folder. Every call reads the disk: a daemon sees what the CLI enrolled."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = profiles_dir(folder)

    def path_for(self, name: str) -> Path:
        return self.folder / f"{validate_name(name)}.json"

    def enroll(self, name: str, embeddings: Sequence[npt.NDArray[np.float32]]) -> SpeakerProfile:
        """Store (or replace) `name`'s profile from one embedding per clip."""
        path = self.path_for(name)
        if not embeddings:
            raise SpeakerError(f"cannot enroll {name!r}: no clips given.")
        stacked = np.stack([np.asarray(e, dtype=np.float64) for e in embeddings])
        if stacked.ndim != 2 or not np.all(np.isfinite(stacked)):
            raise SpeakerError(f"cannot enroll {name!r}: embeddings must be finite 1-d vectors.")
        mean = stacked.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm == 0:
            raise SpeakerError(f"cannot enroll {name!r}: the clips' embeddings cancel out.")
        profile = SpeakerProfile(name, (mean / norm).astype(np.float32), len(embeddings),
                                 time.time())
        self._write(path, profile)
        return profile

    def scan(self) -> ProfileScan:
        """Read every profile; only reads (works on a read-only folder). An absent folder
        means none; a bad file is reported in `broken`, never a reason to lose the others."""
        if not self.folder.is_dir():
            return ProfileScan((), ())
        good: builtins.list[SpeakerProfile] = []
        broken: builtins.list[BrokenProfile] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                good.append(self._read(path))
            except ProfileInvalid as exc:
                broken.append(BrokenProfile(path, exc.message))
        good.sort(key=lambda p: p.name.casefold())
        return ProfileScan(tuple(good), tuple(broken))

    def list(self) -> builtins.list[SpeakerProfile]:
        """The usable profiles, sorted by name; each unusable file is logged and left out."""
        scan = self.scan()
        for bad in scan.broken:
            log.warning("%s", bad.message())
        return builtins.list(scan.profiles)

    def load_all(self) -> dict[str, SpeakerProfile]:
        return {p.name: p for p in self.list()}

    def remove(self, name: str) -> None:
        path = self.path_for(name)
        try:
            path.unlink()
        except FileNotFoundError:
            known = ", ".join(p.name for p in self.list()) or "none"
            raise SpeakerError(
                f"no speaker named {name!r} in {self.folder} (enrolled: {known})."
            ) from None

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode is reduced by the umask and ignored for an existing folder: enforce it.
        os.chmod(self.folder, 0o700)

    def _write(self, path: Path, profile: SpeakerProfile) -> None:
        self._ensure_folder()
        payload = {
            "version": FORMAT_VERSION, "model": MODEL_ID, "name": profile.name,
            "clips": profile.clips, "created_s": profile.created_s,
            "embedding": [round(float(x), 7) for x in profile.embedding],
        }
        # mkstemp creates the file 0600 from the start: no moment where others could read it;
        # its name is not *.json, so a leftover from a crash is never listed as a profile.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, path: Path) -> SpeakerProfile:
        """One profile file, checked in full: a wrong one raises ProfileInvalid (its message
        says what is wrong) rather than matching voices with garbage."""
        try:
            with path.open("rb") as file:
                raw = file.read(MAX_PROFILE_BYTES + 1)
            if len(raw) > MAX_PROFILE_BYTES:
                raise ProfileInvalid(f"larger than {MAX_PROFILE_BYTES // 1024} kB")
            data = json.loads(raw.decode("utf-8"))
        except OSError as exc:
            raise ProfileInvalid(f"cannot be read: {exc.strerror or exc}") from exc
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ProfileInvalid(f"not JSON text: {str(exc)[:120]}") from exc
        if not isinstance(data, dict):
            raise ProfileInvalid("not a JSON object")
        if data.get("model") != MODEL_ID:
            raise ProfileInvalid(f"made by another voice model ({data.get('model')!r}, this "
                                 f"assistant uses {MODEL_ID})")
        name = data.get("name")
        if name != path.stem:
            raise ProfileInvalid(f"its name {name!r} is not its file's name")
        clips, created_s = data.get("clips"), data.get("created_s")
        if not _is_number(clips) or clips != int(clips) or clips < 1:
            raise ProfileInvalid(f"'clips' is {clips!r}, not a count of clips")
        if not _is_number(created_s):
            raise ProfileInvalid(f"'created_s' is {created_s!r}, not a time")
        return SpeakerProfile(name, _embedding(data.get("embedding")), int(clips),
                              float(created_s))


def _is_number(value: Any) -> TypeGuard[int | float]:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _embedding(value: Any) -> npt.NDArray[np.float32]:
    if not isinstance(value, list) or not all(_is_number(x) for x in value):
        raise ProfileInvalid("'embedding' is not a list of finite numbers")
    if len(value) != EMBED_SIZE:
        raise ProfileInvalid(f"'embedding' has {len(value)} numbers, not {EMBED_SIZE} (made by "
                             "another voice model?)")
    exact = np.asarray(value, dtype=np.float64)  # float32 would overflow on huge values
    norm = float(np.linalg.norm(exact))
    if not math.isfinite(norm) or abs(norm - 1.0) > 0.01:
        raise ProfileInvalid(f"'embedding' is not a unit vector (its length is {norm:.3g})")
    return exact.astype(np.float32)
