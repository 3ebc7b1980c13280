"""AudioSet label groups and lookups: pure data over a class list (YAMNet's 521 display names).

A name resolves in this order: an exact class name ("Alarm", "Dog"), then a group ("alarm",
"dog"; case-insensitive), then a class name ignoring case. So "Dog" is the one class and "dog"
the whole dog family (Bark, Howl, ...), as rules usually mean.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np

from assistant.errors import ConfigError

GROUPS: dict[str, tuple[str, ...]] = {
    "alarm": (
        "Smoke detector, smoke alarm", "Fire alarm", "Alarm", "Siren", "Civil defense siren",
        "Buzzer", "Beep, bleep", "Alarm clock", "Car alarm", "Police car (siren)",
        "Ambulance (siren)", "Fire engine, fire truck (siren)",
    ),
    "glass": ("Glass", "Shatter", "Breaking", "Chink, clink"),
    "dog": ("Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)"),
    "cat": ("Cat", "Meow", "Purr", "Caterwaul"),  # not Hiss: steam and taps hiss too
    "baby": ("Baby cry, infant cry", "Crying, sobbing", "Whimper", "Baby laughter"),
    "doorbell": ("Doorbell", "Ding-dong", "Ding", "Knock"),
    "phone": ("Telephone", "Telephone bell ringing", "Ringtone"),
    "water": ("Water tap, faucet", "Sink (filling or washing)", "Bathtub (filling or washing)"),
    "speech": (
        "Speech", "Child speech, kid speaking", "Conversation", "Narration, monologue",
        "Babbling", "Speech synthesizer", "Whispering", "Hubbub, speech noise, speech babble",
    ),
}

# Music sub-ontology ranges in class-map order, first and last name inclusive (AudioSet
# ontology: "Musical instrument" children, "Music genre" children, "Music mood" children).
MUSIC = "Music"
SPEECH = "Speech"
SPEECH_SCORE = 0.5
"""A window whose Speech score reaches this counts as speech (stage, classify, speakers)."""
MUSIC_RANGES: dict[str, tuple[str, str]] = {
    "instrument": ("Plucked string instrument", "Scratching (performance technique)"),
    "genre": ("Pop music", "Independent music"),
    "mood": ("Happy music", "Scary music"),
}


class LabelIndex:
    """Name <-> index lookups over one classifier's label list."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self._exact = {name: i for i, name in enumerate(self.labels)}
        self._folded = {name.casefold(): i for i, name in enumerate(self.labels)}

    def index(self, name: str) -> int:
        try:
            return self._exact[name]
        except KeyError:
            raise ConfigError(self._unknown([name])) from None

    def expand(self, names: Iterable[str]) -> set[int]:
        """Class names and group names -> class indices; ConfigError names every unknown one."""
        found: set[int] = set()
        unknown: list[str] = []
        for name in names:
            group = GROUPS.get(name.casefold())
            if name in self._exact:
                found.add(self._exact[name])
            elif group is not None:
                found.update(self._exact[n] for n in group if n in self._exact)
            elif name.casefold() in self._folded:
                found.add(self._folded[name.casefold()])
            else:
                unknown.append(name)
        if unknown:
            raise ConfigError(self._unknown(unknown))
        return found

    def expand_names(self, names: Iterable[str]) -> set[str]:
        return {self.labels[i] for i in self.expand(names)}

    def music_range(self, kind: str) -> list[int]:
        first, last = MUSIC_RANGES[kind]
        return list(range(self.index(first), self.index(last) + 1))

    def _unknown(self, names: list[str]) -> str:
        choices = [*GROUPS, *self.labels]
        parts = []
        for name in names:
            close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
            folded = {c.casefold(): c for c in choices}
            close += [folded[c] for c in difflib.get_close_matches(
                name.casefold(), list(folded), n=3, cutoff=0.6) if folded[c] not in close]
            hint = f" (did you mean {', '.join(repr(c) for c in close[:3])}?)" if close else ""
            parts.append(f"{name!r}{hint}")
        return (f"unknown sound label {'; '.join(parts)}. Use an AudioSet class name "
                f"(`assistant classify FILE` shows them) or a group: {', '.join(GROUPS)}.")


def expand(names: Iterable[str], labels: Sequence[str]) -> set[int]:
    return LabelIndex(labels).expand(names)


def speech_flags(scores: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """[windows, classes] -> per window: is it speech, in the model's own opinion?"""
    return np.asarray(scores[:, LabelIndex(labels).index(SPEECH)] >= SPEECH_SCORE)
