"""`python -m tests.integration.growing_daemon ARGS`: the daemon, with Whisper replaced by a copy
that allocates without end after hearing the time (tests/integration/fault_engines.py)."""

from __future__ import annotations

import sys
from dataclasses import replace

import assistant.app
from assistant.config import Settings
from assistant.engines.configured import asr_spec as configured_asr_spec
from assistant.engines.spec import EngineSpec


def growing_asr_spec(settings: Settings) -> EngineSpec:
    spec = configured_asr_spec(settings)
    return replace(spec, factory="tests.integration.fault_engines:GrowingWhisper", on_cpu=None)


if __name__ == "__main__":
    from assistant.cli import main

    assistant.app.asr_spec = growing_asr_spec  # type: ignore[attr-defined]
    sys.exit(main(sys.argv[1:]))
