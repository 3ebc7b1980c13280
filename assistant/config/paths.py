"""Every default path of the project, computed here and only here, from the XDG base folders
(platformdirs, which also ignores relative XDG values as the spec says).

A setting left null means "the default": callers pass the setting's value through these
functions rather than building paths of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "assistant"


def config_file() -> Path:
    """$XDG_CONFIG_HOME/assistant/config.yaml."""
    return platformdirs.user_config_path(APP) / "config.yaml"


def timers_file(chosen: Path | None = None) -> Path:
    """timers.state_file, else $XDG_STATE_HOME/assistant/timers.json."""
    return chosen or platformdirs.user_state_path(APP) / "timers.json"


def index_file(chosen: Path | None = None) -> Path:
    """transcripts.index, else $XDG_DATA_HOME/assistant/transcripts.db."""
    return chosen or platformdirs.user_data_path(APP) / "transcripts.db"


def profiles_dir(chosen: Path | None = None) -> Path:
    """speakers.profiles_dir, else $XDG_DATA_HOME/assistant/speakers."""
    return chosen or platformdirs.user_data_path(APP) / "speakers"


def models_dir(chosen: Path | None = None) -> Path:
    """models.cache_dir, else $XDG_CACHE_HOME/assistant/models."""
    return chosen or platformdirs.user_cache_path(APP) / "models"


def demo_dir() -> Path:
    """Where the synthesized demo input is cached."""
    return platformdirs.user_cache_path(APP) / "demo"


def control_socket(chosen: Path | None = None) -> Path:
    """conversation.control_socket, else $XDG_RUNTIME_DIR/assistant/control.sock (a private
    folder under /tmp when there is no runtime folder; platformdirs would warn there)."""
    if chosen is not None:
        return chosen
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = Path(runtime) if os.path.isabs(runtime) else Path(f"/tmp/assistant-{os.getuid()}")
    return base / APP / "control.sock"
