"""The user's own intents: YAML files in hassil's format whose intents also say what to do.

```yaml
language: en
intents:
  OpenGarage:
    data:
      - sentences: ["open the garage [door]"]
    response: "Opening the garage."
    action: {type: mqtt, topic: home/garage/set, payload: OPEN}
lists: {...}              # hassil lists, ranges and expansion rules work as usual
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.config.loading import parse_yaml
from assistant.errors import ConfigError
from assistant.intents.actions import CustomIntent

HASSIL_KEYS = {"language", "intents", "lists", "expansion_rules", "skip_words", "settings"}


@dataclass(frozen=True)
class CustomIntents:
    templates: dict[str, Any]
    """hassil's part of every file, merged: intents, lists, expansion_rules."""
    specs: dict[str, CustomIntent]
    """What each intent does."""
    sources: dict[str, Path]
    """The file each intent comes from, for error messages."""


def load_custom_intents(paths: list[Path]) -> CustomIntents:
    templates: dict[str, Any] = {"intents": {}, "lists": {}, "expansion_rules": {}}
    specs: dict[str, CustomIntent] = {}
    sources: dict[str, Path] = {}
    for path in paths:
        data = _read(path)
        for key in ("lists", "expansion_rules"):
            templates[key].update(data.get(key) or {})
        for name, intent in (data.get("intents") or {}).items():
            if name in specs:
                raise ConfigError(f"{path}: intent {name} is defined twice (also in another "
                                  "intents file)")
            specs[name] = _spec(path, name, intent)
            sources[name] = path
            templates["intents"][name] = {"data": intent.get("data")}
    return CustomIntents(templates, specs, sources)


def _read(path: Path) -> dict[str, Any]:
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read this intents file ({exc}). Check intents.files "
                          "in the config.") from exc
    data, _root = parse_yaml(path, text)
    if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
        raise ConfigError(f"{path}: an intents file is a mapping with an `intents:` mapping "
                          "(hassil's format); see config/intents/example.yaml")
    unknown = set(data) - HASSIL_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(HASSIL_KEYS))}")
    return data


def _spec(path: Path, name: str, intent: Any) -> CustomIntent:
    if not isinstance(intent, dict) or not isinstance(intent.get("data"), list):
        raise ConfigError(f"{path}: intents.{name} needs `data:` with a list of sentence blocks")
    try:
        return CustomIntent.model_validate({k: v for k, v in intent.items() if k != "data"})
    except ValidationError as exc:
        problems = "; ".join(
            f"intents.{name}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors())
        raise ConfigError(f"{path}: {problems}. An intent needs `action:` (type mqtt, "
                          "homeassistant, http or shell) and may have `response:`.") from exc
