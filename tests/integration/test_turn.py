"""Whole turns on real recordings: wake word clip + command clip -> events and a spoken reply."""

from __future__ import annotations

import re
import wave
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from assistant.config import Settings
from tests.integration.helpers import run_file, speak, transcribe_file

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"

NUMBER_WORDS = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven"]


# What tiny.en writes for a spoken number it mishears as a word: "It's to 11 AM" for 2:11.
HOMOPHONES = {2: ("to", "too"), 4: ("for",), 5: ("by",), 8: ("ate",)}


def says_hour(text: str, hour: int) -> bool:
    h12 = hour % 12 or 12
    lowered = text.lower()
    as_digits = re.search(rf"\b{h12}(?:[:.]?\d\d)?(?:\s*[ap]\.?m\b)?\b", lowered)
    sounds_like = any(re.search(rf"\bit'?s {word}\b", lowered)
                      for word in HOMOPHONES.get(h12, ()))
    return bool(as_digits) or NUMBER_WORDS[h12 % 12] in lowered or sounds_like


def test_wake_then_pause_then_command(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    wav = build_input(500, audio_dir / NABU, 600, audio_dir / WHAT_TIME, 1500)
    before = datetime.now().hour
    run = run_file(Settings(), wav, tmp_path)
    after = datetime.now().hour
    assert run.code == 0
    assert run.types == ["wake_detected", "speech_started", "speech_ended", "transcribed",
                         "intent_matched", "replied", "playback_finished", "input_ended"]
    assert len({e["turn_id"] for e in run.events if e["type"] in run.types[:-1]}) == 1
    assert run.of_type("wake_detected")[0]["wake_word"] == "okay_nabu"
    assert "what time is it" in run.of_type("transcribed")[0]["text"].lower()
    assert run.of_type("intent_matched")[0]["intent"] == "HassGetCurrentTime"
    replied = run.of_type("replied")[0]
    assert replied["first_audio_ms"] > 0 and run.of_type("transcribed")[0]["latency_ms"] > 0
    heard_back = transcribe_file(run.reply_wav)
    assert says_hour(heard_back, before) or says_hour(heard_back, after), heard_back
    times = [e["at_ms"] for e in run.events]
    assert times == sorted(times)


def test_command_in_the_same_breath(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    wav = build_input(300, audio_dir / NABU, audio_dir / "asr/rhasspy3_whats_the_date_today.wav",
                      1200)
    run = run_file(Settings(), wav, tmp_path)
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["HassGetCurrentDate"]
    heard_back = transcribe_file(run.reply_wav).lower()
    assert datetime.now().strftime("%B").lower() in heard_back, heard_back


def test_unrecognised_speech_gets_sorry(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / "asr/rhasspy3_play_the_beatles.wav",
                      1200)
    run = run_file(Settings(), wav, tmp_path)
    assert run.of_type("intent_not_matched")[0]["text"].lower().startswith("play the beatles")
    assert run.of_type("replied")[0]["text"] == Settings().responses.not_understood
    assert "understand" in transcribe_file(run.reply_wav).lower()


def test_silence_after_wake_times_out_without_reply(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"endpoint": {"speech_start_timeout_ms": 2000}})
    wav = build_input(300, audio_dir / NABU, 3000)
    run = run_file(settings, wav, tmp_path)
    assert run.types == ["wake_detected", "listen_timed_out", "input_ended"]
    timed_out = run.of_type("listen_timed_out")[0]["at_ms"]
    assert timed_out - run.of_type("wake_detected")[0]["at_ms"] == pytest.approx(2000, abs=40)


def test_noise_is_not_a_command(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    wav = build_input(300, audio_dir / NABU, 200,
                      audio_dir / "keyword/tflite_micro_noise_1000ms.wav", 1500)
    run = run_file(Settings(), wav, tmp_path)
    # Silero VAD does not call it speech; WebRTC VAD did, and Whisper judged it not speech.
    assert all(e["text"] == "" for e in run.of_type("transcribed"))
    assert run.of_type("replied") == []
    assert run.of_type("intent_matched") == [] and run.of_type("intent_not_matched") == []


def test_every_builtin_wake_word(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"wake": {"words": ["okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"]}})
    clips = ["wakeword/pymicrowakeword_hey_jarvis_1.wav", "wakeword/pymicrowakeword_alexa_1.wav",
             "wakeword/pymicrowakeword_hey_mycroft_1.wav", NABU]
    parts: list[Path | int] = [300]
    for clip in clips:
        parts += [audio_dir / clip, 400, audio_dir / WHAT_TIME, 1500]
    run = run_file(settings, build_input(*parts), tmp_path)
    assert [e["wake_word"] for e in run.of_type("wake_detected")] == [
        "hey_jarvis", "alexa", "hey_mycroft", "okay_nabu"]
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["HassGetCurrentTime"] * 4
    assert len({e["turn_id"] for e in run.of_type("replied")}) == 4


def test_repeat_that_repeats_the_last_answer(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    date = audio_dir / "asr/rhasspy3_whats_the_date_today.wav"
    wav = build_input(300, audio_dir / NABU, 300, date, 1500,
                      audio_dir / NABU, 300, speak("Repeat that."), 1500)
    run = run_file(Settings(), wav, tmp_path)
    replies = [e["text"] for e in run.of_type("replied")]
    assert len(replies) == 2 and replies[0] == replies[1] and replies[0].startswith("Today is")


def test_silero_vad_ends_the_utterance_at_the_end_of_the_words(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    """The clip's recorded noise floor after its words is not speech: the endpoint comes one
    hangover after the words, well before the clip's own end."""
    settings = Settings.model_validate({"endpoint": {"vad": "silero"}})
    wav = build_input(500, audio_dir / NABU, 300, audio_dir / "asr/rhasspy3_play_the_beatles.wav",
                      2000)
    run = run_file(settings, wav, tmp_path)
    clip_end_ms = 500 + 2000 + 300 + 3000
    ended = run.of_type("speech_ended")[0]
    assert ended["reason"] == "silence"
    assert ended["at_ms"] < clip_end_ms  # the words end ~1.2 s before the clip does
    assert run.of_type("transcribed")[0]["text"].lower().startswith("play the beatles")


def test_wake_word_tail_does_not_swallow_the_command(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    """With this alignment the end of "nabu" opens an utterance of its own that transcribes to
    nothing (with WebRTC VAD; Silero does not call the tail speech); the daemon keeps listening
    and still takes the command after the pause."""
    wav = build_input(517, audio_dir / NABU, 800, audio_dir / WHAT_TIME, 2000)
    run = run_file(Settings.model_validate({"endpoint": {"vad": "webrtc"}}), wav, tmp_path)
    assert [e["intent"] for e in run.of_type("intent_matched")] == ["HassGetCurrentTime"]
    assert run.of_type("transcribed")[0]["text"] == ""  # the tail: not a command, no reply
    assert len(run.of_type("speech_started")) == 2
    assert len({e["turn_id"] for e in run.events if e["turn_id"] is not None}) == 1
    assert len(run.of_type("replied")) == 1


def test_fallback_voice_speaks_when_piper_cannot_load(
    audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path
) -> None:
    settings = Settings.model_validate({"tts": {"voice": str(tmp_path / "missing.onnx")}})
    wav = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    run = run_file(settings, wav, tmp_path)
    replied = run.of_type("replied")
    assert len(replied) == 1 and replied[0]["voice"] == "espeak-ng:en-us"
    # espeak's robotic "It's 12:21 AM." is hard for tiny.en to spell, but it is speech to it.
    assert transcribe_file(run.reply_wav).strip()
    with wave.open(str(run.reply_wav)) as reply:
        assert reply.getnframes() / reply.getframerate() > 1.0
