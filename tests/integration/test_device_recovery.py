"""The daemon's microphone and speaker vanish and come back (PulseAudio null sinks unloaded and
loaded again) while it runs: it says so, keeps running, and listens and speaks again.

PulseAudio moves a running stream whose source or sink goes away to any other one that exists,
and the client sees nothing; only with nowhere to go is the stream killed. So the input-loss
test first removes the other source (the speaker's monitor) to make the loss real.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.audio.files import read_file
from assistant.bench.pulse import PulseServer
from tests.integration.helpers import transcribe_file
from tests.integration.test_e2e_pulse import (  # noqa: F401 (pulse is a fixture)
    Daemon,
    heard_hour,
    play,
    pulse,
    recording,
    running_daemon,
)
from tests.integration.test_turn import NABU, WHAT_TIME

pytestmark = pytest.mark.integration
LOSS_TIMEOUT_S = 15.0
"""Loss is seen within ~2 s (stream killed at once, or no audio for 2 s)."""
BACK_TIMEOUT_S = 20.0
"""Retries back off to 5 s, and a reloaded null sink gives a new recorder nothing for ~2 s."""


def pactl(server: PulseServer, *args: str) -> str:
    return subprocess.run(["pactl", *args], env=server.env, capture_output=True, text=True,
                          check=True).stdout


def unload_sink(server: PulseServer, name: str) -> None:
    modules = [line.split("\t") for line in pactl(server, "list", "short", "modules")
               .splitlines()]
    ids = [m[0] for m in modules if m[1] == "module-null-sink" and f"sink_name={name}" in m[2]]
    assert len(ids) == 1, modules
    pactl(server, "unload-module", ids[0])
    assert f"{name}\t" not in pactl(server, "list", "short", "sinks")


@contextmanager
def reloaded_sink(server: PulseServer, name: str) -> Iterator[None]:
    """Load the null sink again and keep it ticking like the fixture's (a recorder on its monitor,
    then a suspend/resume), so recordings of it start at once. Stops the recorder by PID."""
    pactl(server, "load-module", "module-null-sink", f"sink_name={name}")
    keepalive = subprocess.Popen(["parec", "-d", f"{name}.monitor", "--latency-msec=10"],
                                 env=server.env, stdout=subprocess.DEVNULL)
    try:
        server._wait_recording(keepalive, 5.0)
        pactl(server, "suspend-sink", name, "1")
        pactl(server, "suspend-sink", name, "0")
        yield
    finally:
        keepalive.terminate()
        keepalive.wait(timeout=5)


def device_events(daemon: Daemon, kind: str) -> list[bool]:
    return [e["available"] for e in daemon.of_type("device_changed") if e["kind"] == kind]


def failures(daemon: Daemon, stage: str) -> list[dict[str, Any]]:
    return [e for e in daemon.of_type("stage_failed") if e["stage"] == stage]


def wait_count(daemon: Daemon, kind: str, count: int) -> None:
    daemon.wait_for(f"{count} {kind!r} events", lambda: len(daemon.of_type(kind)) >= count,
                    30.0)


@pytest.fixture
def command(audio_dir: Path, build_input: Callable[..., Path]) -> Path:
    return build_input(500, audio_dir / NABU, 500, audio_dir / WHAT_TIME, 2000)


def test_microphone_lost_and_back_is_reported_and_listened_to_again(
    pulse: PulseServer, command: Path, tmp_path: Path  # noqa: F811
) -> None:
    with running_daemon(pulse, tmp_path, {}) as daemon, ExitStack() as stack:
        play(pulse, command)
        wait_count(daemon, "playback_finished", 1)
        unload_sink(pulse, "spk")  # else PulseAudio moves the capture to spk.monitor
        unload_sink(pulse, "mic")
        daemon.wait_for("the input loss", lambda: device_events(daemon, "input") == [False],
                        LOSS_TIMEOUT_S)
        lost = failures(daemon, "capture")
        assert [e["code"] for e in lost] == ["input_lost"], daemon.describe()
        assert "microphone 'default' lost" in daemon.log()
        daemon.wait_for("failed retries", lambda: daemon.log().count("still unavailable") >= 2,
                        LOSS_TIMEOUT_S)  # 0.5 s, then 1 s later

        stack.enter_context(reloaded_sink(pulse, "mic"))
        daemon.wait_for("the microphone back",
                        lambda: device_events(daemon, "input") == [False, True], BACK_TIMEOUT_S)
        stack.enter_context(reloaded_sink(pulse, "spk"))
        play(pulse, command)
        wait_count(daemon, "playback_finished", 2)
        assert daemon.stop() == 0, daemon.describe()

    transcribed = daemon.of_type("transcribed")
    assert len(transcribed) == 2, daemon.describe()
    assert all("what time is it" in e["text"].lower() for e in transcribed), transcribed
    assert len(daemon.of_type("replied")) == 2, daemon.describe()
    # The second command came after the microphone was back.
    types = [e["type"] for e in daemon.events()]
    back = max(i for i, e in enumerate(daemon.events())
               if e["type"] == "device_changed" and e["available"])
    assert types.index("transcribed", types.index("transcribed") + 1) > back
    assert len(failures(daemon, "capture")) == 1  # one loss, reported once, however many tries


def test_microphone_moved_by_pulseaudio_keeps_listening(
    pulse: PulseServer, command: Path, tmp_path: Path  # noqa: F811
) -> None:
    """With spk.monitor left, PulseAudio moves the capture there and back when `mic` returns;
    the daemon cannot tell (or sees a gap of up to 2 s and reopens), and still listens after."""
    with running_daemon(pulse, tmp_path, {}) as daemon, ExitStack() as stack:
        unload_sink(pulse, "mic")
        time.sleep(1.0)  # capturing spk.monitor meanwhile
        stack.enter_context(reloaded_sink(pulse, "mic"))
        play(pulse, command)
        wait_count(daemon, "playback_finished", 1)
        assert daemon.stop() == 0, daemon.describe()
    assert [e["intent"] for e in daemon.of_type("intent_matched")] == ["HassGetCurrentTime"]
    # Lost and back, or neither: never left lost.
    assert device_events(daemon, "input") in ([], [False, True]), daemon.describe()


def test_microphone_that_stops_delivering_is_reopened(
    pulse: PulseServer, command: Path, tmp_path: Path  # noqa: F811
) -> None:
    """A suspended source keeps the stream "running" with no audio: the stall is the loss."""
    with running_daemon(pulse, tmp_path, {}) as daemon:
        time.sleep(1.0)  # audio flows (a stream that never started gets FIRST_AUDIO_S)
        pactl(pulse, "suspend-sink", "mic", "1")
        daemon.wait_for("the stall", lambda: device_events(daemon, "input") == [False],
                        LOSS_TIMEOUT_S)
        stalled = re.search(r"no audio for ([\d.]+) s", failures(daemon, "capture")[0]["message"])
        assert stalled and 2.0 <= float(stalled[1]) < 3.0, failures(daemon, "capture")
        pactl(pulse, "suspend-sink", "mic", "0")
        daemon.wait_for("the microphone back",
                        lambda: device_events(daemon, "input") == [False, True], BACK_TIMEOUT_S)
        play(pulse, command)
        wait_count(daemon, "playback_finished", 1)
        assert daemon.stop() == 0, daemon.describe()
    assert [e["intent"] for e in daemon.of_type("intent_matched")] == ["HassGetCurrentTime"]
    assert len(failures(daemon, "capture")) == 1


def test_speaker_lost_fails_the_reply_and_the_next_one_is_heard(
    pulse: PulseServer, command: Path, tmp_path: Path  # noqa: F811
) -> None:
    heard = tmp_path / "speaker.wav"
    with running_daemon(pulse, tmp_path, {}) as daemon, ExitStack() as stack:
        unload_sink(pulse, "spk")
        play(pulse, command)
        daemon.wait_for("the playback failure", lambda: bool(failures(daemon, "playback")),
                        LOSS_TIMEOUT_S + 30)
        assert device_events(daemon, "output") == [False], daemon.describe()
        assert daemon.of_type("playback_finished") == []
        assert "speaker 'default'" in daemon.log()

        stack.enter_context(reloaded_sink(pulse, "spk"))
        before = datetime.now().hour
        with recording(pulse, heard):
            play(pulse, command)
            wait_count(daemon, "playback_finished", 1)
        after = datetime.now().hour
        assert daemon.stop() == 0, daemon.describe()

    assert len(daemon.of_type("transcribed")) == 2, daemon.describe()
    codes = {e["code"] for e in failures(daemon, "playback")}
    assert "output_lost" in codes, daemon.describe()
    assert device_events(daemon, "output") == [False, True], daemon.describe()
    audio = np.frombuffer(read_file(heard), dtype="<i2").astype(np.float64) / 32768
    loud = np.abs(audio) > 0.01
    assert loud.sum() > 0.5 * 16000, f"{loud.sum() / 16000:.2f} s of sound heard"
    text = transcribe_file(heard)
    assert heard_hour(text, before) or heard_hour(text, after), text
