"""The built-in demo input: spoken with the bundled voice at first use, then cached.

Nothing generated is shipped; the script below is the demo.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from assistant.audio.convert import resample_pcm
from assistant.audio.files import write_wav
from assistant.audio.format import AudioFormat
from assistant.config import Settings
from assistant.config.paths import demo_dir
from assistant.tts.piper import PiperOptions, PiperSynthesizer

log = logging.getLogger(__name__)

# (text to speak, silence after it in ms). Covers: a pause after the wake word, a command in the
# same breath, something the assistant cannot do, and "repeat that".
DEMO_SCRIPT: tuple[tuple[str, int], ...] = (
    ("", 800),
    ("Okay Nabu.", 900),
    ("What time is it?", 2000),
    ("Okay Nabu, what's the date today?", 2000),
    ("Okay Nabu.", 700),
    ("Tell me a story about dragons.", 2000),
    ("Okay Nabu, repeat that.", 2000),
)
DEMO_FORMAT = AudioFormat(16000)


def demo_path(settings: Settings) -> Path:
    """The cached demo WAV, synthesized on first call."""
    key = hashlib.sha256(repr((DEMO_SCRIPT, settings.tts.voice)).encode()).hexdigest()[:12]
    path = demo_dir() / f"demo-{key}.wav"
    if not path.exists():
        log.info("synthesizing the demo input with the bundled voice: %s", path)
        write_wav(path, _synthesize(settings), DEMO_FORMAT)
    return path


def _synthesize(settings: Settings) -> bytes:
    voice = PiperSynthesizer(PiperOptions.from_settings(settings.tts, settings.models))
    voice.load()
    parts: list[bytes] = []
    for text, pause_ms in DEMO_SCRIPT:
        if text:
            for chunk in voice.synthesize(text):
                parts.append(resample_pcm(chunk.pcm, chunk.format, DEMO_FORMAT.rate_hz))
        parts.append(bytes(DEMO_FORMAT.bytes_for_ms(pause_ms)))
    return b"".join(parts)
