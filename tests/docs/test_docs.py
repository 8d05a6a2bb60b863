"""The documentation (docs/, and README.md, its front door) says what the code does, and cannot drift from it.

`make docs` (run by `make test`) builds the site with `mkdocs build --strict`, which catches broken links and
anchors between the pages; these tests check the pages against the code itself.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from agent.admin_api.app import all_routes
from agent.admin_api.routing import API_PREFIX, Route
from agent.mapping.catalog import ALL_PARAMETERS, EVENTS
from agent.settings import Settings
from tests.support.paths import ROOT
from tests.support.scripts import load_script

DOCS = ROOT / "docs"
PAGES = {path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md"))}
README = (ROOT / "README.md").read_text(encoding="utf-8")
BASE = r"(?:http://127\.0\.0\.1:\d+|\$BASE)"
API = rf"(?:\$API|{BASE}{API_PREFIX})"


def setting_fields(model: type[BaseModel] = Settings, prefix: str = "EVENT_AGENT_") -> Iterator[tuple[str, FieldInfo]]:
    """Every setting as its environment variable name and its pydantic field, sections flattened."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_fields(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", field


SETTINGS = dict(setting_fields())


def settings_table() -> dict[str, str]:
    """The rows of docs/settings.md's table: variable -> the default cell as written."""
    rows = re.findall(r"^\| `(EVENT_AGENT_\w+)` \| (.*?) \| .* \|$", PAGES["settings.md"], re.M)
    return dict(rows)


def shown_default(field: FieldInfo) -> set[str]:
    """How the settings table may show a field's default."""
    value: Any = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return {"unset", "generated"}
    if value in ("", ()):
        return {"empty"}
    if isinstance(value, bool):
        return {f"`{str(value).lower()}`"}  # as written in the environment
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {f"`{value:g}`"}
    if isinstance(value, dict):
        return {f"`{json.dumps(value)}`"}
    return {f"`{value}`"}


class TestSettingsPage:
    def test_every_setting_listed_once(self) -> None:
        """Given the settings models, then docs/settings.md's table has exactly one row per setting, no other."""
        rows = re.findall(r"^\| `(EVENT_AGENT_\w+)` \|", PAGES["settings.md"], re.M)
        assert sorted(rows) == sorted(SETTINGS)

    @pytest.mark.parametrize("name", sorted(set(SETTINGS) - {"EVENT_AGENT_STATE_DIR"}))
    def test_default_shown(self, name: str) -> None:
        """Given a setting, then its row shows the model's default (`unset`/`generated` for none, `empty` for "")."""
        assert settings_table()[name] in shown_default(SETTINGS[name])

    def test_state_dir_default(self) -> None:
        """The state directory's default comes from systemd's $STATE_DIRECTORY, else ./state."""
        assert settings_table()["EVENT_AGENT_STATE_DIR"] == "`$STATE_DIRECTORY`, else `./state`"


def curl_lines() -> list[str]:
    """Every curl command of docs/, continuation lines joined."""
    joined = "\n".join(PAGES.values()).replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.lstrip().startswith("curl ")]


def route_pattern(route: Route) -> re.Pattern[str]:
    path = route.path
    head = API if path.startswith(API_PREFIX) else BASE
    tail = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX) else path
    body = re.sub(r"\\\{[^}]+\\\}", r"[^\\s/?\"']+", re.escape(tail))
    return re.compile(rf"{head}{body}(?=[\s?\"']|$)")


def method_shown(route: Route, line: str) -> bool:
    if f"-X {route.method}" in line:
        return True
    sends_body = any(flag in line for flag in (" -d ", "--data", " -F "))
    return (route.method == "GET" and "-X " not in line and not sends_body) or (
        route.method == "POST" and sends_body and "-X " not in line
    )


class TestAdminApiPage:
    @pytest.mark.parametrize("route", all_routes(), ids=lambda r: f"{r.method} {r.path}")
    def test_route_has_curl(self, route: Route) -> None:
        """Given an admin route, then docs/ shows one curl example calling it with its method."""
        pattern = route_pattern(route)
        assert any(pattern.search(line) and method_shown(route, line) for line in curl_lines()), route.path

    def test_route_reference_current(self) -> None:
        """The route reference of docs/admin-api.md is what scripts/docs_admin_api.py writes from the OpenAPI
        document now (run the script after changing a route)."""
        script = load_script("docs_admin_api")
        page = PAGES["admin-api.md"]
        assert script.updated(page) == page

    @pytest.mark.parametrize("route", all_routes(), ids=lambda r: f"{r.method} {r.path}")
    def test_route_in_reference(self, route: Route) -> None:
        """Given an admin route, then the reference has a row with its method and OpenAPI path."""
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        assert f"| {route.method} | `{path}` |" in PAGES["admin-api.md"]


