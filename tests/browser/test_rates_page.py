"""Rates (call rating): add, edit, delete, CSV import and export."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageErrors
from tests.browser.harness import Agent
from tests.browser.steps import flash, go, sign_in

pytestmark = pytest.mark.browser

CSV = """prefix,price_per_minute,connection_fee,minimum_s,increment_s,description
0044,0.05,0.10,30,6,United Kingdom
00385,0.12,0,0,1,Croatia
"""


def fill_rate(page: Page, values: dict[str, str]) -> None:
    dialog = page.get_by_role("dialog")
    for label, value in values.items():
        dialog.get_by_label(label, exact=True).fill(value)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)


class TestRatesPage:
    def test_add_edit_delete(self, page: Page, agent: Agent, shots) -> None:
        """Given the Rates page, when a rate is added, edited and deleted, then the table and the API follow."""
        sign_in(page, agent)
        go(page, "Rates")
        page.get_by_role("button", name="Add Rate").click()
        fill_rate(page, {"Prefix": "0044", "Price per minute": "0.05", "Connection fee": "0.10",
                         "Minimum billed seconds": "30", "Billing increment (seconds)": "6",
                         "Description": "United Kingdom"})
        flash(page, "Rate added")
        row = page.locator('tr[data-prefix="0044"]')
        expect(row).to_contain_text("0.05")
        expect(row).to_contain_text("United Kingdom")
        shots(page, "1-added")
        row.get_by_role("button", name="Edit rate 0044").click()
        fill_rate(page, {"Price per minute": "0.06"})
        flash(page, "Saved rate 0044")
        expect(row).to_contain_text("0.06")
        assert agent.api("GET", "/rates")["items"][0]["price_per_minute"] == "0.06"
        row.get_by_role("button", name="Delete rate 0044").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        flash(page, "Deleted rate 0044")
        expect(page.get_by_text("No rates")).to_be_visible()
        assert agent.api("GET", "/rates")["total"] == 0

    def test_csv_import_export(self, page: Page, agent: Agent, tmp_path: Path, page_errors: PageErrors,
                               shots) -> None:
        """Given a CSV file, when it is imported and the table exported, then the table holds its rows and the
        export carries them back; a bad file is refused with its line numbers shown."""
        page_errors.allow(r"status of 422")
        good, bad = tmp_path / "rates.csv", tmp_path / "bad.csv"
        good.write_text(CSV)
        bad.write_text("prefix,price_per_minute,connection_fee,minimum_s,increment_s\n0044,cheap,0,0,1\n")
        sign_in(page, agent)
        go(page, "Rates")
        page.get_by_label("Import a CSV file").set_input_files(bad)
        page.get_by_role("button", name="Import CSV").click()
        errors = page.locator(".form-errors")
        expect(errors).to_contain_text("nothing was imported")
        expect(errors).to_contain_text("Line 2")
        page.get_by_label("Import a CSV file").set_input_files(good)
        page.get_by_role("button", name="Import CSV").click()
        flash(page, "Imported 2 rate(s)")
        expect(page.locator("table.rates tbody tr")).to_have_count(2)
        expect(page.locator('tr[data-prefix="00385"]')).to_contain_text("Croatia")
        shots(page, "1-imported")
        with page.expect_download() as download:
            page.get_by_role("button", name="Export CSV").click()
        exported = Path(download.value.path()).read_text()
        assert exported.splitlines()[0].startswith("prefix,price_per_minute")
        assert "0044,0.05,0.10,30,6,United Kingdom" in exported
