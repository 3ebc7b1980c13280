"""A turn owns the speculation it was handed: however the turn ends (answered, timed out,
interrupted), nothing of the speculation runs on to compete with the next reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from assistant.audio.files import read_file
from assistant.audio.sinks import NullSink
from assistant.config import Settings
from assistant.engines.configured import Engines, asr_spec, voice_specs
from assistant.engines.faces import AsrEngine, TtsEngine
from assistant.events import Event
from assistant.integrations.links import HomeLinks
from assistant.intents.router import Router
from assistant.pipeline.speculation import Speculation
from assistant.pipeline.turn import TurnRunner, Utterance

pytestmark = pytest.mark.integration
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"


def with_runner(timeout_s: float, body: Callable[[TurnRunner, list[Event]], Awaitable[None]],
                tmp_path: Path) -> list[Event]:
    events: list[Event] = []
    settings = Settings.model_validate({"timers": {"state_file": str(tmp_path / "t.json")}})

    async def main() -> None:
        engines = Engines(settings, events.append)
        asr = AsrEngine(engines.place(asr_spec(settings), "thread", 15))
        tts = TtsEngine([engines.place(voice_specs(settings)[0], "thread", 15)])
        links = HomeLinks.from_settings(settings, lambda text: None, lambda name, text: None)
        runner = TurnRunner(asr, tts, Router.from_settings(settings, links.services), NullSink(),
                            settings.responses, timeout_s, events.append, lambda: 0)
        try:
            await asr.placement.start()
            await tts.start()
            await body(runner, events)
        finally:
            runner.shutdown()
            await engines.aclose()

    asyncio.run(main())
    return events


def utterance(runner: TurnRunner, pcm: bytes) -> tuple[Utterance, Speculation]:
    speculation = runner.speculate(1, pcm)
    return Utterance(1, pcm, 2000, time.perf_counter(), speculation), speculation


def test_a_turn_that_times_out_cancels_its_speculation(audio_dir: Path, tmp_path: Path) -> None:
    pcm = read_file(audio_dir / WHAT_TIME)
    left: list[bool] = []

    async def body(runner: TurnRunner, events: list[Event]) -> None:
        said, speculation = utterance(runner, pcm)
        assert await runner.run(said)  # no answer within 1 ms: the turn times out
        left.append(speculation.guess.done() and speculation.reply.done())

    events = with_runner(0.001, body, tmp_path)
    assert left == [True], "the speculation still ran after its turn"
    codes = [getattr(e, "code", None) for e in events if e.type == "stage_failed"]
    assert codes == ["turn_timeout"]
    assert [getattr(e, "text", None) for e in events if e.type == "replied"] == \
        ["Sorry, something went wrong."]


def test_an_interrupted_turn_cancels_its_speculation(audio_dir: Path, tmp_path: Path) -> None:
    pcm = read_file(audio_dir / WHAT_TIME)
    left: list[bool] = []

    async def body(runner: TurnRunner, events: list[Event]) -> None:
        said, speculation = utterance(runner, pcm)
        turn = asyncio.create_task(runner.run(said))
        await asyncio.sleep(0.05)  # Whisper is at work on the speculation
        turn.cancel()  # barge-in
        await asyncio.wait({turn})
        left.append(speculation.guess.done() and speculation.reply.done())
        assert speculation.reply.cancelled()

    events = with_runner(30, body, tmp_path)
    assert left == [True]
    assert [e.type for e in events if e.type in ("turn_cancelled", "replied")] == \
        ["turn_cancelled"]


def test_an_answered_turn_uses_the_prepared_reply_and_leaves_nothing(
        audio_dir: Path, tmp_path: Path) -> None:
    pcm = read_file(audio_dir / WHAT_TIME)
    left: list[bool] = []

    async def body(runner: TurnRunner, events: list[Event]) -> None:
        said, speculation = utterance(runner, pcm)
        await speculation.settle()
        assert await runner.run(said)
        left.append(speculation.guess.done() and speculation.reply.done())

    events = with_runner(30, body, tmp_path)
    assert left == [True]
    [replied] = [e for e in events if e.type == "replied"]
    assert getattr(replied, "prepared", False) is True
    assert str(getattr(replied, "text", "")).startswith("It's")
