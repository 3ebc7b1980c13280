"""The composition root: builds the daemon's parts from settings, wires them, and runs them in
one TaskGroup until the input ends or a signal comes. No logic of its own lives here."""

from __future__ import annotations

import asyncio
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

from assistant.audio.devices import Microphone, Speaker
from assistant.audio.format import CHUNK_MS, AudioFormat
from assistant.audio.hub import AudioHub, Subscription
from assistant.audio.sinks import NullSink, ReplySink, WavSink
from assistant.audio.sources import open_file, run_file_source, run_stdin_source
from assistant.config import Settings, paths
from assistant.control import open_control, serve_control
from assistant.engines.base import Vad
from assistant.engines.configured import (
    Engines,
    asr_spec,
    sound_placement,
    sound_spec,
    speaker_spec,
    voice_specs,
)
from assistant.engines.faces import AsrEngine, SoundEngine, SpeakerEngine, TtsEngine
from assistant.errors import AudioDeviceError
from assistant.events import Event
from assistant.frontend.listener import FrontEnd
from assistant.frontend.sed import SoundStage
from assistant.frontend.vad import EndpointConfig, make_voice_activity
from assistant.frontend.wake import WakeDetector
from assistant.health import Counters, Health, LoopLag
from assistant.integrations.links import HomeLinks
from assistant.intents.router import Router
from assistant.notify import notify, watchdog
from assistant.pipeline.conversation import Conversation, Policy
from assistant.pipeline.orchestrator import Orchestrator
from assistant.pipeline.sound_rules import SoundRules
from assistant.pipeline.turn import TurnRunner
from assistant.reporting import EventBus, HumanTrace, JsonLines
from assistant.sed.labels import LabelIndex
from assistant.speakers import AsyncSpeakerIdentifier, ProfileStore
from assistant.transcribe.history import CommandHistory

log = logging.getLogger(__name__)
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
        if options.events:
            stream = sys.stdout if options.events == "-" else \
                stack.enter_context(_open_append(Path(options.events)))
            lines = JsonLines(stream)
            stack.callback(lines.close)
            bus.add(lines)
        if options.trace:
            bus.add(HumanTrace(Console(stderr=options.events == "-", soft_wrap=True)))
        daemon = _Daemon(settings, options, bus)
        daemon.events_dropped = lambda: lines.dropped if options.events else 0
        return await daemon.run()
    raise AssertionError("unreachable")


