"""Cross-cutting protections: CSRF on every state-changing route, security headers, cookies,
htmx error targeting, the SQLite connection settings, the migrations, a money CHECK."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate
from sqlalchemy.exc import IntegrityError

from campaigns.accounts.models import User
from campaigns.config import ROOT
from campaigns.extensions import db
from campaigns.fees.imports import ImportOptions, confirm_schedule
from campaigns.fees.models import FeeLine, FeeSchedule, ImportBatch, ImportStatus
from campaigns.letters.context import LetterKind
from campaigns.letters.services import builtin_template
from campaigns.modelbase import utcnow
from campaigns.negotiations.models import (
    Campaign,
    LeverageFact,
    LeverageKind,
    Outcome,
    Status,
    Step,
)
from tests.conftest import html_text, login
from tests.factories import OFFICE_CSV, PASSWORD
from tests.web.test_access_matrix import cases, snapshot

# ---- CSRF ------------------------------------------------------------------------------------

Form = Callable[[SimpleNamespace], dict]
PRACTICE_FIELDS = {
    "time_zone": "America/Chicago",
    "re_review_months": "12",
    "follow_up_days": "30, 60",
    "min_raise": "5",
    "analysis_period_months": "12",
    "leverage_share": "15",
    "leverage_scarce_count": "50",
    "leverage_max_providers": "3",
    "leverage_radius_miles": "10",
}

# The preview form's choices for the world's office upload ("Code,Fee"): they differ from the
# options the upload was stored with, and a confirm with them writes a schedule version.
IMPORT_CHOICES = {
    "col_code": "0",
    "col_amount": "1",
    "prefix": "T",
    "duplicates": "first",
    "label": "Office fees 2026",
    "effective_from": "2026-03-01",
}

# Rule -> a form that, sent WITH its token by organisation A's owner, changes the database; so
# the same request without a token that changes nothing proves the token is what stopped it.
FORMS: dict[str, Form] = {
    "/profile": lambda t: {
        "current_password": PASSWORD,
        "new_password": "a-different-long-passphrase",
        "confirm_password": "a-different-long-passphrase",
    },
    "/users": lambda t: {
        "name": "Eve New",
        "email": "eve@example.com",
        "role": "viewer",
        "all_practices": "y",
    },
    "/users/<int:user_id>": lambda t: {
        "name": "Vera Renamed",
        "role": "viewer",
        "active": "y",
        "all_practices": "y",
    },
    "/practices/new": lambda t: {"name": "West Office", **PRACTICE_FIELDS},
    "/practices/<int:practice_id>": lambda t: {"name": "North Renamed", **PRACTICE_FIELDS},
    "/payers": lambda t: {"name": "Sneaky Payer"},
    "/payers/<int:payer_id>": lambda t: {"name": "Renamed Payer"},
    "/<any(payer, network, contract):kind>/<int:obj_id>/<any(archive, restore):action>": (
        lambda t: {}
    ),
    "/networks": lambda t: {"name": "Sneaky Network", "kind": "leased", "owner_payer_id": "0"},
    "/networks/<int:network_id>": lambda t: {
        "name": "Renamed PPO",
        "kind": "direct",
        "owner_payer_id": str(t.payer_id),
    },
    "/networks/<int:network_id>/contacts": lambda t: {"name": "Sneaky Contact"},
    "/contacts/<int:contact_id>/delete": lambda t: {},
    "/contracts/new": lambda t: {
        "practice_id": str(t.practice_ids[0]),
        "network_id": str(t.leased_id),
        "notice_days": "60",
    },
    "/contracts/<int:contract_id>": lambda t: {
        "practice_id": str(t.practice_ids[0]),
        "network_id": str(t.network_id),
        "notice_days": "30",
    },
    "/practices/<int:practice_id>/routes": lambda t: {f"payer-{t.payer_id}": str(t.leased_id)},
    # a multipart upload: the form is built afresh for each request, which reads the file
    "/fees/imports/new": lambda t: {
        "practice_id": str(t.practice_ids[0]),
        "kind": "office",
        "contract_id": "",
        "file": (io.BytesIO(OFFICE_CSV), "fees.csv"),
    },
    "/fees/imports/<int:batch_id>/preview": lambda t: dict(IMPORT_CHOICES),  # stores them
    "/fees/imports/<int:batch_id>/confirm": lambda t: dict(IMPORT_CHOICES),
    "/fees/imports/<int:batch_id>/cancel": lambda t: {},
    "/fees/imports/<int:batch_id>/undo": lambda t: {},
    # the campaign of A's first practice, put in the state each action needs (CAMPAIGN_AT)
    "/campaigns/new": lambda t: {"contract": str(t.contract_ids[0])},
    "/campaigns/<int:campaign_id>/move": lambda t: {"to": "benchmark", "version": t.version},
    "/campaigns/<int:campaign_id>/details": lambda t: {"notes": "Call again", "version": t.version},
    "/campaigns/<int:campaign_id>/targets": lambda t: {"codes": "T0120", "on": "1"},
    "/campaigns/<int:campaign_id>/refresh": lambda t: {"version": t.version},
    "/campaigns/<int:campaign_id>/codes/<code>/ask": lambda t: {"asked": "95.00", "was": "9000"},
    "/campaigns/<int:campaign_id>/response": lambda t: {
        "granted-T1110": "85.00",
        "version": t.version,
    },
    "/campaigns/<int:campaign_id>/close": lambda t: {
        "effective_on": "2027-01-01",
        "version": t.version,
    },
    "/campaigns/<int:campaign_id>/withdraw": lambda t: {"reason": "merged", "version": t.version},
    "/campaigns/<int:campaign_id>/rounds": lambda t: {
        "direction": "they_offered",
        "offered_on": "2026-11-01",
        "amount-T1110": "84.00",
    },
    "/campaigns/<int:campaign_id>/activities": lambda t: {
        "kind": "call",
        "happened_on": "2026-11-02",
        "summary": "Called provider relations",
    },
    "/campaigns/<int:campaign_id>/leverage": lambda t: {
        "kind": "other",
        "statement": "Evening hours",
    },
    "/campaigns/<int:campaign_id>/leverage/<int:fact_id>/delete": lambda t: {},
    "/letters/templates": lambda t: {
        "kind": "fee_increase",
        "file": (io.BytesIO(builtin_template(LetterKind.FEE_INCREASE)), "ours.docx"),
    },
    "/letters/defaults": lambda t: {
        "kind": "schedule_request",
        "template": str(t.letter_template_id),
    },
    "/letters/campaigns/<int:campaign_id>": lambda t: {"kind": "schedule_request"},
    "/letters/batch": lambda t: {"kind": "follow_up", "campaigns": str(t.campaign_ids[0])},
    "/notifications/read": lambda t: {},
    "/reminders/<int:reminder_id>/snooze": lambda t: {"for": "1w"},
    "/reminders/<int:reminder_id>/dismiss": lambda t: {},
    "/preferences/reminders": lambda t: {
        "email": ["follow_up", "due"],
        "digest_weekday": "2",
        "practices": "all",
    },
    "/preferences/calendar": lambda t: {"action": "new"},
    "/practices/<int:practice_id>/reminders": lambda t: {
        "schedule_days": "21",
        "review_lead_days": "45",
        "contract_lead_days": "60",
        "kinds": ["schedule", "follow_up"],
    },
}


def _import_waiting(t: SimpleNamespace) -> None:
    """Organisation A's first office upload waits for its confirm, as the world built it
    (an earlier case may have confirmed it, writing a version, or cancelled it)."""
    batch = db.session.get(ImportBatch, t.batch_ids[0])
    for written in db.session.scalars(
        sa.select(FeeSchedule).where(FeeSchedule.import_batch_id == batch.id)
    ):
        db.session.delete(written)
    batch.status = ImportStatus.UPLOADED
    batch.data = OFFICE_CSV
    batch.options = ImportOptions().to_json()
    batch.summary = {}
    batch.confirmed_at = None


def _import_confirmed(t: SimpleNamespace) -> None:
    """That upload confirmed by the import service (one schedule version), for undo."""
    _import_waiting(t)
    db.session.flush()
    owner = db.session.scalar(sa.select(User).where(User.email == t.owner))
    options = ImportOptions(
        mapping={"code": 0, "amount": 1}, prefix="T", effective_from=date(2026, 3, 1)
    )
    batch = db.session.get(ImportBatch, t.batch_ids[0])
    assert confirm_schedule(owner, batch, options, None, utcnow())


def _campaign_at(
    step: Step, granted: dict[str, int] | None = None, **fields
) -> Callable[[SimpleNamespace], None]:
    """A's first campaign open in `step` with `fields` set and the `granted` cents recorded
    (an earlier case may have moved or closed it); its version is kept in t.version."""

    def setup(t: SimpleNamespace) -> None:
        campaign = db.session.get(Campaign, t.campaign_ids[0])
        for started in db.session.scalars(  # one the start case opened on the same contract
            sa.select(Campaign).where(
                Campaign.contract_id == campaign.contract_id, Campaign.id != campaign.id
            )
        ):
            db.session.delete(started)
        db.session.flush()
        values = {
            "status": Status.OPEN,
            "outcome": None,
            "closed_on": None,
            "frozen_at": None,
            "step": step,
            **fields,
        }
        for name, value in values.items():
            setattr(campaign, name, value)
        for row in campaign.codes:
            row.granted_cents = (granted or {}).get(row.code)
            row.is_target = row.code == "T1110"
        if not campaign.facts:
            campaign.facts.append(
                LeverageFact(organization_id=t.org_id, kind=LeverageKind.OTHER, statement="x")
            )
        db.session.flush()
        t.fact_ids[0] = campaign.facts[0].id
        t.version = str(campaign.version)

    return setup


def _contract_free(t: SimpleNamespace) -> None:
    """No open campaign on A's first contract, so a new one can start."""
    _campaign_at(Step.REQUEST)(t)
    campaign = db.session.get(Campaign, t.campaign_ids[0])
    campaign.status, campaign.outcome = Status.CLOSED, Outcome.WITHDRAWN


