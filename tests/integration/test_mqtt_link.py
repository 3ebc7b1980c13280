"""MqttLink against a real Mosquitto: publishing, outages, commands, watches, availability."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from assistant.config import MqttSettings, SiteSettings
from assistant.events import MuteChanged, SpeechStarted, StateChanged, Transcribed
from assistant.integrations.discovery import discovery_messages, package_version
from assistant.integrations.mqtt import MqttLink
from tests.integration.broker import Broker, Collector

pytestmark = pytest.mark.integration

SITE = SiteSettings(name="kitchen")
PREFIX = "assistant/kitchen/"


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (the project does not use pytest-asyncio)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


def settings(broker: Broker, **overrides: Any) -> MqttSettings:
    values: dict[str, Any] = {"host": broker.host, "port": broker.port,
                              "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, **overrides}
    return MqttSettings(**values)


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def in_thread(collector: Collector, topic: str, payload: str | None = None) -> str:
    return await asyncio.to_thread(collector.wait_for, topic, 5.0, payload)


@asynccontextmanager
async def running(link: MqttLink, connect: bool = True) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        if connect:
            await until(lambda: link.connected)
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def new_link(broker: Broker, commands: list[tuple[str, str]] | None = None, **overrides: Any
             ) -> MqttLink:
    sink = commands if commands is not None else []
    return MqttLink(settings(broker, **overrides), SITE, lambda n, t: sink.append((n, t)))


@in_loop
async def test_publish_reaches_a_subscriber(broker: Broker) -> None:
    link = new_link(broker)
    with Collector(broker, ["lights/#"]) as sub:
        async with running(link):
            assert await link.publish("lights/kitchen/set", "ON") is True
            assert await in_thread(sub, "lights/kitchen/set") == "ON"


@in_loop
async def test_outage_queues_and_reconnects_by_itself(broker: Broker) -> None:
    link = new_link(broker)
    # Persistent QoS 1 session: the broker keeps the message for it whichever reconnects first.
    with Collector(broker, ["lights/#"], client_id="sub-outage", clean=False) as sub:
        async with running(link) as task:
            broker.stop()
            await until(lambda: not link.connected)
            assert await link.publish("lights/kitchen/set", "OFF") is False
            await asyncio.sleep(0.3)  # a few failed reconnects
            assert not task.done()
            broker.start()
            await until(lambda: link.connected)
            assert await in_thread(sub, "lights/kitchen/set") == "OFF"
            assert await link.publish("lights/kitchen/set", "ON") is True
            assert await in_thread(sub, "lights/kitchen/set", "ON") == "ON"


@in_loop
async def test_outbox_keeps_the_newest(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    link = new_link(broker, queue_size=3)
    with Collector(broker, ["q/#"], client_id="sub-queue", clean=False) as sub:
        broker.stop()
        async with running(link, connect=False):
            for n in range(1, 6):
                assert await link.publish(f"q/{n}", str(n)) is False
            broker.start()
            await in_thread(sub, "q/5")
        assert [m.topic for m in sub.received] == ["q/3", "q/4", "q/5"]
    dropped = [r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING and "outbox full" in r.getMessage()]
    assert dropped and sum(int(m.split("dropped the ")[1].split()[0]) for m in dropped) == 2


@in_loop
async def test_queued_command_survives_event_chatter(broker: Broker) -> None:
    """Turns go on while the broker is away; their events must not push out the command the
    user was told would be sent, and retained states keep only their latest value."""
    link = new_link(broker, queue_size=4)
    with Collector(broker, ["home/#", f"{PREFIX}state"], client_id="sub-chatter",
                   clean=False) as sub:
        broker.stop()
        async with running(link, connect=False):
            assert await link.publish("home/light/set", "ON") is False
            for turn in range(1, 30):
                for state in ("listening", "thinking", "speaking", "idle"):
                    link.emit(StateChanged(at_ms=turn, state=state))
                link.emit(Transcribed(at_ms=turn, turn_id=turn, text=f"command {turn}"))
            broker.start()
            await in_thread(sub, "home/light/set", "ON")
            await in_thread(sub, f"{PREFIX}state", "idle")
        # Once live; once more, retained, if the subscriber re-subscribed after it arrived.
        assert set(sub.payloads(f"{PREFIX}state")) == {"idle"}


@in_loop
async def test_commands(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str]] = []
    link = new_link(broker, calls)
    expected: list[tuple[str, str]] = []
    with Collector(broker, []) as pub:
        async with running(link):
            cases: list[tuple[str, str | bytes, tuple[str, str] | None]] = [
                ("say", "hello there", ("say", "hello there")),
                ("listen", "", ("listen", "")),
                ("mute", "", ("mute", "")),
                ("unmute", "", ("unmute", "")),
                ("mute/set", "on", ("mute", "")),
                ("mute/set", "maybe", None),
                ("say", b"\xff\xfe bad", None),
                ("say", "", None),
                ("mute/set", "OFF", ("unmute", "")),
                # Passed on whole and cleaned: the voice caps it (tts.max_chars), at a word
                # boundary, never mid-word.
                ("say", "x" * 3000, ("say", "x" * 3000)),
                ("say", "Dinner\x00 is\r\n ready\x07", ("say", "Dinner is ready")),
            ]
            for topic, payload, call in cases:
                pub.publish(PREFIX + topic, payload)
                if call is not None:
                    expected.append(call)
                    await until(lambda: len(calls) == len(expected))
            assert link.connected
    assert calls == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("mute/set" in w and "maybe" in w for w in warnings)
    assert sum("say: needs UTF-8 text" in w for w in warnings) == 2


@in_loop
async def test_a_failing_callback_does_not_stop_the_link(broker: Broker) -> None:
    seen: list[str] = []

    def on_command(name: str, text: str) -> None:
        seen.append(text)
        raise RuntimeError("handler bug")

    link = MqttLink(settings(broker), SITE, on_command)
    with Collector(broker, []) as pub:
        async with running(link):
            pub.publish(PREFIX + "say", "one")
            pub.publish(PREFIX + "say", "two")
            await until(lambda: seen == ["one", "two"])
            assert link.connected


@in_loop
async def test_watch_gets_retained_and_live_states(broker: Broker) -> None:
    states: list[str] = []
    link = new_link(broker)
    link.watch("home/lamp/state", states.append)
    with Collector(broker, []) as pub:
        pub.publish("home/lamp/state", "ON", retain=True)
        async with running(link):
            await until(lambda: states == ["ON"])
            pub.publish("home/lamp/state", "OFF")
            await until(lambda: states == ["ON", "OFF"])


@in_loop
async def test_availability_online_then_offline(broker: Broker) -> None:
    link = new_link(broker)
    available = PREFIX + "available"
    with Collector(broker, [available]) as sub:
        task = asyncio.create_task(link.run())
        assert await in_thread(sub, available, "online") == "online"
        with Collector(broker, [available]) as later:
            assert (await in_thread(later, available)) == "online"
            assert later.received[-1].retain
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 2.5
        assert await in_thread(sub, available, "offline") == "offline"
    with Collector(broker, [available]) as later:
        assert await in_thread(later, available) == "offline"


@in_loop
async def test_discovery_configs_are_retained(broker: Broker) -> None:
    link = new_link(broker)
    async with running(link):
        await asyncio.sleep(0.1)
    with Collector(broker, ["homeassistant/#"]) as sub:
        await asyncio.to_thread(sub.wait_until, lambda: len(sub.received) == 4)
    got = {m.topic: json.loads(m.payload) for m in sub.received}
    assert all(m.retain for m in sub.received)
    assert got == dict(discovery_messages("homeassistant", PREFIX, "kitchen", package_version()))
    switch = got["homeassistant/switch/kitchen/mute/config"]
    assert switch["command_topic"] == "assistant/kitchen/mute/set"
    assert switch["state_topic"] == "assistant/kitchen/mute/state"
    assert switch["availability_topic"] == "assistant/kitchen/available"
    assert got["homeassistant/button/kitchen/listen/config"]["command_topic"] == PREFIX + "listen"


@in_loop
async def test_events_are_published_and_mute_survives_reconnect(broker: Broker) -> None:
    link = new_link(broker)
    with Collector(broker, [PREFIX + "#"]) as sub:
        async with running(link):
            link.emit(SpeechStarted(at_ms=1))  # no topic: not published
            link.emit(StateChanged(at_ms=2, state="listening"))
            link.emit(MuteChanged(at_ms=3, muted=True))
            link.emit(Transcribed(at_ms=4, turn_id=7, text="turn on the lamp"))
            transcript = json.loads(await in_thread(sub, PREFIX + "transcript"))
            assert transcript["text"] == "turn on the lamp" and transcript["turn_id"] == 7
            assert sub.payloads(PREFIX + "state") == ["listening"]
            assert sub.payloads(PREFIX + "mute/state") == ["ON"]
            assert not any(m.topic.endswith("speech_started") for m in sub.received)
            # Forget the retained mute state: only the link's republish can bring it back.
            sub.publish(PREFIX + "mute/state", b"", retain=True)
            broker.restart()
            await until(lambda: not link.connected)
            await until(lambda: link.connected)
            with Collector(broker, [PREFIX + "#"]) as later:
                assert await in_thread(later, PREFIX + "mute/state") == "ON"
                assert await in_thread(later, PREFIX + "state") == "listening"


@in_loop
async def test_username_and_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Broker(tmp_path / "auth", users={"assistant": "correct horse"})
    server.start()
    try:
        good = MqttLink(settings(server, username="assistant", password="correct horse"), SITE,
                        lambda name, text: None)
        async with running(good):
            assert await good.publish("auth/ok", "1") is True
        bad = MqttLink(settings(server, username="assistant", password="wrong"), SITE,
                       lambda name, text: None)
        async with running(bad, connect=False):
            await asyncio.sleep(1.0)  # it keeps trying (the password may be fixed on the broker)
            assert not bad.connected
        refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("127.0.0.1" in m and "authori" in m.lower() for m in refused), refused
    finally:
        server.stop()
