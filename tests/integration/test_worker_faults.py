"""Engines that fail without the daemon: a worker killed mid-turn, hung, out of memory, a GPU
that fails, every worker killed at once. The daemon stays up, the turn that hit the fault is
answered with the fallback, and the next turn is answered by the restarted worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.audio.files import read_file
from assistant.config import Settings
from assistant.engines import configured
from assistant.engines.spec import EngineSpec
from tests.conftest import silence
from tests.integration.helpers import run_file, transcribe_file
from tests.integration.live import LiveDaemon

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
TIME = "asr/rhasspy3_what_time_is_it.wav"
DATE = "asr/rhasspy3_whats_the_date_today.wav"
NOT_HEARD = "Sorry, I could not hear that."
# No health checks during these tests: a stopped worker must fail the request, not a ping.
QUIET_WORKERS = {"workers": {"health_interval_s": 600}}


def command(audio_dir: Path, clip: str) -> bytes:
    return read_file(audio_dir / NABU) + silence(300) + read_file(audio_dir / clip) + silence(1500)


def replies(daemon: LiveDaemon, count: int) -> list[dict[str, object]]:
    return daemon.wait_for("replied", count, timeout_s=60)


def test_a_worker_killed_mid_turn(audio_dir: Path, tmp_path: Path) -> None:
    with LiveDaemon(tmp_path, QUIET_WORKERS) as daemon:
        daemon.wait_ready()
        asr = daemon.worker_pid("asr")
        os.kill(asr, signal.SIGSTOP)  # it takes the turn's request and never answers...
        daemon.say(command(audio_dir, TIME))
        daemon.wait_for("speech_ended")
        os.kill(asr, signal.SIGKILL)  # ...and dies with it
        [failed] = daemon.wait_for("stage_failed", code="worker_crashed")
        assert (failed["stage"], failed["turn_id"]) == ("asr", 1)
        [first] = replies(daemon, 1)
        assert (first["text"], first["turn_id"]) == (NOT_HEARD, 1)
        daemon.wait_for("engine_ready", stage="asr", restarts=1)
        daemon.say(command(audio_dir, DATE))
        second = replies(daemon, 2)[1]
        assert str(second["text"]).startswith("Today is")
        assert daemon.stop() == 0
    heard = transcribe_file(daemon.reply_path).lower()
    assert "hear that" in heard and "today" in heard
    assert "Traceback" not in daemon.log()


def test_a_hung_worker_is_killed_at_its_time_limit(audio_dir: Path, tmp_path: Path) -> None:
    config = {**QUIET_WORKERS, "asr": {"timeout_s": 3}}
    with LiveDaemon(tmp_path, config) as daemon:
        daemon.wait_ready()
        os.kill(daemon.worker_pid("asr"), signal.SIGSTOP)  # hangs from now on
        daemon.say(command(audio_dir, TIME))
        [failed] = daemon.wait_for("stage_failed", code="worker_timeout", timeout_s=30)
        assert (failed["stage"], failed["turn_id"]) == ("asr", 1)
        assert "3 s" in str(failed["message"])
        assert replies(daemon, 1)[0]["text"] == NOT_HEARD
        daemon.wait_for("engine_ready", stage="asr", restarts=1)
        daemon.say(command(audio_dir, TIME))
        assert str(replies(daemon, 2)[1]["text"]).startswith("It's")
        assert daemon.stop() == 0


def test_the_voice_killed_mid_reply_is_replaced_by_espeak(audio_dir: Path,
                                                          tmp_path: Path) -> None:
    with LiveDaemon(tmp_path, QUIET_WORKERS) as daemon:
        daemon.wait_ready()
        tts = daemon.worker_pid("tts")
        os.kill(tts, signal.SIGSTOP)
        daemon.say(command(audio_dir, TIME))
        daemon.wait_for("transcribed")
        os.kill(tts, signal.SIGKILL)
        [first] = replies(daemon, 1)
        assert str(first["text"]).startswith("It's")
        assert first["voice"] == "espeak-ng:en-us"
        daemon.wait_for("engine_ready", stage="tts", restarts=1)
        daemon.say(command(audio_dir, DATE))
        second = replies(daemon, 2)[1]
        assert second["voice"] == "piper:en_US-joe-medium"
        assert daemon.stop() == 0
    assert [e["code"] for e in daemon.events("stage_failed")] == ["worker_crashed"]


def test_every_worker_killed_at_once(audio_dir: Path, tmp_path: Path) -> None:
    with LiveDaemon(tmp_path) as daemon:
        daemon.wait_ready()
        daemon.say(command(audio_dir, TIME))
        assert str(replies(daemon, 1)[0]["text"]).startswith("It's")
        workers = daemon.workers()
        assert len(workers) == 2  # Whisper and Piper
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        daemon.say(command(audio_dir, DATE))
        second = replies(daemon, 2)[1]
        assert str(second["text"]).startswith("Today is")
        for stage in ("asr", "tts"):
            daemon.wait_for("engine_ready", stage=stage, restarts=1)
        assert not set(workers) & set(daemon.workers())
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()


def test_a_worker_that_grows_without_bound(audio_dir: Path, tmp_path: Path,
                                           build_input: Callable[..., Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Whisper that allocates without end after hearing the time; 700 MB is its limit."""
    real = configured.asr_spec

    def growing(settings: Settings) -> EngineSpec:
        return replace(real(settings), factory="tests.integration.fault_engines:GrowingWhisper",
                       on_cpu=None)

    monkeypatch.setattr("assistant.app.asr_spec", growing)
    settings = Settings.model_validate({"workers": {"max_memory_mb": 700}})
    wav = build_input(audio_dir / NABU, 300, audio_dir / TIME, 1500,
                      audio_dir / NABU, 300, audio_dir / DATE, 1500)
    run = run_file(settings, wav, tmp_path)
    assert run.code == 0
    [failed] = run.of_type("stage_failed")
    assert (failed["stage"], failed["code"], failed["turn_id"]) == \
        ("asr", "worker_out_of_memory", 1)
    answers = [e["text"] for e in run.of_type("replied")]
    assert answers[0] == NOT_HEARD
    assert answers[1].startswith("Today is")
    assert [e["restarts"] for e in run.of_type("engine_ready") if e["stage"] == "asr"] == [0, 1]


def test_a_gpu_that_fails_moves_the_engines_to_the_cpu(audio_dir: Path, tmp_path: Path,
                                                       build_input: Callable[..., Path]) -> None:
    """Asking for CUDA on a machine where CUDA does not work (this one has no GPU, so its
    device check fails): the daemon says so and runs on the CPU."""
    settings = Settings.model_validate({"asr": {"device": "cuda"}, "tts": {"device": "cuda"}})
    run = run_file(settings, build_input(audio_dir / NABU, 300, audio_dir / TIME, 1500),
                   tmp_path)
    assert run.code == 0
    failed = {e["stage"]: e for e in run.of_type("stage_failed")}
    assert set(failed) == {"asr", "tts"}
    for event in failed.values():
        assert event["code"] == "cuda_failed"
        assert "moves to the CPU" in event["message"]
    assert "CUDA" in failed["asr"]["message"]
    ready = {e["stage"]: e["device"] for e in run.of_type("engine_ready")}
    assert ready["asr"] == "cpu" and ready["tts"] == "cpu"
    assert run.of_type("transcribed")[0]["text"] == "What time is it?"
    assert run.of_type("replied")[0]["voice"] == "piper:en_US-joe-medium"
