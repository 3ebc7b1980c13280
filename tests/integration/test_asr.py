"""Whisper on the real ASR clips: accuracy, and that a command is never padded to 30 s."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import jiwer
import pytest

from assistant.audio.files import read_file
from tests.integration.helpers import transcriber

pytestmark = pytest.mark.integration


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]", " ", text.lower().replace("-", " ")).split())


def test_word_error_rate_on_real_clips(audio_dir: Path) -> None:
    with (audio_dir / "MANIFEST.tsv").open() as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["category"] == "asr"]
    truths, heard = [], []
    for row in rows:
        truths.append(normalise(row["truth"]))
        heard.append(normalise(transcriber().transcribe(read_file(audio_dir / row["file"])).text))
    wer = jiwer.wer(truths, heard)
    print(f"WER on {len(rows)} clips: {wer:.3f}")
    assert len(rows) >= 30
    assert wer < 0.16  # measured 0.119 (digits vs number words count as errors)


def test_encoder_sees_10_s_windows_not_30_s(
    audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = transcriber()._model
    frames: list[int] = []
    original = model.encode

    def spy(features: Any, *args: Any, **kwargs: Any) -> Any:
        frames.append(features.shape[-1])
        return original(features, *args, **kwargs)

    monkeypatch.setattr(model, "encode", spy)
    short = transcriber().transcribe(read_file(audio_dir / "asr/rhasspy3_what_time_is_it.wav"))
    long = transcriber().transcribe(read_file(audio_dir / "asr/whisper_jfk.flac"))
    assert "what time is it" in short.text.lower()
    assert "ask not what your country" in long.text.lower()
    assert frames == [1000, 1200]  # 10 s for a 2 s command; 11 s of speech + 1 s


def test_silence_is_not_speech() -> None:
    assert transcriber().transcribe(bytes(64000)).text == ""
