"""Signing in and out, login throttling, passwords, sessions, and the owner's users page."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from campaigns.accounts.models import AuditEvent, LoginAttempt, Role, User
from campaigns.extensions import db
from tests.conftest import BrowserLikeClient, database, html_text, login, make_app

GENERIC = "Email or password is incorrect."
NEW_PASSWORD = "a-brand-new-secret"


# ---- helpers -------------------------------------------------------------------------------


def new_client(app) -> BrowserLikeClient:
    """Another browser (its own cookies) on the same app."""
    app.test_client_class = BrowserLikeClient
    return app.test_client()


def sign_in(client, email, password, address="127.0.0.1"):
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def fail(client, email, times, address="127.0.0.1"):
    for _ in range(times):
        assert sign_in(client, email, "wrong-password-here", address).status_code == 401


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


def user_row(app, email) -> User:
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == email))
        s.expunge(user)
        return user


def set_user(app, email, **values) -> None:
    with database(app) as s:
        s.execute(sa.update(User).where(User.email == email).values(**values))


def failures(app, email) -> int:
    with database(app) as s:
        return s.scalar(
            sa.select(sa.func.count(LoginAttempt.id)).where(
                LoginAttempt.email == email, LoginAttempt.success.is_(False)
            )
        )


def edit_user_data(name, role, *, active=True, practices=None):
    data = {"name": name, "role": role.value}
    if active:
        data["active"] = "y"
    if practices is None:
        data["all_practices"] = "y"
    else:
        data["practices"] = [str(p) for p in practices]
    return data


# ---- signing in and out --------------------------------------------------------------------


def test_sign_in_opens_the_dashboard_and_sign_out_ends_the_session(client, world):
    response = sign_in(client, world.a.manager, world.password)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Alpha Dental" in text(client.get("/"))

    out = client.post("/logout")
    assert out.status_code == 303
    assert out.headers["Location"] == "/login"
    after = client.get("/")
    assert after.status_code == 303
    assert after.headers["Location"].startswith("/login")
    assert user_row(client.application, world.a.manager).last_login_at is not None


def test_sign_out_without_the_form_token_keeps_the_user_signed_in(client, world):
    login(client, world.a.manager)
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").status_code == 200


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client, world):
    asked = client.get("/payers")
    assert asked.status_code == 303
    response = client.post(
        asked.headers["Location"], data={"email": world.a.manager, "password": world.password}
    )
    assert response.headers["Location"].startswith("/payers")

    other = new_client(client.application)
    response = other.post(
        "/login?next=//evil.example/x",
        data={"email": world.a.manager, "password": world.password},
    )
    assert response.headers["Location"] == "/"


def test_email_is_matched_without_regard_to_case_or_spaces(client, world):
    response = sign_in(client, f"  {world.a.manager.upper()} ", world.password)
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [("manager@alpha.test", "not-the-password"), ("nobody@alpha.test", "correct-horse-battery")],
    ids=["wrong-password", "unknown-email"],
)
def test_wrong_password_and_unknown_email_get_the_same_generic_answer(
    client, world, email, password
):
    response = sign_in(client, email, password)
    assert response.status_code == 401
    assert GENERIC in text(response)
    assert client.get("/").status_code == 303


def test_wrong_password_and_unknown_email_read_exactly_alike(client, world):
    wrong = sign_in(client, world.a.manager, "not-the-password")
    unknown = sign_in(client, "nobody@alpha.test", "not-the-password")
    # Nothing the user reads tells whether the account exists.
    assert (wrong.status_code, text(wrong)) == (unknown.status_code, text(unknown))


def test_deactivated_user_cannot_sign_in_even_with_the_right_password(client, world):
    set_user(client.application, world.a.manager, active=False)
    response = sign_in(client, world.a.manager, world.password)
    assert response.status_code == 401
    assert GENERIC in text(response)
    assert client.get("/").status_code == 303


def test_empty_sign_in_form_answers_422_with_the_messages(client, world):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert field_error(response, "email") == "This field is required."
    assert field_error(response, "password") == "This field is required."
    assert failures(client.application, "") == 0


# ---- throttling ----------------------------------------------------------------------------


def test_five_failures_block_the_account_even_with_the_right_password(client, world):
    fail(client, world.a.manager, 5)
    response = sign_in(client, world.a.manager, world.password)
    assert response.status_code == 429
    assert "Too many failed sign-ins. Wait 15 minutes, then try again." in text(response)
    assert client.get("/").status_code == 303
    # The block is on the account, from any address; other accounts are not affected.
    assert sign_in(client, world.a.manager, world.password, "10.1.1.1").status_code == 429
    assert sign_in(client, world.a.viewer, world.password).status_code == 303


def test_four_failures_do_not_block_and_a_success_clears_the_count(client, world):
    app = client.application
    fail(client, world.a.manager, 4)
    assert failures(app, world.a.manager) == 4
    login(client, world.a.manager)
    assert failures(app, world.a.manager) == 0
    client.post("/logout")
    # Four more: had the first four been kept, this would be nine and blocked.
    fail(client, world.a.manager, 4)
    assert sign_in(client, world.a.manager, world.password).status_code == 303


def test_account_throttle_holds_across_two_worker_processes(client, world, database_url):
    second_app = make_app(database_url)
    try:
        second = new_client(second_app)
        fail(client, world.a.manager, 3)
        fail(second, world.a.manager, 2)
        # Neither worker saw five failures itself; the rows in the database did.
        for browser in (second, client):
            response = sign_in(browser, world.a.manager, world.password)
            assert response.status_code == 429
            assert "Wait 15 minutes" in text(response)
    finally:
        with second_app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_twenty_failures_from_one_address_block_every_account_from_there(client, world):
    address = "203.0.113.7"
    for i in range(19):
        assert sign_in(client, f"guess{i}@alpha.test", "nope-nope-nope", address).status_code == 401
    # 19 is below the limit: another account still signs in from that address.
    assert sign_in(client, world.a.viewer, world.password, address).status_code == 303
    client.post("/logout")
    assert sign_in(client, "guess19@alpha.test", "nope-nope-nope", address).status_code == 401

    response = sign_in(client, world.a.owner, world.password, address)
    assert response.status_code == 429
    assert "Wait 15 minutes" in text(response)
    # From another address the same account signs in.
    assert sign_in(client, world.a.owner, world.password, "198.51.100.2").status_code == 303


def test_the_block_lifts_once_the_window_has_passed(client, world):
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        fail(client, world.a.manager, 5)
        traveller.shift(timedelta(minutes=15))
        assert sign_in(client, world.a.manager, world.password).status_code == 429
        traveller.shift(timedelta(seconds=1))
        assert sign_in(client, world.a.manager, world.password).status_code == 303


# ---- passwords -----------------------------------------------------------------------------


def test_user_with_a_temporary_password_is_sent_to_the_profile_until_it_is_changed(client, world):
    app = client.application
    set_user(app, world.a.manager, must_change_password=True)
    login(client, world.a.manager)
    for page in ("/", "/payers", "/practices", "/contracts"):
        response = client.get(page)
        assert response.status_code == 303, page
        assert response.headers["Location"] == "/profile"
    # A form post elsewhere is turned away too.
    assert client.post("/payers", data={"name": "Sneaky"}).headers["Location"] == "/profile"
    profile = client.get("/profile")
    assert profile.status_code == 200
    assert "You signed in with a temporary password" in text(profile)
    assert 'name="current_password"' not in profile.get_data(as_text=True)

    response = client.post(
        "/profile", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/payers").status_code == 200
    assert user_row(app, world.a.manager).must_change_password is False
    with database(app) as s:
        actions = s.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.object_type == "User",
                AuditEvent.object_id == world.a.user_ids[world.a.manager],
            )
        ).all()
    assert actions == ["password_changed"]


@pytest.mark.parametrize(
    ("new", "confirm", "field", "message"),
    [
        ("short-pw", "short-pw", "new_password", "Use at least 10 characters."),
        (
            "manager@alpha.test",
            "manager@alpha.test",
            "new_password",
            "The password cannot be your email address.",
        ),
        (
            "correct-horse-battery",
            "correct-horse-battery",
            "new_password",
            "Choose a password different from the current one.",
        ),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "confirm_password", "The two new passwords differ."),
    ],
    ids=["too-short", "equals-email", "same-as-current", "confirm-differs"],
)
def test_new_password_rules_answer_422_and_keep_the_temporary_password(
    client, world, new, confirm, field, message
):
    app = client.application
    set_user(app, world.a.manager, must_change_password=True)
    login(client, world.a.manager)
    before = user_row(app, world.a.manager)
    response = client.post("/profile", data={"new_password": new, "confirm_password": confirm})
    assert response.status_code == 422
    assert field_error(response, field) == message
    after = user_row(app, world.a.manager)
    assert after.must_change_password is True
    assert after.password_hash == before.password_hash
    assert client.get("/").headers["Location"] == "/profile"


def test_after_a_password_change_the_old_password_no_longer_works(client, world):
    login(client, world.a.manager)
    response = client.post(
        "/profile",
        data={
            "current_password": world.password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    client.post("/logout")
    old = sign_in(client, world.a.manager, world.password)
    assert old.status_code == 401
    assert GENERIC in text(old)
    assert sign_in(client, world.a.manager, NEW_PASSWORD).status_code == 303


def test_changing_the_password_needs_the_current_one(client, world):
    login(client, world.a.manager)
    response = client.post(
        "/profile",
        data={
            "current_password": "not-the-current-one",
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 422
    assert field_error(response, "current_password") == "The current password is not correct."
    client.post("/logout")
    assert sign_in(client, world.a.manager, world.password).status_code == 303


def test_changing_the_password_ends_the_users_other_sessions(client, world):
    other = new_client(client.application)
    login(other, world.a.manager)
    login(client, world.a.manager)
    assert other.get("/").status_code == 200

    response = client.post(
        "/profile",
        data={
            "current_password": world.password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200  # the session that changed it stays
    ended = other.get("/payers")
    assert ended.status_code == 303
    assert ended.headers["Location"].startswith("/login")


# ---- deactivation --------------------------------------------------------------------------


def test_deactivated_user_session_stops_working(client, world):
    app = client.application
    manager = new_client(app)
    login(manager, world.a.manager)
    assert manager.get("/payers").status_code == 200

    login(client, world.a.owner)
    manager_id = world.a.user_ids[world.a.manager]
    response = client.post(
        f"/users/{manager_id}", data=edit_user_data("Manny Manager", Role.MANAGER, active=False)
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/users"
    assert user_row(app, world.a.manager).active is False
    assert "Deactivated" in text(client.get("/users"))

    ended = manager.get("/payers")
    assert ended.status_code == 303
    assert ended.headers["Location"].startswith("/login")
    assert sign_in(manager, world.a.manager, world.password).status_code == 401


# ---- the users page ------------------------------------------------------------------------


def add_user(client, email, role=Role.VIEWER, name="Nina New", **extra):
    data = {"name": name, "email": email, "role": role.value, "all_practices": "y", **extra}
    return client.post("/users", data=data)


def test_added_user_gets_a_temporary_password_shown_once_and_must_change_it(client, world):
    app = client.application
    login(client, world.a.owner)
    response = add_user(client, "nina@example.com")
    assert response.status_code == 200
    assert (
        "can now sign in as nina@example.com with this temporary password, shown only once"
        in text(response)
    )
    match = re.search(r'<p class="temp-password">(.+?)</p>', response.get_data(as_text=True))
    temporary = match.group(1)
    assert len(temporary) >= 10

    again = client.get("/users")
    assert "Nina New" in text(again)
    assert temporary not in again.get_data(as_text=True)

    with database(app) as s:
        nina = s.scalar(sa.select(User).where(User.email == "nina@example.com"))
        assert (nina.organization_id, nina.role, nina.must_change_password, nina.active) == (
            world.a.org_id,
            Role.VIEWER,
            True,
            True,
        )

    newcomer = new_client(app)
    assert sign_in(newcomer, "nina@example.com", temporary).status_code == 303
    assert newcomer.get("/").headers["Location"] == "/profile"
    changed = newcomer.post(
        "/profile", data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )
    assert changed.status_code == 303
    assert newcomer.get("/").status_code == 200


def test_added_user_form_with_htmx_answers_the_users_fragment(client, world):
    login(client, world.a.owner)
    response = client.post(
        "/users",
        data={"name": "Nina New", "email": "nina@example.com", "role": "viewer"},
        htmx=True,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422  # neither all practices nor any practice chosen
    assert body.lstrip().startswith('<section id="users">')
    assert "<html" not in body
    assert (
        field_error(response, "practices")
        == "Choose at least one practice, or allow all practices."
    )
    assert user_row_or_none(client.application, "nina@example.com") is None


def user_row_or_none(app, email):
    with database(app) as s:
        return s.scalar(sa.select(User.id).where(User.email == email))


def test_adding_a_user_with_an_email_already_in_use_answers_422(client, world):
    app = client.application
    login(client, world.a.owner)
    assert add_user(client, "nina@example.com").status_code == 200
    response = add_user(client, "  Nina@Example.COM ", name="Nina Again")
    assert response.status_code == 422
    assert field_error(response, "email") == "A user with this email already exists."
    assert "temporary password" not in text(response)
    with database(app) as s:
        names = s.scalars(sa.select(User.name).where(User.email.ilike("nina@example.com"))).all()
    assert names == ["Nina New"]


def test_adding_a_user_without_a_name_answers_422(client, world):
    login(client, world.a.owner)
    response = add_user(client, "nina@example.com", name="   ")
    assert response.status_code == 422
    assert field_error(response, "name") == "This field is required."
    assert user_row_or_none(client.application, "nina@example.com") is None


def test_adding_a_user_with_a_malformed_email_answers_422(client, world):
    login(client, world.a.owner)
    response = add_user(client, "not-an-email")
    assert response.status_code == 422
    assert field_error(response, "email") == "Enter a valid email address."
    with database(client.application) as s:
        assert s.scalar(sa.select(sa.func.count(User.id)).where(User.name == "Nina New")) == 0


@pytest.mark.parametrize("who", ["manager", "viewer", "manager1"])
def test_only_owners_reach_the_users_pages(client, world, who):
    login(client, getattr(world.a, who))
    assert client.get("/users").status_code == 403
    assert add_user(client, "nina@example.com").status_code == 403
    target = world.a.user_ids[world.a.viewer]
    assert client.get(f"/users/{target}").status_code == 403
    assert client.post(f"/users/{target}", data=edit_user_data("X", Role.OWNER)).status_code == 403
    assert user_row_or_none(client.application, "nina@example.com") is None
    assert user_row(client.application, world.a.viewer).role == Role.VIEWER


def test_another_organisations_user_answers_404(client, world):
    login(client, world.a.owner)
    beta_manager = world.b.user_ids[world.b.manager]
    assert client.get(f"/users/{beta_manager}").status_code == 404
    response = client.post(
        f"/users/{beta_manager}", data=edit_user_data("Taken", Role.VIEWER, active=False)
    )
    assert response.status_code == 404
    beta = user_row(client.application, world.b.manager)
    assert (beta.name, beta.role, beta.active) == ("Manny Manager", Role.MANAGER, True)
    assert world.b.manager not in text(client.get("/users"))


@pytest.mark.parametrize(
    "change",
    [{"role": Role.MANAGER}, {"active": False}],
    ids=["demote", "deactivate"],
)
def test_the_last_active_owner_cannot_be_demoted_or_deactivated(client, world, change):
    app = client.application
    login(client, world.a.owner)
    owner_id = world.a.user_ids[world.a.owner]
    data = edit_user_data(
        "Olga Owner", change.get("role", Role.OWNER), active=change.get("active", True)
    )
    response = client.post(f"/users/{owner_id}", data=data)
    assert response.status_code == 422
    assert (
        field_error(response, "role")
        == "This is the last active owner: make another user owner first."
    )
    owner = user_row(app, world.a.owner)
    assert (owner.role, owner.active) == (Role.OWNER, True)
    assert client.get("/users").status_code == 200  # still signed in, still the owner


def test_an_owner_can_step_down_once_a_second_owner_exists(client, world):
    app = client.application
    login(client, world.a.owner)
    manager_id = world.a.user_ids[world.a.manager]
    owner_id = world.a.user_ids[world.a.owner]
    promoted = client.post(f"/users/{manager_id}", data=edit_user_data("Manny Manager", Role.OWNER))
    assert promoted.status_code == 303
    stepped_down = client.post(f"/users/{owner_id}", data=edit_user_data("Olga Owner", Role.VIEWER))
    assert stepped_down.status_code == 303
    assert user_row(app, world.a.owner).role == Role.VIEWER
    assert user_row(app, world.a.manager).role == Role.OWNER
    assert client.get("/users").status_code == 403  # the former owner is a viewer now

    # The new owner is now the last one and is protected in turn.
    new_owner = new_client(app)
    login(new_owner, world.a.manager)
    response = new_owner.post(
        f"/users/{manager_id}", data=edit_user_data("Manny Manager", Role.OWNER, active=False)
    )
    assert response.status_code == 422
    assert user_row(app, world.a.manager).active is True


def test_manager_limited_to_one_practice_no_longer_sees_the_others_contracts(client, world):
    app = client.application
    manager = new_client(app)
    login(manager, world.a.manager)
    north, south = world.a.contract_ids
    assert manager.get(f"/contracts/{south}").status_code == 200

    login(client, world.a.owner)
    manager_id = world.a.user_ids[world.a.manager]
    response = client.post(
        f"/users/{manager_id}",
        data=edit_user_data("Manny Manager", Role.MANAGER, practices=[world.a.practice_ids[0]]),
    )
    assert response.status_code == 303
    with database(app) as s:
        user = s.get(User, manager_id)
        assert user.all_practices is False
        assert [p.id for p in user.practices] == [world.a.practice_ids[0]]
    assert "North Office" in text(client.get("/users"))

    assert manager.get(f"/contracts/{north}").status_code == 200
    assert manager.get(f"/contracts/{south}").status_code == 404
    listing = text(manager.get("/contracts"))
    assert "North Office" in listing
    assert "South Office" not in listing


def test_user_creation_and_update_are_written_to_the_audit_trail(client, world):
    app = client.application
    login(client, world.a.owner)
    owner_id = world.a.user_ids[world.a.owner]
    assert add_user(client, "nina@example.com").status_code == 200
    with database(app) as s:
        nina_id = s.scalar(sa.select(User.id).where(User.email == "nina@example.com"))
    assert (
        client.post(f"/users/{nina_id}", data=edit_user_data("Nina New", Role.MANAGER)).status_code
        == 303
    )

    with database(app) as s:
        events = s.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == "User", AuditEvent.object_id == nina_id)
            .order_by(AuditEvent.id)
        ).all()
        rows = [(e.action, e.user_id, e.organization_id) for e in events]
        created, updated = events
        assert rows == [
            ("created", owner_id, world.a.org_id),
            ("updated", owner_id, world.a.org_id),
        ]
        assert created.after["email"] == "nina@example.com"
        assert created.after["role"] == "viewer"
        assert "password_hash" not in created.after
        assert (updated.before, updated.after) == ({"role": "viewer"}, {"role": "manager"})
    trail = text(client.get("/audit"))
    assert "user nina@example.com (viewer)" in trail
    assert "Olga Owner" in trail


def test_behind_a_trusted_proxy_failures_count_per_real_client_address(world, database_url):
    """With TRUSTED_PROXIES=1 the address is the one the proxy saw (X-Forwarded-For), so one
    guessing client does not lock out everyone else behind the same proxy."""
    proxied = make_app(database_url, TRUSTED_PROXIES=1)
    try:
        browser = new_client(proxied)
        for i in range(20):
            response = browser.post(
                "/login",
                data={"email": f"guess{i}@alpha.test", "password": "nope-nope-nope"},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
            assert response.status_code == 401
        with proxied.app_context():
            addresses = set(db.session.scalars(sa.select(LoginAttempt.address)))
        assert addresses == {"203.0.113.9"}
        # Another client behind the same proxy still signs in.
        response = browser.post(
            "/login",
            data={"email": world.a.owner, "password": world.password},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"X-Forwarded-For": "198.51.100.4"},
        )
        assert response.status_code == 303
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()
