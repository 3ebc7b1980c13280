"""Settings of the supervised worker processes that heavy engines run in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from assistant.config.base import Section

Placement = Literal["process", "thread"]
"""process: a supervised worker process (a crash, a hang or runaway memory costs one request
and a restart, never the daemon); thread: inside the daemon (less memory, no isolation)."""


class WorkerSettings(Section):
    start_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    """Loading and warming a model in a new worker may take this long."""
    health_interval_s: Annotated[float, Field(ge=0.5, le=600)] = 5.0
    """An idle worker is asked to answer this often; one that does not is restarted."""
    health_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    max_memory_mb: Annotated[int, Field(ge=64)] | None = 4096
    """A worker using more than this (resident) is killed and restarted; null: no limit."""
    restart_backoff_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    """The first restart waits this long; each failure in a row doubles it."""
    max_backoff_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
