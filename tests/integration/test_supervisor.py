"""The supervisor with real worker processes: crashes, hangs, runaway memory, CUDA failures.

The engine (tests/integration/fault_engines.py) does what each request tells it; the
processes, pipes, signals, time limits and restarts are the real ones the daemon uses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from assistant.config import WorkerSettings
from assistant.engines.faces import AsrEngine
from assistant.engines.spec import EngineSpec
from assistant.engines.supervisor import Supervisor
from assistant.engines.thread import ThreadPlacement
from assistant.errors import (
    INTERNAL,
    AssistantError,
    DeviceError,
    TranscriptionError,
    WorkerCrashed,
    WorkerOutOfMemory,
    WorkerTimeout,
    WorkerUnresponsive,
)
from assistant.events import EngineReady, Event, Stage, StageFailed
from tests.integration.fault_engines import ScriptOptions

pytestmark = pytest.mark.integration
T = TypeVar("T")
FAST = WorkerSettings(restart_backoff_s=0.05, max_backoff_s=0.5, health_interval_s=0.5,
                      health_timeout_s=0.5, max_memory_mb=400)


def spec(options: ScriptOptions | None = None, on_cpu: bool = False) -> EngineSpec:
    options = options or ScriptOptions()
    cpu = EngineSpec(Stage.ASR, "scripted", "tests.integration.fault_engines:ScriptedTranscriber",
                     ScriptOptions(marker=options.marker), ("asr", "scripted", "cpu"))
    return EngineSpec(Stage.ASR, "scripted",
                      "tests.integration.fault_engines:ScriptedTranscriber", options,
                      ("asr", "scripted", options.device), cpu if on_cpu else None)


def run(body: Callable[[Supervisor, AsrEngine, list[Event]], Awaitable[T]],
        the_spec: EngineSpec | None = None, settings: WorkerSettings = FAST,
        timeout_s: float = 2.0) -> tuple[T, list[Event]]:
    events: list[Event] = []

    async def main() -> T:
        supervisor = Supervisor(the_spec or spec(), settings, timeout_s, events.append)
        await supervisor.start()
        try:
            return await body(supervisor, AsrEngine(supervisor), events)
        finally:
            await supervisor.aclose()

    return asyncio.run(main()), events


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def failures(events: list[Event]) -> list[tuple[str, int | None]]:
    return [(e.code, e.turn_id) for e in events if isinstance(e, StageFailed)]


def readies(events: list[Event]) -> list[EngineReady]:
    return [e for e in events if isinstance(e, EngineReady)]


def test_requests_and_replies_cross_the_pipe() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> list[str]:
        texts = [(await asr.transcribe(f"hello {i}".encode())).text for i in range(3)]
        big = bytes(range(256)) * 4000  # 1 MB: several pipe buffers each way
        assert (await asr.transcribe(big)).audio_ms == len(big)
        return texts

    texts, events = run(body)
    assert texts == ["hello 0", "hello 1", "hello 2"]
    [ready] = readies(events)
    assert (ready.placement, ready.device, ready.restarts) == ("process", "cpu", 0)
    assert ready.pid is not None and ready.pid != os.getpid()


def test_an_engine_error_is_typed_and_the_worker_stays() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> tuple[Any, ...]:
        pid = sup.pid
        with pytest.raises(TranscriptionError, match="cannot be transcribed"):
            await asr.transcribe(b"refuse")
        with pytest.raises(AssistantError, match="KeyError") as bug:
            await asr.transcribe(b"bug")
        return bug.value.code, pid, sup.pid, (await asr.transcribe(b"still here")).text

    (code, before, after, text), events = run(body)
    assert code == INTERNAL
    assert before == after and text == "still here"
    assert failures(events) == []


def test_a_crash_fails_that_request_and_the_next_one_works() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        with pytest.raises(WorkerCrashed, match="exited with code 70"):
            await asr.transcribe(b"crash", turn_id=7)
        return (await asr.transcribe(b"after")).text  # waits for the restarted worker

    text, events = run(body)
    assert text == "after"
    assert failures(events) == [("worker_crashed", 7)]
    assert [r.restarts for r in readies(events)] == [0, 1]


def test_a_worker_killed_while_idle_is_restarted_by_itself() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        pid = sup.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await until(lambda: len(readies(events)) == 2)
        assert sup.pid != pid
        return (await asr.transcribe(b"back")).text

    text, events = run(body)
    assert text == "back"
    [(code, turn)] = failures(events)
    assert code == "worker_crashed" and turn is None
    assert "SIGKILL" in next(e.message for e in events if isinstance(e, StageFailed))


def test_a_hung_request_is_killed_at_its_time_limit() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> tuple[float, str]:
        started = time.monotonic()
        with pytest.raises(WorkerTimeout, match="longer than 1 s"):
            await asr.transcribe(b"hang", turn_id=3)
        took = time.monotonic() - started
        return took, (await asr.transcribe(b"next")).text

    (took, text), events = run(body, timeout_s=1.0)
    assert 1.0 <= took < 2.5
    assert text == "next"
    assert failures(events) == [("worker_timeout", 3)]


def test_a_stopped_worker_fails_its_health_check() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        pid = sup.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
        await until(lambda: len(readies(events)) == 2)
        return (await asr.transcribe(b"fresh")).text

    text, events = run(body)
    assert text == "fresh"
    assert [code for code, _ in failures(events)] == [WorkerUnresponsive.code]


def test_runaway_memory_is_stopped_at_the_limit() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        with pytest.raises(WorkerOutOfMemory, match="more than workers.max_memory_mb"):
            await asr.transcribe(b"grow", turn_id=1)
        return (await asr.transcribe(b"fine")).text

    text, events = run(body, timeout_s=20.0)
    assert text == "fine"
    assert failures(events) == [("worker_out_of_memory", 1)]


def test_a_cuda_failure_at_load_moves_the_engine_to_the_cpu() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        return (await asr.transcribe(b"on the cpu")).text

    text, events = run(body, spec(ScriptOptions(device="cuda"), on_cpu=True))
    assert text == "on the cpu"
    assert [code for code, _ in failures(events)] == ["cuda_failed"]
    assert "moves to the CPU" in next(e.message for e in events if isinstance(e, StageFailed))
    assert [r.device for r in readies(events)] == ["cpu"]


def test_a_cuda_failure_in_a_request_moves_the_engine_to_the_cpu(tmp_path: Path) -> None:
    marker = tmp_path / "loads"

    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> str:
        with pytest.raises(DeviceError):
            await asr.transcribe(b"cuda")
        return (await asr.transcribe(b"again")).text

    options = ScriptOptions(device="gpu-ish", marker=str(marker))
    text, events = run(body, spec(options, on_cpu=True))
    assert text == "again"
    [failed] = [e for e in events if isinstance(e, StageFailed)]
    assert failed.code == "cuda_failed" and failed.message.endswith("moves to the CPU")
    assert [r.device for r in readies(events)] == ["gpu-ish", "cpu"]
    assert len(marker.read_text().split()) == 2


def test_a_load_failure_without_a_cpu_spec_stops_the_start() -> None:
    async def main() -> None:
        supervisor = Supervisor(spec(ScriptOptions(device="cuda")), FAST, 1.0, lambda e: None)
        try:
            await supervisor.start()
        finally:
            await supervisor.aclose()

    with pytest.raises(DeviceError):
        asyncio.run(main())


def test_restarts_back_off_while_the_worker_keeps_failing(tmp_path: Path) -> None:
    marker = tmp_path / "loads"
    settings = WorkerSettings(restart_backoff_s=0.2, max_backoff_s=5)

    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> list[float]:
        kills = []
        for _ in range(3):
            pid = sup.pid
            assert pid is not None
            kills.append(time.monotonic())
            os.kill(pid, signal.SIGKILL)
            count = len(readies(events))
            await until(lambda count=count: len(readies(events)) > count)  # type: ignore[misc]
            kills[-1] = time.monotonic() - kills[-1]
        return kills

    waits, _ = run(body, spec(ScriptOptions(marker=str(marker))), settings)
    # 0.2 s, 0.4 s, 0.8 s (plus the spawn): each failure in a row waits twice as long
    assert waits[0] < waits[1] < waits[2]
    assert waits[2] >= 0.8


def test_a_caller_that_stops_waiting_does_not_confuse_the_next_reply() -> None:
    async def body(sup: Supervisor, asr: AsrEngine, events: list[Event]) -> list[str]:
        first = asyncio.ensure_future(asr.transcribe(b"first"))
        await asyncio.sleep(0)
        first.cancel()
        return [(await asr.transcribe(f"n{i}".encode())).text for i in range(3)]

    texts, events = run(body)
    assert texts == ["n0", "n1", "n2"]
    assert failures(events) == []


def test_the_thread_placement_has_the_same_face() -> None:
    events: list[Event] = []

    async def main() -> list[str]:
        placement = ThreadPlacement(spec(), 1.0, events.append)
        await placement.start()
        asr = AsrEngine(placement)
        try:
            with pytest.raises(TranscriptionError):
                await asr.transcribe(b"refuse")
            return [(await asr.transcribe(b"one")).text, (await asr.transcribe(b"two")).text]
        finally:
            await placement.aclose()

    assert asyncio.run(main()) == ["one", "two"]
    [ready] = readies(events)
    assert (ready.placement, ready.pid) == ("thread", os.getpid())
