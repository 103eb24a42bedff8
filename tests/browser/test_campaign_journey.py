"""A billing manager runs a negotiation from the contract's analysis to a recorded partial
outcome: start, edit an ask, add a code, move the card through the board (a move with a
missing sent date is refused), record the response and close; the dashboard shows the gain."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.test_whatif import build
from tests.conftest import database
from tests.factories import PASSWORD


def _today(app) -> str:
    """The practice's today (the dates a campaign keeps are the practice's dates)."""
    from campaigns.accounts.models import Practice

    with database(app) as s:
        zone = s.query(Practice).one().time_zone
    return datetime.now(ZoneInfo(zone)).date().isoformat()


def _move(page, live_server, label: str) -> None:
    page.goto(f"{live_server}/campaigns/")
    page.get_by_role("button", name=label).click()


def test_manager_runs_a_campaign_from_the_analysis_to_a_partial_outcome(app, live_server, watched):
    acme = build(app)
    today = _today(app)
    page = watched.page
    page.on("dialog", lambda dialog: dialog.accept())  # the close form asks for confirmation
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("billing@maple.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/analysis/contracts/{acme}")
    page.get_by_role("button", name="Start a campaign").click()
    page.get_by_role("button", name="Start the campaign").click()
    expect(page.get_by_text("Campaign #1 is open for Acme PPO at Maple Dental.")).to_be_visible()
    total = page.locator("#asked-total")
    # The analysis suggests T1110 (the 80% mark) at min(U 120, max(70 x 1.05, M 100)) = 100:
    # V 36 x (100 - 70) = 1,080.00.
    expect(total).to_have_text("$1,080.00")
    watched.shot("started")

    page.evaluate("window.__samePage = true")
    ask = page.get_by_label("Asked amount for T1110")
    ask.fill("95")
    ask.press("Tab")
    expect(total).to_have_text("$900.00")  # 36 x (95 - 70)
    page.get_by_label("Add target codes").select_option("T0120")
    page.get_by_role("button", name="Add", exact=True).click()
    # T0120 asked at its suggestion min(80, max(49 x 1.05, 60)) = 60: 24 x 11 = 264.00
    expect(total).to_have_text("$1,164.00")
    assert page.evaluate("window.__samePage === true"), "the page reloaded"
    watched.shot("asks")

    page.get_by_label("Schedule received on").fill(today)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("The campaign's details are saved.")).to_be_visible()

    _move(page, live_server, "Move #1 to Benchmark")
    expect(page.get_by_text("Campaign #1 is now in Benchmark.")).to_be_visible()
    _move(page, live_server, "Move #1 to Build case")
    _move(page, live_server, "Move #1 to Submit")
    card = page.locator("#card-1")
    expect(card).to_contain_text("$1,164.00")
    watched.shot("board-submit")
    _move(page, live_server, "Move #1 to Record response")
    expect(
        page.get_by_text("Submit is not complete: Enter the date the request was sent.")
    ).to_be_visible()
    watched.shot("move-refused")

    page.get_by_role("link", name="Acme PPO").click()
    page.get_by_label("Request sent on").fill(today)
    page.get_by_label("Sent by").select_option("email")
    page.get_by_role("button", name="Save", exact=True).click()
    _move(page, live_server, "Move #1 to Record response")
    expect(page.get_by_text("Campaign #1 is now in Record response.")).to_be_visible()

    page.get_by_role("link", name="Acme PPO").click()
    page.get_by_role("button", name="T1110 granted as asked").click()  # T1110 granted 95.00
    page.get_by_label("New amount for T0120").fill("55")  # below the ask of 60: partial
    page.get_by_role("button", name="Save the response").click()
    # Realised: T1110 36 x (95 - 70) = 900.00; T0120 24 x (55 - 49) = 144.00; 1,044.00
    expect(page.locator("#realised-total")).to_have_text("$1,044.00")
    expect(page.locator("#derived-outcome")).to_have_text("partial")
    watched.shot("response")

    page.get_by_label("New amounts paid from").fill("2027-01-01")
    page.get_by_role("button", name="Close with this outcome").click()
    expect(page.get_by_text("Campaign #1 is closed: partial.")).to_be_visible()
    expect(page.get_by_text("$1,044.00").first).to_be_visible()
    expect(page.get_by_role("link", name="a new version of the schedule")).to_be_visible()
    watched.shot("closed")

    page.get_by_role("link", name="Dashboard").click()
    # Won / yr: the realised gain 1,044.00; asked / yr 1,164.00; one partial: win rate 100%.
    expect(page.locator("#won-total")).to_have_text("$1,044.00")
    expect(page.locator("#asked-total")).to_have_text("$1,164.00")
    expect(page.locator("#win-rate")).to_have_text("100.0%")
    expect(page.locator("#by-network")).to_contain_text("Acme PPO")
    watched.shot("dashboard")

    assert watched.errors == [], "\n".join(watched.errors)
    # the one refused request the journey makes on purpose: none (the refusal is a redirect)
    assert watched.failed == []