SUBMITTED = {"submitted_on": date(2026, 10, 10), "sent_how": "email", "frozen_at": utcnow()}

# Rule -> what must be true before its form can change anything (run and committed before the
# requests): the import routes act on the one upload, and each needs it in its own state.
SETUP: dict[str, Callable[[SimpleNamespace], None]] = {
    "/fees/imports/<int:batch_id>/preview": _import_waiting,
    "/fees/imports/<int:batch_id>/confirm": _import_waiting,
    "/fees/imports/<int:batch_id>/cancel": _import_waiting,
    "/fees/imports/<int:batch_id>/undo": _import_confirmed,
    "/campaigns/new": _contract_free,
    "/campaigns/<int:campaign_id>/move": _campaign_at(
        Step.REQUEST, schedule_received_on=date(2026, 10, 5)
    ),
    "/campaigns/<int:campaign_id>/details": _campaign_at(Step.REQUEST),
    "/campaigns/<int:campaign_id>/targets": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/refresh": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/codes/<code>/ask": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/response": _campaign_at(Step.RESPONSE, **SUBMITTED),
    "/campaigns/<int:campaign_id>/close": _campaign_at(
        Step.RESPONSE, granted={"T1110": 8500}, **SUBMITTED
    ),
    "/campaigns/<int:campaign_id>/withdraw": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/rounds": _campaign_at(Step.RESPONSE, **SUBMITTED),
    "/campaigns/<int:campaign_id>/activities": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/leverage": _campaign_at(Step.BUILD),
    "/campaigns/<int:campaign_id>/leverage/<int:fact_id>/delete": _campaign_at(Step.BUILD),
    "/letters/campaigns/<int:campaign_id>": _campaign_at(Step.SUBMIT),
}
# POST routes that save nothing in the database: signing in and out (the session), the
# what-if computation (a POST for its many fields; viewers may use it) and the Open Dental
# page, whose first step only reads (its import needs MariaDB: tests/web/test_opendental_page.py
# checks that it refuses a request without the token).
SAVES_NOTHING = {
    "/login",
    "/logout",
    "/analysis/contracts/<int:contract_id>/what-if",
    "/fees/opendental",
}


