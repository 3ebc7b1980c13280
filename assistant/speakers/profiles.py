"""Voice profiles on disk: one JSON file per enrolled person, readable only by the user.

A profile holds the L2-normalised mean of the person's clip embeddings, how many clips made it,
and when it was created. Voice embeddings are biometric data: the folder is 0700, the files 0600,
and every write is atomic (temporary file, fsync, rename) so a crash never leaves half a profile.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistant.config.paths import profiles_dir
from assistant.errors import AssistantError

FORMAT_VERSION = 1
MODEL_ID = "resemblyzer-ge2e-256"
UNKNOWN = "unknown"
"""What identification answers for a voice that matches no profile; so no one may be named it."""
_NAME = re.compile(r"\w[\w \-]{0,62}")  # \w: any letter or digit (Unicode) and "_"


class SpeakerError(AssistantError):
    code = "speaker_invalid"


@dataclass(frozen=True)
class SpeakerProfile:
    name: str
    embedding: npt.NDArray[np.float32]
    """256 floats, unit length."""
    clips: int
    created_s: float
    """Unix time of enrollment."""


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

    def list(self) -> builtins.list[SpeakerProfile]:
        """Every profile, sorted by name; an absent folder means none."""
        if not self.folder.is_dir():
            return []
        return sorted((self._read(p) for p in self.folder.glob("*.json")),
                      key=lambda p: p.name.casefold())

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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            embedding = np.asarray(data["embedding"], dtype=np.float32)
            profile = SpeakerProfile(str(data["name"]), embedding, int(data["clips"]),
                                     float(data["created_s"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpeakerError(
                f"{path}: unreadable voice profile ({type(exc).__name__}: {exc}). Remove the "
                "file and enroll that person again."
            ) from exc
        if data.get("model") != MODEL_ID or embedding.shape != (256,):
            raise SpeakerError(
                f"{path}: made by another voice model ({data.get('model')}); enroll again."
            )
        return profile
