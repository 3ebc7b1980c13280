"""Sound events in the running daemon: a real YAMNet beside the voice loop, rules, MQTT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from tests.integration.broker import Broker, Collector
from tests.integration.helpers import run_file

pytestmark = pytest.mark.integration
SPEECH = ["asr/speechbrain_spk1_snt1.wav", "asr/rhasspy3_what_time_is_it.wav",
          "asr/whisper_jfk.flac"]


def beeps(seconds: float = 6.0, freq_hz: float = 3000.0) -> bytes:
    """An alarm: 0.5 s beeps, 0.5 s apart."""
    t = np.arange(int(16000 * seconds)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * freq_hz * t) * ((t % 1.0) < 0.5)
    return (wave * 32767).astype("<i2").tobytes()


def sound_settings(broker: Broker, tmp_path: Path) -> Settings:
    return Settings.model_validate({
        "site": {"name": "test"},
        "mqtt": {"host": broker.host, "port": broker.port},
        "sounds": {"enabled": True, "rules": [{
            "labels": ["alarm"], "say": "I hear a {{ label.split(',')[0] | lower }}.",
            "action": {"type": "mqtt", "topic": "home/alarm", "payload": "{{ label }}"}}]},
        "timers": {"state_file": str(tmp_path / "timers.json")},
    })


def test_an_alarm_triggers_its_rule_exactly_once(
    broker: Broker, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    wav = build_input(1000, beeps(20.0), 5000)  # a long alarm: announced while it rings
    with Collector(broker, ["home/alarm", "assistant/test/sound"]) as seen:
        run = run_file(sound_settings(broker, tmp_path), wav, tmp_path)
        seen.wait_for("home/alarm")
        seen.wait_for("assistant/test/sound")
    sounds = run.of_type("sound_detected")
    assert len(sounds) == 1, sounds
    assert sounds[0]["label"] in ("Smoke detector, smoke alarm", "Alarm", "Beep, bleep",
                                  "Fire alarm", "Buzzer", "Siren", "Alarm clock")
    assert 500 <= sounds[0]["start_ms"] < 4000 and 19000 <= sounds[0]["end_ms"] <= 22500
    replies = run.of_type("replied")
    assert len(replies) == 1 and replies[0]["text"].startswith("I hear a "), replies
    assert replies[0]["at_ms"] < 10000  # not after the alarm stopped
    assert len(seen.payloads("home/alarm")) == 1


def test_speech_does_not_trigger_sound_rules(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    wav = build_input(500, *[part for clip in SPEECH for part in (audio_dir / clip, 700)])
    run = run_file(sound_settings(broker, tmp_path), wav, tmp_path)
    assert run.of_type("sound_detected") == []
    assert run.of_type("replied") == []
