"""Shared test helpers: where the real recordings are, and how to build inputs from them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import read_file, write_wav
from assistant.audio.format import STREAM_FORMAT

# Real servers the tests start: Mosquitto, and a stand-in for Home Assistant's REST API.
pytest_plugins = ["tests.integration.broker", "tests.integration.fake_homeassistant"]

REPO = Path(__file__).resolve().parents[1]
AUDIO = Path(os.environ.get("ASSISTANT_TEST_AUDIO", REPO.parent / "shared" / "audio"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Skip locally when something external is missing; in CI that is a failure, never a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must provide this: {why}")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> None:
    """Timers, the search index and other state go to fresh folders, never the developer's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    require((AUDIO / "MANIFEST.tsv").exists(), f"real recordings not found at {AUDIO}")
    return AUDIO


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def silence(ms: int) -> bytes:
    return bytes(STREAM_FORMAT.bytes_for_ms(ms))


@pytest.fixture
def build_input(tmp_path: Path) -> Callable[..., Path]:
    """Concatenate files (decoded to 16 kHz mono) and silences (ints, ms) into one WAV."""

    def build(*parts: Path | int | bytes, name: str = "input.wav") -> Path:
        pcm = b"".join(
            silence(p) if isinstance(p, int) else p if isinstance(p, bytes) else read_file(p)
            for p in parts
        )
        path = tmp_path / name
        write_wav(path, pcm, STREAM_FORMAT)
        return path

    return build


def tone(freq_hz: float, ms: int, amplitude: float = 0.3) -> bytes:
    t = np.arange(STREAM_FORMAT.rate_hz * ms // 1000) / STREAM_FORMAT.rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t) * 32767).astype("<i2").tobytes()
