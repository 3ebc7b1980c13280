"""What a placement needs to build an engine anywhere: a factory path and picklable options."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from assistant.events import Stage


@dataclass(frozen=True)
class EngineSpec:
    stage: Stage
    name: str
    """What runs, for logs before it is loaded ("whisper:tiny.en")."""
    factory: str
    """"module:callable" that takes `options` and returns the engine (imported where it runs)."""
    options: Any
    """A frozen dataclass of plain values: the worker never sees the settings tree."""
    key: tuple[str, ...]
    """(role, model, device, compute type): one loaded model per key, shared by its users."""
    on_cpu: EngineSpec | None = None
    """The same engine on the CPU, where a CUDA failure moves it; None when already there."""

    def build(self) -> Any:
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)(self.options)

    @property
    def role(self) -> str:
        return self.stage.name.lower()
