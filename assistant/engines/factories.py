"""Factories for engines whose constructors take more than one options object.

An EngineSpec names a "module:callable" taking one picklable options value; these adapt the
engines that take plain arguments. Imports happen inside, where the engine is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EspeakOptions:
    voice: str = "en-us"
    timeout_s: float = 10.0


def espeak(options: EspeakOptions) -> Any:
    from assistant.tts.espeak import EspeakSynthesizer

    return EspeakSynthesizer(options.voice, timeout_s=options.timeout_s)


@dataclass(frozen=True)
class EncoderOptions:
    device: str = "auto"
    threads: int = 1


def voice_encoder(options: EncoderOptions) -> Any:
    from assistant.speakers.encoder import VoiceEncoder

    return VoiceEncoder(options.device, options.threads)


@dataclass(frozen=True)
class YamnetOptions:
    cache_dir: str


def yamnet(options: YamnetOptions) -> Any:
    from assistant.sed.yamnet import YamnetClassifier

    return YamnetClassifier(Path(options.cache_dir))


@dataclass(frozen=True)
class AstOptions:
    model: str
    device: str = "auto"
    offline: bool = False
    cache_dir: str | None = None


def ast(options: AstOptions) -> Any:
    from assistant.config import ModelSettings
    from assistant.sed.ast import AstClassifier

    models = ModelSettings(offline=options.offline,
                           cache_dir=Path(options.cache_dir) if options.cache_dir else None)
    return AstClassifier(options.model, device=options.device, models=models)
