"""The action editor's body and authorization kinds survive a save and a reload, exactly as the API stores them
(credentials masked by the API, kept as typed in the database)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageErrors
from tests.browser.harness import Agent
from tests.browser.steps import fill_row, flash, go, sign_in

pytestmark = pytest.mark.browser


def stored(agent: Agent, name: str) -> dict[str, object]:
    return next(a for a in agent.api("GET", "/actions")["items"] if a["name"] == name)


def stored_credentials(agent: Agent, name: str) -> dict[str, str]:
    """The credentials as the database holds them (the API shows them masked)."""
    with sqlite3.connect(agent.state_dir / "event-agent.db") as db:
        (parts,) = db.execute("SELECT parts FROM actions WHERE name = ?", (name,)).fetchone()
    auth = json.loads(parts)["auth"]
    return {key: auth[key] for key in ("value", "password", "token") if auth[key]}


class TestActionEditor:
    def test_form_body_and_auth_kinds(self, page: Page, agent: Agent, shots) -> None:
        """Given a new action with an urlencoded body and an API key in the query, when it is saved, reloaded,
        switched to form-data with basic auth and a timeout, then the API holds each version and the form shows
        it back."""
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        page.get_by_label("Name", exact=True).fill("Form hook")
        page.get_by_label("HTTP Method").select_option("PUT")
        page.get_by_label("URL", exact=True).fill("https://hooks.example.test/form")
        page.get_by_label("Type", exact=True).select_option("x-www-form-urlencoded")
        fill_row(page, "Body fields", 1, "caller", "{{caller_id}}")
        fill_row(page, "Body fields", 2, "note", "a&b=c")
        page.get_by_label("Auth Type").select_option("api_key")
        page.get_by_label("Key", exact=True).fill("apikey")
        page.get_by_label("Value", exact=True).fill("k-123")
        page.get_by_label("Add to").select_option("query")
        page.get_by_role("button", name="Save", exact=True).click()
        flash(page, "Saved Form hook")
        action = stored(agent, "Form hook")
        assert action["method"] == "PUT"
        assert action["body"] == {"type": "x-www-form-urlencoded", "fields": [
            {"key": "caller", "value": "{{caller_id}}"}, {"key": "note", "value": "a&b=c"}]}
        assert action["auth"] == {"type": "api_key", "key": "apikey", "value": "********", "in": "query"}
        assert stored_credentials(agent, "Form hook") == {"value": "k-123"}

        page.reload()
        expect(page.get_by_label("Body fields value 2", exact=True)).to_have_value("a&b=c")
        expect(page.get_by_label("Add to")).to_have_value("query")
        page.get_by_label("Type", exact=True).select_option("form-data")
        page.get_by_label("Auth Type").select_option("basic")
        page.get_by_label("Username").fill("pbx")
        page.get_by_label("Password").fill("pw-{{Site}}")
        page.get_by_role("button", name="Show Advanced Options").click()
        page.get_by_label("Timeout (seconds)").fill("4.5")
        page.get_by_role("button", name="Save", exact=True).click()
        flash(page, "Saved Form hook")
        action = stored(agent, "Form hook")
        assert action["body"]["type"] == "form-data"
        assert action["auth"] == {"type": "basic", "username": "pbx", "password": "********"}
        assert stored_credentials(agent, "Form hook") == {"password": "pw-{{Site}}"}
        assert action["timeout_s"] == 4.5
        assert action["undefined_parameters"] == ["Site"]
        expect(page.get_by_role("button", name="Define parameter Site", exact=True)).to_be_visible()
        shots(page, "1-form-data-basic")

    def test_query_rows_follow_url(self, page: Page, agent: Agent) -> None:
        """Given a URL with a query string, when rows are edited or removed, then the URL follows, and the saved
        action keeps the base URL and the rows apart."""
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        url = page.get_by_label("URL", exact=True)
        url.fill("https://h.example.test/p?a=1&b=two%20words&flag")
        expect(page.get_by_label("Query value 2", exact=True)).to_have_value("two words")
        expect(page.get_by_label("Query key 3", exact=True)).to_have_value("flag")
        page.get_by_role("button", name="Remove query row 1").click()
        expect(url).to_have_value("https://h.example.test/p?b=two%20words&flag=")
        page.get_by_label("Query value 1", exact=True).fill("x&y")
        expect(url).to_have_value("https://h.example.test/p?b=x%26y&flag=")
        page.get_by_label("Name", exact=True).fill("Query hook")
        page.get_by_role("button", name="Save", exact=True).click()
        flash(page, "Saved Query hook")
        action = stored(agent, "Query hook")
        assert action["url"] == "https://h.example.test/p"
        assert action["query"] == [{"key": "b", "value": "x&y"}, {"key": "flag", "value": ""}]

    def test_raw_json_warning(self, page: Page, agent: Agent) -> None:
        """Given a raw JSON body, when it is not JSON (tags counted as values), then a warning says so, and it
        goes away once the body is fixed, bare tags included."""
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        page.get_by_label("Type", exact=True).select_option("raw")
        page.get_by_label("Raw body").fill('{"call": "{{call_id}}", "duration": }')
        warning = page.locator(".field-warning")
        expect(warning).to_contain_text("Not valid JSON")
        page.get_by_label("Raw body").fill('{"call": "{{call_id}}", "duration": {{duration}}}')
        expect(warning).to_be_hidden()
        expect(page).to_have_title("Action › Add · Event Manager")

    def test_preview_unsaved(self, page: Page, agent: Agent, page_errors: PageErrors, shots) -> None:
        """Given a new action never saved, when Preview is pressed, then the rendered request shows (secret
        masked, sample values filled in) and nothing is saved; an API key without a name is named beside its field."""
        page_errors.allow(r"status of 422")
        agent.api("POST", "/parameters", {"tag": "Hook-Key", "value": "pv-s3cret", "secret": True})
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Add Action").click()
        page.get_by_label("Name", exact=True).fill("Preview hook")
        page.get_by_label("URL", exact=True).fill("https://hooks.example.test/pv?from={{caller_id}}")
        page.get_by_label("Auth Type").select_option("api_key")
        page.get_by_role("button", name="Preview", exact=True).click()
        expect(page.locator('[data-field="auth.key"] .field-error')).to_contain_text("at least 1 character")
        page.get_by_label("Auth Type").select_option("bearer")
        page.get_by_label("Token", exact=True).fill("{{Hook-Key}}")
        page.get_by_role("button", name="Preview", exact=True).click()
        result = page.locator("#action-result")
        expect(result).to_contain_text("GET https://hooks.example.test/pv?from=201")
        expect(result).to_contain_text("Authorization: Bearer ********")
        expect(page.locator(".form-errors")).to_be_hidden()
        shots(page, "preview-unsaved")
        assert "pv-s3cret" not in result.inner_text()
        assert agent.api("GET", "/actions")["total"] == 0
        assert page.url.endswith("#/actions/new")

