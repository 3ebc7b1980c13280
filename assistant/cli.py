"""Command line: parse arguments, load settings, call one function of `assistant.commands`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from assistant import __version__
from assistant.config import Settings, config_file, load_settings
from assistant.errors import AssistantError

_Add = Callable[[str, str], argparse.ArgumentParser]
"""(command name, help) -> its subparser, with --config and --log-level."""


def _parser() -> argparse.ArgumentParser:
    # --config and --log-level work before or after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help=f"settings file (default: {config_file()} if it exists)")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        default=argparse.SUPPRESS,
                        help="override logging.level from the settings")
    parser = argparse.ArgumentParser(
        prog="assistant", description="An always-on voice assistant daemon.", parents=[common])
    parser.add_argument("--version", action="version", version=f"assistant {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[common])

    _add_daemon_commands(add)
    _add_file_commands(add)
    _add_bench_and_speakers(add, common)
    return parser


def _add_daemon_commands(add: _Add) -> None:
    run = add("run", "run the daemon (microphone by default)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE",
                        help="replay an audio file (any format FFmpeg reads) or '-' for raw "
                             "16-bit PCM on stdin, instead of the microphone")
    source.add_argument("--demo", action="store_true",
                        help="replay the built-in demo (spoken with the bundled voice)")
    run.add_argument("--input-rate", type=_positive, default=16000, metavar="HZ",
                     help="sample rate of raw PCM on stdin (default 16000)")
    run.add_argument("--input-channels", type=_positive, default=1, metavar="N",
                     help="channels of raw PCM on stdin (default 1)")
    run.add_argument("--output", metavar="FILE",
                     help="write replies to this WAV file, or 'none'; default: the speaker "
                          "(with --demo: demo-replies.wav)")
    run.add_argument("--events", metavar="FILE",
                     help="write one JSON object per event to FILE ('-' for stdout); the file "
                          "is replaced")
    run.add_argument("--append", action="store_true",
                     help="with --events FILE: add to the file instead of replacing it")
    run.add_argument("--realtime", action="store_true",
                     help="pace file input to real time, as a microphone would deliver it")
    run.add_argument("--quiet", action="store_true", help="no human-readable trace")

    check = add("check-config", "validate a settings file and exit")
    check.add_argument("file", nargs="?", type=Path, help="settings file (or use --config)")

    add("listen", "make the running daemon listen for a command (push-to-talk)")

    say = add("say", "speak text with the configured voice")
    say.add_argument("text")
    say.add_argument("--output", metavar="FILE", help="write a WAV file instead of playing it")

    add("devices", "list audio input and output devices")


def _add_file_commands(add: _Add) -> None:
    classify = add("classify", "print what an audio file holds over time: sounds, music, "
                              "and who speaks (when voices are enrolled)")
    classify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    classify.add_argument("--json", action="store_true",
                          help="one JSON object per window and per event")
    classify.add_argument("--top", type=_positive, default=3, metavar="N",
                          help="labels shown per 0.48 s window (default 3)")
    classify.add_argument("--plot", type=Path, metavar="OUT.png",
                          help="draw the spectrogram with the detected events under it")

    transcribe = add("transcribe", "transcribe audio files, folders or globs to text and "
                                   "subtitles, and add them to the search index")
    transcribe.add_argument("paths", nargs="+", metavar="PATH",
                            help="audio or video files (any format FFmpeg reads), folders "
                                 "(searched recursively) or glob patterns")
    transcribe.add_argument("--format", metavar="LIST",
                            help="comma-separated: txt, json, srt, vtt, tsv or all "
                                 "(default: transcripts.formats, txt,json,srt)")
    transcribe.add_argument("--output-dir", type=Path, metavar="DIR",
                            help="write outputs here instead of next to each input")
    transcribe.add_argument("--word-timestamps", action="store_true",
                            help="also give each word's time (in the json output)")
    transcribe.add_argument("--language", metavar="CODE",
                            help="language code such as en or de (default: detected)")
    transcribe.add_argument("--model", metavar="NAME",
                            help="Whisper model: short name, CTranslate2 folder or hub id "
                                 "(default: transcripts.model, else asr.model)")
    transcribe.add_argument("--initial-prompt", metavar="TEXT",
                            help="text in the style and vocabulary of the audio")
    transcribe.add_argument("--hotwords", metavar="TEXT",
                            help="names and terms the audio is likely to contain")
    transcribe.add_argument("--force", action="store_true",
                            help="transcribe again even if the outputs are up to date")
    transcribe.add_argument("--quiet", action="store_true",
                            help="no progress bars or per-file lines; errors still go to stderr")
    transcribe.add_argument("--index", type=Path, metavar="DB",
                            help="search index to update (default: transcripts.index)")
    transcribe.add_argument("--no-index", action="store_true",
                            help="do not add the transcripts to the search index")

    search = add("search", "find words in transcribed audio; prints file, time and context")
    search.add_argument("query", nargs="?",
                        help='words (all must occur), "a phrase", prefix*, OR, NOT')
    search.add_argument("--json", action="store_true", help="one JSON object per hit")
    search.add_argument("--limit", type=_positive, default=20, metavar="N",
                        help="at most N hits (default 20)")
    search.add_argument("--since", metavar="WHEN",
                        help="only what is newer: today, yesterday, 3d, 12h or 2026-11-23")
    search.add_argument("--source", choices=["all", "files", "voice"], default="all",
                        help="files: transcribed audio; voice: what was said to the daemon")
    search.add_argument("--play", action="store_true",
                        help="play the best hit from its timestamp on the speaker")
    search.add_argument("--index", type=Path, metavar="DB",
                        help="search index (default: transcripts.index)")

    index = add("index", "add transcript JSON files (or folders of them) to the search index; "
                         "files whose audio is gone are dropped")
    index.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    index.add_argument("--remove", nargs="+", type=Path, default=[], metavar="AUDIO",
                       help="take these audio files out of the index")
    index.add_argument("--index", type=Path, metavar="DB",
                       help="search index (default: transcripts.index)")


def _add_bench_and_speakers(add: _Add, common: argparse.ArgumentParser) -> None:
    bench = add("bench", "measure latency, accuracy and idle cost on recorded commands, "
                         "next to a baseline (30 s Whisper window, no speculation)")
    bench.add_argument("folder", nargs="?", type=Path, default=Path("../shared/audio"),
                       help="recordings with a MANIFEST.tsv (file, truth; its asr rows if it "
                            "has a category column); default ../shared/audio")
    bench.add_argument("--passes", type=_positive, default=1, metavar="N",
                       help="run every command N times (default 1)")
    bench.add_argument("--fast", action="store_true",
                       help="replay as fast as the CPU allows (time stands still while the "
                            "daemon thinks) instead of in real time")
    bench.add_argument("--idle-seconds", type=float, default=60.0, metavar="S",
                       help="measure idle CPU and memory over S seconds of silence (0: skip)")
    bench.add_argument("--mouth-to-ear", action="store_true",
                       help="also measure from outside: play each command into a virtual "
                            "microphone (private PulseAudio) and time the answer on the "
                            "virtual speaker")
    bench.add_argument("--json", action="store_true", help="print the report as JSON")

    speakers = add("speakers", "enroll, list or remove the voices the assistant recognises")
    what = speakers.add_subparsers(dest="speakers_command", required=True, metavar="ACTION")
    enroll = what.add_parser("enroll", parents=[common],
                             help="make NAME's voice profile from audio files (at least 1 s of "
                                  "speech each; 3-5 clips of 3-10 s work best)")
    enroll.add_argument("name")
    enroll.add_argument("files", nargs="*", type=Path, metavar="FILE")
    enroll.add_argument("--record", type=_positive, metavar="SECONDS",
                        help="record this many seconds from the microphone instead of files")
    what.add_parser("list", parents=[common], help="show the enrolled speakers")
    remove = what.add_parser("remove", parents=[common], help="delete NAME's voice profile")
    remove.add_argument("name")



def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.append and args.events in (None, "-"):
            parser.error("--append adds to an events file: give --events FILE too")
        # SIGHUP reloads the settings once the daemon runs; until then it must not kill it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config: Path | None = getattr(args, "config", None)
    try:
        if args.command == "check-config":
            from assistant.commands.check_config import check_config

            return check_config(args.file or config)
        settings = load_settings(config)
        _setup_logging(getattr(args, "log_level", None) or settings.logging.level)
        return _dispatch(settings, args)
    except AssistantError as exc:
        return _report(exc)
    except ExceptionGroup as group:  # from the daemon's TaskGroup
        first = _first_assistant_error(group)
        if first is None:
            raise
        return _report(first)
    except KeyboardInterrupt:
        return 130


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """One call per command; the imports wait until the command is known, so --help is fast."""
    match args.command:
        case "run":
            from assistant.commands.run import RunRequest, run

            return run(settings, RunRequest(
                input=args.input, demo=args.demo, input_rate_hz=args.input_rate,
                input_channels=args.input_channels, output=args.output, events=args.events,
                append=args.append, realtime=args.realtime, quiet=args.quiet,
                config=getattr(args, "config", None), log_level=getattr(args, "log_level", None)))
        case "listen":
            from assistant.commands.run import listen

            return listen(settings)
        case "say":
            from assistant.commands.run import say

            return say(settings, args.text, args.output)
        case "devices":
            from assistant.commands.run import devices

            return devices()
        case "speakers":
            from assistant.commands import speakers

            if args.speakers_command == "enroll":
                return speakers.enroll(settings, args.name, tuple(args.files), args.record)
            if args.speakers_command == "list":
                return speakers.list_speakers(settings)
            return speakers.remove(settings, args.name)
        case "classify":
            from assistant.commands.classify import ClassifyRequest, classify

            return classify(settings, ClassifyRequest(
                files=tuple(args.files), json=args.json, top=args.top, plot=args.plot))
        case "transcribe":
            from assistant.commands.transcribe import TranscribeRequest, transcribe

            return transcribe(settings, TranscribeRequest(
                paths=tuple(args.paths), formats=args.format, output_dir=args.output_dir,
                word_timestamps=args.word_timestamps, language=args.language, model=args.model,
                initial_prompt=args.initial_prompt, hotwords=args.hotwords, force=args.force,
                quiet=args.quiet, index=args.index, use_index=not args.no_index))
        case "search":
            from assistant.commands.search import SearchRequest, search

            return search(settings, SearchRequest(
                query=args.query, json=args.json, limit=args.limit, since=args.since,
                source=args.source, play=args.play, index=args.index))
        case "index":
            from assistant.commands.transcribe import index_transcripts

            return index_transcripts(settings, tuple(args.paths), tuple(args.remove), args.index)
        case "bench":
            from assistant.commands.bench import BenchRequest, run_bench

            return run_bench(settings, BenchRequest(
                folder=args.folder, passes=args.passes, realtime=not args.fast,
                idle_seconds=args.idle_seconds, mouth_to_ear=args.mouth_to_ear, json=args.json))
    raise AssertionError(f"unhandled command {args.command}")


def _report(exc: AssistantError) -> int:
    print(f"error: {exc.message}", file=sys.stderr)  # plain: no wrapping, easy to grep
    return exc.exit_code


def _first_assistant_error(group: BaseExceptionGroup[BaseException]) -> AssistantError | None:
    for exc in group.exceptions:
        if isinstance(exc, AssistantError):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := _first_assistant_error(exc)):
            return found
    return None


def _setup_logging(level: str) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=Console(stderr=True), show_path=False)
        fmt = "%(message)s"
    else:  # journald and log files: one plain line per record, never wrapped
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, handlers=[handler], force=True)
    for noisy in ("faster_whisper", "piper", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


if __name__ == "__main__":
    sys.exit(main())