def _open_append(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8")


@dataclass(frozen=True)
class _Parts:
    """What runs once the models are loaded."""

    orchestrator: Orchestrator
    runner: TurnRunner
    source: Coroutine[Any, Any, None]
    sounds: tuple[SoundStage, Subscription] | None


class _Daemon:
    def __init__(self, settings: Settings, options: RunOptions, bus: EventBus) -> None:
        self.settings = settings
        self.options = options
        self.bus = bus
        self.hub = AudioHub(max_chunks=settings.audio.queue_ms // CHUNK_MS)
        self.sink = _make_sink(settings, options, bus.emit)
        self.engines = Engines(settings, bus.emit)
        self.asr = AsrEngine(self.engines.place(asr_spec(settings), settings.asr.placement,
                                                settings.asr.timeout_s))
        self.tts = make_tts(settings, self.engines)
        self.speakers = _speaker_identifier(settings, self.engines)
        self.sounds = SoundEngine(self.engines.place(
            sound_spec(settings), sound_placement(settings), settings.sounds.timeout_s)) \
            if settings.sounds.enabled else None
        self.home = HomeLinks.from_settings(settings, self._announce, self._on_mqtt_command)
        self.history = _command_history(settings)
        self.mic: Microphone | None = None
        self.orchestrator: Orchestrator | None = None
        self.events_dropped: Callable[[], int] = lambda: 0
        self.lag = LoopLag()

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

    async def _open_sink(self) -> None:
        try:
            await asyncio.to_thread(self.sink.open)
        except AudioDeviceError as exc:
            if self.options.input is None or self.options.output is not None:
                raise
            # A recording replayed where there is no speaker (a server, CI): what was heard
            # and the events are still what the user asked for; only the replies are lost.
            log.warning("%s Replies are not played; --output FILE keeps them.", exc.message)
            self.sink = NullSink()

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
        # Devices first: a missing speaker or microphone is reported before slow loading.
        await self._open_sink()
        runner: TurnRunner | None = None
        try:
            subscription = self.hub.subscribe("conversation")
            heard = self.hub.subscribe("sounds") if self.sounds is not None else None
            if options.input is None:
                self.mic = Microphone(settings.audio.input.device, self.hub, self.bus.emit)
                self.mic.open(asyncio.get_running_loop())
            await self._start_engines()
            runner = TurnRunner(
                self.asr, self.tts, router, self.sink, settings.responses,
                settings.conversation.turn_timeout_s, self.bus.emit,
                stream_now_ms=lambda: self.orchestrator.now_ms if self.orchestrator else 0,
                speakers=self.speakers)
            self.orchestrator = Orchestrator(
                Conversation(_policy(settings)),
                FrontEnd(wake, _voice_activity(settings), self.bus.emit, self.lag), runner,
                self.bus.emit,
                wait_for_turns=file_chunks is not None and not options.realtime)
            if file_chunks is not None:
                source: Coroutine[Any, Any, None] = run_file_source(
                    file_chunks, self.hub, options.realtime)
            elif options.input == "-":
                source = run_stdin_source(self.hub, options.input_format)
            else:
                assert self.mic is not None
                source = self.mic.run()
            stage = None
            if self.sounds is not None and heard is not None:
                stage = (self._sound_stage(self.sounds, lambda: runner.speaking
                                           if runner else False), heard)
            return await self._supervise(_Parts(self.orchestrator, runner, source, stage),
                                         subscription)
        finally:
            if self.mic is not None:
                self.mic.stop()
            self.sink.close()
            if runner is not None:
                runner.shutdown()
            await self.engines.aclose()
            if wake is not None:
                wake.close()
            await self.home.aclose()
            if self.history is not None:
                await asyncio.to_thread(self.history.close)
            notify("STOPPING=1")

    async def _start_engines(self) -> None:
        """Every model loaded and warm (in parallel) before the daemon says it is ready."""
        started = time.perf_counter()
        warm = [self.asr.placement.start(), self.tts.start()]
        if self.speakers is not None:
            warm.append(self.speakers.encoder.placement.start())
        if self.sounds is not None:
            warm.append(self.sounds.placement.start())
        await asyncio.gather(*warm)
        log.info("models loaded and warm in %.1f s", time.perf_counter() - started)

    def _sound_stage(self, classifier: SoundEngine, speaking: Callable[[], bool]) -> SoundStage:
        settings = self.settings
        rules = SoundRules.build(
            settings.sounds.rules, LabelIndex(classifier.labels).expand_names, self._announce,
            self.bus.emit, publisher=self.home.mqtt, homeassistant=self.home.homeassistant,
            shell=settings.shell, responses=settings.responses)
        stage = SoundStage(settings.sounds, classifier, rules, self.bus.emit, speaking)
        stage.prepare()
        return stage

    def _health(self, orchestrator: Orchestrator) -> Health:
        mic, sink, hub = self.mic, self.sink, self.hub
        counters = Counters(
            input_overflows=lambda: getattr(mic, "overflows", 0),
            output_underflows=lambda: getattr(sink, "underflows", 0),
            audio_dropped=lambda: hub.dropped + getattr(mic, "dropped", 0),
            events_dropped=self.events_dropped)
        return Health(counters, self.lag, self.bus.emit, lambda: orchestrator.now_ms)

    async def _supervise(self, parts: _Parts, audio: Subscription) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with asyncio.TaskGroup() as group:
                background = [group.create_task(parts.source, name="capture")]
                if self.options.input is None or self.options.input == "-":
                    path = paths.control_socket(self.settings.conversation.control_socket)
                    server = await open_control(path, parts.orchestrator.request_listen)
                    background.append(group.create_task(serve_control(server, path),
                                                        name="control"))
                mic = self.mic
                background.append(group.create_task(watchdog(
                    lambda: parts.orchestrator.now_ms,
                    recovering=lambda: mic is not None and not mic.available), name="watchdog"))
                health = self._health(parts.orchestrator)
                background.append(group.create_task(health.run(), name="health"))
                links = [group.create_task(coro, name=name)
                         for name, coro in self.home.tasks()]
                conversation = group.create_task(parts.orchestrator.run(audio),
                                                 name="conversation")
                listening = None
                if parts.sounds is not None:
                    stage, heard = parts.sounds
                    listening = group.create_task(stage.run(heard), name="sounds")
                stopper = group.create_task(stop.wait(), name="signals")
                notify("READY=1")
                log.info("listening (%s)", self.settings.conversation.mode.replace("_", " "))
                await asyncio.wait({conversation, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    log.info("stopping")
                elif listening is not None:  # a file ended: let the sounds in it be heard
                    await asyncio.wait({listening}, timeout=SOUNDS_DRAIN_S)
                health.report()
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


def _speaker_identifier(settings: Settings, engines: Engines) -> AsyncSpeakerIdentifier | None:
    chosen = settings.speakers
    if not chosen.enabled:
        return None  # torch is imported only by an encoder that is used
    encoder = SpeakerEngine(engines.place(speaker_spec(settings), chosen.placement,
                                          chosen.timeout_s))
    return AsyncSpeakerIdentifier(encoder, ProfileStore(chosen.profiles_dir), chosen.threshold)


def _command_history(settings: Settings) -> CommandHistory | None:
    """Opt-in: what is said to the daemon goes into the search index (transcripts.keep_commands)."""
    chosen = settings.transcripts
    if not chosen.keep_commands:
        return None
    return CommandHistory(paths.index_file(chosen.index), chosen.retention_days)


def make_tts(settings: Settings, engines: Engines) -> TtsEngine:
    """The configured voice where tts.placement says, then espeak-ng (always in the daemon: it
    is a program of its own already)."""
    voices = voice_specs(settings)
    placed = [engines.place(voices[0], settings.tts.placement
                            if settings.tts.engine != "espeak" else "thread",
                            settings.tts.timeout_s)]
    placed += [engines.place(spec, "thread", settings.tts.timeout_s) for spec in voices[1:]]
    return TtsEngine(placed)


async def speak_once(settings: Settings, text: str, output: str | None) -> None:
    """`assistant say`: the daemon's voice and sinks, without the daemon (the voice in this
    process: isolation is of no use to a command that ends with its one request)."""
    engines = Engines(settings, lambda event: None)
    chosen = settings.model_copy(update={"tts": settings.tts.model_copy(
        update={"placement": "thread"})})
    tts = make_tts(chosen, engines)
    sink = _make_sink(settings, RunOptions(output=output))
    try:
        await tts.start()
        await asyncio.to_thread(sink.open)
        async for _voice, chunk in tts.synthesize(text):
            await sink.write(chunk)
        await sink.drain()
    finally:
        sink.close()
        await engines.aclose()


def _make_sink(settings: Settings, options: RunOptions,
               emit: Callable[[Event], None] = lambda event: None) -> ReplySink:
    if options.output is None:
        return Speaker(settings.audio.output.device, emit)
    if options.output == "none":
        return NullSink()
    return WavSink(Path(options.output), paced=options.realtime)


def _voice_activity(settings: Settings) -> Vad:
    ep = settings.endpoint
    return make_voice_activity(ep.vad, ep.vad_aggressiveness, ep.silero_threshold)


def _policy(settings: Settings) -> Policy:
    ep = settings.endpoint
    return Policy(
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
    )
