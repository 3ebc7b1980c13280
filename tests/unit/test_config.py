from pathlib import Path

import pytest
import yaml

from assistant.cli import main
from assistant.config import Settings, load_settings
from assistant.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_default_yaml_documents_exactly_the_defaults() -> None:
    documented = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    assert Settings.model_validate(documented) == Settings()
    assert documented == Settings().model_dump(mode="json")


def test_user_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "wake:\n  words: [hey_jarvis, alexa]\n"))
    assert settings.wake.words == ["hey_jarvis", "alexa"]
    assert settings.wake.refractory_ms == Settings().wake.refractory_ms
    assert settings.asr == Settings().asr


def test_unknown_key_names_file_line_and_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "wake:\n  words: [okay_nabu]\n  treshold: 0.5\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = info.value.message
    assert str(path) in message
    assert "line 3: wake.treshold: unknown key" in message
    assert "threshold" in message and "refractory_ms" in message


def test_bad_value_names_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "endpoint:\n  preset: fastest\nwake:\n  words: [hey_siri]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = info.value.message
    assert "line 2: endpoint.preset = 'fastest'" in message
    assert "'fast', 'normal' or 'relaxed'" in message
    assert "wake.words.0 = 'hey_siri'" in message and "okay_nabu" in message


def test_out_of_range_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"asr.beam_size = 0: .*greater than or equal to 1"):
        load_settings(write(tmp_path, "asr:\n  beam_size: 0\n"))


def test_broken_yaml_reports_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(write(tmp_path, "wake: [\n"))


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_xdg_default_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assistant").mkdir()
    (tmp_path / "assistant" / "config.yaml").write_text("wake:\n  refractory_ms: 1234\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings().wake.refractory_ms == 1234


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.wake.refractory_ms = 5  # type: ignore[misc]


def test_check_config_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "endpoint:\n  preset: relaxed\n")
    assert main(["check-config", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr:\n  device: tpu\n")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "asr.device = 'tpu'" in err and "Traceback" not in err


def test_unknown_key_in_optional_and_list_sections_lists_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: x\n  prot: 1883\n"
                           "devices:\n  - {name: a, type: light, command_topic: x, colour: red}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = info.value.message
    assert "line 3: mqtt.prot: unknown key. Allowed here: ca_file" in message
    assert "devices.0.colour: unknown key. Allowed here: aliases" in message


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: x\n  password: hunter2\n"
                           "homeassistant:\n  url: ftp://ha\n  token: s3cret-token\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = info.value.message
    assert "password given without username" in message and "homeassistant.url" in message
    assert "hunter2" not in message and "s3cret-token" not in message


def test_shell_allowlist_refuses_shells_even_behind_a_symlink(tmp_path: Path) -> None:
    disguised = tmp_path / "harmless"
    disguised.symlink_to("/bin/bash")
    with pytest.raises(ConfigError, match="cannot be allowed"):
        load_settings(write(tmp_path, f"shell:\n  allow: [{disguised}]\n"))
    with pytest.raises(ConfigError, match="absolute path"):
        load_settings(write(tmp_path, "shell:\n  allow: [notify-send]\n"))
