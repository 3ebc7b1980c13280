"""Event outputs: JSON lines (file or stdout) and a short human-readable trace."""

from __future__ import annotations

import logging
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

    def emit(self, event: Event) -> None:
        for output in self._outputs:
            try:
                output(event)
            except Exception:
                log.exception("event output failed for %s", event.type)


class JsonLines:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: Event) -> None:
        self._stream.write(to_json(event) + "\n")
        self._stream.flush()


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
        if isinstance(event, StageFailed):
            return f"[bold red]failed[/]     {event.stage.name.lower()}: {escape(event.message)}"
        return None
