"""espeak-ng as a fallback voice: robotic, but tiny and always there.

It is the voice of last resort, so each way it can fail is a typed error (SynthesisTimeout,
SynthesisOutputError, SynthesisError) that the turn reports, and no espeak-ng process outlives
the sentence it was started for.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import wave
from collections.abc import Iterator

from assistant.audio.format import AudioChunk, AudioFormat
from assistant.errors import ModelError, SynthesisError, SynthesisOutputError, SynthesisTimeout
from assistant.quoting import excerpt
from assistant.tts.text import pieces


class EspeakSynthesizer:
    def __init__(self, voice: str = "en-us", timeout_s: float = 10.0) -> None:
        self._voice = voice
        self._timeout_s = timeout_s
        self._binary: str | None = None
        self.name = f"espeak-ng:{voice}"

    def load(self) -> None:
        self._binary = shutil.which("espeak-ng") or shutil.which("espeak")
        if self._binary is None:
            raise ModelError("espeak-ng is not installed (Debian: apt-get install espeak-ng).")

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if self._binary is None:
            raise SynthesisError("espeak-ng is not loaded; call load() first")
        # Clean, bounded pieces: a NUL in an argument is an error, not speech.
        for piece in pieces(text):
            yield _read_wav(self._run(self._binary, piece), self._binary)

    def _run(self, binary: str, sentence: str) -> bytes:
        """espeak-ng's WAV for one sentence (its stdout), within the time limit."""
        # "--" ends options, so text starting with "-" is spoken, not parsed.
        args = [binary, "-v", self._voice, "--stdout", "--", sentence]
        try:
            # A session of its own: on a timeout its whole process group is killed, so nothing
            # it started can linger or hold the pipes open.
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise SynthesisError(f"cannot run {binary}: {exc.strerror or exc}; check that "
                                 "espeak-ng is installed (Debian: apt-get install espeak-ng)"
                                 ) from exc
        try:
            stdout, stderr = process.communicate(timeout=self._timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise SynthesisTimeout(
                f"{binary} did not finish a sentence within {self._timeout_s:g} s and was "
                f"stopped; check that it works (`{binary} -v {self._voice} hello`) or raise "
                "tts.timeout_s") from exc
        finally:
            _kill(process)
        if process.returncode != 0:
            how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                   else f"exited with code {process.returncode}")
            said = excerpt(stderr.decode(errors="replace").strip()) or "no error output"
            raise SynthesisError(f"{binary} {how}: {said}; check tts.espeak_voice "
                                 f"({self._voice!r}; `{binary} --voices` lists them)")
        return stdout


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the process group if the process has not been reaped, then reap it."""
    if process.returncode is not None:
        return  # finished and reaped: its pid (and group id) may already be someone else's
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    # After the kill every writer is gone: this reads the pipes to their end and reaps.
    process.communicate()


def _read_wav(data: bytes, binary: str) -> AudioChunk:
    what = f"{binary} wrote"
    if not data:
        raise SynthesisOutputError(f"{what} no audio (an empty output); check that "
                                   f"`{binary} --stdout hello` writes a WAV file")
    try:
        with wave.open(io.BytesIO(data)) as wav:
            fmt = AudioFormat(wav.getframerate(), wav.getsampwidth(), wav.getnchannels())
            pcm = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, RuntimeError) as exc:  # wave raises all three on bad input
        raise SynthesisOutputError(f"{what} {len(data)} bytes that are not a readable WAV "
                                   f"({exc or type(exc).__name__}); check that `{binary} "
                                   "--stdout hello` writes a WAV file") from exc
    frame = fmt.width_bytes * fmt.channels
    pcm = pcm[: len(pcm) - len(pcm) % frame]  # a cut-off last frame is not audio
    if fmt.rate_hz <= 0 or not pcm:
        raise SynthesisOutputError(f"{what} a WAV without audio ({fmt.rate_hz} Hz, "
                                   f"{len(pcm)} bytes of samples); check that `{binary} "
                                   "--stdout hello` speaks")
    return AudioChunk(pcm=pcm, format=fmt)
