"""Faults in what a sound rule or an action does stay where they happen; the daemon listens on.

A real HTTP server on 127.0.0.1 plays the webhook (and Home Assistant) that answers oddly; the
real daemon hears a (synthetic, as in test_sound_events) alarm and then a real spoken command.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assistant.config import HomeAssistantSettings, ResponseSettings, Settings, ShellSettings
from assistant.errors import HandlerError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.actions import CustomIntent
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import HandlerContext, HandlerResult
from assistant.intents.matching import IntentMatch
from tests.integration.helpers import Run, run_file
from tests.integration.test_sound_events import beeps

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
WHAT_TIME = "asr/rhasspy3_what_time_is_it.wav"
BOGUS = "text/plain; charset=bogus"
CONTEXT = HandlerContext(turn_id=1, now=datetime(2025, 1, 1, 12, 0), last_reply=None)


@dataclass
class Answer:
    status: int = 200
    content_type: str = BOGUS
    body: bytes = b"caf\xc3\xa9 \xff ok"


@dataclass
class Webhook:
    """A real HTTP server: every request is recorded and gets `answer`."""

    url: str = ""
    answer: Answer = field(default_factory=Answer)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, body: bytes) -> Answer:
        with self._lock:
            self.requests.append((method, path, body))
            return self.answer


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            answer = hook.record(self.command, self.path, self.rfile.read(length))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def alarm_settings(webhook: Webhook, tmp_path: Path) -> Settings:
    return Settings.model_validate({
        "sounds": {"enabled": True, "rules": [{
            "labels": ["alarm"],
            "action": {"type": "http", "url": f"{webhook.url}/alarm",
                       "json": {"sound": "{{ label }}"}, "timeout_s": 5}}]},
        "timers": {"state_file": str(tmp_path / "timers.json")},
    })


def alarm_then_command(audio_dir: Path, build_input: Callable[..., Path]) -> Path:
    return build_input(1000, beeps(8.0), 1500, audio_dir / NABU, 600, audio_dir / WHAT_TIME,
                       1500)


def assert_command_answered_after_the_alarm(run: Run) -> None:
    assert run.code == 0
    [sound] = run.of_type("sound_detected")
    transcribed = run.of_type("transcribed")
    assert any("what time is it" in t["text"].lower() for t in transcribed), transcribed
    [matched] = run.of_type("intent_matched")
    assert matched["intent"] == "HassGetCurrentTime"
    [replied] = run.of_type("replied")
    assert replied["at_ms"] > sound["start_ms"] and replied["success"]
    assert run.types[-1] == "input_ended"


def test_a_webhook_answering_a_bogus_charset_does_not_stop_the_daemon(
    webhook: Webhook, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    run = run_file(alarm_settings(webhook, tmp_path), alarm_then_command(audio_dir,
                                                                          build_input), tmp_path)
    [(method, path, body)] = webhook.requests  # the rule really called it, once
    assert (method, path) == ("POST", "/alarm")
    assert json.loads(body)["sound"] == run.of_type("sound_detected")[0]["label"]
    assert run.of_type("stage_failed") == []  # the odd answer is decoded, not an error
    assert_command_answered_after_the_alarm(run)


def test_a_rule_action_that_crashes_is_a_rule_failed_and_listening_goes_on(
    webhook: Webhook, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_handle = ActionHandler.handle

    async def crashing(self: ActionHandler, match: IntentMatch, context: HandlerContext
                       ) -> HandlerResult:
        await real_handle(self, match, context)  # the webhook is called, then a bug
        raise RuntimeError("a bug in the handler")

    monkeypatch.setattr(ActionHandler, "handle", crashing)
    run = run_file(alarm_settings(webhook, tmp_path), alarm_then_command(audio_dir,
                                                                          build_input), tmp_path)
    assert len(webhook.requests) == 1
    [failed] = run.of_type("stage_failed")
    assert (failed["stage"], failed["code"]) == ("sound", "rule_failed")
    assert failed["message"] == "sounds.rules.0.action: RuntimeError: a bug in the handler"
    assert_command_answered_after_the_alarm(run)


# --- the same answers, straight to the action and the Home Assistant client ------------------

def fetch(webhook: Webhook, response: str = "{{ result }}", **action: Any) -> HandlerResult:
    spec = CustomIntent.model_validate({"response": response, "action": {
        "type": "http", "url": f"{webhook.url}/hook", "timeout_s": 5, **action}})
    handler = ActionHandler("Hook", spec, publisher=None, homeassistant=None,
                            shell=ShellSettings(), responses=ResponseSettings())
    return asyncio.run(handler.handle(IntentMatch("Hook", {}, "hook"), CONTEXT))


@pytest.mark.parametrize(("content_type", "body", "spoken"), [
    (BOGUS, b"caf\xc3\xa9 \xff ok", "café \ufffd ok"),
    ("text/plain; charset=base64", b"plain", "plain"),  # a codec that is not a text encoding
    ("text/plain; charset=latin-1", "café".encode("latin-1"), "café"),
    ("application/json; charset=bogus", b'{"temp": 21}', "{'temp': 21}"),
    ("application/json", b"[" * 5000, "[" * 5000),  # JSON too deep for Python: kept as text
])
def test_an_http_reply_in_any_charset_is_text(
    webhook: Webhook, content_type: str, body: bytes, spoken: str,
) -> None:
    webhook.answer = Answer(200, content_type, body)
    assert fetch(webhook).speech == spoken


def test_an_error_reply_with_a_bogus_charset_is_a_handler_error(webhook: Webhook) -> None:
    webhook.answer = Answer(503, BOGUS, b"down for maintenance \xff")
    with pytest.raises(HandlerError, match="answered 503 .*: down for maintenance \ufffd"):
        fetch(webhook)


def test_a_request_httpx_cannot_send_is_a_handler_error(webhook: Webhook) -> None:
    with pytest.raises(HandlerError, match="header values must be ASCII"):
        fetch(webhook, headers={"X-Room": "Küche"})
    with pytest.raises(HandlerError, match="99999 is not a port"):
        fetch(webhook, url="http://127.0.0.1:99999/hook")
    assert webhook.requests == []


@pytest.mark.parametrize("charset", ["bogus", "base64", "utf-16"])
def test_home_assistant_errors_with_a_broken_charset_are_handler_errors(
    webhook: Webhook, charset: str,
) -> None:
    webhook.answer = Answer(500, f"text/plain; charset={charset}", b"Internal Server Error")
    settings = HomeAssistantSettings.model_validate({"url": webhook.url, "token": "t0k3n"})

    async def call() -> None:
        ha = HomeAssistantClient(settings)
        try:
            await ha.call_service("light.turn_on", {"entity_id": "light.kitchen"})
        finally:
            await ha.aclose()

    with pytest.raises(HandlerError, match="answered 500 to light.turn_on") as caught:
        asyncio.run(call())
    assert "t0k3n" not in caught.value.message
    assert [(m, p) for m, p, _ in webhook.requests] == [("POST", "/api/services/light/turn_on")]
