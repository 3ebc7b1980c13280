"""Conversation behaviour: follow-up window, always-listening, barge-in, push-to-talk, stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import Settings
from tests.integration.helpers import run_file, speak

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"
DATE = "asr/rhasspy3_whats_the_date_today.wav"
LONG_SORRY = ("Sorry, I did not understand that. I can tell you the time and the date, and I can "
              "repeat what I said. Please try again with one of those, and speak clearly.")


def test_follow_up_needs_no_wake_word(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"conversation": {"follow_up_s": 4}})
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1200,
                      audio_dir / DATE, 1500)
    run = run_file(settings, wav, tmp_path)
    assert [e["intent"] for e in run.of_type("intent_matched")] == [
        "HassGetCurrentTime", "HassGetCurrentDate"]
    assert len(run.of_type("wake_detected")) == 1
    turns = [e["turn_id"] for e in run.of_type("replied")]
    assert len(set(turns)) == 2


def test_without_follow_up_a_second_command_is_ignored(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1200,
                      audio_dir / DATE, 1500)
    run = run_file(Settings(), wav, tmp_path)
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["HassGetCurrentTime"]


def test_always_listening_takes_every_utterance(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"conversation": {"mode": "always_listening"}})
    wav = build_input(500, audio_dir / WHAT_TIME, 1500, audio_dir / DATE, 1500)
    run = run_file(settings, wav, tmp_path)
    assert run.of_type("wake_detected") == []
    assert [e["intent"] for e in run.of_type("intent_matched")] == [
        "HassGetCurrentTime", "HassGetCurrentDate"]


def test_push_to_talk_mode_ignores_the_wake_word(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"conversation": {"mode": "push_to_talk"}})
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    run = run_file(settings, wav, tmp_path)
    assert run.types == ["input_ended"]


def test_barge_in_stops_the_reply_and_starts_a_new_turn(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    """Paced like a microphone: the wake word during a long answer interrupts it at once."""
    settings = Settings.model_validate({"responses": {"not_understood": LONG_SORRY}})
    # 4 s leave room for transcription and the first sentence even on a loaded machine; the
    # long answer is still playing then.
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / "asr/rhasspy3_play_the_beatles.wav",
                      4000, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 2000)
    run = run_file(settings, wav, tmp_path, realtime=True)
    types = run.types
    first_reply = types.index("replied")
    assert "turn_cancelled" in types[first_reply:]
    interrupted = [e for e in run.of_type("playback_finished") if e["interrupted"]]
    assert len(interrupted) == 1
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["HassGetCurrentTime"]
    last = run.of_type("playback_finished")[-1]
    assert last["interrupted"] is False
    assert last["turn_id"] == run.of_type("wake_detected")[1]["turn_id"]


def test_stop_during_an_answer_silences_it(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"responses": {"not_understood": LONG_SORRY}})
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / "asr/rhasspy3_play_the_beatles.wav",
                      4000, audio_dir / NABU, 200, speak("Stop."), 2000)
    run = run_file(settings, wav, tmp_path, realtime=True)
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["AssistantStop"]
    assert len(run.of_type("replied")) == 1  # only the interrupted answer; "stop" says nothing
    assert run.of_type("playback_finished")[0]["interrupted"] is True


def test_push_to_talk_over_the_control_socket(tmp_path: Path, audio_dir: Path) -> None:
    """`assistant listen` from another shell starts a turn in a daemon fed by stdin."""
    from assistant.audio.files import read_file

    socket_path = tmp_path / "ctl.sock"
    config = tmp_path / "config.yaml"
    config.write_text(f"conversation:\n  control_socket: {socket_path}\n")
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = tmp_path / "daemon.log"
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--config", str(config), "run", "--input", "-",
             "--output", str(tmp_path / "reply.wav"), "--events", str(events), "--quiet"],
            stdin=subprocess.PIPE, stderr=stderr, env=env,
        )
    assert daemon.stdin is not None
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "daemon did not open its control socket"
            time.sleep(0.2)
        daemon.stdin.write(bytes(16000))  # 0.5 s of silence
        daemon.stdin.flush()
        listen = subprocess.run(
            [sys.executable, "-m", "assistant", "--config", str(config), "listen"],
            capture_output=True, text=True, env=env, timeout=30)
        assert listen.returncode == 0, listen.stderr
        time.sleep(0.3)
        daemon.stdin.write(read_file(audio_dir / WHAT_TIME) + bytes(64000))
        daemon.stdin.close()
        assert daemon.wait(timeout=60) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if not daemon.stdin.closed:
            daemon.stdin.close()
    kinds = [json.loads(line) for line in events.read_text().splitlines()]
    wakes = [e for e in kinds if e["type"] == "wake_detected"]
    assert [w["source"] for w in wakes] == ["control"]
    assert [e["intent"] for e in kinds if e["type"] == "intent_matched"] == ["HassGetCurrentTime"]


def test_listen_without_a_daemon_fails_clearly(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"conversation:\n  control_socket: {tmp_path / 'none.sock'}\n")
    result = subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), "listen"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "no assistant daemon is listening" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_handler_does_not_stop_the_daemon(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One request that blows up gets a spoken failure; the next request still works."""
    from assistant.intents.handlers import builtin

    calls = {"n": 0}
    original = builtin.TimeHandler.handle

    async def flaky(self: builtin.TimeHandler, match: object, context: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("clock exploded")
        return await original(self, match, context)  # type: ignore[arg-type]

    monkeypatch.setattr(builtin.TimeHandler, "handle", flaky)
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500,
                      audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    run = run_file(Settings(), wav, tmp_path)
    failed = run.of_type("stage_failed")
    assert len(failed) == 1 and "clock exploded" in failed[0]["message"]
    replies = [e["text"] for e in run.of_type("replied")]
    assert replies[0] == Settings().responses.failed and replies[1].startswith("It's")
