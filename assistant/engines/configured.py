"""The daemon's engines as the settings choose them: which engine, where it runs, its limits.

`Engines` places each spec once per key (model, device, compute type), so one model is loaded
once however many parts of the daemon use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from assistant.asr.whisper import WhisperOptions
from assistant.config import Placement as PlacementName
from assistant.config import Settings
from assistant.config.paths import models_dir
from assistant.engines.faces import Placement
from assistant.engines.factories import AstOptions, EncoderOptions, EspeakOptions, YamnetOptions
from assistant.engines.spec import EngineSpec
from assistant.engines.supervisor import Supervisor
from assistant.engines.thread import ThreadPlacement
from assistant.errors import ModelError
from assistant.events import Event, Stage
from assistant.tts.piper import PiperOptions

log = logging.getLogger(__name__)


def asr_spec(settings: Settings) -> EngineSpec:
    options = WhisperOptions.from_settings(settings.asr, settings.models)
    return _with_cpu(EngineSpec(
        Stage.ASR, f"whisper:{options.name}", "assistant.asr.whisper:WhisperTranscriber",
        options, ("asr", options.location, options.device, options.compute_type)),
        lambda: options.on_cpu())


def voice_specs(settings: Settings) -> list[EngineSpec]:
    """The configured voice, then the fallback (espeak-ng), if there is one."""
    tts = settings.tts
    espeak = EngineSpec(Stage.TTS, f"espeak-ng:{tts.espeak_voice}",
                        "assistant.engines.factories:espeak",
                        EspeakOptions(tts.espeak_voice, tts.timeout_s),
                        ("tts", "espeak", tts.espeak_voice))
    if tts.engine == "espeak":
        return [espeak]
    try:
        options = PiperOptions.from_settings(tts, settings.models)
    except ModelError as exc:
        if tts.fallback != "espeak":
            raise
        log.warning("voice %s unavailable: %s", tts.voice, exc.message)
        return [espeak]
    piper = _with_cpu(EngineSpec(
        Stage.TTS, f"piper:{options.name}", "assistant.tts.piper:PiperSynthesizer", options,
        ("tts", options.location, options.device)), lambda: options.on_cpu())
    return [piper, *([espeak] if tts.fallback == "espeak" else [])]


def speaker_spec(settings: Settings) -> EngineSpec:
    device = "auto"
    spec = EngineSpec(Stage.SPEAKER, "resemblyzer:ge2e",
                      "assistant.engines.factories:voice_encoder", EncoderOptions(device),
                      ("speaker", "ge2e", device))
    return _with_cpu(spec, lambda: EncoderOptions("cpu"))


def sound_spec(settings: Settings) -> EngineSpec:
    sounds = settings.sounds
    if sounds.model == "ast":
        cache = str(settings.models.cache_dir) if settings.models.cache_dir else None
        options = AstOptions(sounds.ast_model, sounds.device, settings.models.offline, cache)
        return _with_cpu(EngineSpec(
            Stage.SOUND, f"ast:{sounds.ast_model}", "assistant.engines.factories:ast", options,
            ("sound", sounds.ast_model, sounds.device)),
            lambda: AstOptions(sounds.ast_model, "cpu", settings.models.offline, cache))
    cache_dir = str(models_dir(settings.models.cache_dir))
    return EngineSpec(Stage.SOUND, "yamnet", "assistant.engines.factories:yamnet",
                      YamnetOptions(cache_dir), ("sound", "yamnet"))


def sound_placement(settings: Settings) -> PlacementName:
    chosen = settings.sounds.placement
    if chosen == "auto":
        return "process" if settings.sounds.model == "ast" else "thread"
    return chosen


def _with_cpu(spec: EngineSpec, cpu_options: Callable[[], object]) -> EngineSpec:
    """`spec`, knowing where it goes if CUDA fails (nowhere, if it is already on the CPU)."""
    if getattr(spec.options, "device", "cpu") == "cpu":
        return spec
    return replace(spec, on_cpu=replace(spec, options=cpu_options(), key=(*spec.key, "on-cpu")))


class Engines:
    """Every placed engine of one daemon: started together, closed together, shared by key."""

    def __init__(self, settings: Settings, emit: Callable[[Event], None]) -> None:
        self._settings = settings
        self._emit = emit
        self._placed: dict[tuple[str, ...], Placement] = {}

    def place(self, spec: EngineSpec, where: PlacementName, timeout_s: float) -> Placement:
        key = (where, *spec.key)
        if key not in self._placed:
            if where == "process":
                self._placed[key] = Supervisor(spec, self._settings.workers, timeout_s,
                                               self._emit, self._settings.logging.level.upper())
            else:
                self._placed[key] = ThreadPlacement(spec, timeout_s, self._emit)
        return self._placed[key]

    async def aclose(self) -> None:
        for placement in self._placed.values():
            await placement.aclose()