class TestEventsPage:
    @pytest.mark.parametrize("tag", ALL_PARAMETERS)
    def test_parameter_documented(self, tag: str) -> None:
        """Given a parameter every system event carries, then docs/events.md has a row for it."""
        assert re.search(rf"^\| `{re.escape(tag)}` \|", PAGES["events.md"], re.M), tag

    @pytest.mark.parametrize("info", EVENTS, ids=lambda info: info.key)
    def test_event_documented(self, info: Any) -> None:
        """Given one of the five events, then the events table names its key and its name."""
        assert f"| `{info.key}` | {info.name} |" in PAGES["events.md"]


def metric_names() -> set[str]:
    """Every `event_agent_*` metric name written in agent/ (counters may be declared without `_total`)."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "agent").rglob("*.py"))
    return set(re.findall(r"[\"'](event_agent_[a-z_]+)[\"']", text))


@pytest.mark.parametrize("name", sorted(metric_names()))
def test_metric_documented(name: str) -> None:
    """Given a metric the agent declares, then docs/operations.md's metrics table lists it."""
    table = PAGES["operations.md"]
    assert f"`{name}`" in table or f"`{name}_total" in table or f"`{name}{{" in table, name


def cited_pages() -> set[str]:
    """Every docs page named in the code, tests, benchmarks, scripts and unit files."""
    names: set[str] = set()
    for folder in ("agent", "tests", "bench", "scripts", "systemd"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".service", ".example", ".sh", ".js", ".html"}:
                names |= set(re.findall(r"docs/([a-z][a-z-]*\.md)", path.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize("page", sorted(cited_pages()))
def test_cited_page_exists(page: str) -> None:
    """Given a docs page a code comment cites, then it exists (comments cite docs/, nothing outside the repo)."""
    assert page in PAGES


OUTSIDE = ("DESIGN.md", "STYLE.md", "ami-notes", "../shared", "/work/", "shared/ami_traces", "event-manager.md")
OWN_DOCS = {**{f"docs/{name}": text for name, text in PAGES.items()}, "README.md": README,
            "CHANGELOG.md": (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"),
            "mkdocs.yml": (ROOT / "mkdocs.yml").read_text(encoding="utf-8")}


@pytest.mark.parametrize("doc", sorted(OWN_DOCS))
def test_names_nothing_outside_the_repository(doc: str) -> None:
    """Given a document of the repository, then it names no file that lives outside the repository."""
    assert [name for name in OUTSIDE if name in OWN_DOCS[doc]] == []


class TestReadme:
    def test_front_door(self) -> None:
        """The README stays a front door: at most 250 lines."""
        assert len(README.splitlines()) <= 250

    def test_two_commands(self) -> None:
        """The README opens with the two commands a new user runs."""
        head = README[:2500]
        assert "make demo" in head
        assert "make test" in head

    @pytest.mark.parametrize("target", sorted(set(re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README))))
    def test_links_resolve(self, target: str) -> None:
        """Given a relative link of the README, then the file it points to exists."""
        assert (ROOT / target).exists(), target

    def test_links_every_page(self) -> None:
        """The README's documentation table links every page of docs/."""
        assert {name for name in PAGES if f"(docs/{name})" in README} == set(PAGES)


def import_rule() -> list[set[str]]:
    """The steps of the import rule in docs/architecture.md, top first: [{"__main__"}, {"cli", "devtools"}, {"app"},
    ...]; a top-level module is named without its `.py`, as `package_of` names it."""
    line = next(line for line in PAGES["architecture.md"].splitlines() if " > admin_api > " in line)
    return [{part.strip().removesuffix(".py") for part in step.split(",")} for step in line.split(">")]


def imported_modules(path: Path) -> set[str]:
    """The absolute modules a file imports (`from x import y` gives x; relative imports resolve to agent.*)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module or "")
    return names


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "agent" else ""


class TestLayout:
    def test_rule_names_every_package(self) -> None:
        """The rule of docs/architecture.md names every package of agent/, and only those (plus the top level)."""
        packages = {path.parent.name for path in (ROOT / "agent").glob("*/__init__.py")}
        named = set().union(*import_rule()[1:]) - {path.stem for path in (ROOT / "agent").glob("*.py")}
        assert named == packages

    def test_imports_point_down(self) -> None:
        """Given any module of a package, then it imports no package listed above its own in the rule."""
        rank = {package: step for step, names in enumerate(import_rule()) for package in names}
        upward = []
        for path in sorted([*(ROOT / "agent").glob("*/**/*.py"), ROOT / "agent" / "app.py"]):
            own = path.relative_to(ROOT / "agent").parts[0].removesuffix(".py")
            for module in imported_modules(path):
                other = package_of(module)
                if other in rank and own in rank and rank[other] < rank[own]:
                    upward.append(f"{path.relative_to(ROOT)} -> {module}")
        assert upward == []

    def test_mapping_is_pure(self) -> None:
        """agent/mapping imports only the standard library, itself and agent.ami.events."""
        foreign = []
        for path in sorted((ROOT / "agent" / "mapping").glob("*.py")):
            for module in imported_modules(path):
                allowed = (module.split(".")[0] in sys.stdlib_module_names or module == "agent.ami.events"
                           or module.startswith("agent.mapping"))
                if not allowed:
                    foreign.append(f"{path.name} -> {module}")
        assert foreign == []
