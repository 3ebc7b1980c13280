"""Long audio in blocks, cut at the quietest moment: no sample lost, none twice."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from assistant.transcribe.chunks import RATE_HZ, SEARCH_S, Block, iter_blocks, quiet_cut

CHUNK_BYTES = 640  # 20 ms of 16 kHz mono int16, as the file reader gives
GAP_S = 0.3
BLOCK_S = 5.0


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, int(seconds * RATE_HZ)).astype(np.float32)


def silence_at(audio: np.ndarray, start_s: float, length_s: float = GAP_S) -> tuple[int, int]:
    start = int(start_s * RATE_HZ)
    end = start + int(length_s * RATE_HZ)
    audio[start:end] = 0.0
    return start, end


def int16(audio: np.ndarray) -> np.ndarray:
    return (audio * 32767).astype("<i2")


def chunks(pcm: np.ndarray, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    data = pcm.tobytes()
    for i in range(0, len(data), size):
        yield data[i:i + size]


def as_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def cuts(blocks: list[Block]) -> list[int]:
    """Where each block but the last ends, in samples of the whole input."""
    ends = np.cumsum([len(b.audio) for b in blocks])[:-1]
    return [int(end) for end in ends]


# -- quiet_cut

@pytest.mark.parametrize("gap_start_s", [3.0, 10.0, 17.13, 25.07, 29.5])
def test_quiet_cut_lands_in_the_silent_gap(gap_start_s: float) -> None:
    audio = noise(60.0)
    start, end = silence_at(audio, 60.0 - SEARCH_S + gap_start_s)
    cut = quiet_cut(audio, SEARCH_S)
    assert start <= cut < end


@pytest.mark.parametrize("offset_samples", range(0, 3200, 400))
def test_quiet_cut_finds_a_gap_at_any_alignment(offset_samples: int) -> None:
    audio = noise(40.0, seed=offset_samples)
    start, end = silence_at(audio, 20.0 + offset_samples / RATE_HZ)
    assert start <= quiet_cut(audio, SEARCH_S) < end


def test_quiet_cut_ignores_silence_before_the_search_window() -> None:
    audio = noise(60.0)
    silence_at(audio, 10.0, length_s=5.0)  # long and silent, but 50 s from the end
    near_end, _ = silence_at(audio, 50.0)  # quieter than noise, not a full gap: just quieter
    audio[near_end:near_end + int(GAP_S * RATE_HZ)] = 0.01
    cut = quiet_cut(audio, SEARCH_S)
    assert len(audio) - SEARCH_S * RATE_HZ <= cut < len(audio)
    assert near_end <= cut < near_end + int(GAP_S * RATE_HZ)


def test_quiet_cut_prefers_the_quieter_of_two_pauses() -> None:
    audio = noise(30.0)
    quieter = slice(5 * RATE_HZ, 5 * RATE_HZ + int(GAP_S * RATE_HZ))
    audio[quieter] *= 0.1  # a pause with some noise left in it
    start, end = silence_at(audio, 20.0)
    assert start <= quiet_cut(audio, SEARCH_S) < end


def test_quiet_cut_of_audio_shorter_than_a_window_is_the_end() -> None:
    audio = noise(0.1)
    assert quiet_cut(audio, SEARCH_S) == len(audio)


def test_quiet_cut_in_audio_shorter_than_the_search_looks_at_all_of_it() -> None:
    audio = noise(4.0)
    start, end = silence_at(audio, 1.0)
    assert start <= quiet_cut(audio, SEARCH_S) < end


# -- iter_blocks

def test_blocks_give_back_exactly_the_input() -> None:
    pcm = int16(noise(23.3))
    blocks = list(iter_blocks(chunks(pcm), block_s=BLOCK_S))
    assert len(blocks) >= 4
    assert all(b.audio.dtype == np.float32 for b in blocks)
    assert np.array_equal(np.concatenate([b.audio for b in blocks]), as_float(pcm))


def test_block_offsets_are_the_sum_of_the_blocks_before() -> None:
    pcm = int16(noise(23.3))
    blocks = list(iter_blocks(chunks(pcm), block_s=BLOCK_S))
    before = 0
    for block in blocks:
        assert block.offset_s == before / RATE_HZ
        before += len(block.audio)
    assert before == len(pcm)
    last = blocks[-1]
    assert last.offset_s + last.duration_s == pytest.approx(len(pcm) / RATE_HZ)


def test_blocks_are_never_longer_than_block_s_and_none_is_empty() -> None:
    pcm = int16(noise(31.0))
    blocks = list(iter_blocks(chunks(pcm), block_s=BLOCK_S))
    assert all(0 < len(b.audio) <= BLOCK_S * RATE_HZ for b in blocks)
    # A block ends somewhere in the last half of its length, so none is needlessly short.
    assert all(b.duration_s >= BLOCK_S / 2 for b in blocks[:-1])


def test_a_short_input_is_one_block() -> None:
    pcm = int16(noise(2.0))
    [block] = iter_blocks(chunks(pcm), block_s=BLOCK_S)
    assert block.offset_s == 0.0
    assert block.duration_s == 2.0
    assert np.array_equal(block.audio, as_float(pcm))


def test_no_input_is_no_block() -> None:
    assert list(iter_blocks(iter(()), block_s=BLOCK_S)) == []


def test_samples_convert_from_int16_to_float() -> None:
    pcm = np.array([0, 16384, -16384, 32767, -32768], dtype="<i2")
    [block] = iter_blocks([pcm.tobytes()], block_s=BLOCK_S)
    assert block.audio.tolist() == [0.0, 0.5, -0.5, 32767 / 32768, -1.0]


def test_blocks_are_cut_in_silent_gaps() -> None:
    audio = noise(24.0)
    # A gap every 2 s: every 2.5 s search window (block_s / 2) holds a whole one.
    gaps = [silence_at(audio, 1.0 + 2.0 * i) for i in range(11)]
    blocks = list(iter_blocks(chunks(int16(audio)), block_s=BLOCK_S))
    assert len(blocks) >= 5
    for cut in cuts(blocks):
        assert any(start <= cut < end for start, end in gaps), cut
    assert np.array_equal(np.concatenate([b.audio for b in blocks]), as_float(int16(audio)))


def test_blocks_are_cut_at_the_one_gap_near_the_end_of_each_block() -> None:
    audio = noise(13.0)  # 0-4.15, 4.15-8.35, 8.35-13: the last block is shorter than block_s
    first = silence_at(audio, 4.0)
    second = silence_at(audio, 8.2)
    blocks = list(iter_blocks(chunks(int16(audio)), block_s=BLOCK_S))
    assert len(blocks) == 3
    [cut1, cut2] = cuts(blocks)
    assert first[0] <= cut1 < first[1]
    assert second[0] <= cut2 < second[1]


def test_odd_chunk_sizes_lose_nothing() -> None:
    pcm = int16(noise(17.0))
    blocks = list(iter_blocks(chunks(pcm, size=2 * 777), block_s=BLOCK_S))
    assert np.array_equal(np.concatenate([b.audio for b in blocks]), as_float(pcm))
    assert all(len(b.audio) <= BLOCK_S * RATE_HZ for b in blocks)


def test_nearest_speech_is_the_span_holding_the_time_or_the_closest() -> None:
    from assistant.transcribe.chunks import Span, nearest_speech

    spans = [Span(1.0, 2.0), Span(5.0, 6.0), Span(10.0, 11.0)]
    assert nearest_speech(spans, 5.5) == spans[1]
    assert nearest_speech(spans, 2.4) == spans[0]  # 0.4 s after the first, 2.6 s before the next
    assert nearest_speech(spans, 4.2) == spans[1]
    assert nearest_speech(spans, 0.0) == spans[0]
    assert nearest_speech(spans, 30.0) == spans[2]
    assert nearest_speech([], 3.0) is None
    assert nearest_speech(spans, 4.2, before=True) == spans[0]
    assert nearest_speech(spans, 0.0, before=True) == spans[0]


def test_a_word_aligned_into_silence_is_moved_into_the_nearest_speech() -> None:
    from assistant.transcribe.chunks import Span
    from assistant.transcribe.engine import _into_speech
    from assistant.transcribe.result import Word

    spans = [Span(30.5, 33.7), Span(35.4, 38.8)]
    late = _into_speech(Word(34.73, 34.73, "middle."), spans)  # seen with tiny.en
    assert (late.start_s, late.end_s, late.text) == (33.7, 33.7, "middle.")
    inside = Word(31.0, 31.4, "thin")
    assert _into_speech(inside, spans) is inside
    straddling = _into_speech(Word(33.5, 34.5, "run"), spans)
    assert (straddling.start_s, straddling.end_s) == (33.5, 33.7)
    early = _into_speech(Word(34.9, 35.1, "Sunday"), spans)  # nearer the next sentence
    assert (early.start_s, early.end_s) == (35.4, 35.4)
