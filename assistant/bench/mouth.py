"""Mouth-to-ear latency, measured from outside the daemon through a private PulseAudio server.

The commands (each after a recorded wake word) are played into a virtual microphone in real
time; the daemon runs as its own process with the user's settings on the default devices. A
probe process plays the input and records the virtual speaker, and PortAudio stamps both on one
clock (assistant/bench/probe.py): the latency is from the end of each command's speech, as it
enters the microphone, to the first sound of the answer, as it leaves the speaker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from assistant.audio.files import iter_file_chunks, read_file
from assistant.bench.clips import Clip, Placed, build_input
from assistant.bench.pulse import PulseServer, pulse_server
from assistant.bench.report import percentiles
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.frontend.wake import WakeDetector

RATE_HZ = 16000
WINDOW = 160  # 10 ms
QUIET_BELOW_PEAK_DB = 35.0  # the end of speech: the last 10 ms this close to the clip's peak
LOUD_DBFS = -45.0  # the answer: the first 10 ms this loud (the null sink is silent otherwise)
AFTER_WAKE_MS = 300
READY_TIMEOUT_S = 120.0

Audio = npt.NDArray[np.float64]


def mouth_to_ear(settings: Settings, clips: list[Clip], folder: Path, work: Path
                 ) -> tuple[float | None, float | None]:
    wake = _wake_recording(settings, folder)
    before = read_file(wake) + bytes(2 * 16 * AFTER_WAKE_MS)
    wav = work / "mouth.wav"
    placed = build_input(clips, 1, wav, before=before)
    (work / "pulse-root").mkdir()
    with pulse_server(work / "pulse-root") as server:
        recorded, played_s, recorded_s = _play_and_record(server, settings, wav, work)
    said = _samples(recorded)
    delays = [d for d in (_delay(item, i, placed, _samples(wav), said, played_s, recorded_s)
                          for i, item in enumerate(placed)) if d is not None]
    return percentiles(delays)


def _delay(item: Placed, index: int, placed: list[Placed], heard: Audio, said: Audio,
           played_s: float, recorded_s: float) -> float | None:
    """ms from the end of this command's speech to the first sound after it, or None."""
    clip = heard[item.start_ms * 16:item.end_ms * 16]
    speech_end = _last_loud(clip)
    if speech_end < 0:
        return None
    end_s = played_s + (item.start_ms * 16 + speech_end) / RATE_HZ
    until_ms = placed[index + 1].start_ms if index + 1 < len(placed) else None
    first = int((end_s - recorded_s) * RATE_HZ)
    last = len(said) if until_ms is None else int(
        (played_s + until_ms / 1000 - recorded_s) * RATE_HZ)
    answer = _first_loud(said[max(0, first):last])
    return None if answer < 0 else round(answer / RATE_HZ * 1000, 1)


def _wake_recording(settings: Settings, folder: Path) -> Path:
    """A recording of the first wake word that the wake model really detects."""
    word = settings.wake.words[0].replace("_", " ")
    rows = (folder / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for row in rows:
        fields = row.split("\t")
        if len(fields) > 6 and fields[1] == "wakeword" and fields[6].strip().lower() == word:
            detector = WakeDetector(settings.wake)
            try:
                if any(detector.process(c) for c in iter_file_chunks(folder / fields[0])):
                    return folder / fields[0]
            finally:
                detector.close()
    raise ConfigError(f"{folder}: mouth-to-ear needs a wake-word recording of {word!r} "
                      "(MANIFEST.tsv rows with category wakeword) that the wake model detects.")


def _play_and_record(server: PulseServer, settings: Settings, wav: Path, work: Path
                     ) -> tuple[Path, float, float]:
    """The speaker's recording, and the clock times of the input's and the recording's
    first samples."""
    socket = work / "mouth.sock"
    config = work / "mouth.yaml"
    chosen = settings.model_copy(update={"conversation": settings.conversation.model_copy(
        update={"control_socket": socket})})
    config.write_text(yaml.safe_dump(_safe(chosen)), encoding="utf-8")
    recording = work / "mouth-recorded.wav"
    with (work / "mouth-daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "assistant", "--config", str(config), "run", "--quiet",
             "--events", str(work / "mouth-events.jsonl")],
            env=server.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not socket.exists():
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the daemon did not start; see "
                                       f"{work / 'mouth-daemon.log'}")
                time.sleep(0.05)
            probe_env = {**server.env, "PULSE_SINK": "mic", "PULSE_SOURCE": "spk.monitor"}
            subprocess.run([sys.executable, "-m", "assistant.bench.probe", str(wav),
                            str(recording)], env=probe_env, check=True)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    stamps = json.loads(Path(f"{recording}.json").read_text(encoding="utf-8"))
    return recording, float(stamps["played_dac_s"]), float(stamps["recorded_adc_s"])


def _safe(settings: Settings) -> dict[str, object]:
    """The user's settings minus everything that acts on the home."""
    data = settings.model_dump(mode="json")
    data.update(mqtt=None, homeassistant=None, devices=[])
    data["intents"]["files"] = []
    return data


def _samples(path: Path) -> Audio:
    return np.frombuffer(read_file(path), dtype="<i2").astype(np.float64) / 32768


def _levels_db(audio: Audio) -> Audio:
    """The level of each 10 ms window, in dBFS."""
    windows = len(audio) // WINDOW
    power = np.square(audio[:windows * WINDOW]).reshape(windows, WINDOW).mean(axis=1)
    return np.asarray(10 * np.log10(power + 1e-12), dtype=np.float64)


def _first_loud(audio: Audio) -> int:
    loud = np.flatnonzero(_levels_db(audio) > LOUD_DBFS)
    return int(loud[0]) * WINDOW if len(loud) else -1


def _last_loud(audio: Audio) -> int:
    """The end of speech in a recording with its own noise floor: relative to its peak."""
    levels = _levels_db(audio)
    if not len(levels):
        return -1
    loud = np.flatnonzero(levels > max(LOUD_DBFS, levels.max() - QUIET_BELOW_PEAK_DB))
    return (int(loud[-1]) + 1) * WINDOW if len(loud) else -1
