"""Sign-in, API errors beside the form, failed deliveries standing out, phone layout, keyboard use."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageErrors
from tests.browser.harness import Agent
from tests.browser.steps import SLOW, go, sign_in
from tests.support.receiver import Receiver, Reply, free_port
from tests.support.settings import TOKEN

pytestmark = pytest.mark.browser


def stored_action(agent: Agent, name: str, url: str) -> int:
    body = {"name": name, "description": "", "method": "GET", "url": url, "query": [], "headers": [],
            "body": {"type": "none"}, "auth": {"type": "none"}, "timeout_s": None}
    return int(agent.api("POST", "/actions", body)["id"])


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


class TestSignIn:
    def test_wrong_token_then_session(self, page: Page, agent: Agent, page_errors: PageErrors, shots) -> None:
        """Given the page, when a wrong token is tried and then the right one, then the first is refused, the
        second is kept for the tab (a reload does not ask again), and Log out asks again."""
        page_errors.allow(r"status of 401")
        page.goto(agent.base_url)
        page.get_by_label("Admin token").fill("not-the-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-error")).to_have_text("That token is not valid.")
        shots(page, "1-refused")
        page.get_by_label("Admin token").fill(TOKEN)
        page.get_by_label("Admin token").press("Enter")
        expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
        page.reload()
        expect(page.locator("table.events")).to_be_visible()
        expect(page.get_by_label("Admin token")).to_be_hidden()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_label("Admin token")).to_be_visible()


class TestErrors:
    def test_validation_details_beside_fields(self, page: Page, agent: Agent, page_errors: PageErrors,
                                              shots) -> None:
        """Given the Add Action form, when it is saved with an empty name, a bad URL and a header without a key,
        then the API's 422 details show beside each field and the advanced options open to show theirs."""
        page_errors.allow(r"status of 422")
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        page.get_by_label("URL", exact=True).fill("ftp://files.example.test/x")
        page.get_by_role("button", name="Show Advanced Options").click()
        page.get_by_label("Headers value 1", exact=True).fill("orphan value")
        page.get_by_role("button", name="Hide Advanced Options").click()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".form-errors")).to_contain_text("validation failed")
        name_field = page.locator('[data-field="name"]')
        expect(name_field.locator(".field-error")).to_have_text("the name cannot be empty")
        expect(name_field.get_by_role("textbox")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Name", exact=True)).to_have_accessible_description("the name cannot be empty")
        expect(page.locator('[data-field="url"] .field-error')).to_contain_text("http://")
        expect(page.get_by_label("Headers key 1", exact=True)).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_role("button", name="Hide Advanced Options")).to_be_visible()
        shots(page, "1-errors")
        assert agent.api("GET", "/actions")["total"] == 0


class TestFailures:
    def test_failed_tests_stand_out(self, page: Page, agent: Agent, receiver: Receiver, shots) -> None:
        """Given actions answering 503 and pointing at a closed port, when each is tested, then the result shows
        the status and both rows are marked failed in the Activity Monitor, unlike a 200."""
        receiver.always("/down", Reply(503))
        down = stored_action(agent, "Down hook", f"{receiver.url}/down")
        closed = stored_action(agent, "Closed port", f"http://127.0.0.1:{free_port()}/nothing")
        fine = stored_action(agent, "Fine hook", f"{receiver.url}/fine")
        sign_in(page, agent)
        for ident, expected in ((down, "status 503"), (closed, "status 0"), (fine, "status 200")):
            page.goto(f"{agent.base_url}#/actions/{ident}")
            page.get_by_role("button", name="Save & Test").click()
            expect(page.locator("#action-result")).to_contain_text(f"Test result: {expected}", timeout=SLOW)
            if expected != "status 200":
                expect(page.locator("#action-result")).to_have_class(re.compile("result-bad"))
        go(page, "Events")
        page.get_by_role("link", name="Activity Monitor").click()
        rows = page.locator("table.activity tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.filter(has_text="Down hook")).to_have_class(re.compile("failed"))
        expect(rows.filter(has_text="Closed port")).to_have_class(re.compile("failed"))
        expect(rows.filter(has_text="Fine hook")).not_to_have_class(re.compile("failed"))
        shots(page, "1-activity")
        page.get_by_label("Failed only").check()
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="Fine hook")).to_have_count(0)


class TestActivityMonitor:
    def test_paging(self, page: Page, agent: Agent, receiver: Receiver, shots) -> None:
        """Given 27 recorded tests, when the Activity Monitor pages through them, then page 1 holds 25 newest
        first and page 2 the other 2."""
        ident = stored_action(agent, "Paged hook", f"{receiver.url}/paged")
        for _ in range(27):
            agent.api("POST", f"/actions/{ident}/test", {})
        sign_in(page, agent)
        page.get_by_role("link", name="Activity Monitor").click()
        rows = page.locator("table.activity tbody tr")
        expect(rows).to_have_count(25)
        expect(page.locator(".pager")).to_contain_text("Page 1 of 2")
        page.get_by_role("button", name="Next ›").click()
        expect(rows).to_have_count(2)
        expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
        expect(page.get_by_role("button", name="Next ›")).to_be_disabled()
        shots(page, "1-page-2")
        page.get_by_role("button", name="‹ Previous").click()
        expect(rows).to_have_count(25)


class TestLayout:
    @pytest.mark.viewport(390, 844)
    def test_phone_screen(self, page: Page, agent: Agent, shots) -> None:
        """Given a phone-sized window, when each section is opened, then nothing scrolls sideways and tables
        show as labelled cards."""
        sign_in(page, agent)
        no_horizontal_scroll(page)
        label = page.evaluate(
            "getComputedStyle(document.querySelector('table.events td'), '::before').content")
        assert label == '"Event"'
        shots(page, "1-events")
        for section, ready in (("Actions", "text=No actions yet."), ("Parameters", "table.parameters"),
                               ("Rates", "text=No rates")):
            go(page, section)
            expect(page.locator(ready).first).to_be_visible()
            no_horizontal_scroll(page)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        expect(page.get_by_label("URL", exact=True)).to_be_visible()
        no_horizontal_scroll(page)
        shots(page, "2-add-action")

    def test_keyboard_only(self, page: Page, agent: Agent, shots) -> None:
        """Given the signed-in page, when only the keyboard is used, then the main sections are reached with Tab
        and Enter, and the focused control shows a visible outline."""
        sign_in(page, agent)
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Parameters":
                break
        expect(page.get_by_role("link", name="Parameters")).to_be_focused()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        shots(page, "1-focus")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Parameters", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name="Parameters", level=1)).to_be_focused()
