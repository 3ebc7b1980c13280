"""The bounded buffers between PortAudio's callback thread and the event loop, with numbers."""

from __future__ import annotations

import threading

import numpy as np

from assistant.audio.buffers import CaptureBuffer, PlaybackBuffer


def block(n: int) -> np.ndarray:
    """One 20 ms block at 16 kHz whose samples all say which block it is."""
    return np.full((320, 1), n, dtype=np.int16)


def test_capture_keeps_the_newest_two_seconds_and_counts_the_dropped_blocks() -> None:
    buffer = CaptureBuffer(max_blocks=100)  # 2 s of 20 ms blocks
    asks = [buffer.push(block(n)) for n in range(150)]  # the loop stalls for 3 s
    assert asks == [True] + [False] * 149  # one drain scheduled, not 150 callbacks
    assert buffer.dropped == 50
    taken = buffer.take()
    assert [int(b[0, 0]) for b in taken] == list(range(50, 150))  # oldest dropped, order kept
    assert buffer.take() == []


def test_capture_asks_for_a_new_drain_only_after_the_last_one_ran() -> None:
    buffer = CaptureBuffer(max_blocks=100)
    assert buffer.push(block(0)) is True
    assert buffer.push(block(1)) is False
    assert len(buffer.take()) == 2
    assert buffer.push(block(2)) is True
    assert buffer.dropped == 0


def test_capture_from_another_thread_loses_nothing_below_the_bound() -> None:
    buffer = CaptureBuffer(max_blocks=1000)
    producer = threading.Thread(target=lambda: [buffer.push(block(n)) for n in range(800)])
    producer.start()
    got: list[int] = []
    while producer.is_alive() or len(got) < 800:
        got += [int(b[0, 0]) for b in buffer.take()]
    producer.join()
    assert got == list(range(800))
    assert buffer.dropped == 0


def test_playback_reads_exactly_what_the_callback_asks_for_across_pieces() -> None:
    buffer = PlaybackBuffer(block_bytes=640)
    buffer.put(bytes(range(200)) * 5)  # 1000 bytes: pieces of 640 + 360
    assert buffer.queued_bytes == 1000
    first = buffer.read(700)
    assert first == (bytes(range(200)) * 5)[:700]
    assert buffer.queued_bytes == 300
    assert buffer.read(700) == (bytes(range(200)) * 5)[700:]  # runs dry: fewer bytes
    assert buffer.queued_bytes == 0
    assert buffer.read(640) == b""


def test_playback_wakes_the_writer_once_the_level_is_reached() -> None:
    rate_hz = 22050
    block_bytes = 2 * rate_hz // 50
    limit = 10 * 2 * rate_hz  # 10 s of 16-bit mono
    buffer = PlaybackBuffer(block_bytes)
    buffer.put(bytes(limit + 3 * block_bytes))  # 10 s and 3 blocks
    woken: list[int] = []
    assert buffer.wait_below(limit, lambda: woken.append(buffer.queued_bytes)) is True
    buffer.read(block_bytes)
    buffer.read(block_bytes)
    assert woken == []  # still above 10 s
    buffer.read(block_bytes)
    assert woken == [limit]  # exactly at the limit: room again
    buffer.read(block_bytes)
    assert woken == [limit]  # once


def test_playback_needs_no_wait_when_there_is_room() -> None:
    buffer = PlaybackBuffer(640)
    buffer.put(bytes(640))
    assert buffer.wait_below(640, lambda: None) is False
    assert buffer.wait_below(0, lambda: None) is True


def test_playback_clear_wakes_a_waiting_drain() -> None:
    buffer = PlaybackBuffer(640)
    buffer.put(bytes(6400))
    woken: list[bool] = []
    assert buffer.wait_below(0, lambda: woken.append(True))
    buffer.clear()  # barge-in
    assert woken == [True]
    assert buffer.queued_bytes == 0


def test_playback_forgotten_waiter_is_not_called() -> None:
    buffer = PlaybackBuffer(640)
    buffer.put(bytes(1280))
    woken: list[bool] = []
    buffer.wait_below(0, lambda: woken.append(True))
    buffer.forget_waiter()  # the writer was cancelled
    buffer.read(1280)
    assert woken == []
