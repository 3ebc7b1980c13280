"""A user's own intent: run its action (MQTT, Home Assistant, HTTP, a program), then answer.

Everything that can be checked before a command is spoken is checked when the handler is
built (IntentError); what fails later raises HandlerError saying what failed and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from assistant.config import ResponseSettings, ShellSettings
from assistant.errors import HandlerError, IntentError
from assistant.integrations.homeassistant import HomeAssistantClient, body_text
from assistant.intents.actions import (
    CustomIntent,
    HomeAssistantAction,
    HttpAction,
    MqttAction,
    ShellAction,
    program_allowed,
)
from assistant.intents.handlers.base import HandlerContext, HandlerResult, Publisher, refusal
from assistant.intents.matching import IntentMatch
from assistant.intents.templates import check, check_value, render, render_value
from assistant.quoting import excerpt

log = logging.getLogger(__name__)

CONVERSATION_IDLE_S = 300.0
"""After this long without a follow-up, start a new Home Assistant conversation."""
OUTPUT_LIMIT_BYTES = 64 * 1024
"""Most of a command's output (or an HTTP body) that is kept; the rest is read and dropped."""
SPOKEN_LIMIT_CHARS = 500


class ActionHandler:
    def __init__(self, intent_name: str, spec: CustomIntent, *, publisher: Publisher | None,
                 homeassistant: HomeAssistantClient | None, shell: ShellSettings,
                 responses: ResponseSettings, language: str = "en") -> None:
        self._name = intent_name
        self._spec = spec
        self._publisher = publisher
        self._ha = homeassistant
        self._shell = shell
        self._responses = responses
        self._language = language
        self._conversation_id: str | None = None
        self._conversation_at = 0.0
        self._validate()

    def _validate(self) -> None:
        where = f"intent {self._name}"
        action = self._spec.action
        check(self._spec.response, name=f"{where} response")
        if isinstance(action, MqttAction):
            if self._publisher is None:
                raise IntentError(f"{where}: its mqtt action needs an mqtt section in the "
                                  "config (the broker's host) to publish to")
            check(action.topic, name=f"{where} action.topic")
            check(action.payload, name=f"{where} action.payload")
        elif isinstance(action, HomeAssistantAction):
            if self._ha is None:
                raise IntentError(f"{where}: its homeassistant action needs a homeassistant "
                                  "section in the config (url and token)")
            check_value(action.data, name=f"{where} action.data")
        elif isinstance(action, HttpAction):
            check(action.url, name=f"{where} action.url")
            check_value(action.headers, name=f"{where} action.headers")
            check_value(action.json_body, name=f"{where} action.json")
        else:
            self._allowed_program(action, error=IntentError)
            for index, arg in enumerate(action.command[1:], start=1):
                check(arg, name=f"{where} action.command[{index}]")

    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult:
        refused = refusal(self._spec.speakers, context.speaker)
        if refused is not None:
            return refused  # and nothing happens
        action = self._spec.action
        if isinstance(action, MqttAction):
            return await self._mqtt(action, match)
        if isinstance(action, HomeAssistantAction):
            if action.conversation:
                return await self._converse(match)
            return await self._service(action, match)
        if isinstance(action, HttpAction):
            return self._respond(match, await self._http(action, match))
        output = await self._run(action, match)
        if action.speak_output and output:
            return HandlerResult(_spoken(output))
        return self._respond(match, output)

    def _render(self, template: str, match: IntentMatch, field: str) -> str:
        return render(template, match.slots, match.text, name=f"intent {self._name} {field}")

    def _respond(self, match: IntentMatch, result: Any) -> HandlerResult:
        return HandlerResult(render(self._spec.response, match.slots, match.text, result,
                                    name=f"intent {self._name} response"))

    async def _mqtt(self, action: MqttAction, match: IntentMatch) -> HandlerResult:
        assert self._publisher is not None  # checked in _validate
        topic = self._render(action.topic, match, "action.topic")
        if not topic or any(c in topic for c in "+#\0"):
            raise HandlerError(f"intent {self._name}: the topic rendered to {topic!r}, which "
                               "cannot be published to; fix action.topic (no + or #)")
        payload = self._render(action.payload, match, "action.payload")
        if not await self._publisher.publish(topic, payload, qos=action.qos,
                                             retain=action.retain):
            # Queued until the broker is back: it has not happened, so do not say it has.
            return HandlerResult(self._responses.queued, success=False)
        return self._respond(match, None)

    async def _service(self, action: HomeAssistantAction, match: IntentMatch) -> HandlerResult:
        assert self._ha is not None and action.service is not None
        data = render_value(action.data, match.slots, match.text,
                            name=f"intent {self._name} action.data")
        await self._ha.call_service(action.service, data)
        return self._respond(match, None)

    async def _converse(self, match: IntentMatch) -> HandlerResult:
        assert self._ha is not None
        now = time.monotonic()
        if now - self._conversation_at > CONVERSATION_IDLE_S:
            self._conversation_id = None
        reply = await self._ha.converse(match.text, self._language, self._conversation_id)
        self._conversation_id = reply.conversation_id
        self._conversation_at = time.monotonic()
        if self._spec.response:
            return self._respond(match, reply.speech)
        return HandlerResult(reply.speech)

    async def _http(self, action: HttpAction, match: IntentMatch) -> Any:
        url = self._render(action.url, match, "action.url")
        headers = {key: self._render(value, match, f"action.headers.{key}")
                   for key, value in action.headers.items()}
        body = None
        if action.json_body is not None:
            body = render_value(action.json_body, match.slots, match.text,
                                name=f"intent {self._name} action.json")
        return await _fetch(action, url, headers, body)

    def _allowed_program(self, action: ShellAction, error: type[Exception]) -> Path:
        program = action.command[0]
        path = program_allowed(program, self._shell.allow)
        if path is None:
            allowed = ", ".join(str(p) for p in self._shell.allow) or "nothing"
            raise error(f"intent {self._name}: the program {excerpt(program)!r} is not allowed "
                        f"(shell.allow has: {allowed}); add its absolute path to shell.allow in "
                        "the config to let intents run it")
        return path

    async def _run(self, action: ShellAction, match: IntentMatch) -> str:
        """Run the allowlisted program; each further item is ONE argument, never a shell."""
        # Checked again: the settings this handler holds are what is allowed now.
        path = self._allowed_program(action, error=HandlerError)
        args = [self._render(arg, match, f"action.command[{i}]")
                for i, arg in enumerate(action.command[1:], start=1)]
        timeout_s = action.timeout_s or self._shell.timeout_s
        try:
            # A new session: on timeout or cancel the whole process group is killed, so a
            # script's children cannot keep the output pipes (and this turn) open.
            process = await asyncio.create_subprocess_exec(
                str(path), *args, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except OSError as exc:
            raise HandlerError(f"cannot run {path}: {exc.strerror or exc}; check that it is "
                               "installed and executable, or fix shell.allow") from exc
        assert process.stdout is not None and process.stderr is not None
        try:
            async with asyncio.timeout(timeout_s):
                stdout, stderr = await asyncio.gather(_read_limited(process.stdout),
                                                      _read_limited(process.stderr))
                code = await process.wait()
        except TimeoutError as exc:
            raise HandlerError(f"{path} did not finish within {timeout_s:g} s and was stopped; "
                               "raise the action's timeout_s (or shell.timeout_s) if it needs "
                               "longer") from exc
        finally:
            await _kill(process)
        if code != 0:
            last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no error output"]
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise HandlerError(f"{path} {how}: {excerpt(last[0])}")
        return stdout.decode(errors="replace").strip()


async def _fetch(action: HttpAction, url: str, headers: dict[str, str], body: Any) -> Any:
    """Send the request; the reply's JSON (or text), or HandlerError on a failure or non-2xx."""
    what = f"{action.method} {_shown_url(url)}"
    content = bytearray()
    try:
        async with httpx.AsyncClient(timeout=action.timeout_s) as client:
            request = _build_request(client, action, url, headers, body, what)
            response = await client.send(request, stream=True)
            try:
                async for block in response.aiter_bytes():
                    content += block
                    if len(content) >= OUTPUT_LIMIT_BYTES:
                        break  # enough for a response; an endless body must not hang the turn
            finally:
                await response.aclose()
    except httpx.TimeoutException as exc:
        raise HandlerError(f"{what}: no answer within {action.timeout_s:g} s; check that "
                           "the service is up, or raise action.timeout_s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise HandlerError(f"{what} failed: {exc or type(exc).__name__}; check the URL "
                           "and that the service is running") from exc
    text = body_text(bytes(content[:OUTPUT_LIMIT_BYTES]), response.charset_encoding)
    if not response.is_success:
        snippet = excerpt(text.strip()) if text.strip() else ""
        raise HandlerError(f"{what} answered {response.status_code} {response.reason_phrase}"
                           f"{': ' + snippet if snippet else ''}; check the URL, the request "
                           "and the service's log")
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past what Python parses
            log.warning("%s: the reply says it is JSON but is not; using it as text", what)
    return text


def _build_request(client: httpx.AsyncClient, action: HttpAction, url: str,
                   headers: dict[str, str], body: Any, what: str) -> httpx.Request:
    """The request, or HandlerError for what httpx would fail on only as an untyped error (a
    header that is not ASCII, a body that is not JSON, a port past 65535)."""
    try:
        request = client.build_request(action.method, url, headers=headers, json=body)
    except (TypeError, ValueError) as exc:
        raise HandlerError(f"{what}: cannot build the request ({exc}); header values must be "
                           "ASCII and the body JSON: check action.headers and action.json"
                           ) from exc
    port = request.url.port
    if port is not None and port > 65535:
        raise HandlerError(f"{what}: {port} is not a port (1 to 65535); fix action.url")
    return request


def _shown_url(url: str) -> str:
    """The URL for messages and logs, without a query or user info that may hold secrets."""
    try:
        return str(httpx.URL(url).copy_with(query=None, fragment=None, userinfo=b""))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.split("?", 1)[0]


async def _read_limited(reader: asyncio.StreamReader) -> bytes:
    """Up to OUTPUT_LIMIT_BYTES of a pipe; the rest is drained so the program never blocks."""
    kept = bytearray()
    while block := await reader.read(65536):
        kept += block[: max(0, OUTPUT_LIMIT_BYTES - len(kept))]
    return bytes(kept)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the process group if it is still running, and reap it (also when cancelled)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    await asyncio.shield(process.wait())


def _spoken(output: str) -> str:
    """A command's output as speech: at most SPOKEN_LIMIT_CHARS, cut at a word."""
    if len(output) <= SPOKEN_LIMIT_CHARS:
        return output
    return output[:SPOKEN_LIMIT_CHARS].rsplit(maxsplit=1)[0] + "..."
