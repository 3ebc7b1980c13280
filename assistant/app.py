"""Builds the services from settings; runs them in one TaskGroup until input ends or a signal."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from threadpoolctl import threadpool_limits

from assistant.asr.whisper import WhisperTranscriber
from assistant.audio.devices import Microphone, Speaker
from assistant.audio.format import CHUNK_MS, AudioFormat
from assistant.audio.hub import AudioHub, Subscription
from assistant.audio.sinks import NullSink, ReplySink, WavSink
from assistant.audio.sources import open_file, run_file_source, run_stdin_source
from assistant.config import Settings, paths
from assistant.control import open_control, serve_control
from assistant.events import Event
from assistant.frontend.sed import SoundStage
from assistant.frontend.vad import (
    Activity,
    EndpointConfig,
    make_voice_activity,
)
from assistant.frontend.wake import WakeDetector
from assistant.integrations.homeassistant import HomeAssistantClient
from assistant.integrations.mqtt import MqttLink
from assistant.intents.devices import DeviceRegistry
from assistant.intents.router import Router, Services
from assistant.notify import notify, watchdog_interval_s
from assistant.pipeline.orchestrator import ConversationPolicy, Orchestrator
from assistant.pipeline.sound_rules import SoundRules
from assistant.pipeline.turn import TurnRunner
from assistant.pipeline.workers import AsrWorker, TtsWorker
from assistant.reporting import EventBus, HumanTrace, JsonLines
from assistant.sed.ast import AstClassifier
from assistant.sed.labels import LabelIndex
from assistant.sed.windows import WaveformClassifier
from assistant.sed.yamnet import YamnetClassifier
from assistant.speakers import (
    AsyncSpeakerIdentifier,
    ProfileStore,
    SpeakerIdentifier,
    VoiceEncoder,
)
from assistant.timers import TimerService
from assistant.transcribe.history import CommandHistory
from assistant.tts.espeak import EspeakSynthesizer
from assistant.tts.piper import PiperSynthesizer

log = logging.getLogger(__name__)
AUDIO_STALL_S = 5.0
SOUNDS_DRAIN_S = 30.0


@dataclass(frozen=True)
class RunOptions:
    input: str | None = None
    """None: the microphone; "-": raw PCM on stdin; else a file path."""
    input_format: AudioFormat = AudioFormat(16000)
    output: str | None = None
    """None: the speaker; "none": discard; else a WAV path."""
    events: str | None = None
    """None: no JSON events; "-": stdout; else a file path (appended)."""
    realtime: bool = False
    trace: bool = True


async def run_daemon(settings: Settings, options: RunOptions) -> int:
    # numpy's matrix products here are small; OpenBLAS's extra threads spin-wait after each one,
    # which cost ~20% of a core with sound events on. CTranslate2 and onnxruntime keep theirs.
    threadpool_limits(limits=1, user_api="blas")
    with ExitStack() as stack:
        bus = EventBus()
        if options.events == "-":
            bus.add(JsonLines(sys.stdout))
        elif options.events:
            bus.add(JsonLines(stack.enter_context(_open_append(Path(options.events)))))
        if options.trace:
            bus.add(HumanTrace(Console(stderr=options.events == "-", soft_wrap=True)))
        return await _Daemon(settings, options, bus).run()
    raise AssertionError("unreachable")


def _open_append(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


class _Daemon:
    def __init__(self, settings: Settings, options: RunOptions, bus: EventBus) -> None:
        self.settings = settings
        self.options = options
        self.bus = bus
        self.live = options.input is None
        self.hub = AudioHub(max_chunks=settings.audio.queue_ms // CHUNK_MS)
        self.sink = _make_sink(settings, options, bus.emit)
        self.asr = AsrWorker(WhisperTranscriber(settings.asr, settings.models))
        self.tts = make_tts(settings)
        self.mic: Microphone | None = None
        self.orchestrator: Orchestrator | None = None
        self.home = HomeLinks.from_settings(settings, self._announce, self._on_mqtt_command)
        self.speakers = _speaker_identifier(settings)
        self.history = _command_history(settings)

    def _announce(self, text: str) -> None:
        if self.orchestrator is not None:
            self.orchestrator.announce(text)

    def _on_mqtt_command(self, name: str, text: str) -> None:
        orchestrator = self.orchestrator
        if orchestrator is None:
            return
        if name == "say":
            orchestrator.announce(text)
        elif name == "listen":
            orchestrator.request_listen()
        elif name in ("mute", "unmute"):
            orchestrator.set_muted(name == "mute")

    async def run(self) -> int:
        settings, options = self.settings, self.options
        file_chunks = open_file(Path(options.input)) if options.input not in (None, "-") else None
        router = Router.from_settings(settings, self.home.services)
        if self.home.mqtt is not None:
            self.bus.add(self.home.mqtt.emit)
        if self.history is not None:
            await asyncio.to_thread(self.history.open)
            self.bus.add(self.history)
        wake = WakeDetector(settings.wake) if settings.conversation.mode == "wake_word" else None
        self.sink.open()  # devices first: a missing speaker is reported before slow loading
        orchestrator: Orchestrator | None = None
        try:
            subscription = self.hub.subscribe("conversation")
            classifier = _sound_classifier(settings)
            heard = self.hub.subscribe("sounds") if classifier is not None else None
            if options.input is None:
                self.mic = Microphone(settings.audio.input.device, self.hub, self.bus.emit)
                self.mic.open(asyncio.get_running_loop())
            started = time.perf_counter()
            warm = [self.asr.load(), self.tts.load()]
            if self.speakers is not None:
                warm.append(self.speakers.warm_up())
            if classifier is not None:
                warm.append(asyncio.to_thread(classifier.load))
            await asyncio.gather(*warm)
            log.info("models loaded and warm in %.1f s", time.perf_counter() - started)
            runner = TurnRunner(
                self.asr, self.tts, router, self.sink, settings.responses,
                settings.conversation.turn_timeout_s, self.bus.emit,
                stream_now_ms=lambda: orchestrator.now_ms if orchestrator else 0,
                speakers=self.speakers,
            )
            orchestrator = self.orchestrator = Orchestrator(
                _policy(settings, wait_for_turns=file_chunks is not None and not options.realtime),
                wake, _voice_activity(settings), runner, self.bus.emit,
            )
            if file_chunks is not None:
                source: Coroutine[Any, Any, None] = run_file_source(
                    file_chunks, self.hub, options.realtime)
            elif options.input == "-":
                source = run_stdin_source(self.hub, options.input_format)
            else:
                source = self._run_microphone()
            sounds = None
            if classifier is not None and heard is not None:
                sounds = (self._sound_stage(classifier, lambda: runner.speaking), heard)
            return await self._supervise(orchestrator, subscription, source, sounds)
        finally:
            if self.mic is not None:
                self.mic.stop()
            self.sink.close()
            self.asr.shutdown()
            self.tts.shutdown()
            if self.speakers is not None:
                self.speakers.shutdown()
            if wake is not None:
                wake.close()
            await self.home.aclose()
            if self.history is not None:
                await asyncio.to_thread(self.history.close)
            notify("STOPPING=1")

    def _sound_stage(self, classifier: WaveformClassifier, speaking: Callable[[], bool]
                     ) -> SoundStage:
        settings = self.settings
        rules = SoundRules.build(
            settings.sounds.rules, LabelIndex(classifier.labels).expand_names, self._announce,
            self.bus.emit, publisher=self.home.mqtt, homeassistant=self.home.homeassistant,
            shell=settings.shell, responses=settings.responses)
        stage = SoundStage(settings.sounds, classifier, rules, self.bus.emit, speaking)
        stage.load()
        return stage

    async def _supervise(
        self, orchestrator: Orchestrator, audio: Subscription, source: Coroutine[Any, Any, None],
        sounds: tuple[SoundStage, Subscription] | None = None,
    ) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with asyncio.TaskGroup() as group:
                background = [group.create_task(source, name="capture")]
                if self.options.input is None or self.options.input == "-":
                    path = paths.control_socket(self.settings.conversation.control_socket)
                    server = await open_control(path, orchestrator.request_listen)
                    background.append(group.create_task(serve_control(server, path),
                                                        name="control"))
                background.append(group.create_task(self._watchdog(orchestrator), name="watchdog"))
                links = [group.create_task(coro, name=name)
                         for name, coro in self.home.tasks()]
                conversation = group.create_task(orchestrator.run(audio), name="conversation")
                listening = None
                if sounds is not None:
                    listening = group.create_task(sounds[0].run(sounds[1]), name="sounds")
                stopper = group.create_task(stop.wait(), name="signals")
                notify("READY=1")
                log.info("listening (%s)", self.settings.conversation.mode.replace("_", " "))
                await asyncio.wait({conversation, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    log.info("stopping")
                elif listening is not None:  # a file ended: let the sounds in it be heard
                    await asyncio.wait({listening}, timeout=SOUNDS_DRAIN_S)
                # Capture and the turn first; MQTT last, so "offline" is the final word.
                first = [*background, conversation, stopper, *([listening] if listening else [])]
                for task in first:
                    task.cancel()
                await asyncio.wait(first)
                for task in links:
                    task.cancel()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return 0

    async def _run_microphone(self) -> None:
        assert self.mic is not None
        await self.mic.run()

    async def _watchdog(self, orchestrator: Orchestrator) -> None:
        """Ping systemd only while audio really flows through the conversation loop, so a stalled
        capture or a wedged loop gets the daemon restarted."""
        interval = watchdog_interval_s()
        if interval is None:
            return
        seen_ms, seen_at, stalled = -1, time.monotonic(), False
        while True:
            if orchestrator.now_ms != seen_ms:
                seen_ms, seen_at, stalled = orchestrator.now_ms, time.monotonic(), False
            if time.monotonic() - seen_at <= AUDIO_STALL_S:
                notify("WATCHDOG=1")
            elif not stalled:
                stalled = True
                log.error("no audio for %.0f s; no longer telling systemd we are alive",
                          AUDIO_STALL_S)
            await asyncio.sleep(interval)


@dataclass
class HomeLinks:
    """The daemon's links to the home: MQTT, Home Assistant, timers, and the devices' states."""

    services: Services
    mqtt: MqttLink | None
    homeassistant: HomeAssistantClient | None
    timers: TimerService

    @classmethod
    def from_settings(cls, settings: Settings, announce: Callable[[str], None],
                      on_mqtt_command: Callable[[str, str], None]) -> HomeLinks:
        registry = DeviceRegistry(settings.devices)
        mqtt = None
        if settings.mqtt is not None:
            mqtt = MqttLink(settings.mqtt, settings.site, on_mqtt_command)
            for device in settings.devices:
                if device.state_topic:
                    mqtt.watch(device.state_topic, functools.partial(registry.record_state,
                                                                     device))
        ha = HomeAssistantClient(settings.homeassistant) if settings.homeassistant else None
        timers = TimerService(paths.timers_file(settings.timers.state_file), announce)
        return cls(Services(registry, mqtt, ha, timers), mqtt, ha, timers)

    def tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        self.timers.load()
        found: list[tuple[str, Coroutine[Any, Any, None]]] = [("timers", self.timers.run())]
        if self.mqtt is not None:
            found.append(("mqtt", self.mqtt.run()))
        return found

    async def aclose(self) -> None:
        if self.homeassistant is not None:
            await self.homeassistant.aclose()


def _sound_classifier(settings: Settings) -> WaveformClassifier | None:
    sounds = settings.sounds
    if not sounds.enabled:
        return None
    if sounds.model == "ast":
        return AstClassifier(sounds.ast_model, device=sounds.device, models=settings.models)
    return YamnetClassifier(settings.models.cache_dir)


def _speaker_identifier(settings: Settings) -> AsyncSpeakerIdentifier | None:
    if not settings.speakers.enabled:
        return None  # torch is imported only by an encoder that is used
    store = ProfileStore(settings.speakers.profiles_dir)
    return AsyncSpeakerIdentifier(SpeakerIdentifier(VoiceEncoder(), store,
                                                    settings.speakers.threshold))


def _command_history(settings: Settings) -> CommandHistory | None:
    """Opt-in: what is said to the daemon goes into the search index (transcripts.keep_commands)."""
    chosen = settings.transcripts
    if not chosen.keep_commands:
        return None
    return CommandHistory(paths.index_file(chosen.index), chosen.retention_days)


def make_tts(settings: Settings) -> TtsWorker:
    espeak = EspeakSynthesizer(settings.tts.espeak_voice)
    if settings.tts.engine == "espeak":
        return TtsWorker(espeak, None)
    fallback = espeak if settings.tts.fallback == "espeak" else None
    return TtsWorker(PiperSynthesizer(settings.tts, settings.models), fallback)


async def speak_once(settings: Settings, text: str, output: str | None) -> None:
    """`assistant say`: the daemon's voice and sinks, without the daemon."""
    tts = make_tts(settings)
    sink = _make_sink(settings, RunOptions(output=output))
    try:
        await tts.load()
        sink.open()
        async for _voice, chunk in tts.synthesize(text):
            await sink.write(chunk)
        await sink.drain()
    finally:
        sink.close()
        tts.shutdown()