MESSAGE = r"(?:field-error|flash-error)[^>]*>([^<]+)"  # the messages a refused form shows


def _post_rules(app) -> set[str]:
    return {r.rule for r in app.url_map.iter_rules() if "POST" in r.methods}


def test_every_post_route_has_a_form_for_the_csrf_check(app):
    assert _post_rules(app) == FORMS.keys() | SAVES_NOTHING
    assert SETUP.keys() <= FORMS.keys()


def test_state_changing_routes_refuse_a_request_without_its_token(app, client, world):
    """Without a token (plain or htmx) or with a wrong one: 400 'Form expired', nothing saved;
    the same form with its token does save (so it is the token that made the difference)."""
    login(client, world.a.owner)
    failures = []
    post_cases = [
        c for c in cases(app, world.a) if "POST" in c.methods and not c.hidden_from_limited
    ]
    assert {c.rule.rule for c in post_cases} == _post_rules(app)
    for case in post_cases:
        rule = case.rule.rule
        form = FORMS.get(rule, lambda t: {})  # called for each request: a file is read once
        if rule in SETUP:
            with app.app_context():
                SETUP[rule](world.a)
                db.session.commit()
        with app.app_context():
            before = snapshot()
        attempts = {
            "no token": client.post(case.url, data=form(world.a), csrf=False),
            "no token, htmx": client.post(case.url, data=form(world.a), csrf=False, htmx=True),
            "wrong token": client.post(
                case.url, data=form(world.a), csrf=False, headers={"X-CSRFToken": "forged"}
            ),
        }
        for what, response in attempts.items():
            if response.status_code != 400 or "Form expired" not in html_text(response):
                failures.append(f"{case.url} {what}: {response.status_code}")
        if attempts["no token, htmx"].headers.get("HX-Retarget") != "#messages":
            failures.append(f"{case.url} htmx: no HX-Retarget #messages")
        if "<html" in attempts["no token, htmx"].get_data(as_text=True):
            failures.append(f"{case.url} htmx: a whole page instead of the message")
        with app.app_context():
            if snapshot() != before:
                failures.append(f"{case.url} without a token changed the database")
        if rule in SAVES_NOTHING:
            continue
        control = client.post(case.url, data=form(world.a))
        with app.app_context():
            if control.status_code >= 400 or snapshot() == before:
                failures.append(
                    f"{case.url} with its token saved nothing: {control.status_code} "
                    + str(re.findall(MESSAGE, control.get_data(as_text=True)))
                )
    assert not failures, "\n".join(failures)


