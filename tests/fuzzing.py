"""Seeded fuzz inputs: MQTT payloads, control-socket requests and config files.

Random bytes mixed with structure-aware mutations of valid inputs: wrong types, huge numbers,
NaN, deep nesting, very long strings, NULs, invalid UTF-8, empty. Every list of cases is a pure
function of its seed, so a failure names the case that reproduces it; print one with
`python -m tests.fuzzing {mqtt,control,config} SEED INDEX` (mqtt cases use the topics of
tests/integration/test_fuzz.py).
"""

from __future__ import annotations

import copy
import json
import math
import random
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

INVALID_UTF8 = (
    b"\xff", b"\xfe\xff", b"\x80", b"\xc0\xaf",  # a lone continuation byte, an overlong "/"
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xe2\x82",  # a sequence cut short
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xf8\x88\x80\x80\x80",  # a five-byte form
)
NEVER_UTF8 = (b"\xff", b"\xfe\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80")
"""Invalid whatever follows them."""
ODD_TEXT = (
    "", " ", "\t\r\n", "\x00", "ON\x00", "\x00OFF", "on", " OFF ", "On\n", "\ufeffON", "O\u0301N",
    "\u202eNO", "null", "None", "true", "[]", "{}", "NaN", "-0", "1e999", "-1", "0x10", "😀",
    "ＯＮ", "\u0000\u0001\u0002\u001b[31m", "%s%s%n", "{{ 7*7 }}", "'; DROP TABLE", "../../etc",
)
HUGE_NUMBERS = (
    "1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1e-400", str(2**64), str(-(2**63) - 1),
    "9" * 4301,  # past Python's int-string conversion limit
    "0." + "0" * 5000 + "1",
)


def rng(seed: int, kind: str, index: int = 0) -> random.Random:
    """One generator per case and kind: a case does not depend on the ones before it."""
    return random.Random(f"{seed}/{kind}/{index}")


def size(r: random.Random, big: int = 1 << 20) -> int:
    """Mostly small, sometimes medium, rarely big (up to `big` bytes)."""
    roll = r.random()
    if roll < 0.05:
        return 0
    if roll < 0.75:
        return r.randint(1, 64)
    if roll < 0.97:
        return r.randint(65, 4096)
    return r.randint(4097, big)


def random_bytes(r: random.Random, n: int) -> bytes:
    return r.randbytes(n)


