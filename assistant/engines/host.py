"""A worker process: hosts one engine and answers requests on its stdin/stdout, one at a time.

Started by engines/process.py as `python -m assistant.engines.host`. The first frame carries
the pickled EngineSpec; the reply says the engine is loaded and warm (or why not). Then every
frame is a request and gets exactly one reply. Exit codes tell the supervisor what happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import sys
from typing import Any, BinaryIO

from assistant.engines import calls
from assistant.engines.spec import EngineSpec
from assistant.engines.wire import FrameError, read_frame_blocking, write_frame_blocking
from assistant.errors import INTERNAL, AssistantError, DeviceError

log = logging.getLogger("assistant.worker")
EXIT_OUT_OF_MEMORY = 3
EXIT_BAD_FRAME = 4
_PR_SET_PDEATHSIG = 1


def main() -> int:
    requests, replies = _private_pipes()
    _die_with_parent()
    first = read_frame_blocking(requests)
    if first is None:
        return 0
    spec: EngineSpec = pickle.loads(first[1])
    logging.basicConfig(level=first[0].get("log_level", "INFO"),
                        format=f"%(levelname)s worker {spec.role}[{os.getpid()}]: %(message)s")
    engine = _load(spec, replies)
    if engine is None:
        return 0
    return _serve(engine, requests, replies)


def _private_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Frames use the original stdin/stdout; fd 1 then points at stderr, so whatever a library
    prints cannot corrupt a frame."""
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin.buffer, replies


def _die_with_parent() -> None:
    """A worker must not outlive its daemon (a SIGKILLed daemon cannot stop its children)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the daemon died before we got here
        sys.exit(0)


def _load(spec: EngineSpec, replies: BinaryIO) -> Any | None:
    try:
        engine = spec.build()
        engine.load()
    except AssistantError as exc:
        write_frame_blocking(replies, _error(exc.code, exc.message))
        return None
    except MemoryError:
        write_frame_blocking(replies, _error("worker_out_of_memory", "out of memory loading"))
        return None
    except Exception as exc:
        log.exception("loading failed")
        code = DeviceError.code if _is_cuda_error(exc) else INTERNAL
        write_frame_blocking(replies, _error(code, f"{type(exc).__name__}: {exc}"))
        return None
    write_frame_blocking(replies, {"ok": True, "info": calls.describe(engine),
                                   "pid": os.getpid()})
    return engine


def _serve(engine: Any, requests: BinaryIO, replies: BinaryIO) -> int:
    while True:
        try:
            frame = read_frame_blocking(requests)
        except FrameError as exc:
            log.error("bad frame from the daemon: %s", exc)
            return EXIT_BAD_FRAME
        if frame is None:
            return 0  # the daemon closed our stdin: shut down
        header, payload = frame
        request_id = header.get("id")
        try:
            reply, data = calls.serve(engine, str(header.get("method")), header, payload)
            reply = {"id": request_id, "ok": True, "result": reply}
        except AssistantError as exc:
            reply, data = {"id": request_id, **_error(exc.code, exc.message)}, b""
        except MemoryError:
            # Half-done allocations leave the engine in an unknown state: start afresh.
            return EXIT_OUT_OF_MEMORY
        except Exception as exc:
            log.exception("%s failed", header.get("method"))
            code = DeviceError.code if _is_cuda_error(exc) else INTERNAL
            reply, data = {"id": request_id, **_error(code, f"{type(exc).__name__}: {exc}")}, b""
        write_frame_blocking(replies, reply, data)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "message": message}


def _is_cuda_error(exc: BaseException) -> bool:
    text = str(exc)
    return "CUDA" in text or "cuDNN" in text or "cuBLAS" in text


if __name__ == "__main__":
    sys.exit(main())
