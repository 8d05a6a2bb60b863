"""Parameters: custom ones are added, edited and deleted; system ones are read-only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.harness import Agent
from tests.browser.steps import flash, go, sign_in

pytestmark = pytest.mark.browser


def add_parameter(page: Page, tag: str, value: str, *, secret: bool = False) -> None:
    page.get_by_role("button", name="Add Parameter").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Tag").fill(tag)
    dialog.get_by_label("Value").fill(value)
    if secret:
        dialog.get_by_label(re.compile("Secret")).check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


class TestParametersPage:
    def test_custom_parameter_lifecycle(self, page: Page, agent: Agent, shots) -> None:
        """Given the Parameters page, when a custom parameter is added, edited and deleted, then the list and the
        API follow each step, and a secret value is never shown."""
        sign_in(page, agent)
        go(page, "Parameters")
        add_parameter(page, "crm/host", "crm.example.test")
        row = page.locator('tr[data-tag="crm/host"]')
        expect(row).to_contain_text("crm.example.test")
        expect(row).to_contain_text("0")
        add_parameter(page, "crm_key", "do-not-show-me", secret=True)
        secret_row = page.locator('tr[data-tag="crm_key"]')
        expect(secret_row).to_contain_text("••••••••")
        expect(page.locator("main")).not_to_contain_text("do-not-show-me")
        shots(page, "1-added")

        row.get_by_role("button", name="Edit crm/host").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("Tag")).to_have_attribute("readonly", "")
        dialog.get_by_label("Value").fill("crm2.example.test")
        dialog.get_by_role("button", name="Save").click()
        flash(page, "Saved parameter crm/host")
        expect(row).to_contain_text("crm2.example.test")
        assert agent.api("GET", "/parameters/crm%2Fhost")["value"] == "crm2.example.test"

        secret_row.get_by_role("button", name="Edit crm_key").click()
        page.get_by_role("dialog").get_by_role("button", name="Save").click()
        flash(page, "Saved parameter crm_key")

        row.get_by_role("button", name="Delete crm/host").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        flash(page, "Deleted parameter crm/host")
        expect(row).to_have_count(0)
        tags = [item["tag"] for item in agent.api("GET", "/parameters?per_page=500")["items"]]
        assert "crm/host" not in tags
        assert "crm_key" in tags

    def test_system_parameters_read_only(self, page: Page, agent: Agent, shots) -> None:
        """Given the Parameters page, when the system parameters are listed, then each has the cog and its
        description and no Edit or Delete button."""
        sign_in(page, agent)
        go(page, "Parameters")
        system = page.locator("tr.system")
        expect(system.first).to_be_visible()
        call_id = page.locator('tr[data-tag="call_id"]')
        expect(call_id.get_by_role("img", name="System parameter")).to_be_visible()
        expect(call_id).to_contain_text("unique ID of the call")
        expect(call_id).to_contain_text("read-only")
        expect(system.get_by_role("button")).to_have_count(0)
        assert system.count() >= 13
        shots(page, "1-system")
