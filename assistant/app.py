"""The composition root: builds the daemon's parts from settings, wires them, and runs them until
the input ends or a signal comes. No logic of its own lives here.

Two layers. `_Service` lives as long as the process: the input (a file or stdin is read once),
the event outputs, the links to the home (MQTT, timers), the control socket, the watchdog and
the signals. `_Daemon` is everything built from one version of the settings (engines, wake
word, the turn engine, the speaker); SIGHUP reads the settings again and, when they are valid,
stops it gracefully and builds it again from them, in the same process.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from assistant.audio.format import CHUNK_MS, AudioChunk, AudioFormat
from assistant.audio.hub import AudioHub, Subscription
from assistant.audio.sinks import NullSink, ReplySink, WavSink
from assistant.audio.sources import open_file, open_stdin, run_file_source, run_stdin_source
from assistant.config import Settings, config_file, load_settings, paths
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
from assistant.errors import (
    RELOAD_FAILED,
    AssistantError,
    AudioDeviceError,
    ConfigError,
    ControlError,
    OutputPathError,
)
from assistant.events import (
    Event,
    InputEnded,
    MuteChanged,
    SettingsReloaded,
    Stage,
    StageFailed,
    StateChanged,
)
from assistant.frontend.listener import FrontEnd
from assistant.frontend.sed import SoundStage
from assistant.frontend.vad import EndpointConfig, make_voice_activity
from assistant.frontend.wake import WakeDetector
from assistant.health import Counters, Health, LoopLag
from assistant.integrations.links import HomeLinks
from assistant.intents.router import Router
from assistant.notify import notify, notify_reloading, watchdog
from assistant.pipeline.conversation import Conversation, Policy
from assistant.pipeline.orchestrator import Orchestrator
from assistant.pipeline.sound_rules import SoundRules
from assistant.pipeline.turn import TurnRunner
from assistant.preflight import check_run_outputs, state_problems
from assistant.reporting import EventBus, HumanTrace, JsonLines
from assistant.sed.labels import LabelIndex
from assistant.speakers import AsyncSpeakerIdentifier, ProfileStore
from assistant.transcribe.history import CommandHistory

log = logging.getLogger(__name__)
SOUNDS_DRAIN_S = 30.0
RELOAD_WAIT_S = 60.0
"""SIGHUP while a turn is thinking or speaking: it may finish first (its answer is heard), for
this long at most; then it is cancelled."""
BUSY_STATES = ("thinking", "speaking")
MAX_WAITING = 16
"""Requests (listen, say, mute) kept while the daemon is being rebuilt."""


@dataclass(frozen=True)
class RunOptions:
    input: str | None = None
    """None: the microphone; "-": raw PCM on stdin; else a file path."""
    input_format: AudioFormat = AudioFormat(16000)
    output: str | None = None
    """None: the speaker; "none": discard; else a WAV path."""
    events: str | None = None
    """None: no JSON events; "-": stdout; else a file path (replaced, or added to: `append`)."""
    append: bool = False
    realtime: bool = False
    trace: bool = True
    config: Path | None = None
    """The settings file that SIGHUP reads again (None: the default one, if there is one)."""
    log_level: str | None = None
    """--log-level: it wins over logging.level in reloaded settings too."""


async def run_daemon(settings: Settings, options: RunOptions) -> int:
    # numpy's matrix products here are small; OpenBLAS's extra threads spin-wait after each one,
    # which cost ~20% of a core with sound events on. CTranslate2 and onnxruntime keep theirs.
    threadpool_limits(limits=1, user_api="blas")
    # What the command line names is checked before anything opens or loads.
    check_run_outputs(options.output, options.events)
    source = _open_input(options)
    with ExitStack() as stack:
        bus = EventBus()
        lines: JsonLines | None = None
        if options.events:
            stream = sys.stdout if options.events == "-" else \
                stack.enter_context(_open_events(Path(options.events), options.append))
            lines = JsonLines(stream)
            stack.callback(lines.close)
            bus.add(lines)
        if options.trace:
            bus.add(HumanTrace(Console(stderr=options.events == "-", soft_wrap=True)))
        if source.empty:  # /dev/null or an empty file: nothing to hear, nothing to load
            log.warning("stdin holds no audio (it is empty or /dev/null): nothing to hear")
            bus.emit(InputEnded(at_ms=0))
            return 0
        written = lines
        service = _Service(settings, options, bus, source,
                           lambda: written.dropped if written is not None else 0)
        return await service.run()
    raise AssertionError("unreachable")


def _open_events(path: Path, append: bool) -> TextIO:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a" if append else "w", encoding="utf-8")
    except OSError as exc:  # the check passed, the disk said no (full, changed since)
        raise OutputPathError(f"--events {path}: cannot be written ({exc.strerror}).") from exc


@dataclass(frozen=True)
class _Input:
    """Where the audio comes from. A file or stdin is read once, for the life of the process
    (a reload goes on where the stream was); the microphone is opened by each `_Daemon`."""

    feed: Callable[[AudioHub], Coroutine[Any, Any, None]] | None = None
    """Reads the file or stdin into a hub; None: the microphone."""
    replay: bool = False
    """A recording read as fast as it decodes: turns are waited for (stream time stands still)."""
    empty: bool = False
    """Known to hold no audio at all (stdin on /dev/null or an empty file)."""


def _open_input(options: RunOptions) -> _Input:
    """A bad file or a closed stdin is reported here, before anything loads."""
    if options.input is None:
        return _Input()
    fmt = options.input_format
    if options.input == "-":
        stdin = open_stdin(fmt)
        return _Input(lambda hub: run_stdin_source(hub, fmt, stdin),
                      replay=stdin.regular and not options.realtime, empty=stdin.empty)
    chunks = open_file(Path(options.input))
    return _Input(lambda hub: run_file_source(chunks, hub, options.realtime),
                  replay=not options.realtime)


def _check_runnable(settings: Settings) -> None:
    """What can be known about new settings before the running daemon is stopped for them:
    their models are there and their intent files load (ModelError, ConfigError)."""
    asr_spec(settings)
    voice_specs(settings)
    if settings.sounds.enabled:
        sound_spec(settings)
    Router.from_settings(settings)


def _home_settings(settings: Settings) -> tuple[Any, ...]:
    """What the links to the home are made of: when it is unchanged a reload keeps them (MQTT
    stays connected and online, running timers keep running)."""
    return (settings.mqtt, settings.site, settings.devices, settings.homeassistant,
            settings.timers)


def _changed(before: Settings, after: Settings) -> tuple[str, ...]:
    return tuple(name for name in Settings.model_fields
                 if getattr(before, name) != getattr(after, name))


class _Service:
    def __init__(self, settings: Settings, options: RunOptions, bus: EventBus, source: _Input,
                 events_dropped: Callable[[], int]) -> None:
        self.settings = settings
        self.options = options
        self.bus = bus
        self.source = source
        self.events_dropped = events_dropped
        self.input_hub: AudioHub | None = None
        self.input: Subscription | None = None
        """The file or stdin, read once; each daemon takes its audio from here."""
        if source.feed is not None:
            self.input_hub = AudioHub(max_chunks=settings.audio.queue_ms // CHUNK_MS)
            self.input = self.input_hub.subscribe("input")
        self.sink = _make_sink(settings, options, bus.emit) if options.output is not None \
            else None
        """A WAV file or nothing, for the whole run; None: each daemon opens the speaker."""
        self.home = self._links_for(settings)
        self._home_made_of = _home_settings(settings)
        self.daemon: _Daemon | None = None
        """The daemon on the current settings, once it listens; None while it is (re)built."""
        self.muted = False
        self.stream_ms = 0
        """Where the stream was when the last daemon stopped (a new microphone goes on there)."""
        self._first_turn = 0
        self._last_turn = 0
        self._waiting: list[Callable[[Orchestrator], None]] = []
        self._stopping = False
        self._reload_asked = False
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        self._links: list[asyncio.Task[None]] = []
        self._control: tuple[Path, asyncio.Task[None]] | None = None
        self._group: asyncio.TaskGroup | None = None

    # -- what the parts call

    def emit(self, event: Event) -> None:
        """Every daemon's events. Each daemon's conversation counts turns from 1: its ids go on
        after the last daemon's, so a turn id is unique for the whole run."""
        if event.turn_id is not None:
            if self._first_turn:
                event = dataclasses.replace(event, turn_id=event.turn_id + self._first_turn)
            self._last_turn = max(self._last_turn, event.turn_id or 0)
        if isinstance(event, MuteChanged):
            self.muted = event.muted
        self.bus.emit(event)

    def _when_listening(self, action: Callable[[Orchestrator], None]) -> None:
        """Now, or once the daemon listens again (a request during a reload is not lost)."""
        daemon = self.daemon
        if daemon is not None:
            action(daemon.orchestrator)
        elif len(self._waiting) < MAX_WAITING:
            self._waiting.append(action)

    def announce(self, text: str) -> None:
        self._when_listening(lambda orchestrator: orchestrator.announce(text))

    def request_listen(self) -> None:
        self._when_listening(lambda orchestrator: orchestrator.request_listen())

    def on_mqtt_command(self, name: str, text: str) -> None:
        if name == "say":
            self.announce(text)
        elif name == "listen":
            self.request_listen()
        elif name in ("mute", "unmute"):
            self._when_listening(lambda orchestrator: orchestrator.set_muted(name == "mute"))

    def _signalled(self, stop: bool) -> None:
        if stop:
            self._stopping = True
        else:
            self._reload_asked = True
        self._wake.set()

    # -- running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        signals = {signal.SIGTERM: True, signal.SIGINT: True, signal.SIGHUP: False}
        for sig, stop in signals.items():
            loop.add_signal_handler(sig, self._signalled, stop)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                try:
                    if self.sink is not None:
                        await _open_fixed_sink(self.sink, self.options.output)
                    return await self._serve()
                finally:
                    await self._close_background()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if self.sink is not None:
                self.sink.close()
            await self.home.aclose()
            notify("STOPPING=1")

    async def _serve(self) -> int:
        """Daemon after daemon, one per version of the settings, until the input ends or a
        signal stops it."""
        settings, previous = self.settings, None
        while True:
            if _home_settings(settings) != self._home_made_of:
                await self._replace_links(settings)
            daemon = _Daemon(settings, self)
            try:
                started = await self._unless_stopped(daemon.start())
            except AssistantError as exc:
                await daemon.aclose()
                if previous is None:
                    raise
                self._reload_failed(exc)
                settings, previous = previous, None
                continue
            except BaseException:
                await daemon.aclose()
                raise
            if not started:
                await daemon.aclose()
                return 0
            try:
                if previous is not None:
                    self._reloaded(previous, settings)
                newer = await self._run(daemon)
            finally:
                self.daemon = None
                self.stream_ms = max(self.stream_ms, daemon.orchestrator.now_ms)
                self._first_turn = self._last_turn
                await daemon.aclose()
            if newer is None:
                return 0
            settings, previous = newer, settings

    async def _unless_stopped(self, starting: Coroutine[Any, Any, None]) -> bool:
        """Load and warm a daemon's models; False when a signal stopped us meanwhile."""
        task = asyncio.create_task(starting, name="loading")
        try:
            while not task.done():
                await self._wait(task, ignore_reload=True)
                if self._stopping:
                    log.info("stopping")
                    return False
            task.result()
            return True
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def _run(self, daemon: _Daemon) -> Settings | None:
        """Until the input ends or a signal: None to stop, or the new settings to reload."""
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(daemon.run(), name="daemon")
        try:
            while True:
                await self._wait(task)
                if task.done():
                    task.result()
                    return None
                if self._stopping:
                    await daemon.stop(task, "stopping")
                    return None
                if not self._reload_asked:
                    continue
                self._reload_asked = False
                newer = await self._read_settings(daemon)
                if newer is None:
                    continue
                notify_reloading()
                if daemon.busy:
                    log.info("reloading once the turn in progress has finished")
                deadline = loop.time() + RELOAD_WAIT_S
                while daemon.busy and not self._stopping and not task.done() \
                        and (left_s := deadline - loop.time()) > 0:
                    await self._wait(task, daemon.idle, left_s, ignore_reload=True)
                if task.done():
                    task.result()
                    return None
                self.daemon = None  # from now on requests wait for the new one
                await daemon.stop(task, "stopping" if self._stopping else "stopping to reload")
                return None if self._stopping else newer
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def _wait(self, task: asyncio.Task[None], until: asyncio.Event | None = None,
                    timeout_s: float | None = None, ignore_reload: bool = False) -> None:
        """Until `task` ends, `until` is set, `timeout_s` passes, or a signal asks for
        something (`ignore_reload`: only a stop counts; the reload waits its turn)."""
        def asked() -> bool:
            return self._stopping or (self._reload_asked and not ignore_reload)

        if asked():
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while not asked() and not task.done() and (until is None or not until.is_set()):
            left_s = None if deadline is None else deadline - loop.time()
            if left_s is not None and left_s <= 0:
                return
            self._wake.clear()
            waits = {asyncio.ensure_future(self._wake.wait())}
            if until is not None:
                waits.add(asyncio.ensure_future(until.wait()))
            try:
                await asyncio.wait({task, *waits}, timeout=left_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()

    async def _read_settings(self, daemon: _Daemon) -> Settings | None:
        """SIGHUP: the settings file read and validated again; None (reported) when it is bad."""
        where = self.options.config or config_file()
        log.info("SIGHUP: reading the settings again from %s", where)
        try:
            newer = await asyncio.to_thread(load_settings, self.options.config)
            await asyncio.to_thread(_check_runnable, newer)
        except ConfigError as exc:
            log.error("the new settings are not valid; keeping the ones in use. %s", exc.message)
            self.emit(StageFailed(at_ms=daemon.orchestrator.now_ms, stage=Stage.CONFIG,
                                  code=exc.code, message=exc.message))
            return None
        except AssistantError as exc:
            self._reload_failed(exc)
            return None
        return newer

    def _reloaded(self, before: Settings, after: Settings) -> None:
        if self.options.log_level is None:
            logging.getLogger().setLevel(after.logging.level.upper())
        changed = _changed(before, after)
        log.info("settings reloaded (changed: %s)", ", ".join(changed) or "nothing")
        self.emit(SettingsReloaded(at_ms=self.stream_ms, changed=changed))

    def _reload_failed(self, exc: AssistantError) -> None:
        message = (f"cannot run on the new settings ({exc.message}); going on with the ones "
                   "in use")
        log.error("%s", message)
        self.emit(StageFailed(at_ms=self._stream_now(), stage=Stage.CONFIG, code=RELOAD_FAILED,
                              message=message))

    # -- the parts that outlive a daemon

    async def attach(self, daemon: _Daemon) -> None:
        """`daemon` is about to listen: the control socket, the links and the watchdog are
        there once it is (the first time), and what waited for it is done now."""
        assert self._group is not None
        group = self._group
        if self.options.input in (None, "-"):
            await self._open_control(group, daemon.settings)
        if not self._links:
            self._links = [group.create_task(coro, name=name)
                           for name, coro in self.home.tasks()]
        if not self._background:
            # Read from now on, not while the first models load: a paced replay is paced from
            # when it is heard, and stream time counts from there.
            if self.source.feed is not None:
                assert self.input_hub is not None
                self._background.append(group.create_task(
                    self.source.feed(self.input_hub), name="input"))
            self._background.append(group.create_task(watchdog(
                self._stream_now, recovering=self._recovering), name="watchdog"))
        self.daemon = daemon
        waiting, self._waiting = self._waiting, []
        for action in waiting:
            action(daemon.orchestrator)

    def _stream_now(self) -> int:
        daemon = self.daemon
        return daemon.orchestrator.now_ms if daemon is not None else self.stream_ms

    def _recovering(self) -> bool:
        """Not stalled, only busy: the microphone is being reopened, or the daemon rebuilt (a
        restart by the watchdog would help neither)."""
        daemon = self.daemon
        return daemon is None or daemon.recovering

    async def _open_control(self, group: asyncio.TaskGroup, settings: Settings) -> None:
        path = paths.control_socket(settings.conversation.control_socket)
        current = self._control
        if current is not None and current[0] == path:
            return
        try:
            server = await open_control(path, self.request_listen)
        except ControlError as exc:
            if current is None:
                raise
            log.error("%s The control socket stays at %s.", exc.message, current[0])
            return
        if current is not None:
            current[1].cancel()
            await asyncio.wait({current[1]})
        self._control = (path, group.create_task(serve_control(server, path), name="control"))

    async def _replace_links(self, settings: Settings) -> None:
        """New MQTT, Home Assistant or timer settings: the old links say goodbye (MQTT
        "offline"), new ones are made (and started when the daemon listens)."""
        await self._stop_links()
        await self.home.aclose()
        if self.home.mqtt is not None:
            self.bus.remove(self.home.mqtt.emit)
        self.home = self._links_for(settings)
        self._home_made_of = _home_settings(settings)

    def _links_for(self, settings: Settings) -> HomeLinks:
        home = HomeLinks.from_settings(settings, self.announce, self.on_mqtt_command)
        if home.mqtt is not None:
            self.bus.add(home.mqtt.emit)
        return home

    async def _stop_links(self) -> None:
        links, self._links = self._links, []
        for task in links:
            task.cancel()
        if links:
            await asyncio.wait(links)

    async def _close_background(self) -> None:
        """Input, control socket and watchdog first; the links last, so that MQTT "offline" is
        the final word."""
        background = list(self._background)
        if self._control is not None:
            background.append(self._control[1])
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background)
        await self._stop_links()
        if self.home.mqtt is not None:
            self.bus.remove(self.home.mqtt.emit)


