"""How a log line or a message quotes what someone sent (an MQTT payload, a device state, an
HTTP body): one line, at most a few hundred characters, and how long it really was."""

from __future__ import annotations

import unicodedata

SHOWN_CHARS = 200
"""The most of a payload that a log line or message quotes."""


def excerpt(value: str | bytes | bytearray, limit: int = SHOWN_CHARS) -> str:
    """`value` on one line: control characters escaped (a NUL is `\\x00`, a newline `\\n`),
    cut after `limit` characters with "…" and its full size ("[100,109 characters]"). Bytes
    are read as UTF-8 (what does not decode shows as U+FFFD)."""
    if isinstance(value, bytes | bytearray):
        size, unit = len(value), "bytes"
        # A character is at most 4 bytes: this is enough to show `limit` of them.
        read = limit * 4 + 4
        text = bytes(value[:read]).decode("utf-8", errors="replace")
        more = size > read
    else:
        size, unit, text = len(value), "characters", value
        more = False
    escaped = "".join(_escaped(char) for char in text[:limit])
    if more or len(text) > limit or len(escaped) > limit:
        return f"{escaped[:limit]}… [{size:,} {unit}]"
    return escaped


def _escaped(char: str) -> str:
    if char == " " or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
        return char
    return repr(char)[1:-1]
