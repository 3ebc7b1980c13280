"""Event outputs: JSON lines (file or stdout) and a short human-readable trace."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from assistant.events import (
    Event,
    IntentMatched,
    IntentNotMatched,
    ListenTimedOut,
    MusicDetected,
    Replied,
    SettingsReloaded,
    SoundDetected,
    SpeakerIdentified,
    StageFailed,
    Transcribed,
    TurnCancelled,
    WakeDetected,
    to_json,
)

log = logging.getLogger(__name__)


class EventBus:
    """Fan-out of events to outputs; an output that fails is logged, never fatal."""

    def __init__(self) -> None:
        self._outputs: list[Callable[[Event], None]] = []

    def add(self, output: Callable[[Event], None]) -> None:
        self._outputs.append(output)

    def remove(self, output: Callable[[Event], None]) -> None:
        """Stop sending to `output` (a part of the daemon that a reload replaced)."""
        self._outputs = [o for o in self._outputs if o != output]

    def emit(self, event: Event) -> None:
        for output in self._outputs:
            try:
                output(event)
            except Exception:
                log.exception("event output failed for %s", event.type)


class JsonLines:
    """One JSON object per line, written by a thread of its own, so a slow disk or a pipe that
    nobody reads (`--events -` into a stuck reader) never holds up the voice loop. At most
    MAX_QUEUED lines wait; after that events are dropped and counted (`dropped`)."""

    MAX_QUEUED = 2000
    FILE_CLOSE_WAIT_S = 10.0
    PIPE_CLOSE_WAIT_S = 2.0
    """A reader that stopped reading is not waited for long at shutdown."""

    def __init__(self, stream: TextIO) -> None:
        stream.flush()
        # Its own descriptor, written without Python's buffer: a write that blocks for good
        # then holds no lock that the interpreter needs to exit.
        self._fd = os.dup(stream.fileno())
        regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        self._close_wait_s = self.FILE_CLOSE_WAIT_S if regular else self.PIPE_CLOSE_WAIT_S
        self._queue: queue.Queue[bytes | None] = queue.Queue(self.MAX_QUEUED)
        self.dropped = 0
        self.failed: OSError | None = None
        """Why writing stopped (the reader went away); reported when the output closes."""
        self._thread = threading.Thread(target=self._write_all, name="events-out", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        try:
            self._queue.put_nowait((to_json(event) + "\n").encode())
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                log.warning("the events output is not being read: %d events dropped",
                            self.dropped)

    def close(self) -> None:
        """Write out what is queued (for a while: a reader that never reads is left behind)."""
        deadline = time.monotonic() + self._close_wait_s
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=self._close_wait_s)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning("the events output is blocked; %d events not written",
                        self._queue.qsize())
        else:
            os.close(self._fd)
        if self.failed is not None:
            log.warning("events could not be written after a point (%s); %d dropped",
                        self.failed, self.dropped)

    def _write_all(self) -> None:
        while (line := self._queue.get()) is not None:
            try:
                while line:
                    line = line[os.write(self._fd, line):]
            except OSError as exc:  # the reader went away: keep taking events, drop them
                self.failed = exc
                while self._queue.get() is not None:
                    self.dropped += 1
                return


class HumanTrace:
    """What a person watching wants: heard, understood, answered."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __call__(self, event: Event) -> None:
        line = self._describe(event)
        if line:
            self._console.print(f"[dim]{event.at_ms / 1000:7.2f}s[/] {line}", highlight=False)

    @staticmethod
    def _describe(event: Event) -> str | None:
        if isinstance(event, WakeDetected):
            what = event.wake_word or event.source
            return f"[bold cyan]wake[/]       {escape(what)}"
        if isinstance(event, Transcribed):
            return (f"[bold]heard[/]      \"{escape(event.text)}\" "
                    f"[dim](transcript {event.latency_ms:.0f} ms after end of speech)[/]")
        if isinstance(event, IntentMatched):
            slots = f" {event.slots}" if event.slots else ""
            return f"[bold green]understood[/] {event.intent}{escape(slots)}"
        if isinstance(event, IntentNotMatched):
            return "[bold yellow]understood[/] nothing I can act on"
        if isinstance(event, Replied):
            after = f" [dim](first audio {event.first_audio_ms:.0f} ms after end of speech)[/]" \
                if event.first_audio_ms is not None else ""
            return f"[bold magenta]answered[/]   \"{escape(event.text)}\"{after}"
        if isinstance(event, SoundDetected):
            return (f"[bold blue]sound[/]      {escape(event.label)} ({event.score:.2f}, "
                    f"{event.start_ms / 1000:.1f}-{event.end_ms / 1000:.1f} s)")
        if isinstance(event, MusicDetected):
            tags = ", ".join(t for t in (event.genre, event.mood, event.instrument) if t)
            return f"[bold blue]music[/]      {escape(tags or 'music')}"
        if isinstance(event, SpeakerIdentified):
            return f"[bold cyan]speaker[/]    {escape(event.name)} ({event.score:.2f})"
        if isinstance(event, ListenTimedOut):
            return "[dim]no command after the wake word[/]"
        if isinstance(event, TurnCancelled):
            return "[yellow]interrupted[/]"
        if isinstance(event, SettingsReloaded):
            changed = ", ".join(event.changed) or "nothing"
            return f"[bold]reloaded[/]   the settings (changed: {escape(changed)})"
        if isinstance(event, StageFailed):
            return f"[bold red]failed[/]     {event.stage.name.lower()}: {escape(event.message)}"
        return None
