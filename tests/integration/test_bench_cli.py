"""`assistant bench` end to end on a few real recordings (figures are printed, never asserted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.cli import main
from tests.conftest import require_binary

pytestmark = pytest.mark.integration
COMMANDS = ["asr/rhasspy3_what_time_is_it.wav", "asr/rhasspy3_turn_on_the_lamp.wav"]
WAKE = "wakeword/pymicrowakeword_okay_nabu_2.wav"


def small_folder(audio_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    rows = (audio_dir / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    keep = [rows[0]] + [r for r in rows[1:] if r.split("\t")[0] in (*COMMANDS, WAKE)]
    for row in keep[1:]:
        name = row.split("\t")[0]
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(audio_dir / name, folder / name)
    (folder / "MANIFEST.tsv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return folder


def test_bench_reports_both_runs(audio_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = small_folder(audio_dir, tmp_path)
    assert main(["bench", str(folder), "--fast", "--idle-seconds", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 2
    figures = {f["name"]: f for f in report["figures"]}
    assert figures["word error rate"]["tuned"][0] == 0.0  # both commands heard right
    assert figures["word error rate"]["baseline"][0] == 0.0
    assert report["speculative_turns"] == [2, 2]
    assert all(figures[name]["tuned"][0] is not None and figures[name]["baseline"][0] is not None
               for name in ("endpoint -> transcript", "endpoint -> first reply audio",
                            "ASR compute per second of audio"))
    assert report["idle"]["rss_mb"] > 50 and report["idle"]["cpu_percent"] > 0


def test_bench_measures_mouth_to_ear_through_pulseaudio(
    audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for binary in ("pulseaudio", "pactl"):
        require_binary(binary)
    folder = small_folder(audio_dir, tmp_path)
    assert main(["bench", str(folder), "--fast", "--idle-seconds", "0", "--mouth-to-ear",
                 "--json"]) == 0
    p50, p90 = json.loads(capsys.readouterr().out)["mouth_to_ear_ms"]
    # Physics, not performance: an answer cannot come before the short hangover has passed.
    assert 300 < p50 <= p90


def test_bench_needs_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tmp_path)]) == 2
    assert "no MANIFEST.tsv" in capsys.readouterr().err