def _make_sink(settings: Settings, options: RunOptions,
               emit: Callable[[Event], None] = lambda event: None) -> ReplySink:
    if options.output is None:
        return Speaker(settings.audio.output.device, emit)
    if options.output == "none":
        return NullSink()
    return WavSink(Path(options.output), paced=options.realtime)


def _voice_activity(settings: Settings) -> Activity:
    ep = settings.endpoint
    return make_voice_activity(ep.vad, ep.vad_aggressiveness, ep.silero_threshold)


def _policy(settings: Settings, wait_for_turns: bool) -> ConversationPolicy:
    ep = settings.endpoint
    return ConversationPolicy(
        mode=settings.conversation.mode,
        endpoint=EndpointConfig(
            hangover_ms=ep.effective_hangover_ms, start_timeout_ms=ep.speech_start_timeout_ms,
            max_utterance_ms=ep.max_utterance_ms, speech_start_ms=ep.speech_start_ms,
            pause_ms=ep.speculate_after_ms if ep.speculate else None,
            short_hangover_ms=ep.short_hangover_ms if ep.speculate and ep.adaptive else None,
        ),
        preroll_ms=ep.preroll_ms,
        follow_up_ms=int(settings.conversation.follow_up_s * 1000),
        barge_in=settings.conversation.barge_in,
        wait_for_turns=wait_for_turns,
    )
