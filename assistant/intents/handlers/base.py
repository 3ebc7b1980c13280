"""The handler interface: async, may raise HandlerError, and never speak themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from assistant.intents.matching import IntentMatch


@dataclass(frozen=True)
class HandlerContext:
    turn_id: int
    now: datetime
    """Local wall-clock time when the command ended."""
    last_reply: str | None
    speaker: str | None = None
    """Who spoke the command (an enrolled name or "unknown"); None when speaker
    identification is off."""


@dataclass(frozen=True)
class HandlerResult:
    speech: str
    """What to say; empty for a silent result (stop, never mind)."""
    success: bool = True


def refusal(allowed: list[str], speaker: str | None) -> HandlerResult | None:
    """The spoken refusal when only `allowed` speakers may give this command; None if allowed."""
    if not allowed or (speaker is not None and speaker != "unknown"
                       and speaker.casefold() in {name.casefold() for name in allowed}):
        return None
    names = " or ".join(allowed)
    if speaker is None:
        return HandlerResult(f"Sorry, only {names} can do that, and I can't tell who is "
                             "speaking: speaker identification is off.", success=False)
    return HandlerResult(f"Sorry, only {names} can do that.", success=False)


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


@runtime_checkable
class Previewable(Protocol):
    """A handler whose reply is known before it acts (the time, a timer's confirmation), so the
    reply can be synthesized while the user may still be speaking."""

    def preview(self, match: IntentMatch, context: HandlerContext) -> str | None:
        """What `handle` would say, without side effects; None when it cannot be known."""
        ...
