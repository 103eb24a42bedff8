"""The practices pages: the owner adds and edits practices and their settings; others read."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import AuditEvent, Practice
from tests.conftest import database, html_text, login


def practice_data(**changes) -> dict:
    data = {
        "name": "West Office",
        "address": "12 West Road\nSpringfield",
        "phone": "(555) 010-2000",
        "time_zone": "America/Denver",
        "tin": "12-3456789",
        "npi": "1234567893",
        "re_review_months": "18",
        "follow_up_days": "30, 60, 90",
        "min_raise": "7.5",
        "analysis_period_months": "12",
        "leverage_share": "15",
        "leverage_scarce_count": "50",
        "leverage_max_providers": "3",
        "leverage_radius_miles": "10",
    }
    data.update(changes)
    return data


def field_error(response, field_id: str) -> str | None:
    """The message shown next to a form field, or None."""
    match = re.search(
        rf'<small class="field-error" id="{re.escape(field_id)}-error">(.*?)</small>',
        response.get_data(as_text=True),
        re.S,
    )
    return html.unescape(match.group(1).strip()) if match else None


def text(response) -> str:
    return html.unescape(html_text(response))


def practices_of(app, org_id) -> dict[str, Practice]:
    with database(app) as s:
        rows = s.scalars(sa.select(Practice).where(Practice.organization_id == org_id)).all()
        for row in rows:
            s.expunge(row)
    return {p.name: p for p in rows}


def practice_settings(p: Practice) -> tuple:
    return (p.name, p.time_zone, p.follow_up_days, p.min_raise_bp, p.re_review_months)


def test_owner_creates_a_practice_with_its_settings(client, world):
    app = client.application
    login(client, world.a.owner)
    assert "New practice" in text(client.get("/practices/new"))
    response = client.post("/practices/new", data=practice_data())
    assert response.status_code == 303
    assert response.headers["Location"] == "/practices"

    west = practices_of(app, world.a.org_id)["West Office"]
    assert (
        west.address,
        west.phone,
        west.time_zone,
        west.tin,
        west.npi,
        west.re_review_months,
        west.follow_up_days,
        west.min_raise_bp,
        west.analysis_period_months,
        west.leverage_share_bp,
        west.leverage_scarce_count,
        west.leverage_max_providers,
        west.leverage_radius_miles,
        west.archived_at,
    ) == (
        "12 West Road\nSpringfield",
        "(555) 010-2000",
        "America/Denver",
        "12-3456789",
        "1234567893",
        18,
        "30,60,90",
        750,
        12,
        1500,
        50,
        3,
        10,
        None,
    )
    listing = text(client.get("/practices"))
    assert "West Office America/Denver 12-3456789 1234567893 18 months 30, 60, 90" in listing
    assert "West Office is saved." in listing
    with database(app) as s:
        event = s.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.object_type == "Practice", AuditEvent.object_id == west.id
            )
        )
        assert (event.action, event.user_id) == ("created", world.a.user_ids[world.a.owner])
        assert event.after["min_raise_bp"] == 750


def test_owner_edits_a_practice_and_the_form_shows_the_saved_settings(client, world):
    app = client.application
    login(client, world.a.owner)
    client.post("/practices/new", data=practice_data())
    west = practices_of(app, world.a.org_id)["West Office"]

    form = client.get(f"/practices/{west.id}").get_data(as_text=True)
    assert re.search(r'name="min_raise"[^>]*value="7.5"', form)
    assert re.search(r'name="follow_up_days"[^>]*value="30, 60, 90"', form)
    assert re.search(r'name="leverage_share"[^>]*value="15"', form)

    response = client.post(
        f"/practices/{west.id}",
        data=practice_data(follow_up_days="14,45", min_raise="10", time_zone="America/Chicago"),
    )
    assert response.status_code == 303
    edited = practices_of(app, world.a.org_id)["West Office"]
    assert edited.id == west.id
    assert practice_settings(edited) == ("West Office", "America/Chicago", "14,45", 1000, 18)
    with database(app) as s:
        event = s.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.object_type == "Practice",
                AuditEvent.object_id == west.id,
                AuditEvent.action == "updated",
            )
        )
        assert event.before == {
            "follow_up_days": "30,60,90",
            "min_raise_bp": 750,
            "time_zone": "America/Denver",
        }
        assert event.after == {
            "follow_up_days": "14,45",
            "min_raise_bp": 1000,
            "time_zone": "America/Chicago",
        }


ENTER_PERCENT = "Enter a percentage between 0 and 100."


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        ({"name": "north office"}, "name", "Another practice already has this name."),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Choose a time zone such as America/Chicago."),
        (
            {"follow_up_days": "90, 30"},
            "follow_up_days",
            "Enter increasing days between 1 and 365, e.g. 30, 60, 90.",
        ),
        (
            {"follow_up_days": "abc"},
            "follow_up_days",
            "Enter whole days separated by commas, e.g. 30, 60, 90.",
        ),
        ({"min_raise": "-1"}, "min_raise", ENTER_PERCENT),
        ({"min_raise": "101"}, "min_raise", ENTER_PERCENT),
        ({"min_raise": "lots"}, "min_raise", "Enter a percentage such as 5 or 7.5."),
        ({"re_review_months": "0"}, "re_review_months", "Between 1 and 60 months."),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "duplicate-name-other-case",
        "bad-time-zone",
        "follow-ups-decreasing",
        "follow-ups-not-numbers",
        "min-raise-negative",
        "min-raise-over-100",
        "min-raise-not-a-number",
        "re-review-zero",
    ],
)
def test_invalid_practice_answers_422_with_the_message_and_saves_nothing(
    client, world, changes, field, message
):
    app = client.application
    login(client, world.a.owner)
    before = {n: practice_settings(p) for n, p in practices_of(app, world.a.org_id).items()}
    response = client.post("/practices/new", data=practice_data(**changes))
    assert response.status_code == 422
    assert field_error(response, field) == message
    after = {n: practice_settings(p) for n, p in practices_of(app, world.a.org_id).items()}
    assert after == before
    assert sorted(after) == ["North Office", "South Office"]


def test_renaming_a_practice_to_another_ones_name_is_refused(client, world):
    app = client.application
    login(client, world.a.owner)
    north_id, _south_id = world.a.practice_ids
    response = client.post(f"/practices/{north_id}", data=practice_data(name="SOUTH OFFICE"))
    assert response.status_code == 422
    assert field_error(response, "name") == "Another practice already has this name."
    assert sorted(practices_of(app, world.a.org_id)) == ["North Office", "South Office"]


def test_the_same_name_is_allowed_in_another_organisation(client, world):
    login(client, world.a.owner)
    response = client.post("/practices/new", data=practice_data(name="East Office"))
    assert response.status_code == 303
    assert "East Office" in practices_of(client.application, world.a.org_id)


def test_keeping_its_own_name_is_not_a_duplicate(client, world):
    login(client, world.a.owner)
    north_id = world.a.practice_ids[0]
    response = client.post(
        f"/practices/{north_id}", data=practice_data(name="North Office", min_raise="6")
    )
    assert response.status_code == 303
    assert practices_of(client.application, world.a.org_id)["North Office"].min_raise_bp == 600


@pytest.mark.parametrize("who", ["manager", "viewer"])
def test_managers_and_viewers_read_the_practices_list_but_cannot_change_it(client, world, who):
    app = client.application
    login(client, getattr(world.a, who))
    response = client.post("/practices/new", data=practice_data())
    assert response.status_code == 403
    assert client.get("/practices/new").status_code == 403
    north_id = world.a.practice_ids[0]
    assert client.post(f"/practices/{north_id}", data=practice_data()).status_code == 403
    assert sorted(practices_of(app, world.a.org_id)) == ["North Office", "South Office"]

    listing = client.get("/practices")
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert "North Office" in text(listing)
    assert "South Office" in text(listing)
    assert "Add a practice" not in text(listing)
    assert f'href="/practices/{north_id}"' not in body


def test_owner_sees_the_add_and_edit_links(client, world):
    login(client, world.a.owner)
    listing = client.get("/practices")
    assert "Add a practice" in text(listing)
    assert f'href="/practices/{world.a.practice_ids[0]}"' in listing.get_data(as_text=True)


@pytest.mark.parametrize("who", ["manager1", "viewer1"])
def test_user_limited_to_one_practice_sees_only_that_practice(client, world, who):
    login(client, getattr(world.a, who))
    listing = text(client.get("/practices"))
    assert "North Office" in listing
    assert "South Office" not in listing
    assert "East Office" not in listing


def test_another_organisations_practice_answers_404(client, world):
    app = client.application
    login(client, world.a.owner)
    east_id = world.b.practice_ids[0]
    assert client.get(f"/practices/{east_id}").status_code == 404
    response = client.post(f"/practices/{east_id}", data=practice_data(name="Taken Over"))
    assert response.status_code == 404
    assert sorted(practices_of(app, world.b.org_id)) == ["East Office"]
    assert "East Office" not in text(client.get("/practices"))
