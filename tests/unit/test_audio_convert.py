import numpy as np

from assistant.audio.convert import Rechunker, StreamConverter, pcm_to_float, resample_pcm
from assistant.audio.format import CHUNK_BYTES, AudioFormat


def test_rechunker_stamps_time_from_sample_count() -> None:
    rechunker = Rechunker()
    chunks = list(rechunker.push(bytes(CHUNK_BYTES * 2 + 100)))
    chunks += list(rechunker.push(bytes(CHUNK_BYTES - 100)))
    chunks += list(rechunker.flush())
    assert [c.start_ms for c in chunks] == [0, 20, 40]
    assert all(len(c.pcm) == CHUNK_BYTES for c in chunks)


def test_flush_pads_the_tail() -> None:
    rechunker = Rechunker()
    assert list(rechunker.push(bytes(10))) == []
    tail = list(rechunker.flush())
    assert len(tail) == 1 and len(tail[0].pcm) == CHUNK_BYTES


def test_24_bit_stereo_is_decoded_and_downmixed() -> None:
    left, right = 0x400000, -0x400000 // 2  # +0.5 and -0.25 of full scale
    frame = left.to_bytes(3, "little", signed=True) + right.to_bytes(3, "little", signed=True)
    samples = pcm_to_float(frame * 4, AudioFormat(44100, 3, 2))
    assert samples.shape == (4,)
    np.testing.assert_allclose(samples, 0.125, atol=1e-6)


def test_resampling_keeps_duration_and_pitch() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    out = np.frombuffer(resample_pcm(tone, AudioFormat(rate), 16000), dtype="<i2")
    assert abs(len(out) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 440) < 2


def test_stream_converter_is_continuous_across_pushes() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    converter = StreamConverter(rate)
    chunks = []
    for start in range(0, rate, 1000):
        chunks += list(converter.push(tone[start:start + 1000]))
    chunks += list(converter.push(np.zeros(0, dtype=np.float32), last=True))
    assert sum(len(c.pcm) for c in chunks) // 2 == 16000
    assert [c.start_ms for c in chunks] == list(range(0, 1000, 20))
