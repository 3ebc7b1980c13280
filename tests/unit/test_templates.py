"""Templates in user intents: what they see, and how they fail."""

from __future__ import annotations

import pytest

from assistant.errors import HandlerError, IntentError
from assistant.intents.templates import check, check_value, render, render_value

SLOTS = {"room": "kitchen", "level": 40}


def test_slots_are_top_level_and_under_slots() -> None:
    out = render("{{ room }}/{{ slots.room }}/{{ slots['level'] + 1 }}", SLOTS, "turn it on")
    assert out == "kitchen/kitchen/41"


def test_text_and_result_and_whitespace_stripped() -> None:
    out = render("\n  {{ text | upper }} -> {{ result.temp }} degrees  \n", SLOTS, "how warm",
                 {"temp": 21})
    assert out == "HOW WARM -> 21 degrees"


def test_blocks_do_not_leave_blank_lines() -> None:
    template = "{% for r in ['a', 'b'] %}\n{{ r }}\n{% endfor %}\n"
    assert render(template, {}, "") == "a\nb"


def test_fixed_names_win_over_a_slot_of_the_same_name() -> None:
    out = render("{{ text }}|{{ slots.text }}", {"text": "from slot"}, "spoken")
    assert out == "spoken|from slot"


def test_unknown_name_is_an_error_naming_it_and_the_template() -> None:
    with pytest.raises(HandlerError) as err:
        render("lights/{{ romm }}/set", SLOTS, "", name="intent Lights action.topic")
    message = err.value.message
    assert "'romm' is undefined" in message
    assert "intent Lights action.topic" in message
    assert "lights/{{ romm }}/set" in message
    assert "room" in message  # lists what it could have used


def test_missing_slot_attribute_is_an_error() -> None:
    with pytest.raises(HandlerError, match="has no attribute 'colour'"):
        render("{{ slots.colour }}", SLOTS, "")


def test_runtime_exceptions_become_handler_errors() -> None:
    with pytest.raises(HandlerError, match="division by zero"):
        render("{{ level / 0 }}", SLOTS, "")


def test_render_value_renders_strings_at_any_depth() -> None:
    value = {"entity_id": "light.{{ room }}", "brightness_pct": 50, "on": True,
             "nested": {"list": ["{{ level }}", 3, None, {"deep": "{{ text }}"}]}}
    out = render_value(value, SLOTS, "hello")
    assert out == {"entity_id": "light.kitchen", "brightness_pct": 50, "on": True,
                   "nested": {"list": ["40", 3, None, {"deep": "hello"}]}}
    assert value["entity_id"] == "light.{{ room }}"  # the spec is not modified


def test_render_value_error_names_the_key() -> None:
    with pytest.raises(HandlerError, match=r"data\.nested\[1\]"):
        render_value({"nested": ["ok", "{{ nope }}"]}, {}, "", name="data")


def test_sandbox_blocks_dunder_attributes() -> None:
    with pytest.raises(HandlerError, match="unsafe"):
        render("{{ ''.__class__ }}", {}, "")
    with pytest.raises(HandlerError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, "")


def test_sandbox_blocks_changing_the_slots() -> None:
    slots = {"items": ["a"]}
    with pytest.raises(HandlerError, match="unsafe"):
        render("{{ items.append('b') }}", slots, "")
    assert slots == {"items": ["a"]}


def test_no_html_escaping() -> None:
    assert render("{{ x }}", {"x": "<b>&\"'"}, "") == "<b>&\"'"


def test_check_reports_syntax_errors_with_line() -> None:
    check("fine {{ room }}")
    with pytest.raises(IntentError) as err:
        check("line one\n{{ room }", name="intent X response")
    assert "intent X response" in err.value.message
    assert "line 2" in err.value.message


def test_check_does_not_need_the_variables() -> None:
    check("{{ not_known_until_run_time }}")  # only syntax is checked at load time


def test_check_value_finds_nested_errors() -> None:
    with pytest.raises(IntentError, match=r"json\.b\.c"):
        check_value({"a": ["{{ ok }}", 1], "b": {"c": "{% if %}"}}, name="json")


def test_syntax_error_at_render_time_is_a_handler_error() -> None:
    with pytest.raises(HandlerError, match="not a valid template"):
        render("{{ oops", {}, "")