async def _open_fixed_sink(sink: ReplySink, output: str | None) -> None:
    try:
        await asyncio.to_thread(sink.open)
    except OSError as exc:  # the check passed, the disk said no
        raise OutputPathError(f"--output {output}: cannot be written ({exc.strerror}).") from exc


class _ContinuedHub(AudioHub):
    """A new microphone counts from 0; its chunks go on where the last daemon's stream was, so
    stream time never goes back within a run."""

    def __init__(self, max_chunks: int, offset_ms: int) -> None:
        super().__init__(max_chunks)
        self._offset_ms = offset_ms

    def publish(self, chunk: AudioChunk) -> None:
        if self._offset_ms:
            chunk = dataclasses.replace(chunk, start_ms=chunk.start_ms + self._offset_ms)
        super().publish(chunk)


@dataclass(frozen=True)
class _Parts:
    """What runs once the models are loaded."""

    orchestrator: Orchestrator
    runner: TurnRunner
    audio: Subscription
    sounds: tuple[SoundStage, Subscription] | None


class _Daemon:
    """Everything built from one version of the settings. `start` opens and loads it all (what
    it opened is closed by `aclose`, also after a start that failed half-way)."""

    def __init__(self, settings: Settings, service: _Service) -> None:
        self.settings = settings
        self.service = service
        self.options = service.options
        self.hub: AudioHub = _ContinuedHub(settings.audio.queue_ms // CHUNK_MS,
                                           0 if service.input is not None else service.stream_ms)
        self.sink: ReplySink = service.sink or Speaker(settings.audio.output.device, self.emit)
        self.engines: Engines | None = None
        self.history: CommandHistory | None = None
        self.wake: WakeDetector | None = None
        self.mic: Microphone | None = None
        self.runner: TurnRunner | None = None
        self._parts: _Parts | None = None
        self.lag = LoopLag()
        self.idle = asyncio.Event()
        """Set while no turn is thinking or speaking."""
        self.idle.set()
        self._stop = asyncio.Event()

    def emit(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            if event.state in BUSY_STATES:
                self.idle.clear()
            else:
                self.idle.set()
        self.service.emit(event)

    @property
    def orchestrator(self) -> Orchestrator:
        assert self._parts is not None, "start() first"
        return self._parts.orchestrator

    @property
    def busy(self) -> bool:
        return not self.idle.is_set()

    @property
    def recovering(self) -> bool:
        return self.mic is not None and not self.mic.available

    async def start(self) -> None:
        """Open what the settings name and load every model; ready to `run` after this."""
        settings, service = self.settings, self.service
        unusable = set()
        for problem in state_problems(settings):  # state on disk never stops the daemon
            log.warning("%s", problem.message)
            unusable.add(problem.setting)
        self.engines = engines = Engines(settings, self.emit)
        asr = AsrEngine(engines.place(asr_spec(settings), settings.asr.placement,
                                      settings.asr.timeout_s))
        tts = make_tts(settings, engines)
        speakers = _speaker_identifier(settings, engines)
        if speakers is not None:
            await speakers.load_profiles()  # a broken profile is set aside now, not mid-turn
        sounds = SoundEngine(engines.place(
            sound_spec(settings), sound_placement(settings), settings.sounds.timeout_s)) \
            if settings.sounds.enabled else None
        router = Router.from_settings(settings, service.home.services)
        await self._open_history(_command_history(settings), "transcripts.index" not in unusable)
        if settings.conversation.mode == "wake_word":
            self.wake = WakeDetector(settings.wake)
        # Devices first: a missing speaker or microphone is reported before slow loading.
        if service.sink is None:
            await self._open_speaker()
        audio = self.hub.subscribe("conversation")
        heard = self.hub.subscribe("sounds") if sounds is not None else None
        if service.input is None:
            self.mic = Microphone(settings.audio.input.device, self.hub, self.emit)
            self.mic.open(asyncio.get_running_loop())
        await _start_engines(asr, tts, speakers, sounds)
        self.runner = runner = TurnRunner(
            asr, tts, router, self.sink, settings.responses,
            settings.conversation.turn_timeout_s, self.emit,
            stream_now_ms=lambda: self._parts.orchestrator.now_ms if self._parts else 0,
            speakers=speakers)
        conversation = Conversation(_policy(settings))
        conversation.muted = service.muted  # a reload does not unmute
        orchestrator = Orchestrator(
            conversation, FrontEnd(self.wake, _voice_activity(settings), self.emit, self.lag),
            runner, self.emit, wait_for_turns=service.source.replay)
        stage = None
        if sounds is not None and heard is not None:
            stage = (self._sound_stage(sounds, lambda: runner.speaking), heard)
        self._parts = _Parts(orchestrator, runner, audio, stage)

    async def _open_history(self, history: CommandHistory | None, usable: bool) -> None:
        if history is None or not usable:  # unusable: said by the check of the state folders
            return
        try:
            await asyncio.to_thread(history.open)
        except AssistantError as exc:
            log.warning("the command history is off (transcripts.keep_commands): %s",
                        exc.message)
            return
        self.history = history
        self.service.bus.add(history)

    async def _open_speaker(self) -> None:
        try:
            await asyncio.to_thread(self.sink.open)
        except AudioDeviceError as exc:
            if self.options.input is None:
                raise
            # A recording replayed where there is no speaker (a server, CI): what was heard
            # and the events are still what the user asked for; only the replies are lost.
            log.warning("%s Replies are not played; --output FILE keeps them.", exc.message)
            self.sink = NullSink()

    def _sound_stage(self, classifier: SoundEngine, speaking: Callable[[], bool]) -> SoundStage:
        settings, home = self.settings, self.service.home
        rules = SoundRules.build(
            settings.sounds.rules, LabelIndex(classifier.labels).expand_names,
            self.service.announce, self.emit, publisher=home.mqtt,
            homeassistant=home.homeassistant, shell=settings.shell,
            responses=settings.responses)
        stage = SoundStage(settings.sounds, classifier, rules, self.emit, speaking)
        stage.prepare()
        return stage

    def _health(self, orchestrator: Orchestrator) -> Health:
        mic, sink, hub, service = self.mic, self.sink, self.hub, self.service
        counters = Counters(
            input_overflows=lambda: getattr(mic, "overflows", 0),
            output_underflows=lambda: getattr(sink, "underflows", 0),
            audio_dropped=lambda: hub.dropped + getattr(mic, "dropped", 0),
            events_dropped=service.events_dropped)
        return Health(counters, self.lag, self.emit, lambda: orchestrator.now_ms)

    def _capture(self) -> Coroutine[Any, Any, None]:
        if self.mic is not None:
            return self.mic.run()
        return self._take_input()

    async def _take_input(self) -> None:
        """This daemon's share of the file or stdin that the service reads."""
        source = self.service.input
        assert source is not None
        try:
            async for chunk in source:
                await self.hub.publish_wait(chunk)
        except BaseException:
            self.hub.close_nowait()  # nobody may read a full queue any more: never wait on it
            raise
        await self.hub.close()

    async def run(self) -> None:
        """Listen until the input ends or `stop`."""
        parts = self._parts
        assert parts is not None, "start() first"
        await self.service.attach(self)
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(self._capture(), name="capture")]
            health = self._health(parts.orchestrator)
            background.append(group.create_task(health.run(), name="health"))
            conversation = group.create_task(parts.orchestrator.run(parts.audio),
                                             name="conversation")
            listening = None
            if parts.sounds is not None:
                stage, heard = parts.sounds
                listening = group.create_task(stage.run(heard), name="sounds")
            stopper = group.create_task(self._stop.wait(), name="stop")
            notify("READY=1")
            log.info("listening (%s)", self.settings.conversation.mode.replace("_", " "))
            await asyncio.wait({conversation, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not stopper.done() and listening is not None:
                # A file ended: let the sounds in it be heard.
                await asyncio.wait({listening}, timeout=SOUNDS_DRAIN_S)
            health.report()
            # Capture and the turn first (a turn in progress is cancelled: turn_cancelled).
            tasks = [*background, conversation, stopper, *([listening] if listening else [])]
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)

    async def stop(self, running: asyncio.Task[None], why: str) -> None:
        """Stop listening (a turn in progress is cancelled) and wait for `running` to end."""
        log.info("%s", why)
        self._stop.set()
        await running

    async def aclose(self) -> None:
        if self.mic is not None:
            self.mic.stop()
        if self.sink is not self.service.sink:
            self.sink.close()
        if self.runner is not None:
            self.runner.shutdown()
        if self.engines is not None:
            await self.engines.aclose()
        if self.wake is not None:
            self.wake.close()
        if self.history is not None:
            self.service.bus.remove(self.history)
            await asyncio.to_thread(self.history.close)


async def _start_engines(asr: AsrEngine, tts: TtsEngine, speakers: AsyncSpeakerIdentifier | None,
                         sounds: SoundEngine | None) -> None:
    """Every model loaded and warm (in parallel) before the daemon says it is ready."""
    started = time.perf_counter()
    warm = [asr.placement.start(), tts.start()]
    if speakers is not None:
        warm.append(speakers.encoder.placement.start())
    if sounds is not None:
        warm.append(sounds.placement.start())
    await asyncio.gather(*warm)
    log.info("models loaded and warm in %.1f s", time.perf_counter() - started)


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
    return TtsEngine(placed, max_chars=settings.tts.max_chars)


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
        await _open_fixed_sink(sink, output)
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
