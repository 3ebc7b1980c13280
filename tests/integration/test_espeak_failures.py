"""espeak-ng, the fallback voice, failing in each way it can: typed errors, no process left behind.

A fake `espeak-ng` (a shell script first on PATH) plays each fault; the real one shows that the
same code still speaks, and fails typed on a voice it does not have.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assistant.errors import SynthesisError, SynthesisOutputError, SynthesisTimeout
from assistant.tts.espeak import EspeakSynthesizer
from tests.conftest import require_binary

pytestmark = pytest.mark.integration


def fake_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> EspeakSynthesizer:
    """An EspeakSynthesizer that finds the script `body` as its espeak-ng (loaded, 1 s limit)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "espeak-ng"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    synth = EspeakSynthesizer("en-us", timeout_s=1.0)
    synth.load()
    return synth


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a PID 1 that never reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_hung_espeak_is_a_timeout_and_killed_with_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pids = tmp_path / "pids"
    # The script and a child of its own that holds the output pipe open: both must go.
    synth = fake_espeak(tmp_path, monkeypatch,
                        f'echo $$ > {pids}\nsleep 60 &\necho $! >> {pids}\nwait')
    started = time.monotonic()
    with pytest.raises(SynthesisTimeout) as caught:
        list(synth.synthesize("Hello there."))
    took_s = time.monotonic() - started
    assert caught.value.code == "tts_timeout"
    assert "within 1 s" in caught.value.message and "tts.timeout_s" in caught.value.message
    assert took_s < 10, f"waited {took_s:.1f} s: the child kept the pipe open"
    script_pid, child_pid = (int(line) for line in pids.read_text().split())
    deadline = time.monotonic() + 5
    while any(map(running, (script_pid, child_pid))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(script_pid) and not running(child_pid)


@pytest.mark.parametrize(("body", "says"), [
    ('echo "this is not a WAV file"', "not a readable WAV"),
    ("exit 0", "no audio"),
    ("printf 'RIFF'", "not a readable WAV"),
])
def test_garbage_or_nothing_on_stdout_is_a_bad_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, says: str,
) -> None:
    synth = fake_espeak(tmp_path, monkeypatch, body)
    with pytest.raises(SynthesisOutputError) as caught:
        list(synth.synthesize("Hello."))
    assert caught.value.code == "tts_bad_output"
    assert says in caught.value.message and "--stdout hello" in caught.value.message


@pytest.mark.parametrize(("cut_bytes", "says"), [(30, "not a readable WAV"),
                                                 (44, "WAV without audio")])
def test_a_cut_off_real_wav_is_a_bad_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut_bytes: int, says: str,
) -> None:
    real = require_binary("espeak-ng")
    synth = fake_espeak(tmp_path, monkeypatch, f'"{real}" "$@" | head -c {cut_bytes}')
    with pytest.raises(SynthesisOutputError) as caught:
        list(synth.synthesize("Hello."))
    assert says in caught.value.message


@pytest.mark.parametrize(("body", "says"), [
    ('echo "Error: no such voice" >&2\nexit 1', "exited with code 1: Error: no such voice"),
    ("printf '\\377\\376 not UTF-8\\n' >&2\nexit 3", "exited with code 3"),
    ("kill -9 $$", "was killed by signal 9"),
])
def test_a_failing_espeak_is_a_synthesis_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, says: str,
) -> None:
    synth = fake_espeak(tmp_path, monkeypatch, body)
    with pytest.raises(SynthesisError) as caught:
        list(synth.synthesize("Hello."))
    assert type(caught.value) is SynthesisError and caught.value.code == "tts_failed"
    assert says in caught.value.message and "tts.espeak_voice" in caught.value.message


def test_the_real_espeak_speaks_and_fails_typed_on_an_unknown_voice() -> None:
    require_binary("espeak-ng")
    synth = EspeakSynthesizer("en-us", timeout_s=10.0)
    synth.load()
    chunks = list(synth.synthesize("Hello there. It is noon."))
    assert len(chunks) == 2  # one per sentence
    for chunk in chunks:
        assert chunk.format.width_bytes == 2 and chunk.format.channels == 1
        assert 0.3 < chunk.duration_ms / 1000 < 5
    missing = EspeakSynthesizer("nosuchvoice")
    missing.load()
    with pytest.raises(SynthesisError) as caught:
        list(missing.synthesize("Hello."))
    assert type(caught.value) is SynthesisError
    assert "does not exist" in caught.value.message and "nosuchvoice" in caught.value.message
