"""Import Postman Collection: preview with the per-item report, selection, import."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.browser.harness import Agent
from tests.browser.steps import flash, go, sign_in
from tests.support.paths import POSTMAN

pytestmark = pytest.mark.browser

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def open_import(page: Page, agent: Agent, fixture: str) -> None:
    sign_in(page, agent)
    go(page, "Actions")
    page.get_by_role("link", name="Import Postman Collection").click()
    page.get_by_label("Postman collection").set_input_files(POSTMAN / fixture)


class TestPostmanImport:
    def test_import_two_selected(self, page: Page, agent: Agent, shots) -> None:
        """Given the PBXware dashboard collection, when two requests are ticked and imported, then exactly those
        two become actions and their undefined parameters are offered for definition."""
        open_import(page, agent, "pbxware_dashboard.postman_collection.json")
        items = page.locator("li.pm-item")
        expect(items).to_have_count(10)
        expect(items.filter(has_text="Licensing")).to_contain_text("action=pbxware.dashboard.licensing")
        page.get_by_label("CPU", exact=True).check()
        page.get_by_label("Licensing", exact=True).check()
        shots(page, "1-preview")
        page.get_by_role("button", name="Import").click()
        result = page.locator("#import-result")
        expect(result).to_contain_text("Imported 2 action(s)")
        flash(page, "Imported 2 action(s)")
        assert sorted(a["name"] for a in agent.api("GET", "/actions")["items"]) == ["CPU", "Licensing"]

        result.get_by_role("link", name="Back to Actions").click()
        rows = page.locator("table.actions tbody tr")
        expect(rows).to_have_count(2)
        page.get_by_label("Search").fill("licens")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("GET http://{{IP}}/index.php?apikey={{API_Key}}")
        shots(page, "2-actions")
        page.get_by_role("link", name="Licensing", exact=True).click()
        banner = page.locator("#undefined-parameters")
        for tag in ("IP", "API_Key", "Srv/Tenant-ID"):
            expect(banner.get_by_role("button", name=f"Define parameter {tag}", exact=True)).to_be_visible()
        expect(page.get_by_label("Query key 3", exact=True)).to_have_value("server")
        shots(page, "3-imported-action")

    def test_report_and_select_all(self, page: Page, agent: Agent, shots) -> None:
        """Given a collection with unsupported parts, when previewed, then changed and skipped items carry their
        notes, skipped ones cannot be ticked, and Select All ticks every importable one."""
        open_import(page, agent, "checklist_v21.postman_collection.json")
        skipped = page.locator("li.pm-skipped")
        expect(skipped.filter(has_text="method HEAD is not supported")).to_have_count(1)
        expect(skipped.locator('input[type="checkbox"]').first).to_be_disabled()
        expect(page.locator("li.pm-changed").filter(has_text="auth type 'awsv4' is not supported")).to_have_count(1)
        page.get_by_label("Select All Actions").check()
        enabled = page.locator('li.pm-item input[name="select"]:not(:disabled)')
        assert enabled.count() > 0
        for index in range(enabled.count()):
            expect(enabled.nth(index)).to_be_checked()
        expect(skipped.locator('input[type="checkbox"]:checked')).to_have_count(0)
        expect(page.get_by_text("{{token}}")).to_be_visible()
        expect(page.locator("#postman-notes")).to_contain_text("variable 'base url' is offered as parameter 'base_url'")
        shots(page, "1-report")


class TestClashes:
    def test_parameter_clash_asked(self, page: Page, agent: Agent, shots) -> None:
        """Given Adyen Test Cards imported (baseUrl = pal-test), when Adyen Session authentication is previewed,
        then the page shows the baseUrl clash with both hosts and defaults to a new tag; choosing "keep" imports
        the request on the existing baseUrl."""
        test_cards = json.loads((POSTMAN / "public" / "adyen_testcards_v1.json").read_text(encoding="utf-8"))
        agent.api("POST", "/postman/import", {"collection": test_cards, "all": True})
        open_import(page, agent, "public/adyen_session_authentication_v1.json")
        clash = page.locator("#postman-clashes li.pm-clash")
        expect(clash).to_have_count(1)
        expect(clash).to_contain_text("https://pal-test.adyen.com/pal/services/TestCard/v1")
        expect(clash).to_contain_text("https://test.adyen.com/authe/api/v1")
        choice = clash.get_by_role("combobox")
        expect(choice).to_have_value("new")
        expect(page.locator("li.pm-item").first).to_contain_text("{{baseUrl}} is already a parameter")
        shots(page, "1-clash")
        choice.select_option("keep")
        page.get_by_label("Select All Actions").check()
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#import-result")).to_contain_text("Imported 1 action(s)")
        session = next(a for a in agent.api("GET", "/actions")["items"] if a["name"].endswith("Create a session token"))
        assert session["url"] == "{{baseUrl}}/sessions"
        stored = {p["tag"]: p["value"] for p in agent.api("GET", "/parameters?per_page=500")["items"]}
        assert stored["baseUrl"] == "https://pal-test.adyen.com/pal/services/TestCard/v1"

    def test_system_tag_asked(self, page: Page, agent: Agent) -> None:
        """Given a collection variable named caller_id, when imported without a choice, then the page asks first;
        choosing the live system value imports the request on {{caller_id}}."""
        collection = {"info": {"name": "c", "schema": SCHEMA}, "variable": [{"key": "caller_id", "value": "100"}],
                      "item": [{"name": "Notify", "request": "https://crm.example/notify?from={{caller_id}}"}]}
        sign_in(page, agent)
        go(page, "Actions")
        page.get_by_role("link", name="Import Postman Collection").click()
        page.get_by_label("Postman collection").set_input_files(
            {"name": "c.json", "mimeType": "application/json", "buffer": json.dumps(collection).encode()})
        item = page.locator("li.pm-item")
        expect(item.locator("ul.notes li").first).to_contain_text("{{caller_id}} is a system parameter here")
        page.get_by_label("Select All Actions").check()
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_role("alert")).to_contain_text("Choose what {{caller_id}} should mean")
        page.locator("#postman-clashes").get_by_role("combobox").select_option("system")
        page.get_by_role("button", name="Import").click()
        expect(page.locator("#import-result")).to_contain_text("Imported 1 action(s)")
        assert agent.api("GET", "/actions")["items"][0]["query"] == [{"key": "from", "value": "{{caller_id}}"}]
