"""Signals stop the daemon cleanly and promptly, even in the middle of a fast replay."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("sig", "pace"), [(signal.SIGINT, []), (signal.SIGTERM, ["--realtime"])])
def test_signal_during_a_replay(
    sig: signal.Signals, pace: list[str], audio_dir: Path, build_input: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """A fast replay keeps the audio queue full: shutdown must not wait for room in it."""
    clip = audio_dir / "asr/whisper_jfk.flac"
    wav = build_input(*([clip, 500] * 30))  # ~6 min of audio: still running when signalled
    events = tmp_path / "events.jsonl"
    with (tmp_path / "log.txt").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "assistant", "run", "--input", str(wav), *pace,
             "--output", "none", "--events", str(events), "--quiet"], stderr=log)
    try:
        deadline = time.monotonic() + 60
        while "listening" not in (tmp_path / "log.txt").read_text():
            assert daemon.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)
        assert daemon.poll() is None, "the replay ended before the signal: make it longer"
        daemon.send_signal(sig)
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert "Traceback" not in (tmp_path / "log.txt").read_text()
