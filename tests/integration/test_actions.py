"""User intent actions against real servers and real processes (no mocks of HTTP or exec).

`fake_ha` comes from tests.integration.fake_homeassistant (a plugin in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from assistant.config import ResponseSettings, ShellSettings
from assistant.errors import ConfigError, HandlerError, IntentError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.actions import CustomIntent
from assistant.intents.handlers import actions
from assistant.intents.handlers.actions import ActionHandler
from assistant.intents.handlers.base import HandlerContext, HandlerResult
from assistant.intents.matching import IntentMatch
from tests.integration.fake_homeassistant import FakeHomeAssistant

pytestmark = pytest.mark.integration

T = TypeVar("T")
CONTEXT = HandlerContext(turn_id=1, now=datetime(2025, 1, 1, 12, 0), last_reply=None)
RESPONSES = ResponseSettings()


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def intent(spec: dict[str, Any]) -> CustomIntent:
    return CustomIntent.model_validate(spec)


def handler(spec: dict[str, Any], *, publisher: Any = None,
            ha: HomeAssistantClient | None = None, shell: ShellSettings | None = None
            ) -> ActionHandler:
    return ActionHandler("TestIntent", intent(spec), publisher=publisher, homeassistant=ha,
                         shell=shell or ShellSettings(), responses=RESPONSES)


def match(text: str = "do it", **slots: Any) -> IntentMatch:
    return IntentMatch("TestIntent", slots, text)


async def handle_then_close(h: ActionHandler, m: IntentMatch,
                            ha: HomeAssistantClient | None = None) -> HandlerResult:
    try:
        return await h.handle(m, CONTEXT)
    finally:
        if ha is not None:
            await ha.aclose()


# --- Home Assistant -----------------------------------------------------------------------

def test_service_call_sends_exactly_the_documented_request(fake_ha: FakeHomeAssistant) -> None:
    fake_ha.set_state("light.kitchen", "off", friendly_name="Kitchen")
    ha = HomeAssistantClient(fake_ha.settings())
    h = handler({"response": "The {{ room }} light is on.",
                 "action": {"type": "homeassistant", "service": "light.turn_on",
                            "data": {"entity_id": "light.{{ room }}", "brightness_pct": 40}}},
                ha=ha)
    result = run(handle_then_close(h, match("kitchen light on", room="kitchen"), ha))
    assert result == HandlerResult("The kitchen light is on.")
    [request] = fake_ha.requests
    assert (request.method, request.path) == ("POST", "/api/services/light/turn_on")
    assert request.body == {"entity_id": "light.kitchen", "brightness_pct": 40}
    assert request.headers["authorization"] == f"Bearer {fake_ha.token}"
    assert request.headers["content-type"] == "application/json"
    assert fake_ha.states["light.kitchen"]["state"] == "on"


def test_wrong_token_is_a_401_error_without_the_token(fake_ha: FakeHomeAssistant) -> None:
    ha = HomeAssistantClient(fake_ha.settings(token="not-the-token"))
    with pytest.raises(HandlerError) as err:
        run(_call_and_close(ha, ha.call_service("light.turn_on", {"entity_id": "light.x"})))
    assert "401" in err.value.message and "long-lived token" in err.value.message
    assert "not-the-token" not in err.value.message


async def _call_and_close(ha: HomeAssistantClient, call: Awaitable[T]) -> T:
    try:
        return await call
    finally:
        await ha.aclose()


def test_unknown_service_includes_home_assistants_message(fake_ha: FakeHomeAssistant) -> None:
    ha = HomeAssistantClient(fake_ha.settings())
    with pytest.raises(HandlerError, match=r"rejected light\.explode \(400\): 400: Bad Request"):
        run(_call_and_close(ha, ha.call_service("light.explode", {})))


def test_get_state_and_unknown_entity(fake_ha: FakeHomeAssistant) -> None:
    fake_ha.set_state("sensor.kitchen_temperature", "21.5", unit_of_measurement="°C")
    ha = HomeAssistantClient(fake_ha.settings())

    async def both() -> Any:
        state = await ha.get_state("sensor.kitchen_temperature")
        with pytest.raises(HandlerError, match="Home Assistant has no entity sensor.nope"):
            await ha.get_state("sensor.nope")
        return state

    state = run(_call_and_close(ha, both()))
    assert (state.entity_id, state.state) == ("sensor.kitchen_temperature", "21.5")
    assert state.attributes == {"unit_of_measurement": "°C"}
    assert [r.path for r in fake_ha.requests] == ["/api/states/sensor.kitchen_temperature",
                                                  "/api/states/sensor.nope"]


def test_token_file(fake_ha: FakeHomeAssistant, tmp_path: Path) -> None:
    token_file = tmp_path / "ha-token"
    token_file.write_text(f"  {fake_ha.token}\n")
    fake_ha.set_state("light.hall", "on")
    ha = HomeAssistantClient(fake_ha.settings(token=None, token_file=token_file))
    assert run(_call_and_close(ha, ha.get_state("light.hall"))).state == "on"
    token_file.write_text("\n")
    with pytest.raises(ConfigError, match=f"{token_file}: the Home Assistant token file is empty"):
        HomeAssistantClient(fake_ha.settings(token=None, token_file=token_file))
    with pytest.raises(ConfigError, match="cannot read the Home Assistant token file"):
        HomeAssistantClient(fake_ha.settings(token=None, token_file=tmp_path / "missing"))


def test_conversation_speaks_home_assistants_answer_and_continues_it(
        fake_ha: FakeHomeAssistant, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_ha.conversation_speech = "Turned on the kitchen light"
    ha = HomeAssistantClient(fake_ha.settings())
    h = handler({"action": {"type": "homeassistant", "conversation": True}}, ha=ha)

    async def three_turns() -> list[HandlerResult]:
        try:
            first = await h.handle(match("turn on the kitchen light"), CONTEXT)
            second = await h.handle(match("and the hall"), CONTEXT)
            monkeypatch.setattr(actions, "CONVERSATION_IDLE_S", -1.0)  # as if 5 min passed
            third = await h.handle(match("hello again"), CONTEXT)
            return [first, second, third]
        finally:
            await ha.aclose()

    results = run(three_turns())
    assert [r.speech for r in results] == ["Turned on the kitchen light"] * 3
    bodies = [r.body for r in fake_ha.requests]
    assert [r.path for r in fake_ha.requests] == ["/api/conversation/process"] * 3
    assert bodies[0] == {"text": "turn on the kitchen light", "language": "en"}
    assert bodies[1]["conversation_id"]  # the id Home Assistant gave in its first reply
    assert bodies[1]["text"] == "and the hall"
    assert "conversation_id" not in bodies[2]


def test_unreachable_home_assistant(fake_ha: FakeHomeAssistant) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    ha = HomeAssistantClient(fake_ha.settings(url=url))
    with pytest.raises(HandlerError, match=f"cannot reach Home Assistant at {url}"):
        run(_call_and_close(ha, ha.get_state("light.x")))


def test_reply_that_is_not_json(echo: str, fake_ha: FakeHomeAssistant) -> None:
    ha = HomeAssistantClient(fake_ha.settings(url=echo))
    with pytest.raises(HandlerError, match="that is not JSON"):
        run(_call_and_close(ha, ha.get_state("light.x")))


def test_homeassistant_action_without_a_client_is_refused() -> None:
    with pytest.raises(IntentError, match="needs a homeassistant section"):
        handler({"action": {"type": "homeassistant", "service": "light.turn_on"}})


# --- HTTP -----------------------------------------------------------------------------------

class _Echo(BaseHTTPRequestHandler):
    """POST /echo -> the request as JSON; /fail -> 500; anything else -> plain text."""

    protocol_version = "HTTP/1.1"
    timeout = 5
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        record = {"path": self.path, "body": body,
                  "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.seen.append(record)
        if self.path.startswith("/fail"):
            self._reply(500, "text/plain", b"database on fire")
        else:
            self._reply(200, "application/json", json.dumps(record).encode())

    def do_GET(self) -> None:
        self._reply(200, "text/plain; charset=utf-8", b"plain reply")

    def _reply(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def echo(echo_seen: list[dict[str, Any]]) -> Iterator[str]:
    handler_class = type("Echo", (_Echo,), {"seen": echo_seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_action_renders_slots_into_url_headers_and_json(
        echo: str, echo_seen: list[dict[str, Any]]) -> None:
    h = handler({"response": "{{ result.body.room }} is at {{ result.body.level[0] }}",
                 "action": {"type": "http", "url": echo + "/echo",
                            "headers": {"X-Room": "{{ room }}"},
                            "json": {"room": "{{ room }}", "level": ["{{ level }}", 7],
                                     "said": "{{ text }}", "fixed": True}}})
    result = run(h.handle(match("set the den to 3", room="den", level=3), CONTEXT))
    assert result == HandlerResult("den is at 3")
    [seen] = echo_seen
    assert seen["path"] == "/echo"
    assert seen["body"] == {"room": "den", "level": ["3", 7], "said": "set the den to 3",
                            "fixed": True}
    assert seen["headers"]["x-room"] == "den"
    assert seen["headers"]["content-type"] == "application/json"


def test_http_action_text_result(echo: str) -> None:
    h = handler({"response": "It said {{ result }}",
                 "action": {"type": "http", "method": "GET", "url": echo + "/anything"}})
    assert run(h.handle(match(), CONTEXT)).speech == "It said plain reply"


def test_http_action_error_status_is_a_handler_error(echo: str) -> None:
    h = handler({"response": "never said",
                 "action": {"type": "http", "url": echo + "/fail?api_key={{ key }}",
                            "json": {"a": 1}}})
    with pytest.raises(HandlerError) as err:
        run(h.handle(match(key="s3cret"), CONTEXT))
    assert f"POST {echo}/fail answered 500" in err.value.message
    assert "database on fire" in err.value.message
    assert "s3cret" not in err.value.message  # a query may carry secrets


def test_http_action_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/slow"
        h = handler({"action": {"type": "http", "url": url, "timeout_s": 0.3}})
        with pytest.raises(HandlerError, match=r"no answer within 0.3 s"):
            run(h.handle(match(), CONTEXT))


# --- Shell ----------------------------------------------------------------------------------

def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_slot_values_are_single_literal_arguments(tmp_path: Path) -> None:
    args = script(tmp_path, "args", 'echo "$#"\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n')
    hostile = [f"; touch {tmp_path}/pwned1", f"$(touch {tmp_path}/pwned2)",
               f"`touch {tmp_path}/pwned3`", "it's \"quoted\" | cat > x", "two  words"]
    h = handler({"action": {"type": "shell", "speak_output": True,
                            "command": [str(args), "{{ a }}", "{{ b }}", "{{ c }}", "--",
                                        "{{ d }}", "{{ slots.e }}"]}},
                shell=ShellSettings(allow=[args]))
    slots = dict(zip("abcde", hostile, strict=True))
    result = run(h.handle(match(**slots), CONTEXT))
    lines = result.speech.splitlines()
    assert lines[0] == "6"
    assert lines[1:] == [f"[{v}]" for v in [*hostile[:3], "--", *hostile[3:]]]
    assert not list(tmp_path.glob("pwned*"))
    assert not (Path.cwd() / "x").exists()


def test_output_is_the_result_for_the_response(tmp_path: Path) -> None:
    h = handler({"response": "Uptime: {{ result }}",
                 "action": {"type": "shell", "command": ["echo", "{{ n }} days"]}},
                shell=ShellSettings(allow=[Path("/bin/echo")]))
    assert run(h.handle(match(n=3), CONTEXT)).speech == "Uptime: 3 days"


def test_program_not_allowed_is_refused_at_construction() -> None:
    with pytest.raises(IntentError) as err:
        handler({"action": {"type": "shell", "command": ["/usr/bin/rm", "-rf", "/tmp/x"]}},
                shell=ShellSettings(allow=[Path("/bin/echo")]))
    assert "'/usr/bin/rm' is not allowed" in err.value.message
    assert "/bin/echo" in err.value.message and "shell.allow" in err.value.message


@pytest.mark.parametrize("program", ["/bin/sh", "/bin/bash", "/usr/bin/env"])
def test_shells_cannot_be_allowed(program: str) -> None:
    with pytest.raises(ValidationError, match="a shell or command runner cannot be allowed"):
        ShellSettings(allow=[Path(program)])


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_timeout_kills_the_program_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    slow = script(tmp_path, "slow", 'sleep 30 &\necho "$$ $!" > "$1"\nwait\n')
    h = handler({"action": {"type": "shell", "command": [str(slow), str(pidfile)],
                            "timeout_s": 0.5}}, shell=ShellSettings(allow=[slow]))
    started = time.monotonic()
    with pytest.raises(HandlerError, match=r"did not finish within 0.5 s and was stopped"):
        run(h.handle(match(), CONTEXT))
    assert time.monotonic() - started < 5  # not held up by the child holding the pipes
    pids = [int(p) for p in pidfile.read_text().split()]
    assert all(_gone(pid) for pid in pids)


def test_cancelled_turn_kills_the_program(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    slow = script(tmp_path, "slow", 'echo "$$" > "$1"\nexec sleep 30\n')
    h = handler({"action": {"type": "shell", "command": [str(slow), str(pidfile)]}},
                shell=ShellSettings(allow=[slow], timeout_s=60))

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(h.handle(match(), CONTEXT))
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_soon())
    assert _gone(int(pidfile.read_text()))


def test_failing_program_reports_exit_code_and_last_stderr_line(tmp_path: Path) -> None:
    bad = script(tmp_path, "bad", 'echo "first" >&2\necho "disk full" >&2\nexit 3\n')
    h = handler({"response": "never", "action": {"type": "shell", "command": [str(bad)]}},
                shell=ShellSettings(allow=[bad]))
    with pytest.raises(HandlerError, match=r"exited with code 3: disk full$"):
        run(h.handle(match(), CONTEXT))


def test_output_is_capped(tmp_path: Path) -> None:
    loud = script(tmp_path, "loud", "head -c 1000000 /dev/zero | tr '\\0' 'a'\n")
    h = handler({"response": "{{ result | length }}",
                 "action": {"type": "shell", "command": [str(loud)]}},
                shell=ShellSettings(allow=[loud]))
    assert run(h.handle(match(), CONTEXT)).speech == str(actions.OUTPUT_LIMIT_BYTES)


# --- MQTT and checks at construction ------------------------------------------------------

class StubPublisher:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.sent: list[tuple[str, str, int, bool]] = []

    async def publish(self, topic: str, payload: str, *, qos: int = 1, retain: bool = False
                      ) -> bool:
        self.sent.append((topic, payload, qos, retain))
        return self.ok


MQTT_SPEC = {"response": "Fan {{ speed }}.",
             "action": {"type": "mqtt", "topic": "home/{{ room }}/fan/set",
                        "payload": '{"speed": "{{ speed }}"}', "qos": 2, "retain": True}}


@pytest.mark.parametrize("ok", [True, False])
def test_mqtt_publishes_and_says_queued_when_the_broker_is_away(ok: bool) -> None:
    publisher = StubPublisher(ok)
    result = run(handler(MQTT_SPEC, publisher=publisher).handle(
        match(room="office", speed="high"), CONTEXT))
    assert publisher.sent == [("home/office/fan/set", '{"speed": "high"}', 2, True)]
    expected = HandlerResult("Fan high.") if ok else HandlerResult(RESPONSES.queued, False)
    assert result == expected


def test_mqtt_action_without_broker_is_refused() -> None:
    with pytest.raises(IntentError, match="needs an mqtt section"):
        handler(MQTT_SPEC)


def test_broken_template_is_refused_at_construction() -> None:
    spec = {**MQTT_SPEC, "response": "Fan {{ speed }."}
    with pytest.raises(IntentError, match="intent TestIntent response .* not a valid template"):
        handler(spec, publisher=StubPublisher(True))
