"""`assistant bench` without models or a daemon: clips, the bench input, turns from events,
the bench settings, and the report's figures, table and JSON."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.bench.clips import GAP_MS, LEAD_MS, Clip, Placed, build_input, load_clips
from assistant.bench.idle import Idle
from assistant.bench.report import Figure, Report, figures, percentiles, render
from assistant.bench.turns import Run, Turn, _turns, bench_settings
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.events import InputEnded, Replied, SpeechEnded, Transcribed, WakeDetected, to_json

RATE_HZ = 16000


def write_tone(path: Path, ms: int, level: int) -> bytes:
    """A 16 kHz mono 16-bit WAV of `ms` of a ramp around `level`; returns its PCM."""
    samples = (level + np.arange(RATE_HZ * ms // 1000) % 100).astype("<i2")
    pcm = samples.tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE_HZ)
        wav.writeframes(pcm)
    return pcm


def write_manifest(folder: Path, lines: list[str]) -> Path:
    manifest = folder / "MANIFEST.tsv"
    manifest.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return manifest


def read_wav(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path), "rb") as wav:
        return (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(),
                wav.readframes(wav.getnframes()))


def at(ms: int) -> int:
    """Byte offset of `ms` into 16 kHz mono 16-bit PCM."""
    return ms * RATE_HZ // 1000 * 2


# --- clips: load_clips ---------------------------------------------------------------------

def test_load_clips_without_category_takes_every_row(tmp_path: Path) -> None:
    write_tone(tmp_path / "one.wav", 100, 1000)
    (tmp_path / "sub").mkdir()
    write_tone(tmp_path / "sub" / "two.wav", 100, 2000)
    write_manifest(tmp_path, ["file\ttruth", "one.wav\twhat time is it",
                              "sub/two.wav\tset a timer for ten minutes"])

    assert load_clips(tmp_path) == [
        Clip(tmp_path / "one.wav", "what time is it"),
        Clip(tmp_path / "sub" / "two.wav", "set a timer for ten minutes"),
    ]


def test_load_clips_with_category_takes_only_asr_rows(tmp_path: Path) -> None:
    write_tone(tmp_path / "a.wav", 100, 1000)
    write_tone(tmp_path / "c.wav", 100, 3000)
    # The wake row's file does not exist: rows of other categories are never looked at.
    write_manifest(tmp_path, [
        "file\tcategory\tsource\ttruth",
        "a.wav\tasr\tsomewhere\tturn on the light",
        'wake/b.wav\twake\tsomewhere\t"wake word ""alexa"" then a command"',
        "c.wav\tasr\telsewhere\tstop",
    ])

    assert load_clips(tmp_path) == [Clip(tmp_path / "a.wav", "turn on the light"),
                                    Clip(tmp_path / "c.wav", "stop")]


def test_load_clips_without_manifest(tmp_path: Path) -> None:
    write_tone(tmp_path / "a.wav", 100, 1000)
    with pytest.raises(ConfigError, match="no MANIFEST.tsv") as caught:
        load_clips(tmp_path)
    assert str(tmp_path) in caught.value.message
    assert caught.value.code == "config_invalid"


@pytest.mark.parametrize("header", ["path\ttruth", "file\ttext", "file", "name\tcategory"])
def test_load_clips_needs_file_and_truth_columns(tmp_path: Path, header: str) -> None:
    write_tone(tmp_path / "a.wav", 100, 1000)
    manifest = write_manifest(tmp_path, [header, "a.wav\tsomething"])
    with pytest.raises(ConfigError, match="columns file and truth") as caught:
        load_clips(tmp_path)
    assert str(manifest) in caught.value.message


def test_load_clips_empty_manifest(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [])
    with pytest.raises(ConfigError) as caught:
        load_clips(tmp_path)
    assert str(manifest) in caught.value.message


def test_load_clips_no_asr_rows(tmp_path: Path) -> None:
    write_tone(tmp_path / "w.wav", 100, 1000)
    manifest = write_manifest(tmp_path, ["file\tcategory\ttruth", "w.wav\twake\talexa",
                                         "\tasr\tno file given"])
    with pytest.raises(ConfigError, match="no recordings listed") as caught:
        load_clips(tmp_path)
    assert str(manifest) in caught.value.message


def test_load_clips_header_only_raises(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, ["file\ttruth"])
    with pytest.raises(ConfigError) as caught:
        load_clips(tmp_path)
    assert str(manifest) in caught.value.message


def test_load_clips_header_only_says_no_recordings(tmp_path: Path) -> None:
    write_manifest(tmp_path, ["file\ttruth"])
    with pytest.raises(ConfigError, match="no recordings listed"):
        load_clips(tmp_path)


def test_load_clips_listed_file_missing(tmp_path: Path) -> None:
    write_tone(tmp_path / "here.wav", 100, 1000)
    manifest = write_manifest(tmp_path, ["file\ttruth", "here.wav\tyes", "gone.wav\tno"])
    with pytest.raises(ConfigError, match="listed but missing") as caught:
        load_clips(tmp_path)
    assert str(manifest) in caught.value.message
    assert str(tmp_path / "gone.wav") in caught.value.message
    assert "here.wav" not in caught.value.message.split("missing:")[1]


# --- clips: build_input --------------------------------------------------------------------

@pytest.fixture
def two_clips(tmp_path: Path) -> tuple[list[Clip], list[bytes]]:
    pcm_a = write_tone(tmp_path / "a.wav", 300, 1000)
    pcm_b = write_tone(tmp_path / "b.wav", 500, -2000)
    return [Clip(tmp_path / "a.wav", "alpha"), Clip(tmp_path / "b.wav", "bravo")], [pcm_a, pcm_b]


def test_build_input_places_clips_after_lead_with_gaps(
        tmp_path: Path, two_clips: tuple[list[Clip], list[bytes]]) -> None:
    clips, (pcm_a, pcm_b) = two_clips
    out = tmp_path / "out" / "bench.wav"

    placed = build_input(clips, 1, out)

    a_start = LEAD_MS
    b_start = a_start + 300 + GAP_MS
    assert placed == [Placed(clips[0], a_start, a_start + 300),
                      Placed(clips[1], b_start, b_start + 500)]
    rate, channels, width, pcm = read_wav(out)
    assert (rate, channels, width) == (RATE_HZ, 1, 2)
    assert len(pcm) == at(LEAD_MS + 300 + GAP_MS + 500 + GAP_MS)
    # The clips' own samples at their places; silence everywhere else.
    assert pcm[at(a_start):at(a_start + 300)] == pcm_a
    assert pcm[at(b_start):at(b_start + 500)] == pcm_b
    rest = pcm[:at(a_start)] + pcm[at(a_start + 300):at(b_start)] + pcm[at(b_start + 500):]
    assert rest == bytes(len(rest))


def test_build_input_passes_repeat_the_clips(
        tmp_path: Path, two_clips: tuple[list[Clip], list[bytes]]) -> None:
    clips, (pcm_a, pcm_b) = two_clips
    out = tmp_path / "bench.wav"

    placed = build_input(clips, 3, out)

    one_pass_ms = 300 + GAP_MS + 500 + GAP_MS
    assert [p.clip for p in placed] == clips * 3
    assert [(p.start_ms, p.end_ms) for p in placed] == [
        (LEAD_MS + k * one_pass_ms + offset, LEAD_MS + k * one_pass_ms + offset + length)
        for k in range(3) for offset, length in ((0, 300), (300 + GAP_MS, 500))
    ]
    pcm = read_wav(out)[3]
    assert len(pcm) == at(LEAD_MS + 3 * one_pass_ms)
    last_b = placed[-1]
    assert pcm[at(last_b.start_ms):at(last_b.end_ms)] == pcm_b
    assert pcm[at(placed[2].start_ms):at(placed[2].end_ms)] == pcm_a


def test_build_input_before_shifts_start(
        tmp_path: Path, two_clips: tuple[list[Clip], list[bytes]]) -> None:
    clips, (pcm_a, pcm_b) = two_clips
    wake = (np.full(RATE_HZ * 200 // 1000, 7000)).astype("<i2").tobytes()  # 200 ms
    out = tmp_path / "bench.wav"

    placed = build_input(clips, 1, out, before=wake)

    # The clip starts after the wake word; the wake word is part of [.., end_ms) in the input.
    b_at = LEAD_MS + 200 + 300 + GAP_MS
    assert [(p.start_ms, p.end_ms) for p in placed] == [
        (LEAD_MS + 200, LEAD_MS + 200 + 300), (b_at + 200, b_at + 200 + 500)]
    pcm = read_wav(out)[3]
    assert len(pcm) == at(LEAD_MS + 200 + 300 + GAP_MS + 200 + 500 + GAP_MS)
    assert pcm[at(LEAD_MS):at(LEAD_MS + 200)] == wake
    assert pcm[at(LEAD_MS + 200):at(LEAD_MS + 500)] == pcm_a
    assert pcm[at(b_at):at(b_at + 200)] == wake
    assert pcm[at(b_at + 200):at(b_at + 700)] == pcm_b


# --- turns: _turns -------------------------------------------------------------------------

A = Placed(Clip(Path("a.wav"), "what time is it"), 1000, 1300)
B = Placed(Clip(Path("b.wav"), "set a timer"), 3800, 4300)


def events(*items: Any) -> list[dict[str, Any]]:
    """As the daemon writes them to its JSONL events file, and the bench reads them back."""
    return [json.loads(to_json(item)) for item in items]


def ended(turn_id: int, at_ms: int) -> SpeechEnded:
    return SpeechEnded(at_ms=at_ms, turn_id=turn_id, duration_ms=900)


def heard(turn_id: int, text: str, *, latency_ms: float = 40.0, audio_ms: int = 1500,
          compute_ms: float = 75.0, speculative: bool = False) -> Transcribed:
    return Transcribed(at_ms=0, turn_id=turn_id, text=text, latency_ms=latency_ms,
                       audio_ms=audio_ms, compute_ms=compute_ms, speculative=speculative)


def test_turns_from_events() -> None:
    found = _turns(events(
        WakeDetected(at_ms=900, turn_id=None),
        ended(1, 1400),
        heard(1, "What time is it?", latency_ms=35.5, audio_ms=1500, compute_ms=75.0,
              speculative=True),
        Replied(at_ms=1500, turn_id=1, text="It is noon.", first_audio_ms=61.5, prepared=True),
        ended(2, 4400),
        heard(2, " set a timer", latency_ms=120.0, audio_ms=2000, compute_ms=300.0),
        Replied(at_ms=4600, turn_id=2, text="Timer set.", first_audio_ms=250.0),
        InputEnded(at_ms=9000),
    ), [A, B])

    assert found == [
        Turn(placed=A, text="What time is it?", latency_ms=35.5, first_audio_ms=61.5,
             asr_ms_per_s=50.0, speculative=True, reply="It is noon.", prepared=True),
        Turn(placed=B, text=" set a timer", latency_ms=120.0, first_audio_ms=250.0,
             asr_ms_per_s=150.0, speculative=False, reply="Timer set.", prepared=False),
    ]


@pytest.mark.parametrize(("at_ms", "clip"), [
    (999, None),  # in the lead silence
    (1000, A),
    (1300, A),
    (1300 + GAP_MS - 1, A),  # in A's gap
    (3800, B),  # A's gap ends where B starts
    (4300 + GAP_MS - 1, B),
    (4300 + GAP_MS, None),  # after every clip
])
def test_turn_maps_to_the_clip_it_ended_in(at_ms: int, clip: Placed | None) -> None:
    found = _turns(events(ended(7, at_ms), heard(7, "hello")), [A, B])
    assert len(found) == 1
    assert found[0].placed is clip


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_turns_with_empty_transcripts_are_skipped(text: str) -> None:
    found = _turns(events(
        ended(1, 1400), heard(1, text), Replied(at_ms=1500, turn_id=1, text="Sorry."),
        ended(2, 4000), heard(2, "stop"),
    ), [A, B])
    assert [t.text for t in found] == ["stop"]
    assert found[0].placed is B


def test_turns_need_speech_ended_and_transcribed() -> None:
    found = _turns(events(
        heard(1, "no end"),  # never ended (e.g. cut off)
        ended(2, 1400),  # ended but never transcribed
        ended(3, 4000), heard(3, "kept"),
    ), [A, B])
    assert [t.text for t in found] == ["kept"]


def test_turn_without_reply_and_without_audio_length() -> None:
    found = _turns(events(ended(4, 1400), heard(4, "hmm", audio_ms=0, compute_ms=12.0)), [A])
    assert found == [Turn(placed=A, text="hmm", latency_ms=40.0, first_audio_ms=None,
                          asr_ms_per_s=None, speculative=False, reply=None, prepared=False)]


def test_turn_reply_not_prepared_and_without_audio() -> None:
    found = _turns(events(
        ended(5, 1400), heard(5, "turn it on"),
        Replied(at_ms=1500, turn_id=5, text="", first_audio_ms=None, prepared=False),
    ), [A])
    assert (found[0].reply, found[0].first_audio_ms, found[0].prepared) == ("", None, False)


def test_turns_keep_the_first_event_of_each_type() -> None:
    found = _turns(events(
        ended(1, 1400), heard(1, "first", compute_ms=30.0), heard(1, "second"),
        Replied(at_ms=1500, turn_id=1, text="one", first_audio_ms=10.0),
    ), [A])
    assert [(t.text, t.asr_ms_per_s) for t in found] == [("first", 20.0)]


# --- turns: bench_settings -----------------------------------------------------------------

USER = {
    "audio": {"queue_ms": 3000, "input": {"device": "USB"}},
    "asr": {"model": "base.en", "beam_size": 2, "min_window_s": 5.0, "cpu_threads": 2},
    "endpoint": {"hangover_ms": 400, "speculate": True, "adaptive": False, "vad": "silero"},
    "tts": {"engine": "espeak", "espeak_voice": "en-gb"},
    "conversation": {"mode": "wake_word", "follow_up_s": 5, "control_socket": "/tmp/ctl.sock"},
    "intents": {"files": ["/etc/assistant/intents.yaml"]},
    "models": {"offline": True, "cache_dir": "/srv/models"},
    "mqtt": {"host": "broker.local", "username": "me", "password": "secret"},
    "homeassistant": {"url": "http://homeassistant.local:8123", "token": "abc"},
    "devices": [
        {"name": "kitchen lights", "type": "light", "command_topic": "home/kitchen/set"},
        {"name": "garage door", "type": "cover", "entity_id": "cover.garage_door"},
    ],
    "timers": {"state_file": "/home/me/timers.json"},
}


@pytest.mark.parametrize("baseline", [False, True])
@pytest.mark.parametrize("user", [Settings(), Settings.model_validate(USER)],
                         ids=["default", "home"])
def test_bench_settings_never_act_on_the_home(tmp_path: Path, user: Settings,
                                              baseline: bool) -> None:
    bench = bench_settings(user, tmp_path, baseline)

    assert bench.mqtt is None
    assert bench.homeassistant is None
    assert bench.devices == []
    assert bench.intents.files == []
    assert bench.conversation.mode == "always_listening"
    assert bench.timers.state_file is not None
    assert bench.timers.state_file.parent == tmp_path
    # Still a valid settings tree.
    assert Settings.model_validate(bench.model_dump()) == bench


def test_bench_settings_from_home_user_settings_is_not_empty() -> None:
    # Guards the parametrized test above against a USER that lost its home sections.
    user = Settings.model_validate(USER)
    assert user.mqtt is not None and user.homeassistant is not None
    assert len(user.devices) == 2 and user.intents.files


@pytest.mark.parametrize("user", [Settings(), Settings.model_validate(USER)],
                         ids=["default", "home"])
def test_tuned_bench_settings_keep_the_users_values(tmp_path: Path, user: Settings) -> None:
    tuned = bench_settings(user, tmp_path, baseline=False)

    assert tuned.asr == user.asr
    assert tuned.endpoint == user.endpoint
    assert tuned.tts == user.tts
    assert tuned.audio == user.audio
    assert tuned.models == user.models
    assert tuned.conversation.follow_up_s == user.conversation.follow_up_s
    assert tuned.conversation.turn_timeout_s == user.conversation.turn_timeout_s


def test_tuned_bench_settings_user_values_by_number(tmp_path: Path) -> None:
    tuned = bench_settings(Settings.model_validate(USER), tmp_path, baseline=False)
    assert tuned.asr.min_window_s == 5.0
    assert tuned.asr.model == "base.en"
    assert tuned.endpoint.speculate is True
    assert tuned.endpoint.hangover_ms == 400
    assert tuned.tts.engine == "espeak"
    assert tuned.models.offline is True


@pytest.mark.parametrize("user", [Settings(), Settings.model_validate(USER)],
                         ids=["default", "home"])
def test_baseline_bench_settings(tmp_path: Path, user: Settings) -> None:
    base = bench_settings(user, tmp_path, baseline=True)

    assert base.asr.min_window_s == 30
    assert base.endpoint.speculate is False
    # Only those two change: the rest is the user's.
    assert base.asr.model_copy(update={"min_window_s": user.asr.min_window_s}) == user.asr
    assert base.endpoint.model_copy(update={"speculate": user.endpoint.speculate}) \
        == user.endpoint
    assert base.tts == user.tts
    assert base.models == user.models


# --- report --------------------------------------------------------------------------------

def test_percentiles() -> None:
    assert percentiles([None, 1.0, 2.0, 3.0, None]) == (2.0, 2.8)
    assert percentiles([10.0, 20.0, 30.0, 40.0, 100.0]) == (30.0, 76.0)
    assert percentiles([1.234]) == (1.2, 1.2)
    assert percentiles([]) == (None, None)
    assert percentiles([None, None]) == (None, None)
    p50, p90 = percentiles([0.0, 5.0])
    assert type(p50) is float and type(p90) is float


@pytest.mark.parametrize(("tuned", "baseline", "ratio"), [
    ((50.0, 60.0), (200.0, 300.0), 0.25),
    ((300.0, None), (200.0, None), 1.5),
    ((0.0, None), (0.5, None), 0.0),
    ((50.0, 60.0), (0.0, 0.0), None),
    ((50.0, 60.0), (None, None), None),
    ((None, None), (200.0, 300.0), None),
])
def test_figure_ratio(tuned: tuple[float | None, float | None],
                      baseline: tuple[float | None, float | None], ratio: float | None) -> None:
    assert Figure("x", "ms", tuned, baseline).ratio == ratio


NOON_1 = Placed(Clip(Path("noon.wav"), "what time is it"), 1000, 2000)
TIMER = Placed(Clip(Path("timer.wav"), "set a timer"), 4500, 5500)
OTHER = Placed(Clip(Path("other.wav"), "hello"), 8000, 9000)
NOON_2 = Placed(Clip(Path("noon.wav"), "what time is it"), 11500, 12500)


def turn(reply: str | None, *, latency_ms: float, first_audio_ms: float | None,
         asr_ms_per_s: float | None, prepared: bool = False, placed: Placed | None = None
         ) -> Turn:
    return Turn(placed=placed, text="words", latency_ms=latency_ms, first_audio_ms=first_audio_ms,
                asr_ms_per_s=asr_ms_per_s, speculative=prepared, reply=reply, prepared=prepared)


TUNED = Run("tuned", (
    turn("It is noon.", latency_ms=20.0, first_audio_ms=50.0, asr_ms_per_s=100.0, prepared=True,
         placed=NOON_1),
    turn("Timer set.", latency_ms=120.0, first_audio_ms=400.0, asr_ms_per_s=200.0,
         placed=TIMER),
    turn(None, latency_ms=30.0, first_audio_ms=None, asr_ms_per_s=None, placed=OTHER),
    turn("It is noon.", latency_ms=40.0, first_audio_ms=70.0, asr_ms_per_s=300.0,
         prepared=False, placed=NOON_2),
), wer=0.0625)
# The clock moved on between the runs: the same commands, other reply texts.
BASELINE = Run("baseline", (
    turn("It is 12:01.", latency_ms=600.0, first_audio_ms=900.0, asr_ms_per_s=1000.0,
         placed=NOON_1),
    turn("Timer set.", latency_ms=700.0, first_audio_ms=1000.0, asr_ms_per_s=1100.0,
         placed=TIMER),
    turn(None, latency_ms=650.0, first_audio_ms=None, asr_ms_per_s=1200.0, placed=OTHER),
    turn("It is 12:01.", latency_ms=800.0, first_audio_ms=1100.0, asr_ms_per_s=None,
         placed=NOON_2),
), wer=0.25)


def test_figures() -> None:
    found = {f.name: f for f in figures(TUNED, BASELINE, [10.0, 20.0, 30.0])}

    assert list(found) == [
        "endpoint -> transcript", "endpoint -> first reply audio",
        "  answers known before the endpoint", "  other answers",
        "ASR compute per second of audio", "TTS time to first chunk", "word error rate",
    ]
    assert {f.unit for name, f in found.items() if name != "word error rate"} == {"ms"}
    assert found["word error rate"].unit == ""

    def pair(name: str) -> tuple[tuple[float | None, float | None], ...]:
        return found[name].tuned, found[name].baseline

    assert pair("endpoint -> transcript") == ((35.0, 96.0), (675.0, 770.0))
    assert pair("endpoint -> first reply audio") == ((70.0, 334.0), (1000.0, 1080.0))
    # The commands whose reply the tuned run had ready before the endpoint, in both runs.
    assert pair("  answers known before the endpoint") == ((50.0, 50.0), (900.0, 900.0))
    assert pair("  other answers") == ((235.0, 367.0), (1050.0, 1090.0))
    assert pair("ASR compute per second of audio") == ((200.0, 280.0), (1100.0, 1180.0))
    assert pair("TTS time to first chunk") == ((20.0, 28.0), (20.0, 28.0))
    assert pair("word error rate") == ((0.0625, None), (0.25, None))
    assert found["  answers known before the endpoint"].ratio == pytest.approx(50 / 900)
    assert found["word error rate"].ratio == 0.25
    assert found["TTS time to first chunk"].ratio == 1.0


def test_figures_without_prepared_replies() -> None:
    tuned = Run("tuned", tuple(t for t in TUNED.turns if not t.prepared), wer=0.0)
    found = {f.name: f for f in figures(tuned, BASELINE, [])}
    assert found["  answers known before the endpoint"].tuned == (None, None)
    assert found["  answers known before the endpoint"].baseline == (None, None)
    assert found["  answers known before the endpoint"].ratio is None
    assert found["  other answers"].baseline == (1000.0, 1080.0)
    assert found["TTS time to first chunk"].tuned == (None, None)
    assert found["word error rate"].ratio == 0.0


def test_figures_wer_rounded() -> None:
    found = figures(Run("t", (), wer=0.123456), Run("b", (), wer=1 / 3), [])
    assert found[-1].tuned == (0.1235, None)
    assert found[-1].baseline == (0.3333, None)


FIGURES = (
    Figure("endpoint -> transcript", "ms", (30.0, 102.0), (600.0, 680.0)),
    Figure("TTS time to first chunk", "ms", (None, None), (None, None)),
    Figure("word error rate", "", (0.0625, None), (0.25, None)),
)
IDLE = Idle(cpu_percent=1.234, rss_mb=123.4, peak_rss_mb=150.6, seconds=60.0,
            stages="wake word, VAD", pss_mb=99.6, processes=3)


def report(**changes: Any) -> Report:
    fields: dict[str, Any] = {"clips": 12, "setup": "tiny.en on 2 CPUs", "figures": FIGURES,
                              "speculative_turns": (7, 11), "idle": None}
    return Report(**(fields | changes))


def test_render_lines() -> None:
    lines = render(report())

    assert lines[0] == "assistant bench: 12 commands; tiny.en on 2 CPUs"
    assert lines[1].split() == ["p50", "p90", "baseline", "p50", "p90", "ratio"]
    assert lines[1].startswith(" " * 42)
    rows = lines[2:5]
    assert rows[0][:42].rstrip() == "endpoint -> transcript (ms)"
    assert rows[0][42:].split() == ["30.0", "102.0", "600.0", "680.0", "0.05"]
    assert rows[1][:42].rstrip() == "TTS time to first chunk (ms)"
    assert rows[1][42:].split() == ["-", "-", "-", "-", "-"]
    assert rows[2][:42].rstrip() == "word error rate"  # a fraction: no unit
    assert rows[2][42:].split() == ["0.062", "-", "0.250", "-", "0.25"]
    # The numbers stand in the header's columns.
    assert all(len(line) == len(lines[1]) for line in rows)
    assert lines[5] == "turns transcribed at a pause (speculation): 7 of 11"
    assert len(lines) == 6


def test_render_idle_and_mouth_to_ear() -> None:
    lines = render(report(idle=IDLE, mouth_to_ear_ms=(812.34, None)))

    assert len(lines) == 8
    assert lines[5] == "turns transcribed at a pause (speculation): 7 of 11"
    assert lines[6] == "mouth-to-ear, end of speech -> first sound (ms): p50 812.3, p90 -"
    assert lines[7] == ("idle over 60 s of silence (wake word, VAD), 3 processes: 1.23% of "
                        "one core; RSS 123 MB (peak 151 MB), PSS 100 MB")


def test_render_figures_of_two_runs() -> None:
    lines = render(report(figures=figures(TUNED, BASELINE, [10.0, 20.0, 30.0])))
    assert len(lines) == 2 + 7 + 1
    known = next(line for line in lines if "answers known" in line)
    assert known.split()[-5:] == ["50.0", "50.0", "900.0", "900.0", "0.06"]
    wer_line = lines[8]
    assert wer_line.startswith("word error rate ")
    assert wer_line.split()[-5:] == ["0.062", "-", "0.250", "-", "0.25"]


def test_render_rows_of_two_runs_align_with_header() -> None:
    lines = render(report(figures=figures(TUNED, BASELINE, [10.0])))
    assert all(len(line) == len(lines[1]) for line in lines[2:9])


def test_report_to_json() -> None:
    data = json.loads(report(idle=IDLE, mouth_to_ear_ms=(812.3, 900.0)).to_json())

    assert data["clips"] == 12
    assert data["setup"] == "tiny.en on 2 CPUs"
    assert data["speculative_turns"] == [7, 11]
    assert data["mouth_to_ear_ms"] == [812.3, 900.0]
    assert data["idle"] == {"cpu_percent": 1.234, "rss_mb": 123.4, "peak_rss_mb": 150.6,
                            "seconds": 60.0, "stages": "wake word, VAD", "pss_mb": 99.6,
                            "processes": 3}
    assert data["figures"] == [
        {"name": "endpoint -> transcript", "unit": "ms", "tuned": [30.0, 102.0],
         "baseline": [600.0, 680.0], "ratio": 0.05},
        {"name": "TTS time to first chunk", "unit": "ms", "tuned": [None, None],
         "baseline": [None, None], "ratio": None},
        {"name": "word error rate", "unit": "", "tuned": [0.0625, None],
         "baseline": [0.25, None], "ratio": 0.25},
    ]


def test_report_to_json_without_extras() -> None:
    data = json.loads(report().to_json())
    assert data["idle"] is None
    assert data["mouth_to_ear_ms"] is None
    assert [f["ratio"] for f in data["figures"]] == [0.05, None, 0.25]


def test_report_to_json_from_figures() -> None:
    data = json.loads(report(figures=figures(TUNED, BASELINE, [10.0])).to_json())
    assert [f["name"] for f in data["figures"]][2] == "  answers known before the endpoint"
    assert data["figures"][2]["ratio"] == pytest.approx(50 / 900)
    assert data["figures"][2]["tuned"] == [50.0, 50.0]
