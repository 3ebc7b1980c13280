"""A local HTTP server that speaks the part of Home Assistant's REST API the assistant uses.

As documented at developers.home-assistant.io (REST API, Conversation API):
- POST /api/services/<domain>/<service>: JSON service data -> a JSON list of changed states;
  an unknown service is aiohttp's plain "400: Bad Request", invalid JSON {"message": ...}.
- GET /api/states/<entity_id>: a state object; 404 {"message": "Entity not found."}.
- POST /api/conversation/process: {"text", "language", "conversation_id"?} ->
  {"response": {..., "speech": {"plain": {"speech": ...}}}, "conversation_id": ...}.
Every call needs `Authorization: Bearer <token>` (else 401 "401: Unauthorized"), and a POST
must say `Content-Type: application/json`. Every request is recorded for assertions.

The `fake_ha` fixture is registered for every test by `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assistant.config import HomeAssistantSettings

TOKEN = "fake-long-lived-token"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    """Parsed JSON; None without a body; the raw text when it is not JSON."""


@dataclass
class FakeHomeAssistant:
    token: str = TOKEN
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    """entity_id -> {"state": ..., "attributes": {...}}; services change it."""
    services: set[str] = field(default_factory=lambda: {
        "light.turn_on", "light.turn_off", "light.toggle", "switch.turn_on", "switch.turn_off",
        "scene.turn_on"})
    conversation_speech: str | None = None
    """What the conversation agent answers; None: "I heard: <text>"."""
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def settings(self, **overrides: Any) -> HomeAssistantSettings:
        return HomeAssistantSettings.model_validate(
            {"url": self.url, "token": self.token, "timeout_s": 5.0, **overrides})

    def set_state(self, entity_id: str, state: str, **attributes: Any) -> None:
        with self._lock:
            self.states[entity_id] = {"state": state, "attributes": attributes}

    def state_object(self, entity_id: str) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        entry = self.states[entity_id]
        return {"entity_id": entity_id, "state": entry["state"],
                "attributes": dict(entry["attributes"]), "last_changed": now,
                "last_updated": now}

    # Each returns (status, body); a str body is sent as text/plain, anything else as JSON.
    def call_service(self, domain: str, service: str, data: Any) -> tuple[int, Any]:
        if f"{domain}.{service}" not in self.services:
            return 400, "400: Bad Request"  # ServiceNotFound -> HTTPBadRequest in HA
        data = data or {}
        ids = data.get("entity_id", [])
        ids = [ids] if isinstance(ids, str) else ids
        new_state = {"turn_on": "on", "turn_off": "off"}.get(service)
        changed = []
        with self._lock:
            for entity_id in ids:
                entry = self.states.get(entity_id)
                if entry is None:
                    continue
                if service == "toggle":
                    entry["state"] = "off" if entry["state"] == "on" else "on"
                elif new_state is not None:
                    entry["state"] = new_state
                entry["attributes"].update({k: v for k, v in data.items() if k != "entity_id"})
                changed.append(self.state_object(entity_id))
        return 200, changed

    def get_state(self, entity_id: str) -> tuple[int, Any]:
        with self._lock:
            if entity_id not in self.states:
                return 404, {"message": "Entity not found."}
            return 200, self.state_object(entity_id)

    def converse(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return 400, {"message": "Message format incorrect: required key not provided"}
        language = body.get("language", "en")
        speech = self.conversation_speech or f"I heard: {body['text']}"
        return 200, {
            "response": {
                "response_type": "action_done",
                "language": language,
                "data": {"targets": [], "success": [], "failed": []},
                "speech": {"plain": {"speech": speech, "extra_data": None}},
                "card": {},
            },
            "conversation_id": body.get("conversation_id") or uuid.uuid4().hex,
        }

    def route(self, request: Request) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, "401: Unauthorized"
        if request.method == "POST":
            if not request.headers.get("content-type", "").startswith("application/json"):
                return 400, {"message": "Content-Type must be application/json."}
            if isinstance(request.body, str):
                return 400, {"message": "Data should be valid JSON."}
        parts = request.path.split("?")[0].strip("/").split("/")
        match request.method, parts:
            case "GET", ["api"]:
                return 200, {"message": "API running."}
            case "POST", ["api", "services", domain, service]:
                return self.call_service(domain, service, request.body)
            case "GET", ["api", "states", entity_id]:
                return self.get_state(entity_id)
            case "POST", ["api", "conversation", "process"]:
                return self.converse(request.body)
        return 404, "404: Not Found"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection ends, so no thread outlives the test long

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request = Request(self.command, self.path,
                          {k.lower(): v for k, v in self.headers.items()}, body)
        fake = self.server.fake
        with fake._lock:
            fake.requests.append(request)
        status, reply = fake.route(request)
        text = reply if isinstance(reply, str) else json.dumps(reply)
        data = text.encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(reply, str) else "application/json"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeHomeAssistant) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@pytest.fixture
def fake_ha() -> Iterator[FakeHomeAssistant]:
    """A running fake Home Assistant on a free local port; stopped after the test."""
    fake = FakeHomeAssistant()
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-ha",
                              daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
