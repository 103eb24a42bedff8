"""The command line: `flask create-user` and `flask seed-demo`; and no real CDT codes anywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from campaigns.accounts.models import AuditEvent, Organization, Practice, Role, User
from campaigns.fees.models import CodeVolume, FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from campaigns.negotiations.models import Activity, Campaign, Outcome, Status
from campaigns.payers.models import Contact, Contract, Network, NetworkKind, Payer, PricingRoute
from tests.conftest import database, html_text, login

ROOT = Path(__file__).resolve().parents[2]
DEMO = "Demo Dental Group"


def create_user(app, email="boss@newclinic.example", password="long-enough-pass", **options):
    args = ["create-user", "--email", email, "--name", options.pop("name", "Bea Boss")]
    args += ["--organization", options.pop("organization", "New Org"), "--password-stdin"]
    for key, value in options.items():
        args += [f"--{key}", value]
    return app.test_cli_runner().invoke(args=args, input=password + "\n")


def seed_demo(app, *extra):
    return app.test_cli_runner().invoke(args=["seed-demo", "--today", "2026-11-15", *extra])


def count(s, model, *where) -> int:
    return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# ---- create-user ---------------------------------------------------------------------------


def test_create_user_makes_the_organisation_and_an_owner_who_can_sign_in(app, client):
    result = create_user(app)
    assert result.exit_code == 0, result.output
    assert result.output == "Created owner boss@newclinic.example in 'New Org'.\n"
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == "boss@newclinic.example"))
        assert (user.name, user.role, user.active, user.must_change_password) == (
            "Bea Boss",
            Role.OWNER,
            True,
            False,
        )
        assert user.organization.name == "New Org"
        assert count(s, Organization) == 1
    login(client, "boss@newclinic.example", "long-enough-pass")
    assert "New Org" in html_text(client.get("/"))
    assert client.get("/users").status_code == 200


def test_create_user_adds_to_an_existing_organisation_with_the_role_given(app, world):
    result = create_user(
        app, email="Extra@Alpha.example", organization="Alpha Dental", role="viewer"
    )
    assert result.exit_code == 0, result.output
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == "extra@alpha.example"))
        assert (user.organization_id, user.role) == (world.a.org_id, Role.VIEWER)
        assert count(s, Organization) == 2


def test_create_user_refuses_a_weak_password(app):
    result = create_user(app, password="short")
    assert result.exit_code == 1
    assert "Error: Use at least 10 characters." in result.output
    with database(app) as s:
        assert count(s, User) == 0
        assert count(s, Organization) == 0


def test_create_user_refuses_the_email_as_password(app):
    result = create_user(app, email="boss@newclinic.example", password="boss@newclinic.example")
    assert result.exit_code == 1
    assert "The password cannot be your email address." in result.output
    with database(app) as s:
        assert count(s, User) == 0


def test_create_user_refuses_an_email_already_in_use(app, world):
    result = create_user(app, email=world.a.manager.upper(), organization="Other Org")
    assert result.exit_code == 1
    assert "Error: A user with this email already exists." in result.output
    with database(app) as s:
        # Neither the user nor the organisation named for it was created.
        assert count(s, Organization, Organization.name == "Other Org") == 0
        assert count(s, User, User.email == world.a.manager) == 1
        assert s.scalar(sa.select(User.name).where(User.email == world.a.manager)) == (
            "Manny Manager"
        )


# ---- seed-demo -----------------------------------------------------------------------------


def demo_counts(s) -> dict[str, int]:
    return {
        model.__name__: count(s, model)
        for model in (
            Organization,
            Practice,
            User,
            Payer,
            Network,
            Contact,
            Contract,
            PricingRoute,
            FeeSchedule,
            FeeLine,
            ProcedureCode,
            CodeVolume,
            Campaign,
        )
    }


def test_seed_demo_creates_the_demo_organisation_once(app):
    first = seed_demo(app, "--if-empty")
    assert first.exit_code == 0, first.output
    assert "Seeded the demo organisation 'Demo Dental Group'." in first.output
    assert "password 'demo-password'" in first.output

    with database(app) as s:
        org = s.scalar(sa.select(Organization).where(Organization.name == DEMO))
        assert count(s, Organization) == 1
        assert sorted(s.scalars(sa.select(Practice.name))) == [
            "Maple Street Dental",
            "Riverside Family Dentistry",
        ]
        users = s.execute(sa.select(User.email, User.role, User.organization_id)).all()
        assert sorted(users) == [
            ("manager@demo.test", Role.MANAGER, org.id),
            ("owner@demo.test", Role.OWNER, org.id),
            ("viewer@demo.test", Role.VIEWER, org.id),
        ]
        assert count(s, Payer, Payer.organization_id == org.id) == 8

        networks = s.scalars(sa.select(Network)).all()
        kinds = sorted(n.kind.value for n in networks)
        assert kinds == ["direct", "direct", "direct", "direct", "leased", "umbrella"]
        assert all(
            (n.owner_payer_id is not None) == (n.kind == NetworkKind.DIRECT) for n in networks
        )
        (leased,) = (n for n in networks if n.kind == NetworkKind.LEASED)
        priced_by_leased = s.scalars(
            sa.select(PricingRoute.payer_id).where(PricingRoute.network_id == leased.id).distinct()
        ).all()
        assert len(priced_by_leased) == 2
        (umbrella,) = (n for n in networks if n.kind == NetworkKind.UMBRELLA)
        assert count(s, PricingRoute, PricingRoute.network_id == umbrella.id) == 4

        assert count(s, Contract) == 12
        assert count(s, PricingRoute) == 16
        # Every practice routes each of the 8 payers exactly once.
        per_practice = s.execute(
            sa.select(
                PricingRoute.practice_id, sa.func.count(sa.distinct(PricingRoute.payer_id))
            ).group_by(PricingRoute.practice_id)
        ).all()
        assert sorted(n for _pid, n in per_practice) == [8, 8]

        kinds_of_schedules = s.execute(
            sa.select(FeeSchedule.kind, sa.func.count()).group_by(FeeSchedule.kind)
        ).all()
        # 12 contract schedules, and the versions the 4 campaigns closed with a gain wrote
        # (yes, yes, partial, partial; "no" changed nothing), each a full copy
        assert dict(kinds_of_schedules) == {ScheduleKind.OFFICE: 2, ScheduleKind.CONTRACT: 16}
        lines_per_schedule = s.scalars(
            sa.select(sa.func.count(FeeLine.id)).group_by(FeeLine.schedule_id)
        ).all()
        assert lines_per_schedule == [45] * 18

        campaigns = s.scalars(sa.select(Campaign)).all()
        open_steps = sorted(c.step.value for c in campaigns if c.status == Status.OPEN)
        assert open_steps == ["benchmark", "build", "request", "response", "response", "submit"]
        outcomes = sorted(c.outcome.value for c in campaigns if c.status == Status.CLOSED)
        assert outcomes == ["no", "partial", "partial", "withdrawn", "yes", "yes"]
        closed_years = {c.closed_on.year for c in campaigns if c.closed_on}
        assert len(closed_years) == 3  # spread over the last three years
        assert all(
            c.result_schedule_id for c in campaigns if c.outcome in (Outcome.YES, Outcome.PARTIAL)
        )
        assert all(c.next_review_on for c in campaigns if c.status == Status.CLOSED)
        # Each step happened on a day of its own (seeded with --today 2026-11-15): the open
        # campaigns have been in their step 40 (request), 8, 15, 3, 20 and 70 days.
        in_step = sorted(
            (c.step.value, (date(2026, 11, 15) - c.step_entered_at.date()).days)
            for c in campaigns
            if c.status == Status.OPEN
        )
        assert in_step == [
            ("benchmark", 8),
            ("build", 15),
            ("request", 40),
            ("response", 20),
            ("response", 70),
            ("submit", 3),
        ]
        answered = [c for c in campaigns if c.responded_on]
        assert sorted((c.responded_on - c.submitted_on).days for c in answered) == [
            29,
            41,
            52,
            63,
            88,
        ]
        closed_at = dict(
            s.execute(
                sa.select(AuditEvent.object_id, AuditEvent.at).where(
                    AuditEvent.action == "campaign.closed"
                )
            ).all()
        )
        assert {c.id: c.closed_on for c in campaigns if c.closed_on} == {
            i: at.date() for i, at in closed_at.items()
        }
        logged = dict(
            s.execute(
                sa.select(Activity.campaign_id, sa.func.count()).group_by(Activity.campaign_id)
            ).all()
        )
        assert set(logged) == {c.id for c in campaigns}  # every campaign has a history
        assert count(s, FeeLine, FeeLine.amount_cents <= 0) == 0

        codes = s.scalars(sa.select(ProcedureCode.code)).all()
        assert len(codes) == 45
        assert all(re.fullmatch(r"T\d{4}", code) for code in codes)
        assert set(s.scalars(sa.select(FeeLine.code).distinct())) == set(codes)
        assert set(s.scalars(sa.select(CodeVolume.code).distinct())) <= set(codes)

        starts = sorted(s.scalars(sa.select(CodeVolume.period_start).distinct()))
        assert starts == [date(2025, m, 1) for m in (11, 12)] + [
            date(2026, m, 1) for m in range(1, 11)
        ]
        span = s.execute(
            sa.select(sa.func.min(CodeVolume.period_start), sa.func.max(CodeVolume.period_end))
        ).one()
        assert tuple(span) == (date(2025, 11, 1), date(2026, 10, 31))
        assert count(s, CodeVolume, CodeVolume.count <= 0) == 0
        before = demo_counts(s)

    again = seed_demo(app)
    assert again.exit_code == 0, again.output
    assert "The demo organisation already exists; nothing changed." in again.output
    with database(app) as s:
        assert demo_counts(s) == before


def test_seed_demo_if_empty_does_nothing_when_any_organisation_exists(app):
    assert create_user(app, organization="Someone Else").exit_code == 0
    result = seed_demo(app, "--if-empty")
    assert result.exit_code == 0, result.output
    assert "The database already has data; demo not seeded." in result.output
    with database(app) as s:
        assert count(s, Organization, Organization.name == DEMO) == 0
        assert count(s, Payer) == 0
        assert count(s, User) == 1


def test_demo_manager_signs_in_and_sees_the_demo_payers(app, client):
    assert seed_demo(app).exit_code == 0
    login(client, "manager@demo.test", "demo-password")
    page = client.get("/payers")
    assert page.status_code == 200
    text = html_text(page)
    for name in (
        "Harborview Dental Plans",
        "Keystone Mutual Dental",
        "Pinecrest Benefits",
        "Redwood Family Dental",
        "Silverline Insurance",
        "Lakeshore Health Plans",
        "Meridian Workers Trust",
        "Northgate Assurance",
    ):
        assert name in text


# ---- no CDT content ------------------------------------------------------------------------


def _texts(path: Path):
    """The text of a file, or of each XML part of an Office file; nothing for other binaries."""
    if path.suffix in {".docx", ".xlsx"}:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".xml"):
                    yield f"{path}:{name}", archive.read(name).decode("utf-8", "replace")
        return
    data = path.read_bytes()
    if b"\0" in data[:4096]:
        return
    yield str(path), data.decode("utf-8", "replace")


def test_no_file_contains_a_real_procedure_code():
    # The pattern's own source text ("D" then a backslash) cannot match it.
    cdt_shaped = re.compile(r"\bD\d{4}\b")
    offenders = []
    scanned = 0
    for folder in ("campaigns", "templates", "tests", "migrations"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            for where, content in _texts(path):
                scanned += 1
                offenders += [f"{where}: {m}" for m in cdt_shaped.findall(content)]
    assert scanned > 50
    assert offenders == []


# ---- the gunicorn configuration ------------------------------------------------------------


def test_the_gunicorn_configuration_loads_with_values_from_the_environment():
    env = dict(os.environ, BIND="0.0.0.0:8123", WEB_CONCURRENCY="3", SECRET_KEY="x")
    done = subprocess.run(  # noqa: S603
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--print-config",
            "-c",
            "python:campaigns.gunicorn_conf",
            "app:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    settings = {
        name.strip(): value.strip()
        for name, _, value in (line.partition("=") for line in done.stdout.splitlines())
    }
    assert settings["bind"] == "['0.0.0.0:8123']"
    assert settings["workers"] == "3"
    assert settings["threads"] == "4"
    assert settings["preload_app"] == "False"
