"""What a user's own intent does: the validated `action` of an intent in an intents file.

String fields marked "template" are Jinja templates (sandboxed) that see the matched slots,
both as `slots.<name>` and as `<name>`, and the recognized `text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def named_speakers(names: list[str]) -> list[str]:
    """A `speakers:` list (of a device or an intent): enrolled names only."""
    if any(name.casefold() == "unknown" for name in names):
        raise ValueError("'unknown' is every voice nobody enrolled; list enrolled names only")
    return names


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttAction(_Action):
    type: Literal["mqtt"]
    topic: Annotated[str, Field(min_length=1)]
    """Template."""
    payload: str = ""
    """Template."""
    qos: Annotated[int, Field(ge=0, le=2)] = 1
    retain: bool = False


class HomeAssistantAction(_Action):
    """Call a service over the REST API, or hand the text to the conversation agent."""

    type: Literal["homeassistant"]
    service: Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z0-9_]+$")] | None = None
    """domain.service, e.g. light.turn_on."""
    data: dict[str, Any] = {}
    """Service data; string values are templates."""
    conversation: bool = False
    """True: send the recognized text to Home Assistant's conversation API and speak its answer."""

    @model_validator(mode="after")
    def _check(self) -> HomeAssistantAction:
        if (self.service is None) == (not self.conversation):
            raise ValueError("give either service or conversation: true")
        return self


class HttpAction(_Action):
    type: Literal["http"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    """Template."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = {}
    """Values are templates."""
    json_body: Any = Field(default=None, alias="json")
    """Sent as JSON; string values (at any depth) are templates. null: no body."""
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class ShellAction(_Action):
    type: Literal["shell"]
    command: Annotated[list[str], Field(min_length=1)]
    """Argument vector, never run through a shell. The program (first item) must be in
    shell.allow; the other items are templates, each one argument however it renders."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None
    """null: shell.timeout_s."""
    speak_output: bool = False
    """Speak what the command printed (its standard output) instead of the response."""


Action = Annotated[
    MqttAction | HomeAssistantAction | HttpAction | ShellAction, Field(discriminator="type")
]


class CustomIntent(_Action):
    """The assistant's keys on an intent in a user's intents file (beside hassil's `data`)."""

    response: str = ""
    """Template for what to say when the action succeeded ("" says nothing). It also sees
    `result`: the HTTP response body (parsed JSON when it is JSON) or the command's output."""
    action: Action
    speakers: Annotated[list[str], AfterValidator(named_speakers)] = []
    """Only these enrolled speakers may use this intent (empty: anyone)."""


def program_allowed(program: str, allow: list[Path]) -> Path | None:
    """The allowlisted path `program` names, if any (exact path, or a bare name of one)."""
    for entry in allow:
        if program == str(entry) or ("/" not in program and program == entry.name):
            return entry
    return None
