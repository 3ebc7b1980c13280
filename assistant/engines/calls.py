"""What a request to an engine looks like on either side of a placement.

`serve` runs where the engine is (a worker thread or a worker process) and turns a request
(method, header, payload) into a reply; the `decode_*` functions turn the reply back into
values for the caller. Both placements use exactly this code, so they behave the same.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.engines.base import Transcript
from assistant.engines.wire import Header
from assistant.errors import SynthesisError

Reply = tuple[Header, bytes]
METHODS = ("transcribe", "synthesize", "embed", "scores", "ping")


def serve(engine: Any, method: str, header: Header, payload: bytes) -> Reply:
    """Run one request on `engine`. Blocking; raises what the engine raises. The reply's
    header says how long the engine took (`serve_ms`): the rest of a request's time is the
    placement's overhead."""
    started = time.perf_counter()
    reply, data = _serve(engine, method, header, payload)
    return {**reply, "serve_ms": (time.perf_counter() - started) * 1000}, data


def _serve(engine: Any, method: str, header: Header, payload: bytes) -> Reply:
    if method == "transcribe":
        transcript: Transcript = engine.transcribe(payload)
        return dataclasses.asdict(transcript), b""
    if method == "synthesize":
        return _synthesize(engine, str(header["text"]))
    if method == "embed":
        return _array(engine.embed(payload))
    if method == "scores":
        samples = np.frombuffer(payload, dtype=np.float32)
        return _array(engine.scores_waveform(samples))
    if method == "ping":
        return {}, b""
    raise ValueError(f"unknown engine method {method!r}")


def describe(engine: Any) -> Header:
    """What the caller needs to know about a loaded engine (sent once, after loading)."""
    info: Header = {"name": str(getattr(engine, "name", type(engine).__name__)),
                    "device": str(getattr(engine, "device", "cpu") or "cpu")}
    for key in ("labels", "window_ms", "hop_ms"):  # sound classifiers
        if hasattr(engine, key):
            value = getattr(engine, key)
            info[key] = list(value) if key == "labels" else int(value)
    return info


def decode_transcript(header: Header) -> Transcript:
    fields = {f.name for f in dataclasses.fields(Transcript)}
    return Transcript(**{k: v for k, v in header.items() if k in fields})


def decode_audio(header: Header, payload: bytes) -> AudioChunk:
    fmt = AudioFormat(int(header["rate_hz"]), int(header["width_bytes"]), int(header["channels"]))
    return AudioChunk(pcm=payload, format=fmt)


def decode_array(header: Header, payload: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(payload, dtype=np.float32).reshape(header["shape"])


def _synthesize(engine: Any, text: str) -> Reply:
    """One sentence: its chunks joined (one request per sentence keeps cancelling, time limits
    and the fallback voice at sentence granularity)."""
    chunks: list[AudioChunk] = list(engine.synthesize(text))
    if not chunks:
        return {"rate_hz": 16000, "width_bytes": 2, "channels": 1}, b""
    fmt = chunks[0].format
    if any(chunk.format != fmt for chunk in chunks):
        raise SynthesisError(f"{engine.name} changed its audio format within one sentence")
    header = {"rate_hz": fmt.rate_hz, "width_bytes": fmt.width_bytes, "channels": fmt.channels}
    return header, b"".join(chunk.pcm for chunk in chunks)


def _array(values: npt.NDArray[Any]) -> Reply:
    array = np.ascontiguousarray(values, dtype=np.float32)
    return {"shape": list(array.shape)}, array.tobytes()
