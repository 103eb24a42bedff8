"""A billing manager imports a network's schedule whose header the app does not recognise:
maps the columns in the preview (htmx, no reload), sees the rejected row, confirms, and finds
the new version on the schedule page. Real Chromium, real CSP."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from campaigns.fees.models import FeeSchedule
from tests.conftest import database

# 'Item', 'Wording' and 'Pays $' name no column role the parser knows, and only 4 of the first
# 8 rows hold a code: too few to guess the columns from the values, so the user maps them.
SCHEDULE = (
    b"Alpha Dental PPO\n"
    b"Schedule for contracted providers\n"
    b"Prepared for North Office\n"
    b"Item,Wording,Pays $\n"  # line 4
    b"T0120,Recall exam,55.00\n"  # line 5
    b"T0220,Single x-ray,28.40\n"  # line 6
    b"1110,Adult cleaning,98.00\n"  # line 7: a bare number, T1110 with the letter T
    b"T4910,Gum-maintenance cleaning,abc\n"  # line 8: rejected
)


def test_manager_fixes_the_column_mapping_and_confirms_the_import(app, live_server, watched, world):
    page = watched.page
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(world.a.manager)
    page.get_by_label("Password").fill(world.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("navigation").get_by_role("link", name="Fee schedules").click()
    page.get_by_role("button", name="Import a file").click()  # a link styled as a button
    expect(page.get_by_role("heading", name="Import a file")).to_be_visible()
    # the selects sit inside their labels, so they are found by id
    page.locator("#practice_id").select_option(label="North Office")
    page.locator("#kind").select_option(
        label="A contract's fee schedule (a network's allowed amounts)"
    )
    page.locator("#contract_id").select_option(label="Alpha Dental PPO (North Office)")
    page.locator("#file").set_input_files(
        {"name": "alpha_2026.csv", "mimeType": "text/csv", "buffer": SCHEDULE}
    )
    watched.shot("upload")
    page.get_by_role("button", name="Upload and preview").click()

    # The preview: no columns recognised, the file's first rows to map them by hand.
    expect(page.get_by_role("heading", name=re.compile("Import alpha_2026.csv"))).to_be_visible()
    preview = page.locator("#import-preview")
    expect(preview.get_by_role("alert")).to_contain_text("No recognisable columns")
    expect(preview.get_by_role("heading", name="The first rows of the file")).to_be_visible()
    sample = preview.locator("table").last
    expect(sample.locator("tr").nth(3)).to_have_text(re.compile(r"Item\s*Wording\s*Pays \$"))
    expect(preview.get_by_role("button", name="Confirm import")).to_have_count(0)
    watched.shot("columns-not-recognised")

    page.evaluate("window.__samePage = true")
    page.locator("#col_code").select_option(label="1: column 1")
    page.locator("#col_description").select_option(label="2: column 2")
    page.locator("#col_amount").select_option(label="3: column 3")
    page.locator("#prefix").fill("T")
    watched.shot("columns-chosen")
    preview.get_by_role("button", name="Update preview").click()

    # htmx swapped the preview in place: the rows, the rejected row with its reason.
    expect(preview.get_by_role("heading", name="Rejected rows (1)")).to_be_visible()
    assert page.evaluate("window.__samePage === true"), "the page reloaded"
    expect(preview.get_by_role("alert")).to_have_count(0)
    expect(preview).to_contain_text("header row 4: Item | Wording | Pays $")
    rejected = preview.locator("table").filter(has_text="Reason")
    expect(rejected.locator("tbody tr")).to_have_text(
        [re.compile(r"line 8\s*T4910 \| Gum-maintenance cleaning \| abc\s*'abc' is not an amount")]
    )
    rows = preview.locator("table.striped tbody tr")
    expect(rows).to_have_text(
        [
            re.compile(r"line 5\s*T0120\s*Recall exam\s*\$55\.00"),
            re.compile(r"line 6\s*T0220\s*Single x-ray\s*\$28\.40"),
            re.compile(r"line 7\s*T1110\s*Adult cleaning\s*\$98\.00"),
        ]
    )
    expect(page.locator("#col_amount")).to_have_value("2")
    watched.shot("preview-with-rows")

    # Without an effective date the confirm is refused (422) and the form stays as chosen.
    page.locator("#effective_from").fill("")
    preview.get_by_role("button", name="Confirm import").click()
    expect(preview.locator("label[for=effective_from] .field-error")).to_have_text(
        "Enter the date the schedule takes effect."
    )
    expect(page.locator("#effective_from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#col_amount")).to_have_value("2")
    assert page.evaluate("window.__samePage === true"), "the page reloaded"
    watched.shot("no-effective-date")
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FeeSchedule)) == 3  # the world's

    page.locator("#effective_from").fill("2026-04-01")
    page.locator("#label").fill("Alpha Dental PPO April 2026")
    preview.get_by_role("button", name="Confirm import").click()

    # The schedule page of the new version.
    expect(page.get_by_role("heading", name="Alpha Dental PPO April 2026")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/fees/\d+$"))
    expect(page.get_by_text("Imported 3 codes from alpha_2026.csv.")).to_be_visible()
    versions = page.get_by_role("table", name="Versions")
    new_version = versions.locator("tbody tr").filter(has_text="Import of alpha_2026.csv")
    expect(new_version).to_have_count(1)
    expect(new_version.locator("td").first).to_have_text("Apr 1, 2026")
    expect(versions.locator("tbody tr")).to_have_count(2)  # with the world's Jan 1 version
    expect(new_version.locator("td.num")).to_have_text("3")
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_text(
        [
            re.compile(r"T0120.*\$55\.00"),
            re.compile(r"T0220.*\$28\.40"),
            re.compile(r"T1110.*\$98\.00"),
        ]
    )
    watched.shot("schedule-version")

    with database(app) as s:
        [schedule] = s.scalars(
            sa.select(FeeSchedule).where(FeeSchedule.import_batch_id.is_not(None))
        ).all()
        assert {line.code: line.amount_cents for line in schedule.lines} == {
            "T0120": 5500,
            "T0220": 2840,
            "T1110": 9800,
        }
        assert schedule.contract_id == world.a.contract_ids[0]
        batch_id = schedule.import_batch_id

    assert watched.errors == [], "\n".join(watched.errors)  # among them any CSP violation
    assert watched.failed == [("POST", f"/fees/imports/{batch_id}/confirm", 422)]