def long_text(r: random.Random, n: int) -> str:
    unit = r.choice(["x", "ab ", "é", "😀", "\x00", "ON ", "<>", " "])
    return (unit * (n // len(unit) + 1))[:n]


def nested_json(r: random.Random, depth: int) -> str:
    key = r.choice(["state", "a", "POWER", "value"])
    if r.random() < 0.5:
        return "[" * depth + "]" * depth
    return f'{{"{key}":' * depth + "1" + "}" * depth


def json_value(r: random.Random, depth: int = 0) -> Any:
    """A JSON value of any shape: the wrong type for whatever expects something else."""
    roll = r.random()
    if depth > 3 or roll < 0.45:
        return r.choice([
            None, True, False, 0, -1, 1.5, math.nan, math.inf, -math.inf, 2**70, -(2**70),
            "", "ON", "OFF", "on", "\x00", long_text(r, r.randint(1, 300)), r.choice(ODD_TEXT),
        ])
    if roll < 0.7:
        return [json_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    keys = ["state", "State", "POWER", "value", "brightness", "", "\x00", "a" * 50]
    return {r.choice(keys): json_value(r, depth + 1) for _ in range(r.randint(0, 4))}


def mutate_bytes(r: random.Random, data: bytes, corpus: Sequence[bytes] = ()) -> bytes:
    """1-4 byte-level edits: flips, inserts, deletes, repeats, cuts, splices."""
    out = bytearray(data)
    for _ in range(r.randint(1, 4)):
        at = r.randint(0, len(out))
        op = r.randrange(9)
        if op == 0 and out:
            i = r.randrange(len(out))
            out[i] ^= 1 << r.randrange(8)
        elif op == 1 and out:
            out[r.randrange(len(out))] = r.randrange(256)
        elif op == 2:
            out[at:at] = r.randbytes(r.randint(1, 16))
        elif op == 3 and out:
            del out[at:at + r.randint(1, 16)]
        elif op == 4 and out:
            end = min(len(out), at + r.randint(1, 32))
            out[at:at] = out[at:end] * r.randint(2, 50)
        elif op == 5:
            del out[at:]
        elif op == 6:
            out[at:at] = r.choice(INVALID_UTF8)
        elif op == 7:
            out[at:at] = b"\x00" * r.randint(1, 4)
        elif op == 8 and corpus:
            other = r.choice(corpus)
            out[at:] = other[r.randint(0, len(other)):]
    return bytes(out)


def special_payload(r: random.Random) -> bytes:
    """The classics: empty, huge, deep, NUL, invalid UTF-8, odd numbers."""
    kind = r.randrange(9)
    if kind == 0:
        return b""
    if kind == 1:
        return long_text(r, r.choice([1000, 65536, 300_000, 1_000_000])).encode()
    if kind == 2:
        return nested_json(r, r.choice([100, 1000, 10_000, 100_000])).encode()
    if kind == 3:
        return b"\x00" * r.randint(1, 1000)
    if kind == 4:
        return b"".join(r.choice(INVALID_UTF8) for _ in range(r.randint(1, 50)))
    if kind == 5:
        return r.choice(HUGE_NUMBERS).encode()
    if kind == 6:
        return json.dumps({"state": r.choice(HUGE_NUMBERS)}).encode()
    if kind == 7:
        return r.choice(ODD_TEXT).encode()
    return (r.choice(ODD_TEXT) * r.randint(1, 10_000)).encode()


def structured_payload(r: random.Random) -> bytes:
    """JSON of the wrong shape, often under the keys a device state is read from."""
    value = json_value(r)
    if r.random() < 0.5:
        value = {r.choice(["state", "State", "POWER", "value"]): value}
    text = json.dumps(value, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def payload(r: random.Random, valid: Sequence[bytes]) -> bytes:
    roll = r.random()
    if roll < 0.15:
        return random_bytes(r, size(r))
    if roll < 0.45 and valid:
        return mutate_bytes(r, r.choice(valid), valid)
    if roll < 0.70:
        return structured_payload(r)
    if roll < 0.90:
        return special_payload(r)
    return r.choice(valid) if valid else b""


# MQTT ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    """A topic; a "+" level is filled with a random name (a device state watched by pattern)."""
    valid: tuple[bytes, ...]
    weight: float = 1.0
    speaks: bool = False
    """Payloads here are spoken: only `say_budget` valid ones get through."""


@dataclass(frozen=True)
class MqttCase:
    index: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


def speakable(data: bytes) -> bool:
    """What the daemon would speak on `say`: UTF-8 with something besides white space."""
    try:
        return bool(data.decode("utf-8").strip())
    except UnicodeDecodeError:
        return False


def unspeakable(r: random.Random, data: bytes) -> bytes:
    """The same payload made invalid for `say`: not UTF-8 from its first byte (a reader may
    look at only the start of a long one), or only white space."""
    if r.random() < 0.8:
        return r.choice(NEVER_UTF8) + data
    return r.choice([b"", b" ", b"\t\n", b"\r\n" * 1000, " \u3000".encode()])


def _topic_name(r: random.Random, pattern: str) -> str:
    alphabet = string.ascii_letters + string.digits + "_-. é😀"
    levels = ["".join(r.choice(alphabet) for _ in range(r.randint(1, 12))) if part == "+"
              else part for part in pattern.split("/")]
    return "/".join(levels)


def mqtt_cases(seed: int, count: int, topics: Sequence[Topic], say_budget: int
               ) -> list[MqttCase]:
    """`count` messages over `topics` (by weight); at most `say_budget` are speakable on a topic
    that speaks, and those are short."""
    weights = [t.weight for t in topics]
    cases: list[MqttCase] = []
    spoken = 0
    for index in range(count):
        r = rng(seed, "mqtt", index)
        topic = r.choices(topics, weights)[0]
        data = payload(r, topic.valid)
        if topic.speaks and speakable(data):
            if spoken < say_budget and len(data) <= 60:
                spoken += 1
            else:
                data = unspeakable(r, data)
        qos = r.choice([0, 0, 1, 1, 2])
        cases.append(MqttCase(index, _topic_name(r, topic.name), data, qos,
                              retain=r.random() < 0.05))
    return cases


# Control socket --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlCase:
    index: int
    chunks: tuple[bytes, ...]
    """Sent in this order, one send each (a slow writer sends many small ones)."""
    half_close: bool
    """Shut our writing side after sending: the daemon sees the end of the request."""

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


VALID_CONTROL = (b"listen\n", b"LISTEN\n", b"  listen \r\n", b"listen")


def control_cases(seed: int, count: int) -> list[ControlCase]:
    cases = []
    for index in range(count):
        r = rng(seed, "control", index)
        kind = r.randrange(11)
        if kind == 0:
            data = r.choice(VALID_CONTROL)
        elif kind == 1:
            data = random_bytes(r, size(r, 200_000))
        elif kind == 2:
            data = random_bytes(r, size(r)) + b"\n"
        elif kind == 3:
            data = mutate_bytes(r, b"listen\n", VALID_CONTROL)
        elif kind == 4:
            data = json.dumps(r.choice([{"command": "listen"}, ["listen"], "listen",
                                        json_value(r)]), allow_nan=True).encode() + b"\n"
        elif kind == 5:  # a line longer than any sane buffer, with or without its end
            data = b"l" * r.choice([65_535, 65_536, 70_000, 1_000_000]) + \
                r.choice([b"\n", b""])
        elif kind == 6:
            data = b"".join(r.choice(INVALID_UTF8) for _ in range(r.randint(1, 20))) + b"\n"
        elif kind == 7:  # several requests in one connection
            data = b"".join(r.choice(VALID_CONTROL[:3]) for _ in range(r.randint(2, 20)))
        elif kind == 8:
            data = b""
        elif kind == 9:
            data = special_payload(r)[:200_000] + r.choice([b"\n", b""])
        else:
            data = r.choice([b"\x00listen\n", b"listen\x00\n", b"listen\r", b"\rlisten\n",
                             b"lis\nten\n", "lïsten\n".encode(), b"\xef\xbb\xbflisten\n"])
        if r.random() < 0.1 and 0 < len(data) <= 64:  # a slow writer: a byte at a time
            chunks = tuple(data[i:i + 1] for i in range(len(data)))
        else:
            chunks = (data,)
        cases.append(ControlCase(index, chunks, half_close=r.random() < 0.9))
    return cases


# Config files ----------------------------------------------------------------------------------

_DEEP = "__fuzz_deep_{}__"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _wrong_value(r: random.Random, deep: list[str]) -> Any:
    roll = r.randrange(12)
    if roll == 0:
        return None
    if roll == 1:
        return r.choice([True, False, 0, -1, 10**30, -(10**30), 1.5, -0.0])
    if roll == 2:
        return r.choice([math.nan, math.inf, -math.inf])
    if roll == 3:
        return long_text(r, r.choice([200, 10_000, 1_000_000]))
    if roll == 4:
        return r.choice(["\x00", "a\x00b", "on\x00", "\ufeff", "\u202e", "😀" * 100])
    if roll == 5:
        return r.choice([[], {}, [None], [[]], {"": None}, {1: 2}, {None: 1}])
    if roll == 6:  # filled in as text: the YAML writer itself would recurse too deep
        token = _DEEP.format(len(deep))
        depth = r.choice([50, 1000, 10_000, 100_000])
        deep.append(r.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth,
                              "- " * min(depth, 2000) + "x"]))
        return token
    if roll == 7:
        return int(r.choice(HUGE_NUMBERS[6:8]))
    if roll == 8:
        return r.choice(ODD_TEXT)
    if roll == 9:
        return json_value(r)
    if roll == 10:
        return [r.choice(ODD_TEXT) for _ in range(r.randint(1, 100))]
    return r.choice(["/", "~", "/dev/null", "/proc/self/mem", "-1", "0", "cuda", "auto", "#", "+"])


def _edit(r: random.Random, doc: Any, deep: list[str]) -> Any:
    """One structure-aware edit at a random place in the document."""
    paths = _paths(doc)
    path = r.choice(paths)
    if not path:
        return _wrong_value(r, deep) if r.random() < 0.2 else doc
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    op = r.randrange(6)
    if op <= 2:
        parent[key] = _wrong_value(r, deep)
    elif op == 3:
        del parent[key]
    elif op == 4 and isinstance(parent, dict):  # an unknown key, a typo, or a non-string key
        new = r.choice([str(key) + "x", str(key)[:-1], str(key).upper(), 1, None, True, 2.5,
                        "", "\x00", long_text(r, 300)])
        parent[new] = parent.pop(key)
    elif op == 5 and isinstance(parent, list):
        parent.extend(copy.deepcopy(parent) * r.randint(1, 5))
    else:
        parent[key] = _wrong_value(r, deep)
    return doc


def _dump(r: random.Random, doc: Any, deep: list[str]) -> bytes:
    text = yaml.safe_dump(doc, allow_unicode=r.random() < 0.5, sort_keys=False,
                          default_flow_style=r.random() < 0.2, width=r.choice([80, 10**9]))
    for i, value in enumerate(deep):
        token = _DEEP.format(i)
        text = text.replace(f"'{token}'", value).replace(token, value)
    return text.encode("utf-8", "surrogatepass")


def _mutate_lines(r: random.Random, text: bytes) -> bytes:
    lines = text.split(b"\n")
    for _ in range(r.randint(1, 5)):
        i = r.randrange(len(lines))
        op = r.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])  # a duplicate key, often
        elif op == 2:
            lines[i] = b" " * r.randint(1, 8) + lines[i]
        elif op == 3:
            lines[i] = lines[i].lstrip(b" ")
        elif op == 4:
            j = r.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i].replace(b" ", b"\t", 1)
    return b"\n".join(lines)


