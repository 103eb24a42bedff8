"""The owner-only Open Dental page against a real MariaDB: read, preview, import; the password
never comes back in a page; other roles are refused; errors are readable and write nothing.
The Open Dental database and the practice are those of tests/web/test_opendental.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import Role
from campaigns.fees import opendental_views
from campaigns.fees.models import FeeSchedule, ImportBatch
from tests.conftest import database, html_text, login
from tests.factories import UserFactory
from tests.web.test_opendental import (  # noqa: F401 - `od` is a fixture
    EFFECTIVE,
    HOST,
    MONTHS,
    PORT,
    TODAY,
    assert_no_patient_values,
    assert_written,
    build_practice,
    fingerprint,
    od,
)

URL = "/fees/opendental"


@pytest.fixture
def page(app, monkeypatch):
    """The practice of test_opendental, its owner signed in, and today pinned."""
    monkeypatch.setattr(opendental_views, "_today", lambda: TODAY)
    with database(app):
        ids = build_practice()
    return ids


def form(ids, od, **extra) -> dict[str, str]:  # noqa: F811 - od is the fixture's value
    return {
        "action": "read",
        "practice_id": str(ids.practice_id),
        "url": od.url,
        "password": od.password,
        "months": str(MONTHS),
        "clinic": "3",
        "provider": "1",
        **extra,
    }


def import_form(ids, od) -> dict[str, str]:  # noqa: F811
    """What the preview form posts for the automatic matches."""
    return form(
        ids,
        od,
        action="import",
        effective_from=EFFECTIVE.isoformat(),
        office="y",
        **{
            "sched-5": str(ids.contract),
            "sched-6": "skip",
            "carrier-10": str(ids.bluebird),
            "carrier-11": str(ids.cardinal),
            "carrier-12": str(ids.heron),
            "carrier-13": "skip",
        },
    )


def batches(app) -> int:
    with database(app) as s:
        return s.scalar(sa.select(sa.func.count(ImportBatch.id)))


@pytest.mark.mariadb
def test_owner_reads_and_sees_schedules_carriers_and_choices(app, client, od, page):  # noqa: F811
    login(client, "owner@lakeside.test")
    empty = client.get(URL)
    assert empty.status_code == 200
    assert 'type="password"' in empty.get_data(as_text=True)

    response = client.post(URL, data=form(page, od))
    body = response.get_data(as_text=True)
    assert response.status_code == 200, html_text(response)[:2000]
    text = html_text(response)
    assert od.password not in body
    assert 'FeeSched 5 "Bluebird PPO 2026"' in text
    assert 'FeeSched 6 "Heron PPO"' in text
    assert "Bluebird Dental, Cardinal Benefits" in text
    assert "Owl Indemnity" in text
    assert "Sparrow" not in text
    assert "Code mix from 2026-08-01 to 2026-10-31" in text
    assert "no contract of this practice prices its carriers" in text
    # the automatic matches are preselected
    assert f'<option value="{page.contract}" selected>Bluebird PPO</option>' in body
    assert f'<option value="{page.bluebird}" selected>' in body
    assert 'name="office" value="y" checked' in body
    assert "Left out (no procedure-code shape): ~GRP~" in text
    assert batches(app) == 0
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
def test_owner_imports_and_schedules_and_volumes_are_written(app, client, od, page):  # noqa: F811
    login(client, "owner@lakeside.test")
    response = client.post(URL, data=import_form(page, od))
    assert response.status_code == 303, html_text(response)[:2000]
    assert response.headers["Location"].endswith("/fees/imports")
    shown = client.get("/fees/imports")
    assert (
        "Imported 1 contract schedule version(s), the office schedule, 6 code-volume row(s) "
        "(7 procedures; 2 older row(s) replaced), 3 code description(s) added, 1 updated."
    ) in html_text(shown)
    assert od.password not in shown.get_data(as_text=True)
    with database(app) as s:
        assert_written(s, page)
        assert_no_patient_values(s)
        for table in ("import_batches", "audit_events"):  # nor the password, anywhere
            for row in s.execute(sa.text(f"SELECT * FROM {table}")):  # noqa: S608
                assert od.password not in str(tuple(row))
    with client.session_transaction() as session:
        assert od.password not in repr(dict(session))
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
def test_import_with_choices_changed_by_hand(app, client, od, page):  # noqa: F811
    login(client, "owner@lakeside.test")
    data = import_form(page, od)
    data.update({"sched-5": "skip", "carrier-13": str(page.heron), "carrier-11": "skip"})
    del data["office"]
    response = client.post(URL, data=data)
    assert response.status_code == 303, html_text(response)[:2000]
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(FeeSchedule.id))) == 0
        assert s.scalar(sa.select(sa.func.count(ImportBatch.id))) == 1  # the code mix


@pytest.mark.mariadb
@pytest.mark.parametrize("role", [Role.MANAGER, Role.VIEWER])
def test_managers_and_viewers_are_refused(app, client, od, page, role):  # noqa: F811
    with database(app):
        UserFactory(organization_id=page.org_id, email="other@lakeside.test", role=role)
    login(client, "other@lakeside.test")
    assert client.get(URL).status_code == 403
    assert client.post(URL, data=form(page, od)).status_code == 403
    assert client.post(URL, data=import_form(page, od)).status_code == 403
    assert batches(app) == 0


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "wrong-password"}, "wrong user name or password"),
        (
            {"url": f"mysql+pymysql://nobody@{HOST}:1/od"},
            "Cannot reach the Open Dental database server at 127.0.0.1:1",
        ),
        ({"url": f"mysql+pymysql://x:secret@{HOST}:{PORT}/od"}, "Leave the password out"),
        ({"months": "37"}, "Choose between 1 and 36 months."),
        ({"provider": "9"}, "Open Dental has no provider 9"),
    ],
)
def test_errors_are_readable_and_write_nothing(app, client, od, page, change, message):  # noqa: F811
    login(client, "owner@lakeside.test")
    for data in (form(page, od, **change), {**import_form(page, od), **change}):
        response = client.post(URL, data=data)
        assert response.status_code == 422
        assert message in html_text(response)
        assert "Traceback" not in response.get_data(as_text=True)
        assert od.password not in response.get_data(as_text=True)
    assert batches(app) == 0


@pytest.mark.mariadb
def test_a_refused_choice_is_shown_and_nothing_is_written(app, client, od, page):  # noqa: F811
    login(client, "owner@lakeside.test")
    data = import_form(page, od)
    data["sched-5"] = str(page.other_contract)  # another practice's contract
    response = client.post(URL, data=data)
    assert response.status_code == 422
    assert "is not a contract of Lakeside Office" in html_text(response)
    assert od.password not in response.get_data(as_text=True)
    assert batches(app) == 0


@pytest.mark.mariadb
def test_without_the_csrf_token_nothing_is_read_or_written(app, client, od, page):  # noqa: F811
    login(client, "owner@lakeside.test")
    response = client.post(URL, data=import_form(page, od), csrf=False)
    assert response.status_code == 400
    assert "Form expired" in html_text(response)
    assert batches(app) == 0
