"""`assistant classify` and `assistant speakers` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
SPK = "asr/speechbrain_spk{}_snt{}.wav"


def assistant(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300)


def test_classify_names_sounds_and_enrolled_speakers(audio_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"speakers: {{profiles_dir: {tmp_path / 'voices'}}}\n")
    enrolled = assistant(config, "speakers", "enroll", "pat",
                         *[str(audio_dir / SPK.format(1, n)) for n in (1, 2, 3)])
    assert enrolled.returncode == 0, enrolled.stderr
    assert "pat" in assistant(config, "speakers", "list").stdout
    plot = tmp_path / "out.png"
    result = assistant(config, "classify", "--json", "--top", "2", "--plot", str(plot),
                       str(audio_dir / SPK.format(1, 5)), str(audio_dir / "sed/ibm_max_birds1.wav"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    windows = [r for r in records if r["type"] == "window"]
    assert windows and all(len(r["labels"]) == 2 for r in windows)
    birds = [r for r in windows if r["file"].endswith("birds1.wav")]
    animal = ("Bird", "Bird vocalization, bird call, bird song", "Wild animals", "Animal")
    assert sum(r["labels"][0]["label"] in animal for r in birds) > len(birds) / 2
    speakers = [r for r in records if r["type"] == "speaker_identified"]
    assert [r["name"] for r in speakers] == ["pat"], speakers
    for stem in ("speechbrain_spk1_snt5", "ibm_max_birds1"):
        assert (tmp_path / f"out-{stem}.png").read_bytes().startswith(b"\x89PNG")
    removed = assistant(config, "speakers", "remove", "pat")
    assert removed.returncode == 0 and "no speakers enrolled" in \
        assistant(config, "speakers", "list").stdout


def test_classify_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    config = tmp_path / "config.yaml"
    config.write_text(f"speakers: {{profiles_dir: {tmp_path / 'voices'}}}\n")
    result = assistant(config, "classify", str(bad))
    assert result.returncode != 0
    assert "notes.wav" in result.stderr and "Traceback" not in result.stderr
