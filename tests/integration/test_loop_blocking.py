"""Nothing blocks the event loop: the daemon measures its own loop's lateness (the `stats`
event), and an events reader that stops reading does not stop it from listening."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from assistant.bench.pulse import pulse_server
from assistant.events import StateChanged
from assistant.reporting import JsonLines
from tests.conftest import require_binary
from tests.integration.helpers import transcribe_file
from tests.integration.live import LiveDaemon, wait
from tests.integration.test_worker_faults import DATE, TIME, command

pytestmark = pytest.mark.integration
SET_TIMER = "asr/rhasspy3_set_timer.wav"
MAX_LAG_MS = 50.0
F_SETPIPE_SZ = 1031


def test_the_loop_is_never_blocked_for_50_ms(audio_dir: Path, tmp_path: Path) -> None:
    """Timer saves (with fsync), JSON-lines writes, intent matching (exact and fuzzy), and a
    real output stream opened and closed for every reply, on a real sound server."""
    require_binary("pulseaudio")
    timers = tmp_path / "timers.json"
    with pulse_server(tmp_path) as pulse, \
            LiveDaemon(tmp_path, {"timers": {"state_file": str(timers)}}, env=pulse.env,
                       speaker=True) as daemon:
        daemon.wait_ready()
        for clip in (SET_TIMER, TIME, DATE):
            daemon.say(command(audio_dir, clip))
        daemon.wait_for("playback_finished", 3, timeout_s=90)
        assert daemon.stop() == 0
    replies = [e["text"] for e in daemon.events("replied")]
    assert replies[0].startswith("Timer set for 10 minutes")
    assert len(json.loads(timers.read_text())["timers"]) == 1
    stats = daemon.events("stats")
    assert stats, "the daemon reports its stats when it stops"
    worst = max(e["loop_lag_max_ms"] for e in stats)
    assert worst < MAX_LAG_MS, f"the event loop was blocked for {worst} ms"
    assert sum(e["audio_dropped"] for e in stats) == 0


def test_an_events_reader_that_stops_reading_does_not_stop_listening(
        audio_dir: Path, tmp_path: Path) -> None:
    """`--events -` into a pipe nobody reads (4 kB: full after a few events): every command is
    still answered, and SIGTERM still stops the daemon at once."""
    with LiveDaemon(tmp_path, events_to_stdout=True) as daemon:
        assert daemon.proc.stdout is not None
        fcntl.fcntl(daemon.proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
        daemon.wait_ready()
        for clip in (TIME, DATE, TIME):
            daemon.say(command(audio_dir, clip))
        wait(daemon.spoken, 60, "the commands to be spoken")
        time.sleep(4)  # the last answer
        assert daemon.proc.poll() is None
        started = time.monotonic()
        assert daemon.stop() == 0, daemon.log()[-2000:]
        assert time.monotonic() - started < JsonLines.PIPE_CLOSE_WAIT_S + 5
    heard = transcribe_file(daemon.reply_path).lower()
    assert heard.count("today") == 1 and heard.count("it's") == 2, heard


def test_events_that_cannot_be_written_are_dropped_and_counted() -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    with os.fdopen(write_end, "w") as stream:
        lines = JsonLines(stream)
    started = time.monotonic()
    for i in range(JsonLines.MAX_QUEUED + 500):
        lines(StateChanged(at_ms=i, state="idle"))
    assert time.monotonic() - started < 1.0, "emitting never waits for the reader"
    assert 400 <= lines.dropped <= 500  # the queue, and a 4 kB pipe, hold the rest
    lines.close()
    first = os.read(read_end, 4096).decode().splitlines()[0]
    assert json.loads(first) == {"type": "state_changed", "at_ms": 0, "turn_id": None,
                                 "state": "idle"}
    os.close(read_end)
