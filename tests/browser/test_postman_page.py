"""Import Postman Collection: preview with the per-item report, selection, import."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.harness import REPO, Agent
from tests.browser.steps import flash, go, sign_in

pytestmark = pytest.mark.browser

POSTMAN = REPO / "tests" / "fixtures" / "postman"


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
