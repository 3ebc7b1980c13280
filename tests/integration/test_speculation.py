"""Speculative transcription, speculative replies and adaptive endpointing, on real speech.

The commands are spoken by the bundled voice in pieces with silences of known length between
them, so a pause falls exactly where the test wants it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import read_file
from assistant.config import Settings
from tests.integration.broker import Broker, Collector
from tests.integration.helpers import run_file, speak, transcribe_file
from tests.integration.test_home import KITCHEN_SET, NABU, home_config

pytestmark = pytest.mark.integration


def words(text: str) -> bytes:
    """The bundled voice saying `text`, without its leading and trailing silence."""
    pcm = np.frombuffer(speak(text), dtype="<i2")
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    margin = 16000 * 40 // 1000  # soft onsets and endings stay whole
    return pcm[max(0, loud[0] - margin):loud[-1] + margin].tobytes()


def timers(tmp_path: Path, **endpoint: object) -> Settings:
    # WebRTC VAD marks silence frame by frame, so the pauses fall exactly where the test puts
    # them (Silero's smoothing bridges a pause this short).
    return Settings.model_validate({"timers": {"state_file": str(tmp_path / "timers.json")},
                                    "endpoint": {"vad": "webrtc", **endpoint}})


def test_a_speculation_overtaken_by_more_speech_is_never_acted_on_or_played(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    # "set a timer for five minutes" is a whole command: a reply is prepared at the pause.
    # The user goes on within the short hangover, so all of it must be thrown away.
    said = build_input(500, audio_dir / NABU, 400, words("Set a timer for five minutes"), 240,
                       words("and thirty seconds."), 1500)
    run = run_file(timers(tmp_path), said, tmp_path)

    assert run.code == 0
    [discarded] = run.of_type("speculation_discarded")
    assert "5 minutes" in discarded["text"] or "five minutes" in discarded["text"].lower()
    assert discarded["had_reply"] is True
    [transcribed] = run.of_type("transcribed")
    assert "30" in transcribed["text"] or "thirty" in transcribed["text"].lower()
    [matched] = run.of_type("intent_matched")
    assert matched["slots"] == {"minutes": 5, "seconds": 30}
    replies = [r["text"] for r in run.of_type("replied")]
    assert replies == ["Timer set for 5 minutes and 30 seconds."]
    heard = transcribe_file(run.reply_wav).lower()
    assert "30 seconds" in heard or "thirty seconds" in heard, heard
    # The reply prepared at the pause ("Timer set for 5 minutes.") is never played.
    assert heard.count("set for") == 1 and heard.count("minutes") == 1, heard


def test_adaptive_endpointing_never_cuts_an_incomplete_command_short(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    # 500 ms of silence after "turn on": longer than the short hangover (300 ms), shorter
    # than the full one (700 ms). The words so far match no command, so the turn must wait.
    # (The voice says a lone "the" as "that", so the pause comes before it.)
    said = build_input(500, audio_dir / NABU, 400, words("Turn on"), 500,
                       words("the kitchen lights."), 1500)
    settings = Settings.model_validate({**home_config(broker, tmp_path),
                                        "endpoint": {"vad": "webrtc"}})
    with Collector(broker, [KITCHEN_SET]) as seen:
        run = run_file(settings, said, tmp_path)
        assert seen.wait_for(KITCHEN_SET) == "ON"
    assert run.code == 0
    # The speculation at the pause heard the unfinished command and was thrown away.
    assert [d["text"].lower().startswith("turn on")
            for d in run.of_type("speculation_discarded")] == [True]
    [transcribed] = run.of_type("transcribed")
    assert "kitchen" in transcribed["text"].lower()
    assert [m["slots"].get("name") for m in run.of_type("intent_matched")] == ["kitchen lights"]


def test_a_complete_command_ends_early_with_its_answer_ready(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    said = build_input(500, audio_dir / NABU, 400, words("What time is it?"), 2000)
    speech_end_ms = len(read_file(said)) // 32 - 2000

    fast = run_file(timers(tmp_path), said, tmp_path)
    (tmp_path / "slow").mkdir()
    slow = run_file(timers(tmp_path, speculate=False), said, tmp_path / "slow")

    [fast_end], [slow_end] = fast.of_type("speech_ended"), slow.of_type("speech_ended")
    # The full hangover is 700 ms; the complete command ends on the short one (300 ms).
    assert fast_end["at_ms"] - speech_end_ms < 500 <= slow_end["at_ms"] - speech_end_ms
    assert [t["speculative"] for t in fast.of_type("transcribed")] == [True]
    assert [t["speculative"] for t in slow.of_type("transcribed")] == [False]
    assert fast.of_type("transcribed")[0]["text"] == slow.of_type("transcribed")[0]["text"]
    [replied] = fast.of_type("replied")
    assert replied["text"].startswith("It's")
    assert "it's" in transcribe_file(fast.reply_wav).lower()
