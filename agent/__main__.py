"""The `event-agent` command line: run, demo, replay, simulate, check-config, status, version.

Each subcommand lives in the module that owns it; this file only parses arguments and loads settings, and
turns the ways a command meets the outside world into one plain line and an exit status: a trace that is
missing or is not a trace (status 1), a reader that closed the pipe (`replay FILE | head`: status 0, nothing
more printed), invalid settings (status 78).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent import __version__
from agent.settings import EX_CONFIG, Settings, SettingsError, load_settings

ENV_FILE_HELP = "read settings from this file as well as the environment (before or after the command)"
BANNER = b"Asterisk Call Manager/"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="event-agent", description="Event Manager for Asterisk PBXs.")
    parser.add_argument("--env-file", type=Path, help=ENV_FILE_HELP)
    # each command takes --env-file too; SUPPRESS keeps one given before the command when none comes after
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", type=Path, default=argparse.SUPPRESS, help=ENV_FILE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=text, description=text[:1].upper() + text[1:] + ".")

    command("run", "run the agent (AMI, delivery and the admin API)")
    command("demo", "run the agent against the built-in AMI simulator and a local sink")
    replay = command("replay", "print the system events of a trace as JSON lines")
    replay.add_argument("trace", type=Path, help="an AMI trace file (.ami: the raw AMI stream, banner first)")
    _simulate_arguments(command("simulate", "serve traces as an AMI server on loopback"))
    command("check-config", "validate the settings and try the AMI login")
    status = command("status", "print the status of the running agent")
    status.add_argument("--json", action="store_true", help="print the status document as JSON")
    command("version", "print the version")
    return parser


def _simulate_arguments(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument("trace", type=Path, nargs="+", help="AMI trace files, played one after the other")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    simulate.add_argument("--port", type=int, default=5038, help="port to listen on (default 5038)")
    simulate.add_argument("--speed", type=float, default=1.0, help="divide recorded gaps by this (0: no gaps)")
    simulate.add_argument("--loop", action="store_true", help="start the trace again when it ends")
    simulate.add_argument("--username", default=None, help="accept only this AMI username")
    simulate.add_argument("--secret", default=None, help="accept only this AMI secret")
    simulate.add_argument("--keep-timestamps", action="store_true",
                          help="send the recorded Timestamps (default: each trace pass moved to the current time)")
    simulate.add_argument("--tls-cert", type=Path, default=None, help="serve AMI over TLS with this PEM certificate")
    simulate.add_argument("--tls-key", type=Path, default=None, help="the PEM key of --tls-cert (if not in it)")


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    commands: dict[str, Callable[[], int]] = {
        "run": lambda: _run(settings),
        "demo": lambda: _demo(settings),
        "replay": lambda: _replay(settings, args.trace),
        "simulate": lambda: _simulate(args),
        "check-config": lambda: _check_config(settings),
        "status": lambda: _status(settings, args.json),
    }
    return commands[args.command]()


def _run(settings: Settings) -> int:
    from agent.app import run_daemon

    return run_daemon(settings)


def _demo(settings: Settings) -> int:
    from agent.devtools.demo import run_demo

    return run_demo(settings)


def _replay(settings: Settings, trace: Path) -> int:
    problem = trace_problem(trace)
    if problem:
        print(f"event-agent replay: {problem}", file=sys.stderr)
        return 1
    from agent.devtools.replay import replay_main

    return replay_main(settings, trace, sys.stdout)


def trace_problem(path: Path) -> str:
    """Why `path` cannot be replayed, in one line ("" when it is an AMI trace: it starts with the banner)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(BANNER) + 3)
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path} is a directory, not a trace file"
    except OSError as exc:
        return f"cannot read {path}: {(exc.strerror or type(exc).__name__).lower()}"
    if not head.removeprefix(b"\xef\xbb\xbf").startswith(BANNER):
        return f"{path} is not an AMI trace: it does not start with the 'Asterisk Call Manager/' banner"
    return ""


def _simulate(args: argparse.Namespace) -> int:
    from agent.devtools.simulator import simulate_main

    return simulate_main(
        args.trace,
        host=args.host,
        port=args.port,
        speed=args.speed,
        loop=args.loop,
        username=args.username,
        secret=args.secret,
        keep_timestamps=args.keep_timestamps,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def _check_config(settings: Settings) -> int:
    from agent.cli.checkconfig import check_config_main

    return check_config_main(settings)


def _status(settings: Settings, as_json: bool) -> int:
    from agent.cli.status import status_main

    return status_main(settings, as_json=as_json)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"event-agent {__version__}")
        return 0
    try:
        settings = load_settings(args.env_file)
    except SettingsError as exc:
        print("event-agent: invalid settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EX_CONFIG
    try:
        status = _dispatch(args, settings)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader has gone (`replay FILE | head -3`): what it wanted it got; no more output, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