def test_sign_out_without_a_token_keeps_the_session(client, world):
    login(client, world.a.manager)
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 303


# ---- headers and cookies --------------------------------------------------------------------


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_security_headers(response, what: str) -> None:
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"], what
    assert csp["style-src"] == ["'self'"], what
    assert csp["default-src"] == ["'self'"], what
    assert csp["frame-ancestors"] == ["'none'"], what
    assert csp["object-src"] == ["'none'"], what
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy, what
    assert "unsafe-eval" not in policy, what
    assert response.headers["X-Content-Type-Options"] == "nosniff", what
    assert response.headers["Referrer-Policy"] in {"same-origin", "strict-origin", "no-referrer"}
    assert response.headers["X-Frame-Options"] == "DENY", what


def test_security_headers_on_pages_errors_redirects_and_static_files(client, world):
    redirect = client.get("/")
    assert redirect.status_code == 303
    _assert_security_headers(redirect, "redirect")
    page = client.get("/login")
    assert page.status_code == 200
    _assert_security_headers(page, "page")
    login(client, world.a.viewer)
    _assert_security_headers(client.get("/payers"), "signed-in page")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    _assert_security_headers(missing, "404 page")
    forbidden = client.get("/users")
    assert forbidden.status_code == 403
    _assert_security_headers(forbidden, "403 page")
    with client.get("/static/js/app.js") as static:
        assert static.status_code == 200
        _assert_security_headers(static, "static file")
        static.close()


