"""A private, throw-away PulseAudio server with two null sinks, for audio integration tests.

``mic`` is a virtual microphone: audio played into it (``paplay -d mic``) comes out of its
monitor ``mic.monitor``, the default source.  ``spk`` is a virtual speaker, the default sink:
whatever is played to it can be captured from ``spk.monitor``.  A child process started with
``PulseServer.env`` reaches the server through libpulse or through ALSA (and so PortAudio /
``sounddevice``): its ALSA ``default`` device is routed to PulseAudio by a private asound.conf.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_ASOUND_CONF = "pcm.!default { type pulse }\nctl.!default { type pulse }\n"
_SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"


@dataclass(frozen=True)
class PulseServer:
    env: dict[str, str]  # full environment for child processes (os.environ + overrides)
    mic_sink: str = "mic"
    speaker_monitor: str = "spk.monitor"

    def play_into_mic(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play ``wav`` into the virtual microphone; ``wait()`` on the result."""
        return subprocess.Popen(["paplay", "-d", self.mic_sink, str(wav)], env=self.env)

    def record_speaker(self, out_wav: Path, timeout: float = 5.0) -> subprocess.Popen[bytes]:
        """Record the virtual speaker to a 16 kHz mono s16 WAV until ``terminate()``.

        Returns once the recording stream is connected.  After ``terminate()`` call
        ``wait()``: parec finalizes the WAV header on SIGTERM.
        """
        proc = subprocess.Popen(
            [
                "parec",
                "-d",
                self.speaker_monitor,
                "--file-format=wav",
                "--rate=16000",
                "--channels=1",
                "--format=s16le",
                "--latency-msec=20",
                str(out_wav),
            ],
            env=self.env,
        )
        try:
            self._wait_recording(proc, timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return proc

    def _wait_recording(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        marker = f'application.process.id = "{proc.pid}"'
        deadline = time.monotonic() + timeout
        while marker not in self._pactl("list", "source-outputs"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.args!r} did not start recording (rc={proc.returncode})")
            time.sleep(0.02)

    def load_module(self, name: str, *args: str) -> None:
        self._pactl("load-module", name, *args)

    def _pactl(self, *args: str) -> str:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=True
        ).stdout


@contextmanager
def pulse_server(tmp_path: Path, timeout: float = 10.0) -> Iterator[PulseServer]:
    """Run a private PulseAudio daemon for the duration of the ``with`` block."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        raise RuntimeError("pulseaudio not installed: apt-get install pulseaudio pulseaudio-utils")
    root = tmp_path / "pulse"
    root.mkdir()
    # A unix socket path must fit in 108 bytes; fall back to a short directory under /tmp.
    short = len(str(root)) > 80
    runtime = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp")) if short else root / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    socket = runtime / "native"
    asound = root / "asound.conf"
    asound.write_text(_ASOUND_CONF)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime),
        # Keep the daemon's state and the clients' cookie out of ~/.config/pulse.
        "PULSE_STATE_PATH": str(root / "state"),
        "PULSE_COOKIE": str(root / "cookie"),
        "PULSE_SERVER": f"unix:{socket}",
        "PULSE_SINK": "spk",
        "PULSE_SOURCE": "mic.monitor",
        # System alsa.conf, then ours: ALSA "default" -> PulseAudio, whatever /etc says.
        "ALSA_CONFIG_PATH": f"{_SYSTEM_ALSA_CONF}:{asound}",
    }
    log = (root / "pulseaudio.log").open("wb")
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "-n",
            "--disallow-exit",
            "--use-pid-file=no",
            "--realtime=no",
            "--log-target=stderr",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"
            " auth-cookie-enabled=0",
            "--load=module-null-sink sink_name=mic",
            "--load=module-null-sink sink_name=spk",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    keepalive: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = (root / "pulseaudio.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PulseAudio did not come up within {timeout}s:\n{tail}")
            time.sleep(0.05)
        server = PulseServer(env)
        server._pactl("set-default-sink", "spk")
        server._pactl("set-default-source", "mic.monitor")
        # An idle null sink renders 2 s ahead, so a new recorder would get no data for up to
        # 2 s. Low-latency recorders on both monitors keep the sinks ticking every ~10 ms like
        # real hardware; suspend/resume restarts the sink clocks that are already 2 s ahead.
        for monitor in ("mic.monitor", "spk.monitor"):
            cmd = ["parec", "-d", monitor, "--latency-msec=10"]
            keepalive.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL))
            server._wait_recording(keepalive[-1], timeout)
        for sink in ("mic", "spk"):
            server._pactl("suspend-sink", sink, "1")
            server._pactl("suspend-sink", sink, "0")
        yield server
    finally:
        for proc in keepalive:
            proc.terminate()
            proc.wait()
        daemon.terminate()
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        if short:
            shutil.rmtree(runtime, ignore_errors=True)
