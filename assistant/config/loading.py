"""YAML -> validated settings: a file overrides the defaults; errors name file, line and key."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from assistant.config.home import SECRET_KEYS
from assistant.config.paths import config_file
from assistant.config.settings import Settings
from assistant.errors import ConfigError
from assistant.quoting import excerpt

MAX_ALIASED_VALUES = 100_000
"""Values a config's aliases (*name) may add once expanded: far beyond any real use, far below
an alias bomb (a kilobyte of nested aliases expands to billions)."""
MAX_DEPTH = 64
MAX_ERRORS = 20
"""Invalid settings listed one by one; the rest are counted."""
MAX_VALUE_CHARS = 120
"""How much of a bad value an error quotes."""
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it (about twice as fast on a large file)."""


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load `path` (or the XDG default if it exists) over the built-in defaults."""
    explicit = path is not None
    path = path if path is not None else config_file()
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    if path.exists():
        data, root = _read_yaml(path)
    elif explicit:
        raise ConfigError(f"{path}: config file not found. Check the path given to --config.")
    if overrides:
        data = _merge(data, overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path if path.exists() else None, root)) from exc
    return settings


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc}).") from exc
    data, root = parse_yaml(path, text)
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}.")
    return data, root


def parse_yaml(path: Path, text: str) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML file the user wrote, and its node tree (for line numbers), from one
    parse; duplicate keys, alias bombs and absurd nesting are a ConfigError naming `path`."""
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_tree(path, root)
        return loader.construct_document(root), root
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}.") from exc
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{path}: a value cannot be read ({excerpt(str(exc))}).") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a YAML file the assistant reads."
                          ) from None
    finally:
        loader.dispose()


def _check_tree(path: Path, root: yaml.Node) -> None:
    """Duplicate keys (YAML lets the second silently win), nesting depth, and what aliases add
    once expanded, on the node tree before anything is built from it."""
    sizes: dict[int, int] = {}
    uses: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise ConfigError(f"{path}: line {node.start_mark.line + 1}: nested more than "
                              f"{MAX_DEPTH} levels deep; no file the assistant reads is.")
        children = _children(node)
        if not children_done:
            if isinstance(node, yaml.MappingNode):
                _check_keys(path, node)
            for child in children:
                uses[id(child)] = uses.get(id(child), 0) + 1
                nodes[id(child)] = child
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children
                         if id(child) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
    added = sizes[id(root)] - len(sizes)
    if added > MAX_ALIASED_VALUES:
        worst = max((n for n in uses if uses[n] > 1), key=lambda n: sizes[n] * uses[n])
        raise ConfigError(
            f"{path}: line {nodes[worst].start_mark.line + 1}: its aliases (*name) expand the "
            f"config by {added:,} values, more than {MAX_ALIASED_VALUES:,}. Use fewer or smaller "
            "aliases.")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_keys(path: Path, node: yaml.MappingNode) -> None:
    first_line: dict[tuple[str, str], int] = {}
    for key, _value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        seen = first_line.setdefault((key.tag, key.value), line)
        if seen != line:
            raise ConfigError(
                f"{path}: key {key.value!r} appears twice in the same section, at line {seen} "
                f"and line {line}; YAML would silently keep the second. Keep one of them.")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError, path: Path | None, root: yaml.Node | None) -> str:
    source = str(path) if path else "settings"
    lines = [f"{source}: {exc.error_count()} invalid setting(s):"]
    for err in exc.errors()[:MAX_ERRORS]:
        loc = tuple(part for part in err["loc"] if not str(part).startswith("function-"))
        key = ".".join(str(part) for part in loc)
        line = _line_of(root, loc)
        where = f"line {line}: " if line else ""
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(f"  {where}{key}: unknown key. Allowed here: {', '.join(allowed)}.")
            continue
        message = err["msg"].removeprefix("Value error, ")
        if not key:  # a check across sections (devices and their links)
            lines.append(f"  {message}.")
            continue
        value = err.get("input")
        if any(str(part) in SECRET_KEYS for part in loc):
            value = "***"  # never echo a password or token into logs
        if err["type"] == "value_error" and isinstance(value, dict | list):
            lines.append(f"  {where}{key}: {message}.")  # the whole section says nothing
            continue
        lines.append(f"  {where}{key} = {excerpt(repr(value), MAX_VALUE_CHARS)}: {message}.")
    if exc.error_count() > MAX_ERRORS:
        lines.append(f"  ... and {exc.error_count() - MAX_ERRORS} more.")
    lines.append("See config/default.yaml for every key, its meaning and allowed values.")
    return "\n".join(lines)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, so errors point into the user's file."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and part < len(node.value)):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of sections (devices)
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = _section_type(field.annotation)
        if model is None:
            return []
    return sorted(model.model_fields)


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The settings class inside `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
