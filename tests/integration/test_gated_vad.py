"""The default VAD: WebRTC VAD as a cheap gate, Silero's judgement on real speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.audio.files import iter_file_chunks
from assistant.audio.format import AudioChunk
from assistant.frontend.vad import GatedSilero, SileroActivity

pytestmark = pytest.mark.integration
CLIP = "asr/rhasspy3_what_time_is_it.wav"  # speech, then quiet background noise


def decisions(vad: GatedSilero | SileroActivity, chunks: list[AudioChunk]) -> list[bool]:
    return [vad.is_speech(chunk) for chunk in chunks]


def test_gated_silero_hears_what_silero_hears_and_sleeps_in_silence(audio_dir: Path) -> None:
    speech = list(iter_file_chunks(audio_dir / CLIP))
    silence = [AudioChunk(bytes(640), speech[0].format, 0) for _ in range(100)]
    gated = GatedSilero(aggressiveness=2, threshold=0.5)
    runs = 0
    silero_is_speech = gated._silero.is_speech

    def counted(chunk: AudioChunk) -> bool:
        nonlocal runs
        runs += 1
        return silero_is_speech(chunk)

    gated._silero.is_speech = counted  # type: ignore[method-assign]
    assert decisions(gated, silence) == [False] * 100
    assert runs == 0  # two seconds of silence: Silero never ran

    heard = decisions(gated, speech)
    alone = decisions(SileroActivity(0.5), speech)
    assert sum(heard) >= 20  # "what time is it" is speech
    # The same speech as Silero alone, up to its first window at the start.
    differ = sum(a != b for a, b in zip(heard, alone, strict=True))
    assert differ <= 3, (heard, alone)
    runs = 0
    assert decisions(gated, silence) == [False] * 100
    assert runs <= 15  # it stops once WebRTC has heard nothing for 300 ms
