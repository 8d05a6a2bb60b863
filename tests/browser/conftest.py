"""Fixtures for the web page tests: a real agent, a loopback receiver, and a Chromium page that fails the test
on any console error or uncaught page error."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Agent, Receiver, running_agent, running_receiver


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "viewport(width, height): the browser window size for a web page test")


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'); the web page cannot be tested")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    with running_agent(tmp_path / "state") as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


class PageErrors:
    """Console errors and page errors seen during a test; `allow` lists expected console messages (regex)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [text for text in self.seen if not any(p.search(text) for p in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    marker = request.node.get_closest_marker("viewport")
    return {"width": marker.args[0], "height": marker.args[1]} if marker else {"width": 1280, "height": 900}


@pytest.fixture
def page(agent: Agent, tmp_path: Path, page_errors: PageErrors, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A Chromium page; it depends on `agent` so the browser closes before the agent stops (no refused polls)."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=_viewport(request), accept_downloads=True)
        browser_page = context.pages[0] if context.pages else context.new_page()
        browser_page.set_default_timeout(15_000)
        browser_page.on("console", lambda message: page_errors.seen.append(message.text)
                        if message.type == "error" else None)
        browser_page.on("pageerror", lambda error: page_errors.seen.append(f"pageerror: {error}"))
        try:
            yield browser_page
        finally:
            context.close()
    assert page_errors.unexpected() == [], "the page logged errors"


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """`shots(page, "name")` saves a full-page screenshot to test-output/screenshots/ (and tmp_path)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(browser_page: Page, name: str) -> Path:
        target = SCREENSHOTS / f"{request.node.name}-{name}.png"
        browser_page.screenshot(path=str(target), full_page=True)
        shutil.copy(target, tmp_path / target.name)
        return target

    return take
