"""The MQTT link: events out, commands in, device states watched; survives the broker going away.

Everything outgoing goes through one bounded outbox, sent in order by one sender task while the
broker is there, so nothing overtakes what was queued while it was away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from assistant.config import MqttSettings, SiteSettings, mqtt_prefix, site_id
from assistant.events import (
    Event,
    IntentMatched,
    IntentNotMatched,
    MusicDetected,
    MuteChanged,
    Replied,
    SoundDetected,
    SpeakerIdentified,
    StageFailed,
    StateChanged,
    Transcribed,
    WakeDetected,
    to_json,
)
from assistant.integrations.discovery import discovery_messages, package_version
from assistant.quoting import excerpt
from assistant.tts.text import cap, normalize

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 5.0
"""How long publish() waits for the broker's acknowledgement before answering "queued"."""
SEND_TIMEOUT_S = 10.0
"""A broker that acknowledges nothing for this long is treated as gone: reconnect."""
SHUTDOWN_S = 2.0
WARN_EVERY_S = 300.0
INCOMING_QUEUE = 1000
MAX_SAY_CHARS = 50000
"""The most of a `say` that is passed on (cut at a word boundary): the most tts.max_chars lets
be said; the voice cuts at its own cap."""
MAX_STATE_BYTES = 4096
"""A watched topic's payload longer than this is no device state (zigbee2mqtt's JSON states
are a few hundred bytes): its watchers are told it is unreadable."""
COMMANDS = ("say", "listen", "mute", "unmute", "mute/set")

CommandCallback = Callable[[str, str], None]
WatchCallback = Callable[[str | None], None]
"""Called with each payload on a watched topic; None for one that is not readable text
(not UTF-8, or longer than MAX_STATE_BYTES)."""


@dataclass(frozen=True)
class _Route:
    suffix: str
    retain: bool = False
    payload: Callable[[Any], str] = to_json


# Retained ones describe the current state (qos 1); the rest are a stream (qos 0).
_ROUTES: dict[type[Event], _Route] = {
    StateChanged: _Route("state", retain=True, payload=lambda e: e.state),
    MuteChanged: _Route("mute/state", retain=True, payload=lambda e: "ON" if e.muted else "OFF"),
    WakeDetected: _Route("wake"),
    Transcribed: _Route("transcript", retain=True),
    IntentMatched: _Route("intent"),
    IntentNotMatched: _Route("intent"),
    Replied: _Route("reply"),
    StageFailed: _Route("error"),
    SoundDetected: _Route("sound"),
    MusicDetected: _Route("music"),  # nothing says when music stops: not retained
    SpeakerIdentified: _Route("speaker"),
}


@dataclass(frozen=True)
class _Outgoing:
    topic: str
    payload: str
    qos: int
    retain: bool
    done: asyncio.Future[bool] | None = None
    """Resolved True once the broker has it, False when it is (still) queued or dropped."""
    event: bool = False
    """The assistant's own event (dropped first when the outbox is full), not a command."""

    def resolve(self, sent: bool) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(sent)


