"""Read long audio in blocks of a few minutes, cut where it is quietest.

A whole podcast is never held in memory or handed to Whisper at once: each block is transcribed
on its own (faster-whisper's VAD then splits it into speech chunks). A block ends at the quietest
moment near its end so that no word is cut in two.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE_HZ = 16000
BLOCK_S = 300.0
SEARCH_S = 30.0  # where to look for a quiet cut, back from the end of a block
_WINDOW = RATE_HZ // 5  # 200 ms of quiet is a pause between words or sentences

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Block:
    offset_s: float
    """Where `audio` starts in the file."""
    audio: Audio

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE_HZ


def iter_blocks(pcm_chunks: Iterable[bytes], block_s: float = BLOCK_S) -> Iterator[Block]:
    """16 kHz mono int16 PCM -> float blocks of about `block_s` seconds."""
    pending: list[Audio] = []
    pending_samples = 0
    offset = 0
    for pcm in pcm_chunks:
        pending.append(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)
        pending_samples += len(pending[-1])
        if pending_samples >= block_s * RATE_HZ:
            audio = np.concatenate(pending)
            cut = quiet_cut(audio, min(SEARCH_S, block_s / 2))
            yield Block(offset / RATE_HZ, audio[:cut])
            offset += cut
            pending, pending_samples = [audio[cut:]], len(audio) - cut
    if pending_samples:
        yield Block(offset / RATE_HZ, np.concatenate(pending))


def quiet_cut(audio: Audio, search_s: float) -> int:
    """The sample in the middle of the quietest 200 ms within the last `search_s` seconds."""
    start = max(0, len(audio) - int(search_s * RATE_HZ))
    tail = audio[start:]
    windows = len(tail) // _WINDOW
    if windows == 0:
        return len(audio)
    energy = np.square(tail[:windows * _WINDOW]).reshape(windows, _WINDOW).mean(axis=1)
    return start + int(np.argmin(energy)) * _WINDOW + _WINDOW // 2
