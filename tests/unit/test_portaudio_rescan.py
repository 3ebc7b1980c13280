"""When opening a device rescans PortAudio's device list: only for a missing device, and only
while no stream is open (a rescan closes every stream of the process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from assistant.audio import portaudio
from assistant.audio.portaudio import PA, open_stream
from assistant.errors import AudioDeviceError


class FakePortAudioError(Exception):
    pass


class FakeSounddevice:
    PortAudioError = FakePortAudioError

    def __init__(self) -> None:
        self._initialized = 1
        self.rescans = 0

    def _terminate(self) -> None:
        self._initialized -= 1

    def _initialize(self) -> None:
        self._initialized += 1
        self.rescans += 1


def failing_once(error: AudioDeviceError) -> tuple[Callable[[int | None], Any], list[int | None]]:
    calls: list[int | None] = []

    def make(index: int | None) -> Any:
        calls.append(index)
        if len(calls) == 1:
            raise error
        return "stream"

    return make, calls


def missing() -> AudioDeviceError:
    return AudioDeviceError("no input device matches 'usb'")  # from find_device: no cause


def host_error(code: int) -> AudioDeviceError:
    try:
        raise FakePortAudioError("Error opening InputStream", code)
    except FakePortAudioError as cause:
        error = AudioDeviceError("cannot open the microphone")
        error.__cause__ = cause
        return error


@pytest.fixture(autouse=True)
def no_open_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PA, "open_streams", 0)


def test_a_missing_device_is_looked_for_again_after_a_rescan() -> None:
    sd = FakeSounddevice()
    make, calls = failing_once(missing())
    assert open_stream(sd, None, "input", make) == "stream"
    assert (sd.rescans, sd._initialized, len(calls)) == (1, 1, 2)
    assert PA.open_streams == 1


def test_no_rescan_while_another_stream_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PA, "open_streams", 1)  # the speaker is playing
    sd = FakeSounddevice()
    make, calls = failing_once(missing())
    with pytest.raises(AudioDeviceError, match="no input device"):
        open_stream(sd, None, "input", make)
    assert (sd.rescans, len(calls), PA.open_streams) == (0, 1, 1)


@pytest.mark.parametrize(("code", "rescans"), [(-9996, 1), (-9985, 1), (-9999, 0)])
def test_only_device_errors_are_worth_a_rescan(code: int, rescans: int) -> None:
    # -9999 is what a vanished PulseAudio source gives: the pulse device is still listed.
    sd = FakeSounddevice()
    make, _ = failing_once(host_error(code))
    if rescans:
        assert open_stream(sd, None, "input", make) == "stream"
    else:
        with pytest.raises(AudioDeviceError):
            open_stream(sd, None, "input", make)
    assert sd.rescans == rescans


def test_a_failed_rescan_reports_the_original_error(monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSounddevice()

    def broken() -> None:
        raise FakePortAudioError("Error initializing PortAudio", -10000)

    monkeypatch.setattr(sd, "_initialize", broken)
    make, calls = failing_once(missing())
    with pytest.raises(AudioDeviceError, match="no input device"):
        open_stream(sd, None, "input", make)
    assert len(calls) == 1
    assert portaudio.PA.open_streams == 0
