import numpy as np

from assistant.sed.windows import WindowBuffer


def test_windows_overlap_by_the_hop_and_carry_stream_time() -> None:
    buffer = WindowBuffer(window_ms=960, hop_ms=480)
    samples = np.arange(16000 * 3, dtype=np.float32)
    windows = []
    for start in range(0, len(samples), 320):  # 20 ms chunks
        windows += buffer.push(samples[start:start + 320], start_ms=5000 + start // 16)
    assert [at for at, _ in windows] == [5000, 5480, 5960, 6440, 6920]
    assert all(len(w) == 15360 for _, w in windows)
    assert windows[1][1][0] == 7680  # the second window starts 0.48 s in


def test_speech_spans_join_windows_and_drop_short_ones() -> None:
    from assistant.speakers.segments import speech_spans

    labels = ["Speech", "Music"]
    speech = [0.9, 0.9, 0.9, 0.1, 0.8, 0.1, 0.9, 0.9, 0.9, 0.9]
    scores = np.array([[s, 0.0] for s in speech])
    # windows 0-2: 0..1920 ms (kept); window 4 alone: 960 ms (too short); windows 6-9: kept
    assert speech_spans(scores, labels) == [(0, 1920), (2880, 5280)]


def test_a_gap_in_the_stream_starts_the_windows_over() -> None:
    buffer = WindowBuffer(window_ms=960, hop_ms=480)
    second = np.ones(16000, dtype=np.float32)
    assert buffer.push(np.zeros(12000, dtype=np.float32), start_ms=0) == []
    windows = buffer.push(second, start_ms=2000)  # 1250 ms of audio never arrived
    assert [at for at, _ in windows] == [2000]
    assert windows[0][1].min() == 1.0  # nothing from before the gap
