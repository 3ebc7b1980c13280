"""What a placement needs to build an engine anywhere: a factory path and picklable options."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from assistant.errors import DeviceError
from assistant.events import Stage

T = TypeVar("T")


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


async def load_somewhere(spec: EngineSpec, load: Callable[[EngineSpec], Awaitable[T]],
                         report: Callable[[str, str], None]) -> tuple[EngineSpec, T]:
    """Load `spec` with `load`; when its GPU fails (DeviceError), say so and load its CPU spec
    instead. Returns the spec that loaded and what `load` gave."""
    while True:
        try:
            return spec, await load(spec)
        except DeviceError as exc:
            if spec.on_cpu is None:
                raise
            report(exc.code, f"{exc.message}; the {spec.role} engine moves to the CPU")
            spec = spec.on_cpu