def alias_bomb(depth: int, width: int = 10, key: str = "skip_words") -> bytes:
    """A few hundred bytes that expand to width**depth values."""
    lines = ["_a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"_a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]"
              for i in range(1, depth)]
    lines.append(f"intents:\n  {key}: *a{depth - 1}")
    return ("\n".join(lines) + "\n").encode()


def _special_config(r: random.Random, base: bytes) -> bytes:
    kind = r.randrange(14)
    if kind == 0:
        return b""
    if kind == 1:
        return b"# nothing but a comment\n"
    if kind == 2:
        return r.choice([b"42\n", b"- a\n- b\n", b"just a string\n", b"~\n", b"[1, 2\n"])
    if kind == 3:
        return alias_bomb(r.randint(3, 7))
    if kind == 4:
        depth = r.choice([1000, 10_000, 100_000])
        return ("wake:\n  words: " + "[" * depth + "]" * depth + "\n").encode()
    if kind == 5:
        return b"audio:\n  queue_ms: " + r.choice(HUGE_NUMBERS).encode() + b"\n"
    if kind == 6:
        return r.choice([b"wake: !!python/object:os.system [ls]\n", b"wake: !!binary aGVsbG8=\n",
                         b"wake: {words: !!set {okay_nabu}}\n",
                         b"wake: {refractory_ms: 2001-12-14t21:59:43.10-05:00}\n",
                         b"wake: !custom {a: 1}\n", b"? [a, b]\n: 1\n", b"%YAML 9.9\n---\na: 1\n"])
    if kind == 7:
        return b"\xef\xbb\xbf" + base
    if kind == 8:
        return base.replace(b"\n", b"\r\n")
    if kind == 9:
        return base + b"\n---\n" + base
    if kind == 10:
        return b"_base: &b {refractory_ms: 100}\nwake:\n  <<: *b\n  <<: *b\n"
    if kind == 11:
        return base + base  # every key twice
    if kind == 12:
        return base[:r.randint(0, len(base))]
    return b"\x00" * r.randint(1, 100) + base


