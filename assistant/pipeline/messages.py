"""What goes into the turn engine (pipeline/conversation.py) and what comes out of it.

Inputs carry stream times (ms of audio), never wall time; effects are what the I/O around the
engine (pipeline/orchestrator.py) must do.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.events import Event

# Inputs -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """A new 20 ms of audio: its VAD verdict and the wake word heard in it, if any."""

    start_ms: int
    speech: bool
    wake: str | None = None
    wake_at_ms: int = 0
    duration_ms: int = 20

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class Replayed:
    """A stored frame fed again to a reopened endpointer (see Replay)."""

    start_ms: int
    speech: bool
    duration_ms: int = 20


@dataclass(frozen=True)
class ListenRequested:
    """Push-to-talk (`assistant listen`, MQTT `listen`): opens listening at the next frame."""


@dataclass(frozen=True)
class CommandComplete:
    """The words up to the current pause are a whole command (the speculation matched it)."""


@dataclass(frozen=True)
class TurnEnded:
    at_ms: int
    heard: bool
    """False when the utterance held no speech (the user may still be about to speak)."""


@dataclass(frozen=True)
class SpeakingChanged:
    speaking: bool


@dataclass(frozen=True)
class Announce:
    text: str


@dataclass(frozen=True)
class SetMuted:
    at_ms: int
    muted: bool


@dataclass(frozen=True)
class InputOver:
    """The input (a file, stdin) is exhausted."""

    at_ms: int


Input = (Frame | Replayed | ListenRequested | CommandComplete | TurnEnded | SpeakingChanged
         | Announce | SetMuted | InputOver)


# Effects ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Emit:
    event: Event


@dataclass(frozen=True)
class Speculate:
    """Work out the audio from `start_ms` to `end_ms` now: the user has paused."""

    turn_id: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class DropSpeculation:
    """The user spoke again (or the utterance was abandoned): throw the speculation away."""


@dataclass(frozen=True)
class StartTurn:
    """The utterance from `start_ms` to `end_ms` is a command: run the turn."""

    turn_id: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class CancelTurn:
    """Barge-in or push-to-talk: stop the running turn (and its speech) now."""


@dataclass(frozen=True)
class StartAnnouncement:
    text: str


@dataclass(frozen=True)
class Replay:
    """Feed the stored frames from `from_ms` on again, as Replayed inputs."""

    from_ms: int


@dataclass(frozen=True)
class Finished:
    """The input is over and the last turn and announcement are done."""


Effect = (Emit | Speculate | DropSpeculation | StartTurn | CancelTurn | StartAnnouncement
          | Replay | Finished)
