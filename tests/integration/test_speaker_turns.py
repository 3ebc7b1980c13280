"""Who is speaking, in a real turn: enrolled voices from real clips, a restricted intent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.speakers import ProfileStore, VoiceEncoder, enroll_files
from tests.integration.broker import Broker, Collector
from tests.integration.helpers import run_file

pytestmark = pytest.mark.integration
NABU = "wakeword/pymicrowakeword_okay_nabu_2.wav"
SPK = "asr/speechbrain_spk{}_snt{}.wav"


def test_restricted_intent_obeys_only_the_enrolled_voice(
    broker: Broker, audio_dir: Path, build_input: Callable[..., Path], tmp_path: Path,
) -> None:
    store = ProfileStore(tmp_path / "profiles")
    encoder = VoiceEncoder()
    for speaker in (1, 2):
        enroll_files(f"speaker{speaker}", [audio_dir / SPK.format(speaker, n) for n in (1, 2, 3)],
                     store, encoder)
    intents = tmp_path / "intents.yaml"
    intents.write_text(
        "intents:\n  Diary:\n    data: [{sentences: ['{entry}']}]\n"
        "    speakers: [speaker1]\n    response: Noted.\n"
        "    action: {type: mqtt, topic: diary/entry, payload: '{{ entry }}'}\n"
        "lists:\n  entry: {wildcard: true}\n")
    settings = Settings.model_validate({
        "mqtt": {"host": broker.host, "port": broker.port},
        "speakers": {"enabled": True, "profiles_dir": str(tmp_path / "profiles")},
        "intents": {"files": [str(intents)]},
        "timers": {"state_file": str(tmp_path / "timers.json")},
    })
    wav = build_input(500, audio_dir / NABU, 400, audio_dir / SPK.format(2, 5), 1500,
                      audio_dir / NABU, 400, audio_dir / SPK.format(1, 5), 1500)
    with Collector(broker, ["diary/#"]) as seen:
        run = run_file(settings, wav, tmp_path)
        seen.wait_for("diary/entry")
    who = [(e["name"], e["turn_id"]) for e in run.of_type("speaker_identified")]
    assert [name for name, _ in who] == ["speaker2", "speaker1"], run.events
    replies = [e["text"] for e in run.of_type("replied")]
    assert replies == ["Sorry, only speaker1 can do that.", "Noted."]
    assert len(seen.payloads("diary/entry")) == 1  # the refused one did nothing
    assert all(0 < e["score"] <= 1 for e in run.of_type("speaker_identified"))