class MqttLink:
    def __init__(self, settings: MqttSettings, site: SiteSettings,
                 on_command: CommandCallback) -> None:
        self._settings = settings
        self._site = site_id(site)
        self._prefix = mqtt_prefix(settings, site)
        self._on_command = on_command
        self._watches: dict[str, list[WatchCallback]] = {}
        self._outbox: deque[_Outgoing] = deque(maxlen=settings.queue_size)
        self._wake = asyncio.Event()
        self._connected = False
        self._running = False
        self._muted: bool | None = None
        self._dropped = 0  # since the outbox last overflowed and was reported
        self._drop_warned_at = -math.inf
        self._retry = _Retry(settings.reconnect_min_s, settings.reconnect_max_s,
                             f"{settings.host}:{settings.port}")

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def connected(self) -> bool:
        """Connected, announced ("online", discovery) and subscribed to commands and watches."""
        return self._connected

    def watch(self, topic: str, callback: WatchCallback) -> None:
        """Call `callback(payload)` for every message on `topic` (wildcards allowed), retained
        ones included; None for a payload that is not readable text (too long, not UTF-8), so
        the watcher knows the last one it had is no longer current. Subscribed on every
        connect, so register before run()."""
        if self._running:
            log.warning("MQTT watch on %s registered while running: active after reconnect", topic)
        self._watches.setdefault(topic, []).append(callback)

    async def publish(self, topic: str, payload: str, *, qos: int = 1, retain: bool = False
                      ) -> bool:
        """True when the broker has the message; False when it is queued until it is back."""
        if not self._connected:
            self._enqueue(_Outgoing(topic, payload, qos, retain))
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._enqueue(_Outgoing(topic, payload, qos, retain, done))
        try:
            async with asyncio.timeout(ACK_TIMEOUT_S):
                # Shielded: a caller that gives up leaves the message queued, not lost.
                return await asyncio.shield(done)
        except TimeoutError:
            log.warning("MQTT broker did not acknowledge %s within %.0f s; it stays queued",
                        topic, ACK_TIMEOUT_S)
            return False

    def publish_nowait(self, topic: str, payload: str, *, qos: int = 0, retain: bool = False
                       ) -> None:
        """Queue an event from sync code (event loop thread only); sent by run()."""
        self._enqueue(_Outgoing(topic, payload, qos, retain, event=True))

    def emit(self, event: Event) -> None:
        """EventBus output: publish the events that have a topic. Never raises, never blocks."""
        try:
            route = _ROUTES.get(type(event))
            if route is None:
                return
            if isinstance(event, MuteChanged):
                self._muted = event.muted
            self.publish_nowait(self._prefix + route.suffix, route.payload(event),
                                qos=1 if route.retain else 0, retain=route.retain)
        except Exception:
            log.exception("could not publish %s to MQTT", event.type)

    async def run(self) -> None:
        """Stay connected until cancelled; then say "offline" and disconnect (bounded)."""
        self._running = True
        try:
            while True:
                try:
                    await self._connection(self._client())
                except Exception as exc:
                    _raise_if_cancelled()  # shutting down, whatever failed
                    if not _is_connection_error(exc):
                        log.error("MQTT link failed; reconnecting", exc_info=exc)
                    delay = self._retry.failed(exc)
                else:
                    delay = self._retry.failed(None)
                await asyncio.sleep(delay)
        finally:
            self._running = False

    def _client(self) -> aiomqtt.Client:
        s = self._settings
        tls = aiomqtt.TLSParameters(ca_certs=str(s.ca_file) if s.ca_file else None) \
            if s.tls else None
        return aiomqtt.Client(
            s.host, s.port, username=s.username, password=s.password,
            identifier=s.client_id or f"assistant-{self._site}",
            keepalive=s.keepalive_s,
            will=aiomqtt.Will(f"{self._prefix}available", "offline", qos=1, retain=True),
            tls_params=tls, tls_insecure=True if s.tls and s.tls_insecure else None,
            max_queued_incoming_messages=INCOMING_QUEUE,
            logger=log.getChild("client"),
        )

    async def _connection(self, client: aiomqtt.Client) -> None:
        """One connection, from connect until it is lost (raises) or cancelled."""
        async with client:
            _raise_if_cancelled()
            self._retry.succeeded()
            try:
                async with asyncio.TaskGroup() as tasks:
                    # The receiver is what notices a lost connection (it raises, and the group
                    # cancels the rest): aiomqtt's publish would wait out its timeout instead.
                    tasks.create_task(self._receive_loop(client))
                    await self._announce(client)
                    self._connected = True
                    await self._send_loop(client)
            except asyncio.CancelledError:
                await self._goodbye(client)
                raise
            finally:
                self._connected = False
                for item in self._outbox:  # still queued: their publish() answers False now
                    item.resolve(False)

    async def _announce(self, client: aiomqtt.Client) -> None:
        prefix = self._prefix
        if self._settings.discovery:
            for topic, config in discovery_messages(self._settings.discovery_prefix, prefix,
                                                    self._site, package_version()):
                await _publish(client, _Outgoing(topic, json.dumps(config), 1, True))
                _raise_if_cancelled()
        if self._muted is not None:
            state = "ON" if self._muted else "OFF"
            await _publish(client, _Outgoing(f"{prefix}mute/state", state, 1, True))
            _raise_if_cancelled()
        topics = [f"{prefix}{name}" for name in COMMANDS] + list(self._watches)
        await client.subscribe([(topic, 1) for topic in topics], timeout=SEND_TIMEOUT_S)
        _raise_if_cancelled()
        # Last: "online" means commands are heard from now on.
        await _publish(client, _Outgoing(f"{prefix}available", "online", 1, True))
        _raise_if_cancelled()
        if self._dropped:
            self._report_drops()

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        while True:
            while not self._outbox:
                self._wake.clear()
                await self._wake.wait()
            await self._send_first(client)
            _raise_if_cancelled()

    async def _send_first(self, client: aiomqtt.Client) -> None:
        item = self._outbox[0]
        await _publish(client, item)  # failure ends the connection; the item stays first
        if self._outbox and self._outbox[0] is item:  # else dropped meanwhile
            self._outbox.popleft()
        item.resolve(True)

    async def _receive_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                self._dispatch(message.topic.value, message.payload)
            except Exception:
                log.exception("MQTT message on %s could not be handled",
                              excerpt(message.topic.value))

    def _dispatch(self, topic: str, payload: object) -> None:
        name = topic[len(self._prefix):] if topic.startswith(self._prefix) else None
        if name in COMMANDS:
            self._command(name, payload)
        for pattern, callbacks in self._watches.items():
            if aiomqtt.Topic(topic).matches(pattern):
                state = self._state(topic, payload)
                for callback in callbacks:
                    callback(state)

    @staticmethod
    def _state(topic: str, payload: object) -> str | None:
        """A watched payload as text, or None (with a warning) when it cannot be a state."""
        size = _size(payload)
        if size > MAX_STATE_BYTES:
            log.warning("MQTT %s: a %d-byte payload is no device state (at most %d); its "
                        "state is unreadable: %s", excerpt(topic), size, MAX_STATE_BYTES,
                        excerpt(_shown(payload)))
            return None
        text = _text(payload)
        if text is None:
            log.warning("MQTT %s: payload is not UTF-8 text; its state is unreadable: %s",
                        excerpt(topic), excerpt(_shown(payload)))
        return text

    def _command(self, name: str, payload: object) -> None:
        if name == "say":
            # One character more than is kept: cap() then sees a cut word and drops it.
            text = _text(payload, MAX_SAY_CHARS + 1)
            spoken = cap(normalize(text), MAX_SAY_CHARS) if text is not None else ""
            if not spoken:
                log.warning("MQTT %ssay: needs UTF-8 text to speak, got '%s'; ignored",
                            self._prefix, excerpt(_shown(payload)))
                return
            self._on_command("say", spoken)
        elif name == "mute/set":
            value = (_text(payload) or "").strip().upper() if _size(payload) <= 16 else ""
            if value not in ("ON", "OFF"):
                log.warning("MQTT %smute/set: expected ON or OFF, got '%s'; ignored",
                            self._prefix, excerpt(_shown(payload)))
                return
            self._on_command("mute" if value == "ON" else "unmute", "")
        else:
            self._on_command(name, "")

    def _enqueue(self, item: _Outgoing) -> None:
        if item.event and item.retain:  # only the latest state matters: replace a queued one
            stale = [queued for queued in self._outbox
                     if queued.event and queued.topic == item.topic]
            for queued in stale:
                self._outbox.remove(queued)
        if len(self._outbox) == self._outbox.maxlen:
            # Events go first: a command the user was told would be sent must survive chatter.
            victim = next((queued for queued in self._outbox if queued.event), self._outbox[0])
            self._outbox.remove(victim)
            victim.resolve(False)
            self._dropped += 1
            if time.monotonic() - self._drop_warned_at >= WARN_EVERY_S:
                self._report_drops()
        self._outbox.append(item)
        self._wake.set()

    def _report_drops(self) -> None:
        log.warning("MQTT outbox full (%d messages): dropped the %d oldest (events before "
                    "commands)", self._outbox.maxlen, self._dropped)
        self._dropped = 0
        self._drop_warned_at = time.monotonic()

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """Send what is queued (the last state changes), then "offline"; ~SHUTDOWN_S at most."""
        step_s = SHUTDOWN_S / 3
        client.timeout = step_s  # bounds the wait for the broker's goodbye in __aexit__
        try:
            async with asyncio.timeout(step_s):
                while self._outbox:
                    await self._send_first(client)
        except (TimeoutError, aiomqtt.MqttError):
            log.warning("MQTT: %d queued message(s) not sent at shutdown", len(self._outbox))
        try:
            await client.publish(f"{self._prefix}available", "offline", qos=1, retain=True,
                                 timeout=step_s)
        except aiomqtt.MqttError as exc:
            log.warning("could not tell the MQTT broker we are going offline: %s", exc)


