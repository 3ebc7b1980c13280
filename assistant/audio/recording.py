"""Record a few seconds from the microphone (speaker enrollment), through the daemon's own path."""

from __future__ import annotations

import asyncio

from assistant.audio.devices import Microphone
from assistant.audio.format import CHUNK_MS
from assistant.audio.hub import AudioHub
from assistant.errors import AudioDeviceError


async def record(device: str | int | None, seconds: float) -> bytes:
    """16 kHz mono int16 PCM, `seconds` long (converted at the edge like live input)."""
    hub = AudioHub(max_chunks=int(seconds * 1000 // CHUNK_MS) + 50)
    subscription = hub.subscribe("record")
    microphone = Microphone(device, hub)
    microphone.open(asyncio.get_running_loop())
    wanted = int(seconds * 1000 // CHUNK_MS)
    chunks: list[bytes] = []
    microphone.start()
    try:
        async with asyncio.timeout(seconds + 10):  # a silent device must not hang the CLI
            async for chunk in subscription:
                chunks.append(chunk.pcm)
                if len(chunks) >= wanted:
                    break
    except TimeoutError as exc:
        raise AudioDeviceError(f"the microphone delivered {len(chunks) * CHUNK_MS} ms of audio "
                               f"in {seconds + 10:.0f} s; check audio.input.device") from exc
    finally:
        microphone.stop()
    return b"".join(chunks)
