"""The calendar: a per-user secret feed (token kept as a hash, revocable, no session needed)
that parses with icalendar and holds the right dates, only from the user's organisation and
practices; and one campaign's .ics download."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from icalendar import Calendar

from campaigns.reminders.models import ReminderPreference
from campaigns.reminders.services import token_hash
from tests.conftest import database, login
from tests.web.reminders_helpers import add_campaign, build_office


def _events(body: bytes) -> list[tuple[str, date]]:
    calendar = Calendar.from_ical(body)
    return sorted((str(e["summary"]), e.decoded("dtstart")) for e in calendar.walk("VEVENT"))


def _arrange(app):
    with database(app):
        office = build_office(renewal=date(2027, 1, 1))  # notice 90 days before: Oct 3, 2026
        cid = add_campaign(
            office, submitted_on=date(2026, 1, 5), sent_how="email",
            response_due_on=date(2026, 2, 15), step="response",
        )  # fmt: skip
    return office, cid


def _new_feed(client) -> str:
    page = client.post("/preferences/calendar", data={"action": "new"}).get_data(as_text=True)
    match = re.search(r'value="(http://localhost/calendar/([A-Za-z0-9_-]+)\.ics)"', page)
    assert match, page[-2000:]
    return match.group(2)


def test_the_feed_holds_follow_up_reply_by_renewal_and_notice_dates(app, client):
    office, cid = _arrange(app)
    login(client, "manny@reminder.test")
    token = _new_feed(client)
    with app.app_context():
        from campaigns.extensions import db

        stored = db.session.scalar(sa.select(ReminderPreference.feed_token_hash))
    assert stored == token_hash(token)  # only the hash is kept
    assert token not in stored
    client.post("/logout")
    response = client.get(f"/calendar/{token}.ics")  # no session: the token is the key
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    name = "Delta PPO (Main Street Dental)"
    # sent Jan 5: follow-ups at 30/60/90 days; reply by Feb 15; renewal Jan 1; notice Oct 3
    assert _events(response.data) == [
        (f"Contract renewal: {name}", date(2027, 1, 1)),
        (f"Follow-up 1: no response yet: {name}", date(2026, 2, 4)),
        (f"Follow-up 2: no response yet: {name}", date(2026, 3, 6)),
        (f"Follow-up 3: no response yet: {name}", date(2026, 4, 5)),
        (f"Last day to give notice: {name}", date(2026, 10, 3)),
        (f"Reply-by date: {name}", date(2026, 2, 15)),
    ]
    calendar = Calendar.from_ical(response.data)
    assert str(calendar["version"]) == "2.0"
    event = next(iter(calendar.walk("VEVENT")))
    assert str(event["url"]).startswith("http://localhost/")


def test_a_new_address_replaces_the_old_one_and_turning_it_off_ends_it(app, client):
    _arrange(app)
    login(client, "manny@reminder.test")
    first = _new_feed(client)
    second = _new_feed(client)
    assert client.get(f"/calendar/{first}.ics").status_code == 404
    assert client.get(f"/calendar/{second}.ics").status_code == 200
    assert client.post("/preferences/calendar", data={"action": "revoke"}).status_code == 303
    assert client.get(f"/calendar/{second}.ics").status_code == 404


def test_the_feed_shows_only_what_its_user_may_see(app, client, world):
    _arrange(app)
    login(client, world.a.manager1)  # limited to Alpha's first practice
    token = _new_feed(client)
    summaries = [s for s, _ in _events(client.get(f"/calendar/{token}.ics").data)]
    assert summaries  # Alpha's first practice's contract dates
    assert all("North Office" in s for s in summaries), summaries


def test_one_campaigns_dates_download_as_ics(app, client):
    _, cid = _arrange(app)
    login(client, "olga@reminder.test")
    response = client.get(f"/campaigns/{cid}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'inline; filename="campaign-{cid}.ics"'
    assert sorted(d for _, d in _events(response.data)) == [
        date(2026, 2, 4),  # follow-ups: Jan 5 + 30, 60, 90 days
        date(2026, 2, 15),  # reply-by
        date(2026, 3, 6),
        date(2026, 4, 5),
        date(2026, 10, 3),  # notice deadline: Jan 1, 2027 - 90 days
        date(2027, 1, 1),  # renewal
    ]
