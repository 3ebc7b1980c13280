"""The handler interface: async, may raise HandlerError, and never speak themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from assistant.intents.matching import IntentMatch


@dataclass(frozen=True)
class HandlerContext:
    turn_id: int
    now: datetime
    """Local wall-clock time when the command ended."""
    last_reply: str | None


@dataclass(frozen=True)
class HandlerResult:
    speech: str
    """What to say; empty for a silent result (stop, never mind)."""
    success: bool = True


class Publisher(Protocol):
    """Where MQTT messages go (the broker link)."""

    async def publish(self, topic: str, payload: str, *, qos: int = 1, retain: bool = False
                      ) -> bool:
        """True when the broker has the message; False when it is queued until the broker is
        back (then say so: the action has not happened yet)."""
        ...


Announce = Callable[[str], None]
"""Speak text outside a turn (a timer finished, an MQTT `say`); queued behind any turn."""


class Handler(Protocol):
    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult: ...
