"""How long a large config takes to load: `load_settings` against PyYAML's pure-Python
`safe_load` (what it used before) plus the same validation, in one run.

Run from the repo root: `python -m tests.bench.bench_config [--mb 5]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from assistant.config import Settings, load_settings


def big_config(megabytes: float) -> str:
    """Many MQTT devices: a valid config of about `megabytes`."""
    parts = ["mqtt: {host: localhost}\ndevices:\n"]
    size, i = 0, 0
    while size < megabytes * 1e6:
        part = (f"  - name: lamp {i}\n    type: light\n    area: room {i % 50}\n"
                f"    command_topic: home/lamp{i}/set\n    state_topic: home/lamp{i}/state\n"
                f"    aliases: [light {i}, bulb {i}]\n")
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(big_config(args.mb))
        megabytes = path.stat().st_size / 1e6
        start = time.perf_counter()
        Settings.model_validate(yaml.load(path.read_text(), Loader=yaml.SafeLoader))
        before = time.perf_counter() - start
        start = time.perf_counter()
        settings = load_settings(path)
        after = time.perf_counter() - start
    print(f"{megabytes:.1f} MB config, "
          f"{len(settings.devices)} devices")
    print(f"pure-Python safe_load + validation: {before:6.2f} s")
    print(f"load_settings:                      {after:6.2f} s  ({before / after:.1f}x faster)")


if __name__ == "__main__":
    main()
