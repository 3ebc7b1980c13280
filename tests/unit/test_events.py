import json

from assistant.events import IntentMatched, Replied, Stage, StageFailed, Transcribed, to_json


def test_events_serialize_with_type_time_and_turn() -> None:
    data = json.loads(to_json(Transcribed(at_ms=1520, turn_id=3, text="what time is it",
                                          latency_ms=41.5)))
    assert data == {"type": "transcribed", "at_ms": 1520, "turn_id": 3,
                    "text": "what time is it", "latency_ms": 41.5, "no_speech_prob": 0.0,
                    "speculative": False, "audio_ms": 0, "compute_ms": 0.0}


def test_stage_is_named_and_slots_are_objects() -> None:
    failed = json.loads(to_json(StageFailed(at_ms=1, turn_id=None, stage=Stage.TTS, code="x",
                                            message="m")))
    assert failed["stage"] == "tts" and failed["type"] == "stage_failed"
    matched = json.loads(to_json(IntentMatched(at_ms=1, turn_id=1, intent="HassTurnOn",
                                               slots={"name": "lamp"})))
    assert matched["slots"] == {"name": "lamp"}


def test_replied_has_first_audio() -> None:
    data = json.loads(to_json(Replied(at_ms=5, turn_id=2, text="hi", first_audio_ms=120.0)))
    assert data["first_audio_ms"] == 120.0 and data["text"] == "hi"
