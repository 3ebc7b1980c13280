"""The handler interface: async, may raise HandlerError, and never speak themselves."""

from __future__ import annotations

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


class Handler(Protocol):
    async def handle(self, match: IntentMatch, context: HandlerContext) -> HandlerResult: ...
