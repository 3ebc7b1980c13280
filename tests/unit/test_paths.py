"""Default paths: one place, the XDG base folders, relative values ignored as the spec says."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import paths


def test_defaults_follow_the_xdg_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var, sub in (("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_RUNTIME_DIR", "run")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    assert paths.timers_file() == tmp_path / "state" / "assistant" / "timers.json"
    assert paths.index_file() == tmp_path / "data" / "assistant" / "transcripts.db"
    assert paths.profiles_dir() == tmp_path / "data" / "assistant" / "speakers"
    assert paths.models_dir() == tmp_path / "cache" / "assistant" / "models"
    assert paths.demo_dir() == tmp_path / "cache" / "assistant" / "demo"
    assert paths.config_file() == tmp_path / "config" / "assistant" / "config.yaml"
    assert paths.control_socket() == tmp_path / "run" / "assistant" / "control.sock"


def test_a_chosen_path_wins(tmp_path: Path) -> None:
    chosen = tmp_path / "mine"
    for default in (paths.timers_file, paths.index_file, paths.profiles_dir, paths.models_dir,
                    paths.control_socket):
        assert default(chosen) == chosen


def test_relative_xdg_values_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(var, "relative/is/ignored")
    assert paths.timers_file() == tmp_path / ".local" / "state" / "assistant" / "timers.json"
    assert paths.index_file() == tmp_path / ".local" / "share" / "assistant" / "transcripts.db"
    assert paths.models_dir() == tmp_path / ".cache" / "assistant" / "models"
    assert paths.config_file() == tmp_path / ".config" / "assistant" / "config.yaml"
    assert paths.control_socket().parts[:2] == ("/", "tmp")
