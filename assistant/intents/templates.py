"""Jinja templates in user intents: sandboxed, strict about unknown names, compiled once.

A template sees the matched slots both as `slots.<name>` and as `<name>`, the recognized
`text`, and `result` (an HTTP response body or a command's output, where there is one).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assistant.errors import HandlerError, IntentError

_SHOWN_CHARS = 80
"""How much of a template's source an error message quotes."""


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    # Immutable: a template cannot modify the slots (or any list or dict) it is given.
    return ImmutableSandboxedEnvironment(
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _environment().from_string(source)


def _quote(source: str) -> str:
    shown = source if len(source) <= _SHOWN_CHARS else source[:_SHOWN_CHARS] + "..."
    return repr(shown)


def _syntax_message(source: str, exc: TemplateSyntaxError, name: str) -> str:
    why = (exc.message or "syntax error").rstrip(".")
    return (f"{name} {_quote(source)} is not a valid template (line {exc.lineno}): {why}. "
            "Check the {{ }} and {% %} pairs.")


def check(template: str, *, name: str = "template") -> None:
    """Compile `template`; raise IntentError naming `name` when its syntax is wrong."""
    try:
        _compile(template)
    except TemplateSyntaxError as exc:
        raise IntentError(_syntax_message(template, exc, name)) from exc


def check_value(value: Any, *, name: str = "template") -> None:
    """`check` every string in `value`, at any depth of dicts and lists."""
    if isinstance(value, str):
        check(value, name=name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_value(item, name=f"{name}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_value(item, name=f"{name}[{index}]")


def render(template: str, slots: Mapping[str, Any], text: str, result: Any = None, *,
           name: str = "template") -> str:
    """Render `template` with the slots, text and result; surrounding whitespace stripped.

    Raises HandlerError saying which template failed and why (an unknown name, a syntax
    error, something the sandbox refused).
    """
    try:
        compiled = _compile(template)
    except TemplateSyntaxError as exc:
        raise HandlerError(_syntax_message(template, exc, name)) from exc
    # The fixed names win over a slot of the same name; the slot stays in `slots`.
    variables = {**slots, "slots": dict(slots), "text": text, "result": result}
    try:
        return compiled.render(variables).strip()
    # Filters and operators on user data raise anything (TypeError, ZeroDivisionError, ...).
    except Exception as exc:
        why = (exc.message if isinstance(exc, TemplateError) else str(exc)) or type(exc).__name__
        raise HandlerError(f"{name} {_quote(template)} failed: {why.rstrip('.')}. "
                           f"It can use: {', '.join(sorted(variables))}.") from exc


def render_value(value: Any, slots: Mapping[str, Any], text: str, result: Any = None, *,
                 name: str = "template") -> Any:
    """Render every string in `value`, at any depth of dicts and lists; other values as is."""
    if isinstance(value, str):
        return render(value, slots, text, result, name=name)
    if isinstance(value, Mapping):
        return {key: render_value(item, slots, text, result, name=f"{name}.{key}")
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, slots, text, result, name=f"{name}[{index}]")
                for index, item in enumerate(value)]
    return value