def config_cases(seed: int, count: int, base: dict[str, Any]) -> list[bytes]:
    """`count` config files derived from the valid document `base`."""
    base_text = yaml.safe_dump(base, sort_keys=False).encode()
    cases = []
    for index in range(count):
        r = rng(seed, "config", index)
        roll = r.random()
        if roll < 0.6:
            doc = copy.deepcopy(base)
            deep: list[str] = []
            for _ in range(r.randint(1, 3)):
                doc = _edit(r, doc, deep)
            data = _dump(r, doc, deep)
        elif roll < 0.8:
            data = mutate_bytes(r, base_text)
        elif roll < 0.9:
            data = _mutate_lines(r, base_text)
        else:
            data = _special_config(r, base_text)
        cases.append(data)
    return cases


def mutate_text_file(seed: int, index: int, text: bytes) -> bytes:
    """A mutated copy of another YAML file (an intents file): parsed and edited, or bytes."""
    r = rng(seed, "file", index)
    if r.random() < 0.5:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
        if isinstance(doc, dict):
            deep: list[str] = []
            for _ in range(r.randint(1, 3)):
                doc = _edit(r, doc, deep)
            return _dump(r, doc, deep)
    return mutate_bytes(r, text) if r.random() < 0.5 else _mutate_lines(r, text)


def describe(data: bytes, limit: int = 300) -> str:
    """A payload for a failure message: its length and a bounded repr."""
    shown = repr(data[:limit]) + ("..." if len(data) > limit else "")
    return f"{len(data)} bytes: {shown}"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("mqtt", "control", "config"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, seed, index = argv[0], int(argv[1]), int(argv[2])
    if kind == "mqtt":
        from tests.integration.test_fuzz import SAY_BUDGET, TOPICS

        case = mqtt_cases(seed, index + 1, TOPICS, SAY_BUDGET)[index]
        print(f"topic {case.topic!r} qos {case.qos} retain {case.retain}\n"
              f"payload {describe(case.payload, 2000)}")
    elif kind == "control":
        request = control_cases(seed, index + 1)[index]
        print(f"chunks {len(request.chunks)} half_close {request.half_close}\n"
              f"data {describe(request.data, 2000)}")
    else:
        from tests.integration.test_fuzz import base_config

        sys.stdout.buffer.write(config_cases(seed, index + 1, base_config("/tmp/fuzz"))[index])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
