"""The route x role x practice matrix: every URL rule, every kind of user, the answer it gives.

`URLS` maps each endpoint to the URLs that exercise it; a route without an entry fails
`test_every_route_is_in_the_matrix`, so a new route cannot escape the role, practice and
tenancy checks below. The expected answers come from the `roles()` decorator's own
`allowed_roles` / `write_roles`, so the matrix follows the code instead of a copy of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from campaigns.accounts.access import EDIT, OWNER, READ, SAFE_METHODS
from campaigns.accounts.models import Role, User
from campaigns.extensions import db
from tests.conftest import login

Builder = Callable[[SimpleNamespace, int], list[str]]


def _plain(endpoint: str) -> Builder:
    return lambda t, i: [url_for(endpoint)]


def _archive(t: SimpleNamespace, i: int) -> list[str]:
    objects = [("payer", t.payer_id), ("network", t.network_id), ("contract", t.contract_ids[i])]
    return [
        url_for("payers.archive", kind=kind, obj_id=obj_id, action=action)
        for kind, obj_id in objects
        for action in ("archive", "restore")
    ]


def _analysis(endpoint: str, **values) -> Builder:
    """An analysis page for all visible practices and for practice i alone."""
    return lambda t, i: [
        url_for(endpoint, **values),
        url_for(endpoint, practice=t.practice_ids[i], **values),
    ]


def _exports(endpoint: str) -> Builder:
    return lambda t, i: [
        url_for(endpoint, kind="csv"),
        url_for(endpoint, kind="xlsx", practice=t.practice_ids[i]),
    ]


# Endpoint -> the URLs for tenant `t`, using the objects of its practice number `i`. A URL that
# changes with `i` belongs to that practice; a URL that changes with the tenant carries an id.
URLS: dict[str, Builder] = {
    "main.dashboard": _plain("main.dashboard"),
    "main.settings": _plain("main.settings"),
    "main.healthz": _plain("main.healthz"),
    "accounts.login": _plain("accounts.login"),
    "accounts.logout": _plain("accounts.logout"),
    "accounts.profile": _plain("accounts.profile"),
    "accounts.users": _plain("accounts.users"),
    "accounts.user_edit": lambda t, i: [
        url_for("accounts.user_edit", user_id=t.user_ids[t.viewer])
    ],
    "accounts.practices": _plain("accounts.practices"),
    "accounts.practice_edit": lambda t, i: [
        url_for("accounts.practice_edit"),
        url_for("accounts.practice_edit", practice_id=t.practice_ids[i]),
    ],
    "accounts.audit_log": _plain("accounts.audit_log"),
    "fees.schedules": _plain("fees.schedules"),
    "fees.schedule": lambda t, i: [url_for("fees.schedule", schedule_id=t.schedule_ids[i])],
    "fees.schedule_diff": lambda t, i: [
        url_for("fees.schedule_diff", schedule_id=t.schedule_ids[i]),
        url_for("fees.schedule_diff", schedule_id=t.schedule_ids[i], against=t.schedule_ids[i]),
    ],
    "fees.schedule_export": lambda t, i: [
        url_for("fees.schedule_export", schedule_id=t.schedule_ids[i], fmt=fmt)
        for fmt in ("xlsx", "csv", "opendental", "dentrix")
    ],
    "fees.imports": _plain("fees.imports"),
    "fees.import_new": _plain("fees.import_new"),
    "fees.import_preview": lambda t, i: [
        url_for("fees.import_preview", batch_id=t.batch_ids[i]),
        url_for("fees.import_preview", batch_id=t.volume_batch_ids[i]),
    ],
    "fees.import_progress": lambda t, i: [
        url_for("fees.import_progress", batch_id=t.volume_batch_ids[i])
    ],
    "fees.import_update": lambda t, i: [url_for("fees.import_update", batch_id=t.batch_ids[i])],
    "fees.import_confirm": lambda t, i: [url_for("fees.import_confirm", batch_id=t.batch_ids[i])],
    "fees.import_cancel": lambda t, i: [url_for("fees.import_cancel", batch_id=t.batch_ids[i])],
    "fees.import_undo": lambda t, i: [url_for("fees.import_undo", batch_id=t.batch_ids[i])],
    "fees.opendental": _plain("fees.opendental"),
    "campaigns.board": lambda t, i: [
        url_for("campaigns.board"),
        url_for("campaigns.board", practice=t.practice_ids[i]),
    ],
    "campaigns.start": lambda t, i: [
        url_for("campaigns.start"),
        url_for("campaigns.start", contract=t.contract_ids[i]),
    ],
    "campaigns.attachment": lambda t, i: [
        url_for("campaigns.attachment", attachment_id=t.attachment_ids[i])
    ],
    "campaigns.ask": lambda t, i: [
        url_for("campaigns.ask", campaign_id=t.campaign_ids[i], code="T1110")
    ],
    "campaigns.delete_fact": lambda t, i: [
        url_for("campaigns.delete_fact", campaign_id=t.campaign_ids[i], fact_id=t.fact_ids[i])
    ],
    "campaigns.detail": lambda t, i: [url_for("campaigns.detail", campaign_id=t.campaign_ids[i])],
    "campaigns.move": lambda t, i: [url_for("campaigns.move", campaign_id=t.campaign_ids[i])],
    "campaigns.details": lambda t, i: [url_for("campaigns.details", campaign_id=t.campaign_ids[i])],
    "campaigns.targets": lambda t, i: [url_for("campaigns.targets", campaign_id=t.campaign_ids[i])],
    "campaigns.refresh": lambda t, i: [url_for("campaigns.refresh", campaign_id=t.campaign_ids[i])],
    "campaigns.response": lambda t, i: [
        url_for("campaigns.response", campaign_id=t.campaign_ids[i])
    ],
    "campaigns.close": lambda t, i: [url_for("campaigns.close", campaign_id=t.campaign_ids[i])],
    "campaigns.withdraw": lambda t, i: [
        url_for("campaigns.withdraw", campaign_id=t.campaign_ids[i])
    ],
    "campaigns.add_round": lambda t, i: [
        url_for("campaigns.add_round", campaign_id=t.campaign_ids[i])
    ],
    "campaigns.add_activity": lambda t, i: [
        url_for("campaigns.add_activity", campaign_id=t.campaign_ids[i])
    ],
    "campaigns.add_fact": lambda t, i: [
        url_for("campaigns.add_fact", campaign_id=t.campaign_ids[i])
    ],
    "letters.index": _plain("letters.index"),
    "letters.help_page": _plain("letters.help_page"),
    "letters.builtin": lambda t, i: [
        url_for("letters.builtin", kind=kind)
        for kind in ("schedule_request", "fee_increase", "follow_up")
    ],
    "letters.upload": _plain("letters.upload"),
    "letters.template_download": lambda t, i: [
        url_for("letters.template_download", template_id=t.letter_template_id)
    ],
    "letters.choose_default": _plain("letters.choose_default"),
    "letters.generate": lambda t, i: [url_for("letters.generate", campaign_id=t.campaign_ids[i])],
    "letters.download": lambda t, i: [url_for("letters.download", letter_id=t.letter_ids[i])],
    "letters.download_pdf": lambda t, i: [
        url_for("letters.download_pdf", letter_id=t.letter_ids[i])
    ],
    "letters.batch": _plain("letters.batch"),
    "letters.batch_status": lambda t, i: [url_for("letters.batch_status", job_id=t.letter_job_id)],
    "letters.batch_download": lambda t, i: [
        url_for("letters.batch_download", job_id=t.letter_job_id)
    ],
    "reminders.inbox": _plain("reminders.inbox"),
    "reminders.mark_read": _plain("reminders.mark_read"),
    "reminders.snooze": lambda t, i: [url_for("reminders.snooze", reminder_id=t.reminder_ids[i])],
    "reminders.dismiss": lambda t, i: [url_for("reminders.dismiss", reminder_id=t.reminder_ids[i])],
    "reminders.preferences": _plain("reminders.preferences"),
    "reminders.feed_token": _plain("reminders.feed_token"),
    # no session: a token nobody holds answers 404 to everyone (test_reminder_pages has more)
    "reminders.feed": lambda t, i: [url_for("reminders.feed", token="not-a-token")],
    "reminders.campaign_ics": lambda t, i: [
        url_for("reminders.campaign_ics", campaign_id=t.campaign_ids[i])
    ],
    "reminders.recipients": _plain("reminders.recipients"),
    "reminders.outbox": _plain("reminders.outbox"),
    "reminders.practice_settings": lambda t, i: [
        url_for("reminders.practice_settings", practice_id=t.practice_ids[i])
    ],
    "payers.payers": _plain("payers.payers"),
    "payers.payer_edit": lambda t, i: [url_for("payers.payer_edit", payer_id=t.payer_id)],
    "payers.archive": _archive,
    "payers.networks": _plain("payers.networks"),
    "payers.network_edit": lambda t, i: [url_for("payers.network_edit", network_id=t.network_id)],
    "payers.contact_add": lambda t, i: [url_for("payers.contact_add", network_id=t.network_id)],
    "payers.contact_delete": lambda t, i: [
        url_for("payers.contact_delete", contact_id=t.contact_id)
    ],
    "payers.contracts": lambda t, i: [
        url_for("payers.contracts"),
        url_for("payers.contracts", practice=t.practice_ids[i]),
    ],
    "payers.contract_new": lambda t, i: [url_for("payers.contract_new")],
    "payers.contract_edit": lambda t, i: [
        url_for("payers.contract_edit", contract_id=t.contract_ids[i]),
    ],
    "payers.routes": lambda t, i: [url_for("payers.routes", practice_id=t.practice_ids[i])],
    "analysis.scorecard": _analysis("analysis.scorecard"),
    "analysis.matrix": _analysis("analysis.matrix"),
    "analysis.targets": _analysis("analysis.targets"),
    "analysis.scorecard_export": _exports("analysis.scorecard_export"),
    "analysis.matrix_export": _exports("analysis.matrix_export"),
    "analysis.contract_detail": lambda t, i: [
        url_for("analysis.contract_detail", contract_id=t.contract_ids[i])
    ],
    "analysis.contract_export": lambda t, i: [
        url_for("analysis.contract_export", contract_id=t.contract_ids[i], kind=kind)
        for kind in ("csv", "xlsx")
    ],
    "analysis.contract_what_if": lambda t, i: [
        url_for("analysis.contract_what_if", contract_id=t.contract_ids[i])
    ],
}

# Views without the roles() decorator: (endpoint, method) -> (anonymous, signed in) status,
# for an empty form sent with a valid CSRF token.
PUBLIC: dict[tuple[str, str], tuple[int, int]] = {
    ("accounts.login", "GET"): (200, 303),
    ("accounts.login", "HEAD"): (200, 303),
    ("accounts.login", "POST"): (422, 303),
    ("accounts.logout", "POST"): (303, 303),
    ("main.healthz", "GET"): (200, 200),
    ("main.healthz", "HEAD"): (200, 200),
    ("reminders.feed", "GET"): (404, 404),
    ("reminders.feed", "HEAD"): (404, 404),
}

READ_ = frozenset(READ)
EDIT_ = frozenset(EDIT)
OWNER_ = frozenset(OWNER)

# The policy, pinned: endpoint -> (roles that may read, roles that may write). The matrix
# below takes its expectations from the decorator; this table makes a change of policy a
# reviewed change of the test as well.
POLICY: dict[str, tuple[frozenset[Role], frozenset[Role]]] = {
    "main.dashboard": (READ_, READ_),
    "main.settings": (READ_, READ_),
    "accounts.profile": (READ_, READ_),  # everyone changes their own password
    "accounts.users": (OWNER_, OWNER_),
    "accounts.user_edit": (OWNER_, OWNER_),
    "accounts.practices": (READ_, READ_),
    "accounts.practice_edit": (OWNER_, OWNER_),
    "accounts.audit_log": (OWNER_, OWNER_),
    "fees.schedules": (READ_, READ_),
    "fees.schedule": (READ_, READ_),
    "fees.schedule_diff": (READ_, READ_),
    "fees.schedule_export": (READ_, READ_),
    "fees.imports": (READ_, READ_),  # the history; viewers see it without the buttons
    "fees.import_new": (EDIT_, EDIT_),  # even the upload form: viewers cannot import
    "fees.import_preview": (READ_, READ_),
    "fees.import_progress": (READ_, READ_),  # polled while a code-mix file is counted
    "fees.import_update": (EDIT_, EDIT_),  # re-reads the file, stores the user's choices
    "fees.import_confirm": (EDIT_, EDIT_),
    "fees.import_cancel": (EDIT_, EDIT_),
    "fees.import_undo": (EDIT_, EDIT_),
    "fees.opendental": (OWNER_, OWNER_),  # a database address and password: owners only
    "campaigns.board": (READ_, READ_),
    "campaigns.start": (EDIT_, EDIT_),
    "campaigns.attachment": (READ_, READ_),
    "campaigns.ask": (EDIT_, EDIT_),
    "campaigns.delete_fact": (EDIT_, EDIT_),
    "campaigns.detail": (READ_, READ_),
    "campaigns.move": (EDIT_, EDIT_),
    "campaigns.details": (EDIT_, EDIT_),
    "campaigns.targets": (EDIT_, EDIT_),
    "campaigns.refresh": (EDIT_, EDIT_),
    "campaigns.response": (EDIT_, EDIT_),
    "campaigns.close": (EDIT_, EDIT_),
    "campaigns.withdraw": (EDIT_, EDIT_),
    "campaigns.add_round": (EDIT_, EDIT_),
    "campaigns.add_activity": (EDIT_, EDIT_),
    "campaigns.add_fact": (EDIT_, EDIT_),
    "letters.index": (READ_, READ_),  # viewers see the templates, without the forms
    "letters.help_page": (READ_, READ_),
    "letters.builtin": (READ_, READ_),
    "letters.upload": (EDIT_, EDIT_),
    "letters.template_download": (READ_, READ_),
    "letters.choose_default": (EDIT_, EDIT_),
    "letters.generate": (EDIT_, EDIT_),
    "letters.download": (READ_, READ_),  # viewers may download, not generate or upload
    "letters.download_pdf": (READ_, READ_),
    "letters.batch": (EDIT_, EDIT_),
    "letters.batch_status": (READ_, READ_),
    "letters.batch_download": (READ_, READ_),
    "reminders.inbox": (READ_, READ_),  # each user's own notifications
    "reminders.mark_read": (READ_, READ_),
    "reminders.snooze": (READ_, READ_),
    "reminders.dismiss": (READ_, READ_),
    "reminders.preferences": (READ_, READ_),
    "reminders.feed_token": (READ_, READ_),
    "reminders.campaign_ics": (READ_, READ_),
    "reminders.recipients": (OWNER_, OWNER_),  # who receives what: owners see everyone's
    "reminders.outbox": (OWNER_, OWNER_),
    "reminders.practice_settings": (OWNER_, OWNER_),
    "payers.payers": (READ_, EDIT_),
    "payers.payer_edit": (READ_, EDIT_),
    "payers.archive": (EDIT_, EDIT_),
    "payers.networks": (READ_, EDIT_),
    "payers.network_edit": (READ_, EDIT_),
    "payers.contact_add": (EDIT_, EDIT_),
    "payers.contact_delete": (EDIT_, EDIT_),
    "payers.contracts": (READ_, READ_),
    "payers.contract_new": (EDIT_, EDIT_),
    "payers.contract_edit": (READ_, EDIT_),
    "payers.routes": (READ_, EDIT_),
    "analysis.scorecard": (READ_, READ_),
    "analysis.matrix": (READ_, READ_),
    "analysis.targets": (READ_, READ_),
    "analysis.scorecard_export": (READ_, READ_),
    "analysis.matrix_export": (READ_, READ_),
    "analysis.contract_detail": (READ_, READ_),
    "analysis.contract_export": (READ_, READ_),
    "analysis.contract_what_if": (READ_, READ_),  # a computation, saves nothing
}

# Rules whose roles differ from their view's decorator (none: every check is in roles()).
RULE_ROLES: dict[str, frozenset[Role]] = {}

USERS = {
    "owner": Role.OWNER,
    "manager": Role.MANAGER,
    "viewer": Role.VIEWER,
    "manager1": Role.MANAGER,  # limited to practice_ids[0]
    "viewer1": Role.VIEWER,  # limited to practice_ids[0]
    "anonymous": None,
}
LIMITED = {"manager1", "viewer1"}
METHODS = ("GET", "HEAD", "POST")


@dataclass(frozen=True)
class Case:
    endpoint: str
    rule: Rule
    url: str
    hidden_from_limited: bool  # an object of practice_ids[1]

    @property
    def methods(self) -> list[str]:
        return [m for m in METHODS if m in self.rule.methods]


def _rule_of(app: Flask, url: str) -> Rule:
    adapter = app.url_map.bind("localhost")
    path = urlsplit(url).path
    for method in METHODS:
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except HTTPException:  # not found, or not for this method: try the next one
            continue
        return rule
    raise AssertionError(f"{url} matches no rule")


def cases(app: Flask, tenant: SimpleNamespace) -> list[Case]:
    """Every URL of the table for one tenant, each with its rule and its practice."""
    result = []
    with app.test_request_context():
        for endpoint, build in URLS.items():
            first = build(tenant, 0)
            second = build(tenant, 1) if len(tenant.practice_ids) > 1 else first
            for url in dict.fromkeys(first + second):
                rule = _rule_of(app, url)
                assert rule.endpoint == endpoint, f"{url} is {rule.endpoint}, not {endpoint}"
                result.append(Case(endpoint, rule, url, url not in first))
    return result


def foreign_cases(app: Flask, world: SimpleNamespace) -> list[Case]:
    """Organisation B's URLs that differ from A's: the ones that carry an id."""
    own = {c.url for c in cases(app, world.a)}
    return [c for c in cases(app, world.b) if c.url not in own]


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table (inside an app context), to prove a request changed nothing."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
            for table in db.metadata.sorted_tables
        }


def expected(app: Flask, case: Case, method: str, who: str) -> int | str:
    """The status `who` must get: an int, 'login' (a redirect there) or 'written'."""
    view = app.view_functions[case.endpoint]
    role = USERS[who]
    if not hasattr(view, "allowed_roles"):
        anonymous, signed_in = PUBLIC[(case.endpoint, method)]
        return anonymous if role is None else signed_in
    if role is None:
        return "login"
    permitted = view.allowed_roles if method in SAFE_METHODS else view.write_roles
    permitted = RULE_ROLES.get(case.rule.rule, permitted)
    if role not in permitted:
        return 403
    if case.hidden_from_limited and who in LIMITED:
        return 404
    return 200 if method in SAFE_METHODS else "written"


def answer_matches(response, want: int | str, login_path: str) -> bool:
    status = response.status_code
    if want == "login":
        location = urlsplit(response.headers.get("Location", "")).path
        return status in (302, 303) and location == login_path
    if want == "written":
        # An empty form: a validation message, a redirect or a change; never 403/404/5xx.
        return status < 500 and status not in (403, 404)
    return status == want


def _signed_in(client: FlaskClient, world: SimpleNamespace, who: str) -> None:
    if USERS[who] is not None:
        login(client, getattr(world.a, who))


def _request(client: FlaskClient, method: str, url: str):
    try:
        return client.open(url, method=method), None
    except Exception as exc:  # PROPAGATE_TEST_ERRORS: a 500 surfaces as the exception
        return None, f"raised {type(exc).__name__}: {exc}"


# ---- the table covers the app --------------------------------------------------------------


def test_every_route_is_in_the_matrix(app, world):
    """A new route without an entry in URLS, or a URL that misses a rule, fails here."""
    rules = {r.rule: r for r in app.url_map.iter_rules() if r.endpoint != "static"}
    endpoints = {r.endpoint for r in rules.values()}
    assert sorted(endpoints - URLS.keys()) == [], "endpoints missing from URLS"
    assert sorted(URLS.keys() - endpoints) == [], "URLS entries for no endpoint"
    covered = {c.rule.rule for c in cases(app, world.a)}
    assert sorted(rules.keys() - covered) == [], "rules no URL of the table reaches"
    with_ids = {r for r, rule in rules.items() if any(a.endswith("_id") for a in rule.arguments)}
    foreign = {c.rule.rule for c in foreign_cases(app, world)}
    assert sorted(with_ids - foreign) == [], "rules with an id not tried with another org's id"


def test_views_without_the_roles_decorator_are_the_public_ones(app):
    unguarded = {
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint != "static" and not hasattr(view, "allowed_roles")
    }
    assert unguarded == {endpoint for endpoint, _ in PUBLIC}


def test_each_views_roles_are_the_pinned_policy(app):
    guarded = {
        endpoint: (view.allowed_roles, view.write_roles)
        for endpoint, view in app.view_functions.items()
        if hasattr(view, "allowed_roles")
    }
    assert guarded == POLICY


def test_limited_users_are_limited_to_the_first_practice(app, world):
    """The matrix's 404s rest on this arrangement of the world."""
    with app.app_context():
        for who in LIMITED:
            user = db.session.get(User, world.a.user_ids[getattr(world.a, who)])
            assert not user.sees_all_practices
            assert [p.id for p in user.practices] == world.a.practice_ids[:1]


