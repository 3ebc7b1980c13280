"""What a voice is given: text cleaned, capped at a word boundary, split into bounded pieces;
payloads quoted briefly; device states spoken only when short and clean."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime

import pytest
from pydantic import ValidationError

from assistant.config import Settings, TtsSettings
from assistant.intents.devices import MAX_STATE_CHARS, DeviceRegistry, readable_state
from assistant.intents.handlers.base import HandlerContext
from assistant.intents.router import Router, Services
from assistant.quoting import SHOWN_CHARS, excerpt
from assistant.tts.text import (
    ELLIPSIS,
    MAX_CHARS,
    PIECE_CHARS,
    after_mark,
    before_blank,
    cap,
    normalize,
    pieces,
    prepare,
    split,
    split_bounded,
)

WORDS = ["the", "laundry", "in", "the", "basement", "is", "done", "and", "the", "dryer", "has",
         "stopped", "so", "someone", "should", "fold", "the", "towels", "before", "dinner"]


def unpunctuated(chars: int) -> str:
    """Words and single spaces, no punctuation, `chars` long (the last word may be cut)."""
    text, i = "", 0
    while len(text) < chars:
        text += WORDS[i % len(WORDS)] + " "
        i += 1
    return text[:chars].rstrip()


# --- normalize -------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("Dinner\x00 is\x00 ready.", "Dinner is ready."),
    ("bell\x07 and\x1b[31m escape", "bell and[31m escape"),
    ("line one\r\nline two\tand\x0bthree", "line one line two and three"),
    ("  lots    of\n\n\nspace  ", "lots of space"),
    ("zero\u200bwidth and \u202eoverride\u202c", "zerowidth and override"),
    ("a lone surrogate \udcff from argv", "a lone surrogate from argv"),
    ("private \ue000 use", "private use"),
    ("line\u2028separator", "line separator"),
    ("Cafe\u0301 na\u00efve 東京 🎉", "Café naïve 東京 🎉"),  # NFC; letters and emoji kept
    ("\x00\x01\x02   \x7f", ""),
])
def test_normalize_removes_what_is_not_speech_and_collapses_whitespace(raw: str,
                                                                       clean: str) -> None:
    assert normalize(raw) == clean


# --- cap -------------------------------------------------------------------------------------

def test_cap_leaves_short_text_alone() -> None:
    assert cap("Turned on the lamp.", 19) == "Turned on the lamp."


def test_cap_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = unpunctuated(10_000)
    capped = cap(text, 2000)
    assert capped.endswith(ELLIPSIS) and len(capped) <= 2000
    head = capped[:-1]
    assert len(head) >= 2000 - 20  # no more than one word lost
    assert text.startswith(head) and text[len(head)] == " "  # ends where a word ends
    assert head.split() == text.split()[:len(head.split())]


def test_cap_drops_a_clause_mark_before_the_ellipsis() -> None:
    assert cap("first part, second part", 16) == "first part…"


def test_cap_cuts_one_giant_word_mid_word_only_because_it_must() -> None:
    assert cap("x" * 5000, 100) == "x" * 99 + ELLIPSIS


# --- split -----------------------------------------------------------------------------------

def test_split_keeps_short_sentences_as_they_are() -> None:
    assert split("Hello there. It is noon! Is it? Yes… fine") == [
        "Hello there.", "It is noon!", "Is it?", "Yes…", "fine"]


def test_a_long_run_of_words_is_split_at_word_boundaries_into_bounded_pieces() -> None:
    text = unpunctuated(2000)
    found = split(text)
    assert len(found) >= 2000 // PIECE_CHARS
    assert max(map(len, found)) <= PIECE_CHARS
    assert min(map(len, found[:-1])) >= PIECE_CHARS // 2  # greedy: no confetti
    assert " ".join(found) == text  # every word, in order, none cut
    assert all(piece.split() == piece.split(" ") for piece in found)


def test_a_piece_ends_after_a_comma_when_one_is_far_enough_in() -> None:
    text = "when the washing machine is done, please hang the laundry outside to dry"
    assert split(text) == ["when the washing machine is done,",
                           "please hang the laundry outside to dry"]
    early = "so, the washing machine is done and the laundry can go outside now"
    assert split(early)[0] == "so, the washing machine is done and the"  # too early: words


def test_a_comma_inside_a_number_is_no_place_to_split() -> None:
    text = "the total is 3,000,000 dollars and 45 cents and that is quite a lot"
    found = split(text, 20)
    assert all(len(p) <= 20 for p in found)
    assert "3,000,000" in " ".join(found).split()


def test_a_single_giant_word_is_split_too() -> None:
    found = split("x" * 1000)
    assert found == ["x" * PIECE_CHARS] * (1000 // PIECE_CHARS)
    digits = split("call " + "1234567890" * 30 + " now")
    assert max(map(len, digits)) <= PIECE_CHARS and "".join(digits[1:-1]).isdigit()


def test_text_without_spaces_is_split_by_length() -> None:
    found = split("東京" * 100)
    assert [len(p) for p in found] == [PIECE_CHARS] * 5


def test_split_bounded_works_on_phonemes_as_on_characters() -> None:
    phonemes = list("ðə lˈɔːndɹi ɪz dˈʌn, ænd ðə dɹˈaɪɚ hɐz stˈɑːpt")
    runs = split_bounded(phonemes, 12, (after_mark(",", " ".__eq__), before_blank(" ".__eq__)),
                         " ".__eq__)
    assert ["".join(r) for r in runs] == ["ðə lˈɔːndɹi", "ɪz dˈʌn,", "ænd ðə", "dɹˈaɪɚ hɐz",
                                          "stˈɑːpt"]
    assert split_bounded(["a"] * 30, 8, (), " ".__eq__) == [["a"] * 8] * 3 + [["a"] * 6]
    with pytest.raises(ValueError, match="at least 1"):
        split_bounded("abc", 0, (), str.isspace)


# --- prepare / pieces ------------------------------------------------------------------------

def test_prepare_cleans_caps_and_splits_in_that_order() -> None:
    raw = "\x00".join(unpunctuated(10_240).split(" "))  # NULs where the spaces were
    speech = prepare(raw.replace("\x00", "\x00 "), max_chars=2000)
    assert speech.full_chars == 10_240 and speech.cut
    assert len(speech.text) <= 2000 and speech.text.endswith(ELLIPSIS)
    assert "\x00" not in speech.text
    assert " ".join(speech.pieces) == speech.text
    assert max(map(len, speech.pieces)) <= PIECE_CHARS


def test_prepare_of_nothing_speakable_has_no_pieces() -> None:
    speech = prepare("\x00\x00 \x07")
    assert (speech.text, speech.pieces, speech.cut) == ("", (), False)


def test_what_a_voice_speaks_of_unprepared_text_is_clean_and_bounded() -> None:
    assert pieces("Dinner\x00 is ready.\x00") == ["Dinner is ready."]
    assert max(map(len, pieces(unpunctuated(5000)))) <= PIECE_CHARS


def test_the_cap_is_a_tts_setting_with_the_same_default() -> None:
    assert TtsSettings().max_chars == MAX_CHARS == 2000
    assert Settings.model_validate({"tts": {"max_chars": 300}}).tts.max_chars == 300
    with pytest.raises(ValidationError):
        TtsSettings(max_chars=10)


# --- quoting ---------------------------------------------------------------------------------

def test_excerpt_of_a_huge_payload_is_short_and_says_how_big_it_was() -> None:
    shown = excerpt("garbage " * 12_514)  # 100,112 characters
    assert len(shown) < SHOWN_CHARS + 30
    assert shown.endswith("… [100,112 characters]")
    assert excerpt(b"\xff" + b"x" * 100_000).endswith("… [100,001 bytes]")


def test_excerpt_escapes_control_characters_and_stays_one_line() -> None:
    assert excerpt("ON\x00\r\nOFF") == "ON\\x00\\r\\nOFF"
    shown = excerpt("\x00" * 1000)
    assert "\x00" not in shown and len(shown) < SHOWN_CHARS + 30
    assert excerpt("short") == "short" and excerpt(b"ON") == "ON"


# --- device states ---------------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "value"), [
    ("ON", "ON"),
    ("  21.5 ", "21.5"),
    ('{"state": "ON", "brightness": 254, "color": {"x": 0.3, "y": 0.3}}', "ON"),
    ("2024-06-01T10:00:00+00:00", "2024-06-01T10:00:00+00:00"),
    ("x" * (MAX_STATE_CHARS + 1), None),
    ("x" * 100_000, None),
    ('{"state": "' + "x" * 100 + '"}', None),
    ("ON\x00", None),
    ("on\nfire", None),
    ("{" * 4000, None),  # JSON nested too deep for Python: text, and too long
    ("", None),
    (None, None),
])
def test_a_state_is_readable_only_when_short_and_clean(payload: str | None,
                                                       value: str | None) -> None:
    assert readable_state(payload) == value


def ask(router: Router, text: str) -> tuple[str, bool]:
    match = router.match(text)
    assert match is not None, text
    context = HandlerContext(turn_id=1, now=datetime.now().astimezone(), last_reply=None)
    result = asyncio.run(router.handle(match, context))
    return result.speech, result.success


def test_an_unreadable_state_is_said_to_be_so_never_read_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.model_validate({"mqtt": {"host": "localhost"}, "devices": [
        {"name": "kitchen lights", "type": "light", "command_topic": "k/set",
         "state_topic": "k/state"},
        {"name": "thermometer", "type": "sensor", "state_topic": "t/state", "unit": "degrees"},
    ]})
    registry = DeviceRegistry(settings.devices)
    router = Router.from_settings(settings, Services(registry, None))
    lights, thermometer = settings.devices
    payload = "The kitchen lights say " + "blah " * 20_000
    with caplog.at_level(logging.WARNING):
        registry.record_state(lights, payload)
    unreadable = ("I can't tell; the kitchen lights sent a state I can't read.", False)
    assert ask(router, "Are the kitchen lights on?") == unreadable
    assert ask(router, "What is the state of the kitchen lights?") == unreadable
    [line] = [r.getMessage() for r in caplog.records if "kitchen lights" in r.getMessage()]
    assert len(line) < 400 and "100,023 characters" in line
    registry.record_state(lights, None)  # not text at all (MQTT: not UTF-8, too long)
    assert ask(router, "Are the kitchen lights on?") == unreadable
    registry.record_state(lights, "jammed")  # short and clean: read out, quoted
    assert ask(router, "Are the kitchen lights on?") == (
        "I can't tell; the kitchen lights last said 'jammed'.", False)
    registry.record_state(thermometer, "21.5")
    speech, ok = ask(router, "What is the state of the thermometer?")
    assert ok and re.fullmatch(r"The thermometer is 21\.5 degrees\.", speech), speech
