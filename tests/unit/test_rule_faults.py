"""Whatever a sound rule raises is contained: a stage_failed, and listening and the rules go on.

The daemon-level version (a real webhook, a real alarm, a spoken command afterwards) is in
tests/integration/test_contained_faults.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from assistant.audio.format import AudioChunk
from assistant.config import SoundRuleSettings, SoundSettings
from assistant.errors import RULE_FAILED, HandlerError
from assistant.events import Event, SoundDetected, Stage, StageFailed
from assistant.frontend import sed
from assistant.frontend.sed import SoundStage
from assistant.integrations.homeassistant import body_text
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import HandlerContext, HandlerResult
from assistant.intents.matching import IntentMatch
from assistant.pipeline.sound_rules import Rule, SoundRules
from tests.unit.test_sound_rules import build, sound

ALARMS = frozenset({"Fire alarm", "Siren"})


class Crashing:
    """An action handler with a bug: it raises something nobody expected."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        self.calls += 1
        raise self.error


def rule(action: object | None = None, say: str | None = None, cooldown_s: float = 0
         ) -> Rule:
    # The settings' action only says the rule has one; `action` is what runs.
    spec = {"type": "http", "url": "http://127.0.0.1:9/"} if action is not None else None
    settings = SoundRuleSettings.model_validate(
        {"labels": ["alarm"], "say": say, "cooldown_s": cooldown_s, "action": spec})
    return Rule(settings, ALARMS, cast(ActionHandler | None, action))


def failures(events: list[Event]) -> list[tuple[Stage, str, str]]:
    return [(e.stage, e.code, e.message) for e in events if isinstance(e, StageFailed)]


def test_an_action_that_raises_anything_is_a_rule_failed_and_the_rules_go_on() -> None:
    said: list[str] = []
    events: list[Event] = []
    crashing = Crashing(RuntimeError("handler bug"))
    engine = SoundRules([rule(crashing), rule(say="Alarm!")], said.append, events.append)
    asyncio.run(engine.on_sound(sound("Fire alarm", 0, 3000)))
    asyncio.run(engine.on_sound(sound("Siren", 4000, 6000)))
    assert crashing.calls == 2  # the crash did not disable the rule
    assert said == ["Alarm!", "Alarm!"]  # nor the rule after it
    assert failures(events) == [
        (Stage.SOUND, RULE_FAILED, "sounds.rules.0.action: RuntimeError: handler bug")] * 2


def test_a_failed_announcement_still_runs_the_action() -> None:
    def announce(text: str) -> None:
        raise ValueError(f"no voice for {text!r}")

    events: list[Event] = []
    crashing = Crashing(HandlerError("the webhook answered 500; check its log"))
    engine = SoundRules([rule(crashing, say="Alarm!")], announce, events.append)
    asyncio.run(engine.on_sound(sound("Siren", 0, 2000)))
    assert crashing.calls == 1
    assert failures(events) == [
        (Stage.SOUND, RULE_FAILED, "sounds.rules.0.say: ValueError: no voice for 'Alarm!'"),
        (Stage.SOUND, "handler_failed",
         "sounds.rules.0.action: the webhook answered 500; check its log")]


def test_a_say_template_that_fails_on_the_sound_is_reported_and_the_action_runs() -> None:
    engine, said, broker, events = build({
        "labels": ["alarm"], "say": "Heard {{ label }} at {{ score // 0 }}.",
        "action": {"type": "mqtt", "topic": "home/alarm", "payload": "{{ label }}"}})
    asyncio.run(engine.on_sound(sound("Siren", 0, 2000)))
    assert said == [] and broker.sent == [("home/alarm", "Siren")]
    [(stage, code, message)] = failures(events)
    assert (stage, code) == (Stage.SOUND, "handler_failed")
    assert message.startswith("sounds.rules.0.say") and "division" in message


class Classifier:
    """The stage's classifier face, for a stage that is only given rules to run."""

    labels = ("Speech", "Siren")
    window_ms = 960
    hop_ms = 480

    def load(self) -> None:
        pass


class BrokenRules:
    """Rules with a bug of their own (outside any one rule): the stage must survive it too."""

    def __init__(self, hang_on: str = "") -> None:
        self.seen: list[str] = []
        self.hang_on = hang_on

    async def on_sound(self, event: SoundDetected) -> None:
        self.seen.append(event.label)
        if event.label == self.hang_on:
            await asyncio.Event().wait()  # a webhook that never answers
        if event.label == "Siren":
            raise KeyError("rule index")


async def no_audio() -> AsyncIterator[AudioChunk]:
    return
    yield  # an input that has already ended


def stage_with(rules: BrokenRules, events: list[Event]) -> SoundStage:
    return SoundStage(SoundSettings(enabled=True), cast(Any, Classifier()),
                      cast(SoundRules, rules), events.append, lambda: False)


def test_the_stage_survives_rules_that_raise_and_runs_the_later_ones() -> None:
    events: list[Event] = []
    rules = BrokenRules()
    stage = stage_with(rules, events)
    for i, label in enumerate(["Siren", "Dog", "Siren", "Glass"]):
        stage._queue_rules(sound(label, i * 1000, i * 1000 + 500))

    asyncio.run(stage.run(no_audio()))  # returns: nothing escaped the stage's TaskGroup
    assert rules.seen == ["Siren", "Dog", "Siren", "Glass"]
    assert failures(events) == [(Stage.SOUND, RULE_FAILED, "KeyError: 'rule index'")] * 2


def test_rules_still_busy_when_the_input_ends_do_not_fail_the_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sed, "RULES_DRAIN_S", 0.2)
    events: list[Event] = []
    rules = BrokenRules(hang_on="Dog")
    stage = stage_with(rules, events)
    stage._queue_rules(sound("Dog", 0, 500))
    stage._queue_rules(sound("Glass", 1000, 1500))
    asyncio.run(asyncio.wait_for(stage.run(no_audio()), 10))  # no TimeoutError out of it
    assert rules.seen == ["Dog"]


@pytest.mark.parametrize(("charset", "body", "text"), [
    ("bogus", "café".encode(), "café"),
    ("base64", b"not base64 \xff", "not base64 \ufffd"),  # a codec, but not a text encoding
    ("rot13", b"ok", "ok"),
    ("x\0y", b"ok", "ok"),
    (None, b"caf\xc3\xa9 \xff", "café \ufffd"),
    ("latin-1", "café".encode("latin-1"), "café"),
    ("utf-16", "hé".encode("utf-16"), "hé"),
])
def test_an_http_body_with_any_charset_is_text(charset: str | None, body: bytes, text: str
                                               ) -> None:
    assert body_text(body, charset) == text

