"""The main administrator flow in the page, against a real agent, the AMI simulator and a loopback receiver."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.harness import Agent
from tests.browser.steps import SLOW, define_parameter, fill_row, flash, go, sign_in
from tests.support.receiver import Receiver

pytestmark = pytest.mark.browser

RAW_BODY = '{"event": "{{event}}", "call": "{{call_id}}", "ext": "{{extension}}", "site": "{{Site}}"}'


def create_action(page: Page, receiver: Receiver) -> None:
    """Fill the Add Action form: URL with a query string, an extra query row, raw JSON, bearer, headers."""
    go(page, "Actions")
    page.get_by_role("link", name="Add Action").click()
    page.get_by_label("Name", exact=True).fill("CRM answered")
    page.get_by_label("HTTP Method").select_option("POST")
    page.get_by_label("URL", exact=True).fill(f"{receiver.url}/crm/answered?call={{{{call_id}}}}&site={{{{Site}}}}")
    expect(page.get_by_label("Query key 1", exact=True)).to_have_value("call")
    expect(page.get_by_label("Query value 2", exact=True)).to_have_value("{{Site}}")
    fill_row(page, "Query", 3, "from", "{{caller_id}}")
    expect(page.get_by_label("URL", exact=True)).to_have_value(
        f"{receiver.url}/crm/answered?call={{{{call_id}}}}&site={{{{Site}}}}&from={{{{caller_id}}}}")
    page.get_by_label("Type", exact=True).select_option("raw")
    page.get_by_label("Content type").fill("application/json")
    page.get_by_label("Raw body").fill(RAW_BODY)
    page.get_by_label("Auth Type").select_option("bearer")
    page.get_by_label("Token", exact=True).fill("{{Crm-Key}}")
    page.get_by_role("button", name="Show Advanced Options").click()
    fill_row(page, "Headers", 1, "X-Source", "event-agent")
    fill_row(page, "Headers", 2, "X-Tenant", "{{Tenant_Code}}")


class TestActionFlow:
    def test_create_define_bind_test_replay(self, page: Page, agent: Agent, receiver: Receiver, shots) -> None:
        """Given a fresh agent, when an admin builds an action, defines its parameters, binds it to Answered Call,
        turns actions on, tests it and a call is replayed, then the receiver gets both and the monitor lists them."""
        sign_in(page, agent)
        shots(page, "1-events")
        create_action(page, receiver)
        banner = page.locator("#undefined-parameters")
        expect(banner).to_contain_text("Listed parameters are not defined, and will be replaced by empty values")
        for tag in ("Site", "Crm-Key", "Tenant_Code"):
            expect(banner.get_by_role("button", name=f"Define parameter {tag}", exact=True)).to_be_visible()
        define_parameter(page, "Site", "hq")
        define_parameter(page, "Crm-Key", "s3cret-crm-key", secret=True)
        expect(banner.get_by_role("button", name="Define parameter Site", exact=True)).to_have_count(0)
        expect(banner.get_by_role("button", name="Define parameter Tenant_Code", exact=True)).to_be_visible()
        page.get_by_role("button", name="Save", exact=True).click()
        flash(page, "Saved CRM answered")
        expect(page).to_have_url(re.compile(r"#/actions/\d+$"))

        page.get_by_role("button", name="Save & Test").click()
        result = page.locator("#action-result")
        expect(result).to_contain_text("Test result: status 200", timeout=SLOW)
        shots(page, "2-action-tested")
        sent = receiver.matching("/crm/answered")[-1]
        assert sent.method == "POST"
        assert sent.header("Authorization") == "Bearer s3cret-crm-key"
        assert sent.header("X-Source") == "event-agent"
        assert "site=hq" in sent.path_qs
        assert sent.json()["site"] == "hq"

        page.get_by_role("button", name="Preview", exact=True).click()
        expect(result).to_contain_text("Dry run")
        expect(result).to_contain_text("Authorization: Bearer ********")

        bind_and_enable(page)
        agent.simulate("01_internal_answered_caller_hangup.ami")
        expect(page.locator('[data-status="ami"]')).to_contain_text("AMI connected", timeout=SLOW)

        go(page, "Events")
        page.get_by_role("link", name="Activity Monitor").click()
        rows = page.locator("table.activity tbody tr")
        delivered = rows.filter(has_text="call_answered")
        expect(delivered.first).to_be_visible(timeout=SLOW)
        expect(delivered.first).to_contain_text("200")
        expect(rows.filter(has_text=re.compile(r"test\.\d+\.\d+"))).to_have_count(1)
        shots(page, "3-activity")
        answered = [item for item in receiver.matching("/crm/answered") if item.json()["event"] == "call_answered"]
        assert answered[0].json()["ext"] == "202"

        page.get_by_label("Search").fill("call_answered")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(rows.filter(has_text=re.compile(r"test\.\d+"))).to_have_count(0)
        expect(rows.first).to_contain_text("call_answered")
        shots(page, "4-activity-search")
        page.get_by_label("Search").fill("")
        page.get_by_label("Event", exact=True).select_option("call_answered")
        expect(rows.filter(has_text=re.compile(r"test\.\d+"))).to_have_count(0)
        expect(rows.filter(has_text="call_answered").first).to_be_visible()


def bind_and_enable(page: Page) -> None:
    """Bind the action to Answered Call, make the event active, then turn the global switch on."""
    go(page, "Events")
    page.get_by_role("link", name="Answered Call", exact=True).click()
    page.get_by_label("CRM answered").check()
    page.locator("fieldset.yesno").get_by_label("Yes").check()
    page.get_by_role("button", name="Save").click()
    flash(page, "Saved Answered Call")
    answered = page.locator('tr[data-event="call_answered"]')
    expect(answered.locator(".mark.yes.muted")).to_be_visible()
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Save").click()
    flash(page, "Actions are enabled")
    page.get_by_role("link", name="Event List").click()
    expect(answered.locator(".mark.yes")).not_to_have_class(re.compile("muted"))
    expect(answered).to_contain_text("1")
