"""Run the daemon on a file in-process, and read back what it did."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from assistant.app import RunOptions, run_daemon
from assistant.asr.whisper import WhisperOptions, WhisperTranscriber
from assistant.audio.convert import resample_pcm
from assistant.audio.files import read_file
from assistant.audio.format import AudioChunk
from assistant.config import Settings
from assistant.tts.piper import PiperOptions, PiperSynthesizer


@dataclass(frozen=True)
class Run:
    code: int
    events: list[dict[str, Any]]
    reply_wav: Path

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def types(self) -> list[str]:
        """The turns' events; state and mute changes are checked on their own (`states`), and
        what the daemon says about itself (engines ready, stats) is left out."""
        return [e["type"] for e in self.events
                if e["type"] not in ("state_changed", "mute_changed", "engine_ready", "stats")]

    @property
    def states(self) -> list[str]:
        return [e["state"] for e in self.of_type("state_changed")]


def run_file(settings: Settings, input_wav: Path, tmp_path: Path, realtime: bool = False) -> Run:
    events = tmp_path / "events.jsonl"
    reply = tmp_path / "reply.wav"
    options = RunOptions(input=str(input_wav), output=str(reply), events=str(events),
                         realtime=realtime, trace=False)
    code = asyncio.run(run_daemon(settings, options))
    lines = events.read_text().splitlines() if events.exists() else []
    return Run(code, [json.loads(line) for line in lines], reply)


@cache
def transcriber() -> WhisperTranscriber:
    asr = WhisperTranscriber(WhisperOptions.from_settings(Settings().asr, Settings().models))
    asr.load()
    return asr


def transcribe_file(path: Path) -> str:
    return transcriber().transcribe(read_file(path)).text


@cache
def voice() -> PiperSynthesizer:
    """The bundled voice, saying a text the same way on every run (no random variation)."""
    options = PiperOptions.from_settings(Settings().tts, Settings().models)
    synth = PiperSynthesizer(replace(options, noise_scale=0.0, noise_w_scale=0.0))
    synth.load()
    return synth


def speak(text: str) -> bytes:
    """Speech from the bundled voice, as 16 kHz PCM (for extra commands beyond the real clips)."""
    chunks: list[AudioChunk] = list(voice().synthesize(text))
    return b"".join(resample_pcm(c.pcm, c.format, 16000) for c in chunks)
