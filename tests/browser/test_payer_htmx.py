"""A manager adds a payer through the htmx form in a real browser, under the real CSP."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_manager_adds_a_payer_with_inline_validation(live_server, watched, world):
    page = watched.page

    page.goto(f"{live_server}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watched.shot("sign-in")
    page.get_by_label("Email").fill(world.a.manager)
    page.get_by_label("Password").fill(world.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    watched.shot("dashboard")

    page.get_by_role("navigation").get_by_role("link", name="Payers & networks").click()
    expect(page).to_have_url(re.compile(r"/payers$"))
    expect(page.get_by_role("heading", name="Payers", exact=True)).to_be_visible()
    form = page.locator("#payer-form")
    expect(form).to_be_visible()
    watched.shot("payers")

    # An empty name: htmx swaps the form in place with the message; the page stays loaded.
    page.evaluate("window.__samePage = true")
    form.get_by_role("button", name="Add payer").click()
    expect(form.get_by_text("Enter the payer's name.")).to_be_visible()
    assert page.evaluate("window.__samePage === true"), "the page reloaded"
    expect(form.get_by_label("Payer name")).to_have_attribute("aria-invalid", "true")
    watched.shot("empty-name")

    form.get_by_label("Payer name").fill("Delta Dental of Testing")
    form.get_by_label("Payer id (electronic)").fill("DDT01")
    form.get_by_role("button", name="Add payer").click()
    rows = page.locator("#payer-list tbody tr")
    expect(rows.filter(has_text="Delta Dental of Testing")).to_have_count(1)
    expect(rows.filter(has_text="DDT01")).to_have_count(1)
    expect(page.get_by_text("Payer Delta Dental of Testing is added.")).to_be_visible()
    expect(page.locator("#payer-form").get_by_label("Payer name")).to_have_value("")
    watched.shot("added")

    assert watched.errors == [], "\n".join(watched.errors)  # among them any CSP violation
    assert watched.failed == [("POST", "/payers", 422)]  # only the empty name
