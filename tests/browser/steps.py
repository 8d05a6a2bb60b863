"""Small page steps shared by the browser tests (what an administrator does, in Playwright terms)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.harness import Agent
from tests.support.settings import TOKEN

SLOW = 45_000  # ms: deliveries through a real daemon on a busy 2-core machine


def sign_in(page: Page, agent: Agent) -> None:
    page.goto(agent.base_url)
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()


def go(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section).click()


def fill_row(page: Page, table: str, index: int, key: str, value: str) -> None:
    page.get_by_label(f"{table} key {index}", exact=True).fill(key)
    page.get_by_label(f"{table} value {index}", exact=True).fill(value)


def define_parameter(page: Page, tag: str, value: str, *, secret: bool = False) -> None:
    """Click an undefined tag in the banner and define it in the dialog."""
    page.get_by_role("button", name=f"Define parameter {tag}", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Tag")).to_have_value(tag)
    dialog.get_by_label("Value").fill(value)
    if secret:
        dialog.get_by_label(re.compile("Secret")).check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def flash(page: Page, text: str) -> None:
    expect(page.locator("#flash")).to_contain_text(text)
