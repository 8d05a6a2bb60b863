"""The `event-agent` command line: run, demo, replay, simulate, check-config, status, version.

Each subcommand lives in the module that owns it; this file only parses arguments and loads settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent import __version__
from agent.settings import EX_CONFIG, Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="event-agent", description="Event Manager for Asterisk PBXs.")
    parser.add_argument("--env-file", type=Path, help="read settings from this file as well as the environment")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the agent (AMI, delivery and the admin API)")
    sub.add_parser("demo", help="run the agent against the built-in AMI simulator and a local sink")
    replay = sub.add_parser("replay", help="print the system events of a trace as JSON lines")
    replay.add_argument("trace", type=Path)
    simulate = sub.add_parser("simulate", help="serve a trace as an AMI server on loopback")
    simulate.add_argument("trace", type=Path, nargs="+")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=5038)
    simulate.add_argument("--speed", type=float, default=1.0, help="divide recorded gaps by this (0: no gaps)")
    simulate.add_argument("--loop", action="store_true", help="start the trace again when it ends")
    simulate.add_argument("--username", default=None, help="accept only this AMI username")
    simulate.add_argument("--secret", default=None, help="accept only this AMI secret")
    simulate.add_argument("--tls-cert", type=Path, default=None, help="serve AMI over TLS with this PEM certificate")
    simulate.add_argument("--tls-key", type=Path, default=None, help="the PEM key of --tls-cert (if not in it)")
    sub.add_parser("check-config", help="validate the settings and try the AMI login")
    status = sub.add_parser("status", help="print the status of the running agent")
    status.add_argument("--json", action="store_true", help="print the status document as JSON")
    sub.add_parser("version", help="print the version")
    return parser


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
    from agent.devtools.replay import replay_main

    return replay_main(settings, trace, sys.stdout)


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
    return _dispatch(args, settings)


if __name__ == "__main__":
    sys.exit(main())