def test_html_is_never_cached(client, world):
    login(client, world.a.viewer)
    assert client.get("/payers").headers["Cache-Control"] == "no-store"


def test_session_and_remember_cookies_are_httponly_and_samesite_lax(client, world):
    response = client.post(
        "/login", data={"email": world.a.owner, "password": PASSWORD, "remember": "y"}
    )
    assert response.status_code == 303
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.getlist("Set-Cookie")}
    assert {"session", "remember_token"} <= cookies.keys()
    for name in ("session", "remember_token"):
        assert "httponly" in cookies[name], name
        assert "samesite=lax" in cookies[name], name


def test_pages_vary_on_hx_request(app, client, world):
    """Every page from render_page (full or fragment) tells caches it depends on HX-Request."""
    login(client, world.a.owner)
    pages = [c for c in cases(app, world.a) if "GET" in c.methods]
    failures = []
    for case in pages:
        for htmx in (False, True):
            response = client.get(case.url, htmx=htmx)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            if "HX-Request" not in response.vary:
                failures.append(f"{case.url} htmx={htmx}: Vary {response.headers.get('Vary')}")
    assert not failures, "\n".join(failures)
    assert "HX-Request" in client.get("/payers").vary


def test_htmx_fragment_is_only_the_partial(client, world):
    login(client, world.a.manager)
    full = client.get("/payers")
    fragment = client.get("/payers", htmx=True)
    assert "<html" in full.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert 'id="payer-form"' in body
    restore = client.get("/payers", htmx=True, headers={"HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_htmx_request_for_a_missing_page_goes_to_the_message_area(client, world):
    login(client, world.a.manager)
    response = client.get("/payers/999999", htmx=True)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#messages"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "Not found" in body


def test_healthz_answers_ok_without_signing_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


# ---- the database ---------------------------------------------------------------------------


@pytest.mark.sqlite
def test_every_sqlite_connection_has_wal_foreign_keys_and_busy_timeout(app):
    with app.app_context():
        db.engine.dispose()  # the two connections below are new ones
        with db.engine.connect() as first, db.engine.connect() as second:
            assert first.connection.dbapi_connection is not second.connection.dbapi_connection
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_migrations_have_one_head_and_the_database_is_at_it(app):
    with app.app_context():
        migrate_config = app.extensions["migrate"]
        assert isinstance(migrate_config.migrate, Migrate)
        config = migrate_config.migrate.get_config()
        assert config.get_main_option("script_location") == str(ROOT / "migrations")
        heads = ScriptDirectory.from_config(config).get_heads()
        assert len(heads) == 1, heads
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == heads[0]


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=app.extensions["migrate"].configure_args)
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_a_negative_fee_is_refused_by_the_database(app, world):
    schedule_id = world.a.schedule_ids[0]
    with app.app_context():
        insert = sa.insert(FeeLine)
        db.session.execute(insert.values(schedule_id=schedule_id, code="T0000", amount_cents=0))
        with pytest.raises(IntegrityError, match="amount_not_negative"):
            db.session.execute(
                insert.values(schedule_id=schedule_id, code="T9999", amount_cents=-1)
            )
        db.session.rollback()
