"""Home Assistant over its REST API: call services, read states, use the conversation agent.

Every failure is a HandlerError that says what to fix. The access token never appears in a
message or a log line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assistant.config import HomeAssistantSettings
from assistant.errors import ConfigError, HandlerError
from assistant.quoting import excerpt

log = logging.getLogger(__name__)

MAX_STATE_CHARS = 255
"""Home Assistant keeps no longer states (longer attributes go in `attributes`)."""
_DOTTED_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


@dataclass(frozen=True)
class EntityState:
    entity_id: str
    state: str | None
    """None when Home Assistant sent a state longer than MAX_STATE_CHARS: not a state."""
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ConversationReply:
    speech: str
    """What Home Assistant's agent answered; empty when it gave no speech."""
    conversation_id: str | None
    """Pass back with the next text to continue the same conversation."""


def read_token(settings: HomeAssistantSettings) -> str:
    """The long-lived access token, from the config or from its token file."""
    if settings.token_file is None:
        token = (settings.token or "").strip()
        if not token:
            raise ConfigError("homeassistant.token is empty; create a long-lived access token "
                              "in your Home Assistant profile (Security tab) and put it there.")
        return token
    path = Path(settings.token_file).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the Home Assistant token file ({exc}); check "
                          "homeassistant.token_file and the file's permissions.") from exc
    if not token:
        raise ConfigError(f"{path}: the Home Assistant token file is empty; put a long-lived "
                          "access token from your Home Assistant profile (Security tab) in it.")
    return token


