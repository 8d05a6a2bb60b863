"""The README documents every setting and every admin route (with a curl example), so neither can drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.admin_api.app import all_routes
from agent.admin_api.routing import API_PREFIX, Route
from agent.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
BASE = r"(?:http://127\.0\.0\.1:\d+|\$BASE)"
API = rf"(?:\$API|{BASE}{API_PREFIX})"


def setting_names(model: type[BaseModel] = Settings, prefix: str = "EVENT_AGENT_") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def curl_lines() -> list[str]:
    """Every curl command of the README, continuation lines joined."""
    joined = README.replace("\\\n", " ")
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


class TestReadme:
    @pytest.mark.parametrize("name", sorted(setting_names()))
    def test_setting_documented(self, name: str) -> None:
        """Given a setting of agent/settings.py, then the README's settings table names it."""
        assert f"`{name}`" in README

    @pytest.mark.parametrize("route", all_routes(), ids=lambda r: f"{r.method} {r.path}")
    def test_route_has_curl(self, route: Route) -> None:
        """Given an admin route, then the README shows one curl example calling it with its method."""
        pattern = route_pattern(route)
        assert any(pattern.search(line) and method_shown(route, line) for line in curl_lines()), route.path

    def test_two_commands(self) -> None:
        """The README opens with the two commands a new user runs."""
        head = README[:2000]
        assert "make demo" in head
        assert "make test" in head
