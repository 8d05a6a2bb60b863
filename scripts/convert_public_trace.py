"""Convert a public AMI trace (see the public traces' sources (tests/fixtures/ami_traces/pub_SOURCES.md)) into a `.ami` fixture.

Output (docs/traces.md): CRLF line endings, a banner line first (the original one if the source has one, else
`Asterisk Call Manager/5.0.0`), then each message as `Key: Value` lines followed by a blank line.

Source formats, told apart by the file name:
- `*.json.txt` (cacofonisk): a JSON array of header dicts. Key order is kept, the `content` key panoramisk
  adds is dropped, and a list value becomes one header line per item.
- anything else (asterisk-mqtt `*.raw.txt`, panoramisk `*.yaml.txt`): raw wire text, LF or CRLF. Messages
  are kept line by line; a message starting with `Action:` was sent by the client, not received, so it is
  left out (only the panoramisk dump has one, its Originate).

The output depends only on the input bytes, so re-running it reproduces a fixture byte for byte
(`--check` verifies that).

    python scripts/convert_public_trace.py SOURCE OUTPUT.ami
    python scripts/convert_public_trace.py --all SOURCE_DIR FIXTURE_DIR [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_BANNER = "Asterisk Call Manager/5.0.0"
BANNER_PREFIX = "Asterisk Call Manager"

# Public source file -> fixture short name (tests/fixtures/ami_traces/pub_<name>.ami).
FIXTURES: dict[str, str] = {
    "asterisk-mqtt__answered-internal.raw.txt": "mqtt_answered_internal",
    "asterisk-mqtt__answered-outbound.raw.txt": "mqtt_answered_callee_hangup",
    "asterisk-mqtt__unanswered-cancel.raw.txt": "mqtt_unanswered_cancel",
    "asterisk-mqtt__unanswered-huntgroup.raw.txt": "mqtt_unanswered_huntgroup",
    "cacofonisk__simple_ab_success_a_hangup.json.txt": "caco_ab_success_a_hangup",
    "cacofonisk__simple_ab_success_b_hangup.json.txt": "caco_ab_success_b_hangup",
    "cacofonisk__simple_ab_a_cancel.json.txt": "caco_ab_a_cancel",
    "cacofonisk__simple_ab_reject.json.txt": "caco_ab_reject",
    "cacofonisk__simple_ab_dnd.json.txt": "caco_ab_dnd",
    "cacofonisk__simple_a_created_no_answer.json.txt": "caco_a_created_no_answer",
    "cacofonisk__simple_ab_callgroup.json.txt": "caco_ab_callgroup",
    "cacofonisk__simple_ab_callgroup_no_answer.json.txt": "caco_ab_callgroup_no_answer",
    "cacofonisk__queue_queue_simple.json.txt": "caco_queue_simple",
    "cacofonisk__queue_queue_group.json.txt": "caco_queue_group",
    "cacofonisk__queue_queue_a_cancel.json.txt": "caco_queue_a_cancel",
    "cacofonisk__xfer_blind_xfer_blind_abbcac.json.txt": "caco_xfer_blind",
    "cacofonisk__xfer_attended_xfer_abbcac.json.txt": "caco_xfer_attended",
    "cacofonisk__xfer_blonde_xfer_blonde_abbcac.json.txt": "caco_xfer_blonde",
    "cacofonisk__xfer_misc_call_forwarding.json.txt": "caco_call_forwarding",
    "cacofonisk__xfer_misc_sip_pickup.json.txt": "caco_sip_pickup",
    "cacofonisk__originate_ctd-account-world.json.txt": "caco_originate_ctd_account_world",
    "panoramisk__tests_fixtures_originate_with_events.yaml.txt": "legacy_ast11_originate",
}

Message = list[tuple[str, str]]


class ConversionError(ValueError):
    """The source cannot be turned into a well-formed `.ami` stream."""


def convert(name: str, data: bytes) -> bytes:
    """The `.ami` bytes for the public trace `name` (a file name) holding `data`."""
    text = data.decode("utf-8")
    if name.endswith((".json", ".json.txt")):
        banner, messages = DEFAULT_BANNER, messages_from_json(text)
    else:
        banner, messages = messages_from_raw(text)
    return render(banner, messages)


def messages_from_json(text: str) -> list[Message]:
    """cacofonisk: one dict per event; drop `content`, expand list values into repeated headers."""
    events = json.loads(text)
    if not isinstance(events, list):
        raise ConversionError("a JSON trace must be an array of events")
    return [_json_message(event) for event in events]


def _json_message(event: object) -> Message:
    if not isinstance(event, dict):
        raise ConversionError(f"an event must be an object, got {type(event).__name__}")
    pairs: Message = []
    for key, value in event.items():
        if key == "content":
            continue
        values = value if isinstance(value, list) else [value]
        pairs.extend((key, _text(key, item)) for item in values)
    return pairs


def _text(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConversionError(f"header {key!r} has a non-string value {value!r}")
    return value


def messages_from_raw(text: str) -> tuple[str, list[Message]]:
    """Raw wire text: the banner (if any) and the messages, minus the ones the client sent."""
    lines = text.replace("\r\n", "\n").split("\n")
    banner = DEFAULT_BANNER
    if lines and lines[0].startswith(BANNER_PREFIX):
        banner = lines.pop(0)
    messages: list[Message] = []
    for block in "\n".join(lines).split("\n\n"):
        message = [_raw_pair(line) for line in block.split("\n") if line]
        if message and message[0][0] != "Action":
            messages.append(message)
    return banner, messages


def _raw_pair(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep:
        raise ConversionError(f"line without 'Key: value': {line[:80]!r}")
    return key, value[1:] if value.startswith(" ") else value


def render(banner: str, messages: list[Message]) -> bytes:
    """Banner line, then `Key: Value` lines per message, each message closed by a blank line; CRLF."""
    out = [banner + "\r\n"]
    for message in messages:
        out.extend(_line(key, value) for key, value in message)
        out.append("\r\n")
    return "".join(out).encode("utf-8")


def _line(key: str, value: str) -> str:
    if any(char in key + value for char in "\r\n"):
        raise ConversionError(f"header {key!r} holds a line break")
    return f"{key}: {value}\r\n"


def fixture_path(fixture_dir: Path, source_name: str) -> Path:
    return fixture_dir / f"pub_{FIXTURES[source_name]}.ami"


def convert_all(source_dir: Path, fixture_dir: Path, *, check: bool, only: list[str] | None = None) -> list[str]:
    """Write (or with `check`, compare) every fixture of FIXTURES (or the `only` ones); return the problems found."""
    problems: list[str] = []
    for source_name in only if only is not None else list(FIXTURES):
        target = fixture_path(fixture_dir, source_name)
        data = convert(source_name, (source_dir / source_name).read_bytes())
        if not check:
            target.write_bytes(data)
        elif not target.is_file() or target.read_bytes() != data:
            problems.append(f"{target.name} differs from the conversion of {source_name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="convert every known public trace of SOURCE dir")
    parser.add_argument("--check", action="store_true", help="with --all: compare instead of writing")
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    if args.all:
        problems = convert_all(args.source, args.output, check=args.check)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    args.output.write_bytes(convert(args.source.name, args.source.read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