# ---- role x practice -----------------------------------------------------------------------


@pytest.mark.parametrize("who", list(USERS))
def test_reading_answers_by_role_and_practice(app, client, world, who):
    """GET and HEAD on every page: login for anonymous, 403 for a role not allowed, 404 for a
    practice the user may not see, else 200."""
    _signed_in(client, world, who)
    with app.test_request_context():
        login_path = url_for("accounts.login")
    failures = []
    for case in cases(app, world.a):
        for method in case.methods:
            if method == "POST":
                continue
            want = expected(app, case, method, who)
            response, error = _request(client, method, case.url)
            if error or not answer_matches(response, want, login_path):
                got = error or response.status_code
                failures.append(f"{method} {case.url} ({case.endpoint}): {got}, want {want}")
    assert not failures, f"as {who}:\n" + "\n".join(failures)


@pytest.mark.parametrize("who", list(USERS))
def test_writing_answers_by_role_and_practice(app, client, world, who):
    """POST (valid CSRF token, empty form) on every state-changing URL: login for anonymous,
    403 for a role not in write_roles, 404 for a practice the user may not see."""
    _signed_in(client, world, who)
    with app.test_request_context():
        login_path = url_for("accounts.login")
    failures = []
    for case in cases(app, world.a):
        if "POST" not in case.methods:
            continue
        want = expected(app, case, "POST", who)
        response, error = _request(client, "POST", case.url)
        if error or not answer_matches(response, want, login_path):
            got = error or response.status_code
            failures.append(f"POST {case.url} ({case.endpoint}): {got}, want {want}")
        if case.endpoint == "accounts.logout":
            _signed_in(client, world, who)
    assert not failures, f"as {who}:\n" + "\n".join(failures)


# ---- tenancy -------------------------------------------------------------------------------


def test_another_organisations_ids_answer_404_and_change_nothing(app, client, world):
    login(client, world.a.owner)
    foreign = foreign_cases(app, world)
    with app.app_context():
        before = snapshot()
    failures = []
    for case in foreign:
        for method in case.methods:
            if method == "HEAD":
                continue
            response, error = _request(client, method, case.url)
            if error or response.status_code != 404:
                got = error or response.status_code
                failures.append(f"{method} {case.url} ({case.endpoint}): {got}, want 404")
    with app.app_context():
        after = snapshot()
    assert not failures, "\n".join(failures)
    assert after == before
