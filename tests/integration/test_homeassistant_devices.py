"""Devices that live in Home Assistant: the REST calls the assistant makes, checked by a local
stand-in that implements Home Assistant's documented REST API and checks the token."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from assistant.config import Settings
from assistant.errors import HandlerError
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.intents.devices import DeviceRegistry
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.router import Router, Services
from tests.integration.fake_homeassistant import FakeHomeAssistant

pytestmark = pytest.mark.integration


def router_for(fake_ha: FakeHomeAssistant, token: str | None = None,
               fallback: bool = False) -> tuple[Router, HomeAssistantClient]:
    ha = fake_ha.settings(conversation_fallback=fallback, **({"token": token} if token else {}))
    settings = Settings.model_validate({
        "homeassistant": ha.model_dump(mode="json"),
        "devices": [{"name": "porch light", "type": "light", "area": "porch",
                     "entity_id": "light.porch"},
                    {"name": "front door", "type": "lock", "entity_id": "lock.front_door"}],
    })
    assert settings.homeassistant is not None
    client = HomeAssistantClient(settings.homeassistant)
    return Router.from_settings(settings, Services(DeviceRegistry(settings.devices), None,
                                                   client)), client


async def ask(router: Router, text: str) -> tuple[str, bool]:
    context = HandlerContext(turn_id=1, now=datetime.now().astimezone(), last_reply=None)
    match = router.match(text)
    result = await (router.handle(match, context) if match is not None
                    else router.fallback(text, context))
    return result.speech, result.success


def test_turn_on_calls_the_documented_service(fake_ha: FakeHomeAssistant) -> None:
    router, client = router_for(fake_ha)

    async def go() -> tuple[str, bool]:
        try:
            return await ask(router, "Turn on the porch light.")
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ("Turned on the porch light.", True)
    (call,) = [r for r in fake_ha.requests if r.method == "POST"]
    assert call.path == "/api/services/light/turn_on"
    assert call.headers["authorization"] == f"Bearer {fake_ha.token}"
    assert call.headers["content-type"].startswith("application/json")
    assert call.body == {"entity_id": "light.porch"}


def test_state_question_reads_the_entity(fake_ha: FakeHomeAssistant) -> None:
    fake_ha.set_state("lock.front_door", "unlocked")
    router, client = router_for(fake_ha)

    async def go() -> tuple[str, bool]:
        try:
            return await ask(router, "Is the front door locked?")
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ("No, the front door is unlocked.", True)
    assert [r.path for r in fake_ha.requests] == ["/api/states/lock.front_door"]


def test_wrong_token_is_a_failure_not_a_success(fake_ha: FakeHomeAssistant) -> None:
    router, client = router_for(fake_ha, token="stale-token")

    async def go() -> None:
        try:
            await ask(router, "Turn off the porch light.")
        finally:
            await client.aclose()

    with pytest.raises(HandlerError, match="401"):
        asyncio.run(go())


def test_unmatched_text_goes_to_the_conversation_agent(fake_ha: FakeHomeAssistant) -> None:
    fake_ha.conversation_speech = "It is sunny in Lisbon."
    router, client = router_for(fake_ha, fallback=True)

    async def go() -> tuple[str, bool]:
        try:
            return await ask(router, "What's the weather in Lisbon?")
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ("It is sunny in Lisbon.", True)
    (call,) = fake_ha.requests
    assert call.path == "/api/conversation/process"
    assert call.body["text"] == "What's the weather in Lisbon?" and call.body["language"] == "en"
