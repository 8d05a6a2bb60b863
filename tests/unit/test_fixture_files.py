"""The trace fixtures and their golden files are well-formed; the public-trace converter is exact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from agent.ami.events import uniqueid_epoch
from agent.devtools.trace import read_frames
from agent.mapping.catalog import CALL_ANSWERED, CALL_HANGUP, CALL_UNANSWERED, EVENT_KEYS
from agent.mapping.config import compile_mapping
from agent.settings import MappingSettings
from tests.support.paths import ROOT
from tests.support.scripts import SCRIPTS, load_script

FIXTURES = ROOT / "tests" / "fixtures" / "ami_traces"
CONVERTER = SCRIPTS / "convert_public_trace.py"
TRACES = sorted(FIXTURES.glob("*.ami"))
GOLDENS = sorted(FIXTURES.glob("*.expected.jsonl"))
PUBLIC = sorted(FIXTURES.glob("pub_*.ami"))
SIDECARS = sorted(FIXTURES.glob("*.settings.json"))
COMMON_PARAMS = ("call_id", "extension", "direction", "caller_id", "calling_name", "called_number", "unix_time")
COMPLETIONS = {CALL_ANSWERED, CALL_UNANSWERED}


def _ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def _golden_lines(path: Path) -> Iterator[dict[str, object]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        yield json.loads(line)


def _headers(trace: Path) -> list[dict[str, str]]:
    frames, _ = read_frames(trace.read_bytes())
    return [dict(pairs) for pairs in frames]


def _mapping(trace: Path) -> MappingSettings:
    sidecar = trace.with_suffix(".settings.json")
    if not sidecar.is_file():
        return MappingSettings()
    return MappingSettings.model_validate(json.loads(sidecar.read_text(encoding="utf-8")))


def _converter() -> ModuleType:
    return load_script("convert_public_trace")


class TestTraceFiles:
    @pytest.mark.parametrize("trace", TRACES, ids=_ids(TRACES))
    def test_parses_cleanly(self, trace: Path) -> None:
        """Given a .ami fixture, when its frames are read, then none is malformed (unless it is meant to be)."""
        frames, stats = read_frames(trace.read_bytes())
        assert frames
        if "malformed" in trace.name:
            assert stats.malformed > 0
        else:
            assert stats.malformed == 0, stats.reasons

    @pytest.mark.parametrize("trace", TRACES, ids=_ids(TRACES))
    def test_has_golden(self, trace: Path) -> None:
        """Given a .ami fixture, then an .expected.jsonl golden file sits beside it."""
        assert trace.with_suffix(".expected.jsonl").is_file()


class TestGoldenFiles:
    @pytest.mark.parametrize("golden", GOLDENS, ids=_ids(GOLDENS))
    def test_lines_are_system_events(self, golden: Path) -> None:
        """Given a golden file, each line is JSON with a known event and a params dict of strings."""
        for record in _golden_lines(golden):
            assert set(record) == {"event", "params"}
            assert record["event"] in EVENT_KEYS
            params = record["params"]
            assert isinstance(params, dict)
            assert params
            assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())

    @pytest.mark.parametrize("golden", GOLDENS, ids=_ids(GOLDENS))
    def test_completion_is_last_and_single(self, golden: Path) -> None:
        """Given a golden file, each call has at most one completion event and nothing after it."""
        completed: set[str] = set()
        for record in _golden_lines(golden):
            params = record["params"]
            assert isinstance(params, dict)
            call_id = params["call_id"]
            assert call_id not in completed, f"{record['event']} after the completion of {call_id}"
            if record["event"] in COMPLETIONS:
                completed.add(call_id)


class TestPublicFixtures:
    @pytest.mark.parametrize("trace", PUBLIC, ids=_ids(PUBLIC))
    def test_has_review_notes(self, trace: Path) -> None:
        """Given a pub_ fixture, then its .md reasoning file exists and is not empty."""
        notes = trace.with_suffix(".md")
        assert notes.is_file()
        assert notes.read_text(encoding="utf-8").strip()

    @pytest.mark.parametrize("trace", PUBLIC, ids=_ids(PUBLIC))
    def test_wire_format(self, trace: Path) -> None:
        """Given a pub_ fixture, it starts with a banner line, uses CRLF only, and ends with a blank line."""
        data = trace.read_bytes()
        assert data.startswith(b"Asterisk Call Manager/")
        assert b"\n" not in data.replace(b"\r\n", b"")
        assert data.endswith(b"\r\n\r\n")

    @pytest.mark.parametrize("trace", PUBLIC, ids=_ids(PUBLIC))
    def test_golden_params(self, trace: Path) -> None:
        """Given a pub_ golden, each event has the checked params, a call_id that is a Linkedid of the trace, and
        (no Timestamp headers) the unix_time of the first Uniqueid."""
        headers = _headers(trace)
        linkedids = {frame["Linkedid"] for frame in headers if "Linkedid" in frame}
        epoch = next(uniqueid_epoch(frame["Uniqueid"]) for frame in headers if "Uniqueid" in frame)
        for record in _golden_lines(trace.with_suffix(".expected.jsonl")):
            params = record["params"]
            assert isinstance(params, dict)
            assert all(name in params for name in COMMON_PARAMS)
            assert params["call_id"] in linkedids
            assert params["unix_time"] == str(int(epoch or 0))
            if record["event"] == CALL_HANGUP:
                assert {"dial_status", "hangup_by"} <= set(params)
            if record["event"] in COMPLETIONS:
                assert params["duration"] == params["talk_duration"] == "0"

    @pytest.mark.parametrize("sidecar", SIDECARS, ids=_ids(SIDECARS))
    def test_settings_sidecar(self, sidecar: Path) -> None:
        """Given a .settings.json sidecar, it is a valid MappingSettings in UTC beside a trace."""
        settings = MappingSettings.model_validate(json.loads(sidecar.read_text(encoding="utf-8")))
        assert settings.timezone == "UTC"
        assert (sidecar.parent / (sidecar.name.removesuffix(".settings.json") + ".ami")).is_file()

    @pytest.mark.parametrize("trace", PUBLIC, ids=_ids(PUBLIC))
    def test_extensions_are_configured(self, trace: Path) -> None:
        """Given a pub_ golden, every non-empty extension is one its mapping settings produce (mapped, not raw)."""
        config = compile_mapping(_mapping(trace))
        known = set(config.extension_map.values())
        for record in _golden_lines(trace.with_suffix(".expected.jsonl")):
            params = record["params"]
            assert isinstance(params, dict)
            extension = params["extension"]
            assert not extension or extension in known or config.extension_pattern.search(extension)
            assert extension not in config.extension_map, "a mapped endpoint must appear as its extension number"


class TestConverter:
    def test_json_events(self) -> None:
        """Given cacofonisk JSON, when converted, then key order is kept, content dropped, lists repeated."""
        source = json.dumps(
            [{"Event": "Newchannel", "content": "", "Uniqueid": "h-1.2", "ChanVariable": ["A=1", "B=2"]}]
        )
        data = _converter().convert("x.json.txt", source.encode())
        assert data == (
            b"Asterisk Call Manager/5.0.0\r\n"
            b"Event: Newchannel\r\nUniqueid: h-1.2\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n"
        )

    def test_raw_keeps_banner_and_empty_values(self) -> None:
        """Given an LF capture with a banner, when converted, then the banner stays and empty values keep 'Key: '."""
        source = b"Asterisk Call Manager/2.10.4\nEvent: Hangup\nAccountCode: \nCause: 16\n\n\nEvent: Ping\n"
        data = _converter().convert("x.raw.txt", source)
        assert data == (
            b"Asterisk Call Manager/2.10.4\r\nEvent: Hangup\r\nAccountCode: \r\nCause: 16\r\n\r\nEvent: Ping\r\n\r\n"
        )

    def test_raw_drops_client_actions(self) -> None:
        """Given a dump with the client's Action, when converted, then only what the server sent remains."""
        source = b"Action: Originate\nActionID: 1\n\nResponse: Success\nActionID: 1\n\nEvent: Newchannel\n"
        data = _converter().convert("x.yaml.txt", source)
        assert data == (
            b"Asterisk Call Manager/5.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\nEvent: Newchannel\r\n\r\n"
        )

    def test_rejects_line_without_colon(self) -> None:
        """Given a raw line without a colon, when converted, then the conversion fails instead of guessing."""
        module = _converter()
        with pytest.raises(module.ConversionError):
            module.convert("x.raw.txt", b"Event: Hangup\n--END COMMAND--\n")

    def test_cli_is_reproducible(self, tmp_path: Path) -> None:
        """Given a source converted twice by the CLI, the two outputs are byte-identical and --check agrees."""
        source_dir, out_dir = tmp_path / "src", tmp_path / "out"
        source_dir.mkdir()
        out_dir.mkdir()
        name = "cacofonisk__simple_a_created_no_answer.json.txt"
        (source_dir / name).write_text(json.dumps([{"Event": "FullyBooted", "content": ""}]))
        first, second = tmp_path / "a.ami", tmp_path / "b.ami"
        for target in (first, second):
            subprocess.run([sys.executable, str(CONVERTER), str(source_dir / name), str(target)], check=True)
        assert first.read_bytes() == second.read_bytes()
        (out_dir / "pub_caco_a_created_no_answer.ami").write_bytes(first.read_bytes())
        module = _converter()
        problems = module.convert_all(source_dir, out_dir, check=True, only=[name])
        assert problems == []