class HomeAssistantClient:
    """One HTTP connection pool per client, created on first use; call `aclose` when done."""

    def __init__(self, settings: HomeAssistantSettings) -> None:
        self._settings = settings
        self._url = settings.url.rstrip("/")
        self._token = read_token(settings)
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"HomeAssistantClient({self._url!r})"

    @property
    def url(self) -> str:
        return self._url

    async def call_service(self, service: str, data: dict[str, Any]) -> None:
        """Call `domain.service` (e.g. light.turn_on) with `data`; returns when HA has run it."""
        if not _DOTTED_ID.match(service):
            raise HandlerError(f"{service!r} is not a Home Assistant service; write it as "
                               "domain.service, e.g. light.turn_on.")
        domain, _, name = service.partition(".")
        await self._request("POST", f"/api/services/{domain}/{name}", data, what=service,
                            not_found=f"Home Assistant has no service {service}")

    async def get_state(self, entity_id: str) -> EntityState:
        if not _DOTTED_ID.match(entity_id):
            raise HandlerError(f"{entity_id!r} is not a Home Assistant entity id; write it as "
                               "domain.object_id, e.g. light.kitchen.")
        body = await self._request("GET", f"/api/states/{entity_id}", None, what=entity_id,
                                   not_found=f"Home Assistant has no entity {entity_id}; check "
                                   "the entity id under Settings > Entities")
        if not (isinstance(body, dict) and isinstance(body.get("state"), str)
                and isinstance(body.get("attributes", {}), dict)):
            raise HandlerError(f"Home Assistant's state of {entity_id} is malformed (no state "
                               f"string): {excerpt(json.dumps(body))}")
        state: str | None = body["state"]
        if state is not None and len(state) > MAX_STATE_CHARS:
            log.warning("Home Assistant sent a %d-character state for %s (it keeps at most "
                        "%d); its state is unreadable: %s", len(state), entity_id,
                        MAX_STATE_CHARS, excerpt(state))
            state = None
        return EntityState(str(body.get("entity_id", entity_id)), state,
                           dict(body.get("attributes", {})))

    async def converse(self, text: str, language: str, conversation_id: str | None = None
                       ) -> ConversationReply:
        """Hand `text` to Home Assistant's conversation agent and return its answer."""
        payload: dict[str, Any] = {"text": text, "language": language}
        if conversation_id is not None:
            payload["conversation_id"] = conversation_id
        body = await self._request(
            "POST", "/api/conversation/process", payload, what="the conversation request",
            not_found="Home Assistant has no conversation API; enable the conversation "
            "integration (it is part of default_config)")
        response = body.get("response") if isinstance(body, dict) else None
        if not isinstance(response, dict):
            raise HandlerError("Home Assistant's conversation reply is malformed (no "
                               f"'response' object): {excerpt(json.dumps(body))}")
        speech = response.get("speech") or {}
        plain = speech.get("plain") if isinstance(speech, dict) else None
        text_out = plain.get("speech") if isinstance(plain, dict) else None
        cid = body.get("conversation_id")
        return ConversationReply(speech=text_out if isinstance(text_out, str) else "",
                                 conversation_id=cid if isinstance(cid, str) else None)

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._url,
                timeout=self._settings.timeout_s,
                verify=self._settings.verify_tls,
                headers={"Authorization": f"Bearer {self._token}",
                         "Content-Type": "application/json"},
            )
        return self._http

    async def _request(self, method: str, path: str, payload: Any, *, what: str,
                       not_found: str) -> Any:
        """Send one request; the parsed JSON reply, or a HandlerError saying what to do."""
        try:
            response = await self._client().request(method, path, json=payload)
        except httpx.TimeoutException as exc:
            raise HandlerError(
                f"cannot reach Home Assistant at {self._url}: no answer within "
                f"{self._settings.timeout_s:g} s; check that it is running, or raise "
                "homeassistant.timeout_s") from exc
        except httpx.HTTPError as exc:
            raise HandlerError(
                f"cannot reach Home Assistant at {self._url}: {exc or type(exc).__name__}; "
                "check homeassistant.url and that Home Assistant is running") from exc
        log.debug("Home Assistant %s %s: %d", method, path, response.status_code)
        self._raise_for_status(response, what=what, not_found=not_found)
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:  # not JSON, or nested too deep
            raise HandlerError(
                f"Home Assistant sent a reply to {method} {path} that is not JSON "
                f"('{excerpt(_text(response).strip())}'); is {self._url} really Home Assistant?"
            ) from exc

    def _raise_for_status(self, response: httpx.Response, *, what: str, not_found: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 401:
            raise HandlerError(
                "Home Assistant refused the access token (401); create a new long-lived token "
                "in your Home Assistant profile (Security tab) and put it in "
                "homeassistant.token or token_file")
        if status == 403:
            raise HandlerError(f"Home Assistant does not allow {what} with this token (403); "
                               "use a token of a user with the needed rights (admin)")
        if status == 404:
            raise HandlerError(f"{not_found} (404)")
        message = _ha_message(response)
        if status == 400:
            raise HandlerError(f"Home Assistant rejected {what} (400): {message}; check the "
                               "service name and its data in the intent file")
        raise HandlerError(f"Home Assistant answered {status} to {what}: {message}; see "
                           "Home Assistant's log (Settings > System > Logs)")


def _ha_message(response: httpx.Response) -> str:
    """HA's own words: {"message": ...} from its JSON errors, else the body text."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return excerpt(_text(response).strip()) or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return excerpt(body["message"].strip())
    return excerpt(_text(response).strip())


def body_text(content: bytes, charset: str | None) -> str:
    """An HTTP body as text, in its charset if Python knows it as a text encoding, else UTF-8;
    bytes that do not decode become U+FFFD. A server's odd charset ("bogus", "base64") must
    not turn its answer into an exception (httpx's `.text` raises on some of them)."""
    if charset:
        try:
            return content.decode(charset, errors="replace")
        except (LookupError, ValueError):  # unknown, not a text encoding, or a malformed name
            log.debug("unusable charset %r in an HTTP reply; decoding it as UTF-8", charset)
    return content.decode("utf-8", errors="replace")


def _text(response: httpx.Response) -> str:
    return body_text(response.content, response.charset_encoding)

