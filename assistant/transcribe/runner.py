"""Transcribe many files: skip finished ones, keep going past bad ones, index what was heard."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from assistant.audio.files import probe_duration_s
from assistant.errors import AudioInputError, TranscriptionError
from assistant.transcribe.engine import BatchTranscriber, WhoSpeaks
from assistant.transcribe.formats import TranscriptFileError, read_json, write_outputs
from assistant.transcribe.index import TranscriptIndex
from assistant.transcribe.inputs import InputFile, Inputs, output_path, outputs_current
from assistant.transcribe.progress import TranscribeProgress, clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    name: str
    status: Literal["done", "skipped", "failed"]
    detail: str
    audio_s: float = 0.0


@dataclass(frozen=True)
class Job:
    formats: tuple[str, ...]
    force: bool = False


class TranscribeRun:
    def __init__(self, job: Job, transcriber: BatchTranscriber, index: TranscriptIndex | None,
                 who: WhoSpeaks | None = None) -> None:
        self.job = job
        self._transcriber = transcriber
        self._index = index
        self._who = who

    def run(self, inputs: Inputs, progress: TranscribeProgress) -> list[Outcome]:
        outcomes = [Outcome(bad.given, "failed", bad.reason) for bad in inputs.bad]
        for outcome in outcomes:
            progress.print(f"failed   {outcome.name}: {outcome.detail}", error=True)
        todo = [self.job.force or not outputs_current(item, self.job.formats)
                for item in inputs.files]
        durations = [_duration_s(item) if do else 0.0
                     for item, do in zip(inputs.files, todo, strict=True)]
        progress.plan(sum(durations), sum(todo))  # the ETA counts only work still to do
        for item, do, duration_s in zip(inputs.files, todo, durations, strict=True):
            if do:
                outcomes.append(self._one(item, duration_s, progress))
                progress.end_file(duration_s)
            else:
                self._index_existing(item)
                progress.print(f"skipped  {item.path}: outputs are up to date (--force to redo)")
                outcomes.append(Outcome(str(item.path), "skipped", "up to date"))
        return outcomes

    def _one(self, item: InputFile, duration_s: float, progress: TranscribeProgress) -> Outcome:
        name = str(item.path)
        progress.start_file(item.path.name, duration_s)
        try:
            transcript = self._transcriber.transcribe(item.path, progress.file_done_to, self._who)
            item.stem.parent.mkdir(parents=True, exist_ok=True)
            written = write_outputs(transcript, self.job.formats, item.stem)
        except (AudioInputError, TranscriptionError) as exc:
            progress.print(f"failed   {exc.message}", error=True)
            return Outcome(name, "failed", exc.message)
        except OSError as exc:
            message = f"{name}: cannot write the outputs: {exc}"
            progress.print(f"failed   {message}", error=True)
            return Outcome(name, "failed", message)
        if self._index is not None:
            json_path = output_path(item.stem, "json") if "json" in self.job.formats else None
            self._index.replace_file(transcript, json_path, item.path.stat().st_mtime)
        outputs = ", ".join(p.name for p in written)
        progress.print(f"done     {name} ({clock(transcript.duration_s)}, "
                       f"{_count(len(transcript.segments), 'segment')}) -> {outputs}")
        return Outcome(name, "done", outputs, transcript.duration_s)

    def _index_existing(self, item: InputFile) -> None:
        """A finished file that the index lacks (say, a new index) is added from its JSON."""
        json_path = output_path(item.stem, "json")
        if self._index is None or "json" not in self.job.formats:
            return
        mtime = item.path.stat().st_mtime
        if self._index.indexed_mtime(item.path) == mtime:
            return
        try:
            # Keyed by where the audio is now: the JSON names where it was transcribed.
            transcript = replace(read_json(json_path), path=item.path.resolve())
            self._index.replace_file(transcript, json_path, mtime)
        except TranscriptFileError as exc:
            log.warning("not indexed: %s", exc.message)


def _duration_s(item: InputFile) -> float:
    """From the header; 0 when unreadable (the error is reported when it is transcribed)."""
    try:
        return probe_duration_s(item.path)
    except AudioInputError:
        return 0.0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary(outcomes: Sequence[Outcome]) -> str:
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("done", "skipped", "failed")}
    audio = sum(o.audio_s for o in outcomes if o.status == "done")
    return (f"{counts['done']} transcribed ({clock(audio)} of audio), "
            f"{counts['skipped']} skipped as up to date, {counts['failed']} failed")