async def _publish(client: aiomqtt.Client, item: _Outgoing) -> None:
    await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain,
                         timeout=SEND_TIMEOUT_S)


def _raise_if_cancelled() -> None:
    """Python 3.11's wait_for (inside aiomqtt) loses a cancel that races the broker's answer;
    without this check a shutdown could then wait forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _text(payload: object, max_chars: int | None = None) -> str | None:
    """The payload as UTF-8 text (None if it is not), its first `max_chars` characters."""
    if not isinstance(payload, bytes | bytearray):
        text = "" if payload is None else str(payload)
        return text if max_chars is None else text[:max_chars]
    data = bytes(payload if max_chars is None else payload[: max_chars * 4])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Cut off mid-character (a character is at most 4 bytes): the text before it is good.
        if len(data) == len(payload) or exc.start < len(data) - 3:
            return None
        text = data[: exc.start].decode("utf-8")
    return text if max_chars is None else text[:max_chars]


def _size(payload: object) -> int:
    if isinstance(payload, bytes | bytearray):
        return len(payload)
    return 0 if payload is None else len(str(payload))


def _shown(payload: object) -> str | bytes | bytearray:
    """A payload as excerpt() quotes it (it reads only the start)."""
    if isinstance(payload, bytes | bytearray):
        return payload
    return "" if payload is None else str(payload)


class _Retry:
    """Backoff with jitter, and logging that does not warn on every attempt of a long outage."""

    def __init__(self, min_s: float, max_s: float, where: str) -> None:
        self._min_s, self._max_s, self._where = min_s, max_s, where
        self._failures = 0
        self._down_since: float | None = None
        self._warned_at = -math.inf
        self._was_connected = False

    def succeeded(self) -> None:
        if self._down_since is None:
            log.info("connected to the MQTT broker at %s", self._where)
        else:
            log.info("reconnected to the MQTT broker at %s after %.1f s", self._where,
                     time.monotonic() - self._down_since)
        self._failures, self._down_since, self._was_connected = 0, None, True
        self._warned_at = -math.inf

    def failed(self, error: BaseException | None) -> float:
        """Note a lost connection or a failed attempt; returns the delay before the next."""
        now = time.monotonic()
        reason = _describe(error)
        if self._was_connected:
            log.warning("lost the MQTT connection to %s (%s); reconnecting", self._where, reason)
            self._was_connected, self._warned_at = False, now
        elif now - self._warned_at >= WARN_EVERY_S:
            log.warning("cannot reach the MQTT broker at %s (%s); retrying, outgoing messages "
                        "are queued", self._where, reason)
            self._warned_at = now
        else:
            log.debug("MQTT connect attempt %d failed: %s", self._failures, reason)
        if self._down_since is None:
            self._down_since = now
        delay = min(self._max_s, self._min_s * 2 ** min(self._failures, 30))
        self._failures += 1
        return max(self._min_s, random.uniform(delay / 2, delay))


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_connection_error(e) for e in error.exceptions)
    return isinstance(error, aiomqtt.MqttError | OSError)  # OSError includes TimeoutError


def _describe(error: BaseException | None) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if error is None:
        return "disconnected"
    return str(error) or type(error).__name__
