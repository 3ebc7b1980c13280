"""The YAML a user writes: duplicate keys, alias bombs, absurd nesting, huge values, one parse."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.config.loading import MAX_ALIASED_VALUES, MAX_DEPTH, MAX_ERRORS
from assistant.errors import ConfigError
from assistant.intents.custom import load_custom_intents


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.message


def test_a_key_twice_at_the_top_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path,
                 "wake:\n  threshold: 0.5\nasr:\n  beam_size: 1\nwake:\n  threshold: 0.9\n")
    message = error_of(path)
    assert str(path) in message
    assert "'wake' appears twice" in message and "line 1 and line 5" in message


def test_a_key_twice_inside_a_section_or_a_list_item(tmp_path: Path) -> None:
    nested = write(tmp_path, "endpoint:\n  hangover_ms: 500\n  hangover_ms: 900\n")
    assert "line 2 and line 3" in error_of(nested)
    device = write(tmp_path, "mqtt: {host: localhost}\ndevices:\n  - name: lamp\n    type: light\n"
                             "    command_topic: a\n    command_topic: b\n", "device.yaml")
    assert "'command_topic' appears twice" in error_of(device)


def test_merge_keys_and_small_aliases_still_work(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt: {host: localhost}\n"
                           "devices:\n"
                           "  - &lamp {name: lamp, type: light, command_topic: a/set, area: hall}\n"
                           "  - <<: *lamp\n    name: other lamp\n    command_topic: b/set\n")
    settings = load_settings(path)
    assert [(d.name, d.command_topic, d.area) for d in settings.devices] == [
        ("lamp", "a/set", "hall"), ("other lamp", "b/set", "hall")]


def alias_bomb(levels: int) -> str:
    lines = ["wake:", "  words:", "    - &a [" + ",".join(['"lol"'] * 9) + "]"]
    names = "abcdefghijkl"[:levels]
    lines += [f"    - &{n} [" + ",".join([f"*{p}"] * 9) + "]"
              for p, n in zip(names, names[1:], strict=False)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb(9))
    assert len(path.read_bytes()) < 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = error_of(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert "aliases (*name) expand the config by 490,329,036 values" in message
    assert f"more than {MAX_ALIASED_VALUES:,}" in message and "line 10" in message
    assert len(message) < 500 and grown_mb < 50


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = MAX_DEPTH + 10
    path = write(tmp_path, "wake: " + "[" * depth + "]" * depth + "\n")
    assert f"nested more than {MAX_DEPTH} levels deep" in error_of(path)
    bottomless = write(tmp_path, "wake: " + "[" * 100_000 + "\n", "bottomless.yaml")
    assert "bottomless.yaml" in error_of(bottomless)


def test_an_error_quotes_a_huge_value_briefly_and_counts_the_rest(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    path = write(tmp_path, f"asr:\n  device: {huge}\n")
    message = error_of(path)
    assert "asr.device = 'xxxx" in message and "… [1,000,002 characters]" in message
    assert len(message) < 1000
    many = write(tmp_path, "devices:\n" + "".join(
        f"  - {{name: d{i}, type: toaster}}\n" for i in range(100)), "many.yaml")
    message = error_of(many)
    assert message.count("\n  line") == MAX_ERRORS and "... and" in message and "more." in message


def test_an_intents_file_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "language: en\nintents:\n  A: {data: []}\nintents:\n  B: {data: []}\n",
                 "mine.yaml")
    with pytest.raises(ConfigError) as caught:
        load_custom_intents([path])
    assert "mine.yaml" in caught.value.message and "line 2 and line 4" in caught.value.message


def test_a_number_python_will_not_read_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, f"audio:\n  queue_ms: {'9' * 4301}\n")
    message = error_of(path)
    assert "a value cannot be read" in message and len(message) < 500
