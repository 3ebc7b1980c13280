"""State on disk never stops the daemon, answers never promise what was not done, and reading
commands work on read-only data. Real daemons, real files, real read-only mounts (issue 12)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from assistant.audio.files import read_file
from assistant.setaside import set_aside_copies
from assistant.speakers import ProfileStore
from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.result import FileTranscript, Segment
from tests.integration.helpers import speak
from tests.integration.live import LiveDaemon, wait
from tests.unwritable import read_only

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
NOT_SAVED = "But I could not save it, so a restart would lose it."


def assistant(argv: list[str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "assistant", "--config", str(config), *args]


def voice() -> np.ndarray:
    """A profile every real voice scores above zero against (GE2E embeddings are >= 0)."""
    return np.full(256, 1 / 16, dtype=np.float32)


def second_daemon(config: Path) -> tuple[int, str]:
    """Another `assistant run --input -` with the same settings, on a second of silence; its
    exit code and stderr."""
    done = subprocess.run(cli(config, "run", "--input", "-", "--output", "none", "--quiet"),
                          input=bytes(32000), capture_output=True, timeout=180)
    return done.returncode, done.stderr.decode(errors="replace")


def stale_socket(path: Path) -> None:
    """What a killed daemon leaves behind: the socket file, and no one listening on it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


def test_the_daemon_starts_and_answers_with_every_state_file_broken(
    tmp_path: Path, audio_dir: Path,
) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    state.mkdir()
    data.mkdir()
    timers = state / "timers.json"
    timers.write_bytes(random.Random(12).randbytes(400))  # the start-up crash loop of issue 12
    store = ProfileStore(data / "speakers")
    store.enroll("alice", [voice()])
    broken_profile = random.Random(7).randbytes(300)
    store.path_for("carol").write_bytes(broken_profile)
    index = data / "transcripts.db"
    index.write_text("this is not a database at all\n" * 100)
    config = {"timers": {"state_file": str(timers)},
              "speakers": {"enabled": True, "profiles_dir": str(store.folder)},
              "transcripts": {"keep_commands": True, "index": str(index)}}
    with LiveDaemon(tmp_path, config) as daemon:
        stale_socket(daemon.socket)
        # The stale socket is there from the start, so readiness is the log line, not the file.
        wait(lambda: "listening (" in daemon.log() or daemon.proc.poll() is not None, 180,
             "the daemon to start")
        assert daemon.proc.poll() is None, daemon.log()[-3000:]
        daemon.say(read_file(audio_dir / NABU) + bytes(12800)
                   + speak("Set a timer for 10 minutes.") + bytes(48000))
        [reply] = daemon.wait_for("replied", timeout_s=90)
        assert (reply["text"], reply["success"]) == ("Timer set for 10 minutes.", True)
        [who] = daemon.wait_for("speaker_identified")
        assert who["score"] != 0.0  # alice's profile was compared: carol's cost only itself
        # A second daemon on the same control socket is refused, and says why.
        code, stderr = second_daemon(tmp_path / "config.yaml")
        assert daemon.stop() == 0
    log = daemon.log()
    assert code != 0
    assert f"{daemon.socket}: another assistant daemon is already running" in stderr
    assert "Traceback" not in stderr
    assert "Traceback" not in log, log[-3000:]
    [timers_aside] = set_aside_copies(timers)
    assert timers_aside.read_bytes() == random.Random(12).randbytes(400)
    assert [t["duration_s"] for t in json.loads(timers.read_text())["timers"]] == [600]
    [profile_aside] = set_aside_copies(store.path_for("carol"))
    assert profile_aside.read_bytes() == broken_profile
    [index_aside] = set_aside_copies(index)
    with TranscriptIndex(index, read_only=True) as fresh:
        assert [h.text for h in fresh.recent(source="voice")] == ["Set a timer for 10 minutes."]
    for path, aside in ((timers, timers_aside), (store.path_for("carol"), profile_aside),
                        (index, index_aside)):
        assert f"{path}: " in log and f"Moved it to {aside}" in log, log[-3000:]
    assert "no daemon answers on this control socket" in log


def test_a_timer_in_a_read_only_state_folder_is_said_unsaved_and_still_rings(
    tmp_path: Path, audio_dir: Path, build_input: Callable[..., Path],
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"timers": {"state_file": str(state / "timers.json")}}))
    wav = build_input(500, audio_dir / NABU, 400, speak("Set a timer for 3 seconds."), 6000)
    with read_only(state) as wrap:
        run = assistant(wrap(cli(config, "run", "--input", str(wav), "--output", "none",
                                 "--events", "-", "--realtime", "--quiet")))
    assert run.returncode == 0, run.stderr[-3000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    replies = [(e["text"], e["success"]) for e in events if e["type"] == "replied"]
    assert replies == [(f"Timer set for 3 seconds. {NOT_SAVED}", False),
                       ("Your 3 second timer is done.", True)]
    assert not (state / "timers.json").exists()
    assert f"cannot save timers to {state / 'timers.json'}" in run.stderr


def test_search_and_speakers_list_work_on_a_read_only_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with TranscriptIndex(data / "transcripts.db") as index:
        index.replace_file(FileTranscript(tmp_path / "meeting.wav", 20.0, "en", "tiny.en", (
            Segment(3.0, 9.5, "the budget review is on friday"),)), None, mtime_s=0.0)
    store = ProfileStore(data / "speakers")
    store.enroll("alice", [voice()])
    store.path_for("carol").write_text('{"model": "resemblyzer-ge2e-256", "embedd')
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"transcripts": {"index": str(data / "transcripts.db")},
                                      "speakers": {"profiles_dir": str(store.folder)}}))
    before = sorted(p.name for p in data.rglob("*"))
    with read_only(data) as wrap:
        found = assistant(wrap(cli(config, "search", "budget")))
        listed = assistant(wrap(cli(config, "speakers", "list")))
        missing = assistant(wrap(cli(config, "search", "budget", "--index",
                                     str(data / "none.db"))))
    assert found.returncode == 0, found.stderr
    assert "00:00:03.0" in found.stdout and "budget" in found.stdout
    assert listed.returncode == 1, listed.stderr
    assert listed.stdout.startswith("alice\t1 clip(s)")
    assert f"{store.path_for('carol')}: not a usable voice profile" in listed.stderr
    assert "enroll carol again" in listed.stderr
    assert missing.returncode == 1
    assert "there is no transcript index yet" in missing.stderr
    assert "assistant transcribe" in missing.stderr
    for done in (found, listed, missing):
        assert "Traceback" not in done.stderr and "readonly database" not in done.stderr
    assert sorted(p.name for p in data.rglob("*")) == before  # nothing made, moved or removed
