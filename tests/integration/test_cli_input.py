"""The CLI on good and bad input: clear messages, right exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soxr

from assistant.audio.files import read_file

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"


def assistant(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = assistant("run", "--input", str(tmp_path / "nope.wav"), "--output", "none",
                       cwd=tmp_path)
    assert_clean_error(result, 1, "nope.wav", "no such file")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    result = assistant("run", "--input", str(tmp_path / "empty.wav"), "--output", "none",
                       cwd=tmp_path)
    assert_clean_error(result, 1, "empty.wav", "empty")


def test_text_named_wav(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    result = assistant("run", "--input", str(tmp_path / "notes.wav"), "--output", "none",
                       cwd=tmp_path)
    assert_clean_error(result, 1, "notes.wav", "not a readable audio file")


def test_header_only_wav(tmp_path: Path, audio_dir: Path) -> None:
    (tmp_path / "header.wav").write_bytes((audio_dir / WHAT_TIME).read_bytes()[:44])
    result = assistant("run", "--input", str(tmp_path / "header.wav"), "--output", "none",
                       cwd=tmp_path)
    assert_clean_error(result, 1, "header.wav", "no audio")


def test_truncated_wav_is_used_with_a_warning(
    tmp_path: Path, audio_dir: Path, build_input: Callable[..., Path]
) -> None:
    whole = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    data = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) - 16000])  # the header still promises the full length
    result = assistant("run", "--input", str(cut), "--output", "none", "--events", "-",
                       "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "truncated" in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["intent"] for e in events if e["type"] == "intent_matched"] == [
        "HassGetCurrentTime"]


def write_24bit_stereo_44k(path: Path, pcm16k: bytes) -> None:
    mono = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32) / 32768
    resampled = soxr.resample(mono, 16000, 44100)
    as_int = np.clip(resampled * (1 << 23), -(1 << 23), (1 << 23) - 1).astype(np.int32)
    stereo = np.repeat(as_int, 2)
    raw = np.frombuffer(stereo.astype("<i4").tobytes(), dtype=np.uint8).reshape(-1, 4)[:, :3]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(3)
        wav.setframerate(44100)
        wav.writeframes(raw.tobytes())


def test_24_bit_44k_stereo_works(tmp_path: Path, audio_dir: Path) -> None:
    pcm = (bytes(9600) + read_file(audio_dir / NABU) + bytes(9600)
           + read_file(audio_dir / WHAT_TIME) + bytes(48000))
    path = tmp_path / "hifi.wav"
    write_24bit_stereo_44k(path, pcm)
    result = assistant("run", "--input", str(path), "--output", str(tmp_path / "r.wav"),
                       "--events", "-", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["intent"] for e in events if e["type"] == "intent_matched"] == [
        "HassGetCurrentTime"]
    with wave.open(str(tmp_path / "r.wav")) as reply:
        assert reply.getnframes() > reply.getframerate() // 2


def test_bad_config_stops_before_starting(tmp_path: Path, audio_dir: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("wake:\n  words: [okay_nabu]\n  treshold: 0.5\nasr:\n  device: tpu\n")
    result = assistant("--config", str(config), "run", "--input", str(audio_dir / WHAT_TIME),
                       "--output", "none", cwd=tmp_path)
    assert_clean_error(result, 2, str(config), "wake.treshold: unknown key", "asr.device = 'tpu'")


def test_unknown_output_device_is_explained(tmp_path: Path, audio_dir: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("audio:\n  output:\n    device: no-such-speaker\n")
    result = assistant("--config", str(config), "say", "hello", cwd=tmp_path)
    assert_clean_error(result, 1, "no-such-speaker")


def test_say_writes_speech(tmp_path: Path) -> None:
    from tests.integration.helpers import transcribe_file

    result = assistant("say", "The kitchen lights are on.", "--output", str(tmp_path / "s.wav"),
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lights are on" in transcribe_file(tmp_path / "s.wav").lower()


def no_sound_server() -> dict[str, str]:
    """The environment of a machine with no sound server (a home server, CI)."""
    return {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse/native"}


needs_no_sound_card = pytest.mark.skipif(
    Path("/dev/snd").exists(), reason="this machine has sound cards of its own")


@needs_no_sound_card
def test_no_audio_devices_is_explained(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "assistant", "devices"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60, env=no_sound_server())
    assert_clean_error(result, 1, "no audio devices", "sound server", "--input FILE")


@needs_no_sound_card
def test_a_recording_replayed_without_a_speaker_still_answers(
    tmp_path: Path, audio_dir: Path, build_input: Callable[..., Path]
) -> None:
    recording = build_input(300, audio_dir / NABU, 300, audio_dir / WHAT_TIME, 1500)
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "run", "--input", str(recording), "--events", "-",
         "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=no_sound_server())
    assert result.returncode == 0, result.stderr
    assert "no audio output device" in result.stderr
    assert "Replies are not played; --output FILE keeps them." in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["intent"] for e in events if e["type"] == "intent_matched"] == [
        "HassGetCurrentTime"]
    replies = [e["text"] for e in events if e["type"] == "replied"]
    assert len(replies) == 1 and replies[0].startswith("It's"), replies
