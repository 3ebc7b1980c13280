from assistant.frontend.vad import Decision, EndpointConfig, Endpointer

FRAME = 20


def run(pattern: str, config: EndpointConfig, opened_at_ms: int = 0) -> list[tuple[str, int]]:
    """'s' = speech frame, '.' = silence frame, 20 ms each, starting at `opened_at_ms`."""
    endpointer = Endpointer(config, opened_at_ms)
    out = []
    for i, mark in enumerate(pattern):
        event = endpointer.feed(opened_at_ms + i * FRAME, mark == "s")
        if event is not None:
            out.append((event.decision.value, event.at_ms))
    return out


def test_speech_then_hangover_ends_utterance() -> None:
    config = EndpointConfig(hangover_ms=100, speech_start_ms=60)
    # speech from 40 ms, 10 frames; silence after it: 5 silent frames reach 100 ms of hangover
    events = run("..ssssssssss.....", config)
    assert events == [("started", 40), ("silence", 340)]


def test_short_pause_inside_speech_does_not_end_it() -> None:
    config = EndpointConfig(hangover_ms=100, speech_start_ms=40)
    events = run("ssss....ssss.....", config)
    assert [e[0] for e in events] == ["started", "silence"]
    assert events[1][1] == 17 * FRAME


def test_click_shorter_than_speech_start_is_ignored() -> None:
    config = EndpointConfig(hangover_ms=100, speech_start_ms=100, start_timeout_ms=None)
    assert run("ss....s..ss...", config) == []


def test_no_speech_times_out() -> None:
    config = EndpointConfig(start_timeout_ms=200)
    assert run("." * 20, config, opened_at_ms=1000) == [("timed_out", 1200)]


def test_always_listening_never_times_out() -> None:
    config = EndpointConfig(start_timeout_ms=None)
    assert run("." * 1000, config) == []


def test_max_length_cuts_endless_speech() -> None:
    config = EndpointConfig(max_utterance_ms=400, speech_start_ms=20)
    events = run("s" * 50, config)
    assert events == [("started", 0), ("max_length", 400)]


def test_nothing_after_done() -> None:
    config = EndpointConfig(hangover_ms=40, speech_start_ms=20)
    events = run("s..ssss....", config)
    assert events == [("started", 0), ("silence", 60)]


def test_speech_start_time_is_first_speech_frame() -> None:
    config = EndpointConfig(speech_start_ms=100)
    endpointer = Endpointer(config, 0)
    for i in range(3):
        endpointer.feed(i * FRAME, False)
    decisions = [endpointer.feed((3 + i) * FRAME, True) for i in range(5)]
    assert decisions[-1] is not None and decisions[-1].decision is Decision.STARTED
    assert endpointer.speech_start_ms == 60
    assert all(d is None for d in decisions[:-1])


def test_presets_map_to_hangovers() -> None:
    from assistant.config import EndpointSettings

    assert EndpointSettings(preset="fast").effective_hangover_ms == 300
    assert EndpointSettings().effective_hangover_ms == 700
    assert EndpointSettings(preset="relaxed").effective_hangover_ms == 1200
    assert EndpointSettings(preset="fast", hangover_ms=450).effective_hangover_ms == 450


def test_a_pause_is_reported_and_speech_after_it_resumes() -> None:
    config = EndpointConfig(hangover_ms=200, speech_start_ms=40, pause_ms=60)
    events = run("ssss....ssss..........", config)
    # Speech counts as resumed once it lasts speech_start_ms (40 ms here).
    assert events == [("started", 0), ("paused", 140), ("resumed", 200), ("paused", 300),
                      ("silence", 440)]


def test_a_blip_in_a_pause_keeps_the_pause_but_restarts_the_hangover() -> None:
    config = EndpointConfig(hangover_ms=200, speech_start_ms=60, pause_ms=60,
                            short_hangover_ms=100)
    endpointer = Endpointer(config, 0)
    decisions = []
    for i, mark in enumerate("ssss....s......" + "." * 10):
        if i == 7:
            endpointer.mark_complete()
        event = endpointer.feed(i * FRAME, mark == "s")
        if event is not None:
            decisions.append((event.decision.value, event.at_ms))
    # No "resumed": the work done at the pause stands, and so does "complete" (short hangover
    # of 100 ms after the blip at 160-180 ms).
    assert decisions == [("started", 0), ("paused", 140), ("silence", 280)]


def test_a_pause_is_reported_once_however_long_it_lasts() -> None:
    config = EndpointConfig(hangover_ms=1000, speech_start_ms=40, pause_ms=60)
    assert [e[0] for e in run("ssss" + "." * 30, config)] == ["started", "paused"]


def test_a_complete_command_ends_on_the_short_hangover() -> None:
    config = EndpointConfig(hangover_ms=300, speech_start_ms=40, pause_ms=40,
                            short_hangover_ms=100)
    endpointer = Endpointer(config, 0)
    decisions = []
    for i, mark in enumerate("ssss" + "." * 20):
        if i == 7:  # the speculation at the pause found a whole command
            endpointer.mark_complete()
        event = endpointer.feed(i * FRAME, mark == "s")
        if event is not None:
            decisions.append((event.decision.value, event.at_ms))
    assert decisions == [("started", 0), ("paused", 120), ("silence", 180)]


def test_speech_after_the_pause_forgets_that_the_command_was_complete() -> None:
    config = EndpointConfig(hangover_ms=300, speech_start_ms=40, pause_ms=40,
                            short_hangover_ms=100)
    endpointer = Endpointer(config, 0)
    decisions = []
    for i, mark in enumerate("ssss...ss" + "." * 20):
        if i == 6:
            endpointer.mark_complete()  # "what time is it" ...
        event = endpointer.feed(i * FRAME, mark == "s")  # ... "in Tokyo": not complete any more
        if event is not None:
            decisions.append((event.decision.value, event.at_ms))
    assert decisions == [("started", 0), ("paused", 120), ("resumed", 180), ("paused", 220),
                         ("silence", 480)]


def test_complete_before_any_pause_means_nothing() -> None:
    config = EndpointConfig(hangover_ms=300, speech_start_ms=40, pause_ms=40,
                            short_hangover_ms=100)
    endpointer = Endpointer(config, 0)
    endpointer.mark_complete()
    ends = [endpointer.feed(i * FRAME, m == "s") for i, m in enumerate("ssss" + "." * 20)]
    assert [e.at_ms for e in ends if e is not None and e.decision is Decision.ENDED_SILENCE] == [
        380]
