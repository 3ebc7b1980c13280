import pytest

from assistant.asr.whisper import has_repeated_tail, pick_device, window_seconds


@pytest.mark.parametrize(
    ("audio_ms", "window"),
    [(1500, 10), (8999, 10), (9500, 11), (14200, 16), (29000, 30), (45000, 30)],
)
def test_window_is_at_least_10_s_or_audio_plus_1_s(audio_ms: int, window: int) -> None:
    assert window_seconds(audio_ms, 10.0) == window


@pytest.mark.parametrize(
    ("text", "repeated"),
    [("Repeat that. Repeat that.", True), ("Ask what you can do. Ask what you can do.", True),
     ("What time is it?", False), ("one zero zero zero one", False), ("stop", False),
     ("That. Repeat that. Repeat", True)],
)
def test_repeated_tail(text: str, repeated: bool) -> None:
    assert has_repeated_tail(text) is repeated


def test_cpu_without_gpu_uses_int8() -> None:
    assert pick_device("cpu", "auto") == ("cpu", "int8")
    assert pick_device("cuda", "auto") == ("cuda", "float16")
    assert pick_device("cpu", "float32") == ("cpu", "float32")
