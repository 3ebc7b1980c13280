"""Progress bars for `assistant transcribe`: one for the file, one overall, in hours of audio."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def clock(seconds: float) -> str:
    """Audio time as h:mm:ss."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class _AudioColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = clock(task.total) if task.total else "?"
        return Text(f"{clock(task.completed)} / {total} audio", style="progress.download")


class TranscribeProgress:
    """Draws on stderr while files are transcribed; with `enabled` false it only prints lines."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self._enabled = enabled
        self._files = 0
        self._done_files = 0
        self._done_s = 0.0  # audio of finished files
        self._bars = Progress(
            TextColumn("{task.description}"), BarColumn(), _AudioColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=console, disable=not enabled,
        )
        self._overall: TaskID = self._bars.add_task(self._overall_label(), total=None)
        self._file: TaskID | None = None

    def plan(self, total_audio_s: float, files: int) -> None:
        self._files = files
        self._bars.update(self._overall, total=total_audio_s or None,
                          description=self._overall_label())

    def __enter__(self) -> TranscribeProgress:
        self._bars.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bars.stop()

    def start_file(self, name: str, duration_s: float) -> None:
        self._file = self._bars.add_task(name, total=duration_s or None)

    def file_done_to(self, seconds: float) -> None:
        """`seconds` of the current file are transcribed."""
        if self._file is None:
            return
        self._bars.update(self._file, completed=seconds)
        self._bars.update(self._overall, completed=self._done_s + seconds)

    def end_file(self, duration_s: float) -> None:
        """The current file is finished, failed or skipped; `duration_s` counts as done."""
        if self._file is not None:
            self._bars.remove_task(self._file)
            self._file = None
        self._done_files += 1
        self._done_s += duration_s
        self._bars.update(self._overall, completed=self._done_s,
                          description=self._overall_label())

    def print(self, message: str, *, error: bool = False) -> None:
        """A line above the bars (errors always show, on stderr)."""
        if self._enabled:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)
        elif error:
            Console(stderr=True).print(message, markup=False, highlight=False, soft_wrap=True)

    def _overall_label(self) -> str:
        return f"all ({self._done_files}/{self._files} files)"
