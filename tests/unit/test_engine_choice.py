"""Which engines the settings choose, where they run, and that one model is placed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.engines.configured import (
    Engines,
    asr_spec,
    sound_placement,
    sound_spec,
    speaker_spec,
    voice_specs,
)
from assistant.engines.supervisor import Supervisor
from assistant.engines.thread import ThreadPlacement
from assistant.errors import ModelError


def settings(**data: object) -> Settings:
    return Settings.model_validate(data)


def test_one_model_is_placed_once_per_key() -> None:
    chosen = settings()
    engines = Engines(chosen, lambda event: None)
    first = engines.place(asr_spec(chosen), "process", 15)
    assert engines.place(asr_spec(chosen), "process", 15) is first
    assert isinstance(first, Supervisor)
    other = settings(asr={"compute_type": "float32"})
    assert engines.place(asr_spec(other), "process", 15) is not first
    assert isinstance(engines.place(asr_spec(chosen), "thread", 15), ThreadPlacement)


def test_the_cpu_is_where_cuda_failures_go() -> None:
    auto = asr_spec(settings())
    assert auto.on_cpu is not None and auto.on_cpu.options.device == "cpu"
    assert auto.on_cpu.options.compute_type == "auto"  # int8 on the CPU, not float16
    assert asr_spec(settings(asr={"device": "cpu"})).on_cpu is None
    assert speaker_spec(settings()).on_cpu is not None


def test_voices_in_order_and_a_missing_voice_leaves_the_fallback(tmp_path: Path) -> None:
    names = [spec.name for spec in voice_specs(settings())]
    assert names == ["piper:en_US-joe-medium", "espeak-ng:en-us"]
    assert [s.name for s in voice_specs(settings(tts={"fallback": "none"}))] == \
        ["piper:en_US-joe-medium"]
    missing = str(tmp_path / "gone.onnx")
    assert [s.name for s in voice_specs(settings(tts={"voice": missing}))] == \
        ["espeak-ng:en-us"]
    with pytest.raises(ModelError, match="not found"):
        voice_specs(settings(tts={"voice": missing, "fallback": "none"}))
    assert [s.name for s in voice_specs(settings(tts={"engine": "espeak"}))] == \
        ["espeak-ng:en-us"]


def test_sound_models_are_placed_by_weight() -> None:
    assert sound_placement(settings()) == "thread"
    assert sound_placement(settings(sounds={"model": "ast"})) == "process"
    assert sound_placement(settings(sounds={"placement": "process"})) == "process"
    assert sound_spec(settings()).name == "yamnet"
    assert sound_spec(settings(sounds={"model": "ast"})).name.startswith("ast:")
