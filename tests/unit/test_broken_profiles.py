"""A broken voice profile costs only itself: real files in a real profiles folder, every way a
profile can be broken, read by the CLI's scan and by the daemon's reader (which sets it aside)."""

from __future__ import annotations

import json
import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.setaside import set_aside_copies
from assistant.speakers.identify import _Profiles, identify
from assistant.speakers.profiles import MODEL_ID, ProfileStore
from tests.unwritable import frozen


def unit(*values: float, size: int = 256) -> list[float]:
    v = np.zeros(size)
    v[: len(values)] = values
    return [float(x) for x in v / np.linalg.norm(v)]


def profile(**changes: Any) -> dict[str, Any]:
    return {"version": 1, "model": MODEL_ID, "name": "carol", "clips": 3,
            "created_s": 1.7e9, "embedding": unit(0, 1), **changes}


BROKEN: dict[str, tuple[bytes, str]] = {
    "random-bytes": (random.Random(7).randbytes(300), "not JSON"),
    "truncated": (json.dumps(profile()).encode()[:200], "not JSON"),
    "not-an-object": (b"[1, 2, 3]", "not a JSON object"),
    "no-embedding": (json.dumps({**profile(), "embedding": None}).encode(), "'embedding'"),
    "embedding-of-text": (json.dumps(profile(embedding=["a"] * 256)).encode(), "'embedding'"),
    "nested-embedding": (json.dumps(profile(embedding=[unit(1)])).encode(), "'embedding'"),
    "wrong-dimension": (json.dumps(profile(embedding=unit(1, size=128))).encode(),
                        "128 numbers, not 256"),
    "nan": (json.dumps(profile(embedding=[math.nan] * 256)).encode(), "'embedding'"),
    "infinite-in-float32": (json.dumps(profile(embedding=[1e39] + [0.0] * 255)).encode(),
                            "not a unit vector"),
    "zero-vector": (json.dumps(profile(embedding=[0.0] * 256)).encode(), "not a unit vector"),
    "other-model": (json.dumps(profile(model="ecapa-192")).encode(), "another voice model"),
    "no-model": (json.dumps({k: v for k, v in profile().items() if k != "model"}).encode(),
                 "another voice model"),
    "other-name": (json.dumps(profile(name="mallory")).encode(), "not its file's name"),
    "clips-as-text": (json.dumps(profile(clips="3")).encode(), "'clips'"),
    "no-clips": (json.dumps(profile(clips=0)).encode(), "'clips'"),
    "created-as-bool": (json.dumps(profile(created_s=True)).encode(), "'created_s'"),
    "huge": (b" " * 100_000 + json.dumps(profile()).encode(), "larger than 64 kB"),
}


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    store = ProfileStore(tmp_path / "speakers")
    store.enroll("alice", [np.asarray(unit(1), dtype=np.float32)])
    return store


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_profile_is_named_and_the_good_ones_still_listed(
        store: ProfileStore, kind: str) -> None:
    content, problem = BROKEN[kind]
    store.path_for("carol").write_bytes(content)
    scan = store.scan()
    assert [p.name for p in scan.profiles] == ["alice"]
    [bad] = scan.broken
    assert bad.path == store.path_for("carol") and problem in bad.problem, bad.problem
    assert "enroll carol again" in bad.message()
    assert store.path_for("carol").read_bytes() == content  # reading changes nothing


def test_a_folder_named_like_a_profile_is_a_broken_profile(store: ProfileStore) -> None:
    store.path_for("carol").mkdir()
    [bad] = store.scan().broken
    assert "cannot be read" in bad.problem


def test_a_good_hand_written_profile_is_read(store: ProfileStore) -> None:
    store.path_for("carol").write_text(json.dumps(profile()))
    assert [p.name for p in store.list()] == ["alice", "carol"]


def test_the_daemon_sets_a_broken_profile_aside_and_identifies_with_the_others(
        store: ProfileStore, caplog: pytest.LogCaptureFixture) -> None:
    content = BROKEN["wrong-dimension"][0]
    store.path_for("carol").write_bytes(content)
    profiles = _Profiles(store, set_aside=True)
    with caplog.at_level(logging.WARNING):
        first = profiles.current()
    assert identify(np.asarray(unit(1), dtype=np.float32), first).name == "alice"
    [aside] = set_aside_copies(store.path_for("carol"))
    assert aside.read_bytes() == content
    for needle in (str(store.path_for("carol")), "128 numbers", str(aside),
                   "assistant speakers enroll carol"):
        assert needle in caplog.text, caplog.text
    assert [p.name for p in profiles.current()] == ["alice"]
    assert caplog.text.count("not a usable voice profile") == 1


def test_a_broken_profile_in_a_read_only_folder_is_skipped_and_reported_once(
        store: ProfileStore, caplog: pytest.LogCaptureFixture) -> None:
    store.path_for("carol").write_bytes(BROKEN["nan"][0])
    profiles = _Profiles(store, set_aside=True)
    with frozen(store.folder), caplog.at_level(logging.WARNING):
        assert [p.name for p in profiles.current()] == ["alice"]
        profiles._stamp = None  # as if the folder had changed: read it all again
        assert [p.name for p in profiles.current()] == ["alice"]
    assert store.path_for("carol").exists()
    assert caplog.text.count("could not be moved aside") == 1
