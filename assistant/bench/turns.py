"""Run the recorded commands through the real daemon and read the figures off its events."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.app import RunOptions, run_daemon
from assistant.asr.wer import wer
from assistant.bench.clips import GAP_MS, Placed
from assistant.config import Settings, TimerSettings


@dataclass(frozen=True)
class Turn:
    placed: Placed | None
    """The clip the turn ended in; None for a turn outside every clip."""
    text: str
    latency_ms: float
    """Endpoint -> transcript."""
    first_audio_ms: float | None
    """Endpoint -> first reply audio."""
    asr_ms_per_s: float | None
    """Whisper compute per second of audio."""
    speculative: bool
    reply: str | None
    prepared: bool
    """The reply's audio was ready before the endpoint."""


@dataclass(frozen=True)
class Run:
    name: str
    turns: tuple[Turn, ...]
    wer: float


def bench_settings(user: Settings, state_dir: Path, baseline: bool) -> Settings:
    """The user's models and endpointing, but nothing that acts on the home: no MQTT, no Home
    Assistant, no devices, no user intents, timers in a scratch file. No wake word either:
    every clip is a command (always-listening mode), so the wake model does not decide what
    is measured."""
    settings = Settings(
        audio=user.audio, asr=user.asr, tts=user.tts, endpoint=user.endpoint, models=user.models,
        conversation=user.conversation.model_copy(update={"mode": "always_listening",
                                                          "control_socket": None}),
        timers=TimerSettings(state_file=state_dir / "timers.json"),
    )
    if not baseline:
        return settings
    # What open stacks do: Whisper on its full 30 s window, work only after the endpoint.
    return settings.model_copy(update={
        "asr": settings.asr.model_copy(update={"min_window_s": 30.0}),
        "endpoint": settings.endpoint.model_copy(update={"speculate": False}),
    })


async def run_turns(name: str, settings: Settings, wav: Path, placed: list[Placed],
                    events: Path, realtime: bool) -> Run:
    options = RunOptions(input=str(wav), output="none", events=str(events), realtime=realtime,
                         trace=False)
    code = await run_daemon(settings, options)
    if code != 0:
        raise RuntimeError(f"the daemon exited {code} on the {name} run")
    turns = _turns(_read(events), placed)
    heard: dict[int, list[str]] = defaultdict(list)
    for turn in turns:
        if turn.placed is not None:
            heard[id(turn.placed)].append(turn.text)
    pairs = [(p.clip.truth, " ".join(heard.get(id(p), []))) for p in placed]
    return Run(name, tuple(turns), wer(pairs))


def _read(events: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]


def _turns(events: list[dict[str, Any]], placed: list[Placed]) -> list[Turn]:
    by_turn: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for event in events:
        if event.get("turn_id") is not None:
            by_turn[event["turn_id"]].setdefault(event["type"], event)
    turns = []
    for seen in by_turn.values():
        ended, heard = seen.get("speech_ended"), seen.get("transcribed")
        if ended is None or heard is None or not heard["text"].strip():
            continue
        replied = seen.get("replied")
        audio_ms = heard.get("audio_ms") or 0
        turns.append(Turn(
            placed=next((p for p in placed if p.start_ms <= ended["at_ms"] < p.end_ms + GAP_MS),
                        None),
            text=heard["text"], latency_ms=heard["latency_ms"],
            first_audio_ms=replied.get("first_audio_ms") if replied else None,
            asr_ms_per_s=heard["compute_ms"] / audio_ms * 1000 if audio_ms else None,
            speculative=heard.get("speculative", False),
            reply=replied["text"] if replied else None,
            prepared=bool(replied and replied.get("prepared")),
        ))
    return turns
