"""Intent accuracy on spoken commands, and time from transcript to MQTT publish.

Run from the repo root: `python -m tests.bench.bench_intents [--audio DIR] [--publishes N]`.

Spoken commands come from three sources: the real recordings in ../shared/audio that are
commands, and every command of COMMANDS synthesized with the bundled Piper voice and with
espeak-ng. Each is transcribed by the daemon's Whisper (tiny.en, same settings as the daemon)
and matched by the daemon's router against the devices below; a command counts as right when
the intent and every expected slot agree (and "no intent" is right for non-commands).

Transcript -> publish: the router matches a transcript and the MQTT handler publishes through a
real Mosquitto (started here) with QoS 1; the figure ends when a separate subscriber receives it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from assistant.asr.whisper import WhisperOptions, WhisperTranscriber
from assistant.audio.convert import resample_pcm
from assistant.audio.files import read_file
from assistant.audio.format import STREAM_FORMAT
from assistant.config import Settings
from assistant.integrations.mqtt import MqttLink
from assistant.intents.devices import DeviceRegistry
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.router import Router, Services
from assistant.timers import TimerService
from assistant.tts.espeak import EspeakSynthesizer
from assistant.tts.piper import PiperOptions, PiperSynthesizer
from tests.integration.broker import Broker, Collector, mosquitto_binary

REPO = Path(__file__).resolve().parents[2]
PAD_MS = 300
Expected = tuple[str | None, dict[str, Any]]

DEVICES: list[dict[str, Any]] = [
    {"name": "living room lamp", "type": "light", "area": "living room",
     "command_topic": "home/living_room/lamp/set", "state_topic": "home/living_room/lamp/state"},
    {"name": "lamp", "type": "light", "area": "bedroom", "command_topic": "home/bedroom/lamp"},
    {"name": "kitchen lights", "type": "light", "area": "kitchen",
     "command_topic": "home/kitchen/light/set", "brightness_command_topic": "home/kitchen/b"},
    {"name": "garage door", "type": "cover", "area": "garage", "command_topic": "home/garage"},
    {"name": "thermostat", "type": "climate", "area": "living room",
     "temperature_command_topic": "home/thermostat/set"},
    {"name": "tv", "aliases": ["television"], "type": "media_player", "area": "living room",
     "command_topic": "home/tv", "volume_command_topic": "home/tv/volume"},
]

REAL: dict[str, Expected] = {
    "asr/wyoming_faster_whisper_turn_on_the_living_room_lamp.wav":
        ("HassTurnOn", {"name": "living room lamp"}),
    "asr/rhasspy3_turn_on_the_lamp.wav": ("HassTurnOn", {"name": "lamp"}),
    "asr/rhasspy3_what_time_is_it.wav": ("HassGetCurrentTime", {}),
    "asr/rhasspy3_whats_the_date_today.wav": ("HassGetCurrentDate", {}),
    "asr/rhasspy3_set_timer.wav": ("HassStartTimer", {"minutes": 10}),
    "asr/rhasspy3_this_is_a_test.wav": (None, {}),
    "asr/rhasspy3_play_the_beatles.wav": (None, {}),
}

COMMANDS: dict[str, Expected] = {
    "Turn on the kitchen lights.": ("HassTurnOn", {"name": "kitchen lights"}),
    "Turn off the kitchen lights.": ("HassTurnOff", {"name": "kitchen lights"}),
    "Turn on the living room lamp.": ("HassTurnOn", {"name": "living room lamp"}),
    "Switch off the living room lamp.": ("HassTurnOff", {"name": "living room lamp"}),
    "Turn off the lights in the kitchen.": ("HassTurnOff", {"area": "kitchen"}),
    "Set the kitchen lights to fifty percent.": ("HassLightSet", {"brightness": 50}),
    "Turn the kitchen lights blue.": ("HassLightSet", {"color": "blue"}),
    "Is the living room lamp on?": ("HassGetState", {"name": "living room lamp"}),
    "Is the garage door open?": ("HassGetState", {"name": "garage door"}),
    "Open the garage door.": ("HassTurnOn", {"name": "garage door"}),
    "Close the garage door.": ("HassTurnOff", {"name": "garage door"}),
    "Set the temperature to twenty one degrees.": ("HassClimateSetTemperature",
                                                   {"temperature": 21}),
    "Pause the TV.": ("HassMediaPause", {"name": "tv"}),
    "Next track.": ("HassMediaNext", {}),
    "Set the volume to forty percent.": ("HassSetVolume", {"volume_level": 40}),
    "Set a timer for five minutes.": ("HassStartTimer", {"minutes": 5}),
    "Set a pizza timer for ten minutes.": ("HassStartTimer", {"minutes": 10}),
    "How much time is left on my timer?": ("HassTimerStatus", {}),
    "Cancel the timer.": ("HassCancelTimer", {}),
    "Pause the timer.": ("HassPauseTimer", {}),
    "What time is it?": ("HassGetCurrentTime", {}),
    "What's the date today?": ("HassGetCurrentDate", {}),
    "Never mind.": ("HassNevermind", {}),
    "Repeat that.": ("AssistantRepeat", {}),
    "Tell me a story about dragons.": (None, {}),
    "What's the weather like tomorrow?": (None, {}),
}


def settings_for(broker_port: int | None, state_dir: Path) -> Settings:
    mqtt = {"host": "127.0.0.1", "port": broker_port or 1, "reconnect_min_s": 0.1}
    return Settings.model_validate({
        "site": {"name": "bench", "area": "living room"}, "mqtt": mqtt, "devices": DEVICES,
        "timers": {"state_file": str(state_dir / "timers.json")},
    })


def correct(found: Any, expected: Expected) -> bool:
    intent, slots = expected
    if found is None:
        return intent is None
    if found.intent != intent:
        return False
    return all(_same(found.slots.get(k), v) for k, v in slots.items())


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).casefold() == str(b).casefold()


def spoken_sets(audio: Path) -> dict[str, list[tuple[str, bytes, Expected]]]:
    piper = PiperSynthesizer(PiperOptions.from_settings(Settings().tts, Settings().models))
    piper.load()
    espeak = EspeakSynthesizer()
    espeak.load()
    sets: dict[str, list[tuple[str, bytes, Expected]]] = defaultdict(list)
    for clip, expected in REAL.items():
        if (audio / clip).exists():
            sets["real"].append((clip, read_file(audio / clip), expected))
    for name, synth in (("piper", piper), ("espeak-ng", espeak)):
        for text, expected in COMMANDS.items():
            pcm = b"".join(resample_pcm(c.pcm, c.format, 16000) for c in synth.synthesize(text))
            pad = bytes(STREAM_FORMAT.bytes_for_ms(PAD_MS))  # as the endpointer's pre-roll gives
            sets[name].append((text, pad + pcm + pad, expected))
    return sets


def accuracy(router: Router, audio: Path) -> None:
    asr = WhisperTranscriber(WhisperOptions.from_settings(Settings().asr, Settings().models))
    asr.load()
    print(f"{'source':10} {'right':>7} {'fuzzy':>6}  misses (what Whisper heard -> intent)")
    totals = [0, 0]
    for source, items in spoken_sets(audio).items():
        right = fuzzy = 0
        misses = []
        for label, pcm, expected in items:
            text = asr.transcribe(pcm).text
            found = router.match(text)
            fuzzy += bool(found and found.fuzzy)
            if correct(found, expected):
                right += 1
            else:
                misses.append(f"{label!r}: {text!r} -> {found and (found.intent, found.slots)}")
        totals[0] += right
        totals[1] += len(items)
        print(f"{source:10} {right:>3}/{len(items):<3} {fuzzy:>6}  " + "; ".join(misses))
    print(f"{'all':10} {totals[0]:>3}/{totals[1]:<3} = {100 * totals[0] / totals[1]:.1f}%")


async def publish_latency(broker: Broker, state_dir: Path, count: int
                          ) -> tuple[list[float], list[float]]:
    """(transcript -> message at the subscriber, of which matching the text) in ms."""
    settings = settings_for(broker.port, state_dir)
    assert settings.mqtt is not None
    link = MqttLink(settings.mqtt, settings.site, lambda name, text: None)
    timers = TimerService(state_dir / "timers.json", lambda text: None)
    router = Router.from_settings(settings, Services(DeviceRegistry(settings.devices), link,
                                                     None, timers))
    topic = "home/kitchen/light/set"
    figures: list[float] = []
    matching: list[float] = []
    online = f"{link.prefix}available"
    with Collector(broker, [topic, online]) as seen:
        task = asyncio.create_task(link.run())
        await asyncio.to_thread(seen.wait_for, online, 10, "online")
        for i in range(count):
            text = f"Turn {'on' if i % 2 == 0 else 'off'} the kitchen lights."
            before = len(seen.payloads(topic))
            started = time.perf_counter()
            match = router.match(text)
            matching.append((time.perf_counter() - started) * 1000)
            assert match is not None
            context = HandlerContext(turn_id=i, now=datetime.now().astimezone(),
                                     last_reply=None)
            await router.handle(match, context)
            await asyncio.to_thread(seen.wait_until,
                                    lambda n=before: len(seen.payloads(topic)) > n, 5)
            figures.append((time.perf_counter() - started) * 1000)
        task.cancel()
        await asyncio.wait({task})
    return figures, matching


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path,
                        default=Path(os.environ.get("ASSISTANT_TEST_AUDIO",
                                                    REPO.parent / "shared" / "audio")))
    parser.add_argument("--publishes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        router = Router.from_settings(settings_for(None, state), Services(
            DeviceRegistry(settings_for(None, state).devices), None, None,
            TimerService(state / "timers.json", lambda text: None)))
        accuracy(router, args.audio)
        binary = mosquitto_binary()
        if binary is None:
            print("mosquitto not installed: no publish timing")
            return
        broker = Broker(state / "mosquitto", binary)
        broker.start()
        try:
            figures, matching = asyncio.run(publish_latency(broker, state, args.publishes))
        finally:
            broker.stop()
        for label, values in (("transcript -> MQTT message at a subscriber (QoS 1)", figures),
                              ("  of which matching the transcript", matching)):
            values.sort()
            print(f"{label}, n={len(values)}: median {statistics.median(values):.2f} ms, "
                  f"p90 {values[int(len(values) * 0.9)]:.2f} ms, max {values[-1]:.2f} ms")


if __name__ == "__main__":
    main()
