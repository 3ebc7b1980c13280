"""The daemon and its small companions: `run` (and `run --demo`), `listen`, `say`, `devices`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings

log = logging.getLogger("assistant")


@dataclass(frozen=True)
class RunRequest:
    input: str | None = None
    """An audio file, '-' for raw PCM on stdin, or None for the microphone."""
    demo: bool = False
    input_rate_hz: int = 16000
    input_channels: int = 1
    output: str | None = None
    """A WAV file, 'none', or None for the speaker (with demo: demo-replies.wav)."""
    events: str | None = None
    append: bool = False
    """Add to the events file instead of replacing it."""
    realtime: bool = False
    quiet: bool = False
    config: Path | None = None
    """The settings file (read again on SIGHUP); None: the default one."""
    log_level: str | None = None
    """--log-level, kept over logging.level when the settings are reloaded."""


def run(settings: Settings, request: RunRequest) -> int:
    """Run the daemon until its input ends or it is stopped; the daemon's exit code."""
    return asyncio.run(_run(settings, request))


async def _run(settings: Settings, request: RunRequest) -> int:
    from assistant.app import RunOptions, run_daemon
    from assistant.audio.format import AudioFormat
    from assistant.preflight import check_run_outputs

    input_path = request.input
    output = request.output
    if request.demo:
        from assistant.demo import demo_path

        output = output or "demo-replies.wav"
        check_run_outputs(output, request.events)  # before the demo is synthesized
        input_path = str(await asyncio.to_thread(demo_path, settings))
    options = RunOptions(
        input=input_path, input_format=AudioFormat(request.input_rate_hz, 2,
                                                   request.input_channels),
        output=output, events=request.events, append=request.append,
        realtime=request.realtime, trace=not request.quiet, config=request.config,
        log_level=request.log_level,
    )
    code = await run_daemon(settings, options)
    if output not in (None, "none") and code == 0:
        log.info("replies written to %s", output)
    return code


def listen(settings: Settings) -> int:
    """Push-to-talk: ask the running daemon, over its control socket, to take a command."""
    from assistant.config import paths
    from assistant.control import send_command

    send_command(paths.control_socket(settings.conversation.control_socket), "listen")
    return 0


def say(settings: Settings, text: str, output: str | None) -> int:
    """Speak TEXT with the configured voice, or write it to the WAV file OUTPUT."""
    from assistant.app import speak_once
    from assistant.preflight import check_output_file

    if output is not None:
        check_output_file("--output", Path(output))  # before the voice loads
    asyncio.run(speak_once(settings, text, output))
    return 0


def devices() -> int:
    from assistant.audio.devices import list_devices
    from assistant.errors import AudioDeviceError

    lines = list_devices()
    if not lines:
        raise AudioDeviceError(
            "no audio devices. Is a sound server running (PulseAudio or PipeWire)? Recordings "
            "work without one: assistant run --input FILE --output reply.wav.")
    for line in lines:
        print(line)
    return 0
