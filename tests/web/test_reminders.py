"""Reminders end to end with chosen `now` values and a real SMTP server: each kind fires once
at 08:00 in the practice's time zone (also across the DST changes of America/New_York),
nothing fires before, snooze and dismiss, acting on the campaign resolves, the outbox
retries while the server is down and never resends an uncertain message, preferences."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import User
from campaigns.extensions import db
from campaigns.negotiations import services as campaign_services
from campaigns.negotiations.models import ActivityKind, Campaign, Outcome, Status, Step
from campaigns.reminders import delivery, jobs, mailer, rules, services
from campaigns.reminders.models import (
    Kind,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Reminder,
    ReminderPreference,
    ReminderSettings,
    ReminderStatus,
)
from tests.conftest import database, html_text, login
from tests.web.reminders_helpers import SmtpServer, add_campaign, build_office, free_port


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def smtp(app, monkeypatch):
    """A real SMTP server on 127.0.0.1 and the app configured to send through it."""
    server = SmtpServer(free_port())
    server.start()
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", server.port)
    monkeypatch.setitem(app.config, "SMTP_TLS", "none")
    monkeypatch.setitem(app.config, "SMTP_FROM", "reminders@fee.test")
    monkeypatch.setitem(app.config, "APP_BASE_URL", "https://fees.example.test")
    yield server
    server.stop()


def scan(app, now: datetime) -> int:
    with app.app_context():
        return jobs.scan(now)


def deliver(app, now: datetime, worker: str = "test") -> dict:
    with app.app_context():
        return jobs.deliver(now, worker)


def reminders(app) -> list[tuple]:
    with app.app_context():
        return [
            (r.kind.value, r.subject_id, r.due_on, r.fire_at, r.number, r.status.value)
            for r in db.session.scalars(sa.select(Reminder).order_by(Reminder.id))
        ]


def outbox(app) -> list[tuple]:
    with app.app_context():
        return [
            (m.to_address, m.status.value, m.attempts)
            for m in db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))
        ]


# ---- the pure date rules ------------------------------------------------------------------


def test_fire_time_is_8am_local_on_both_sides_of_the_dst_changes():
    ny = "America/New_York"
    assert rules.fire_at(date(2026, 3, 6), ny) == utc(2026, 3, 6, 13)  # EST, UTC-5
    assert rules.fire_at(date(2026, 3, 8), ny) == utc(2026, 3, 8, 12)  # change day: EDT
    assert rules.fire_at(date(2026, 10, 31), ny) == utc(2026, 10, 31, 12)  # EDT, UTC-4
    assert rules.fire_at(date(2026, 11, 1), ny) == utc(2026, 11, 1, 13)  # change day: EST
    assert rules.fire_at(date(2026, 7, 1), "America/Los_Angeles") == utc(2026, 7, 1, 15)
    assert rules.last_firing_date(utc(2026, 11, 1, 12, 59), ny) == date(2026, 10, 31)
    assert rules.last_firing_date(utc(2026, 11, 1, 13, 0), ny) == date(2026, 11, 1)


def test_a_logged_contact_pushes_the_next_follow_up_to_a_first_interval_after_it():
    # sent Jan 5: 30/60/90 days are Feb 4, Mar 6, Apr 5; a call on Feb 20 + 30 = Mar 22
    assert rules.follow_up_dates(date(2026, 1, 5), [30, 60, 90], None) == [
        (1, date(2026, 2, 4)),
        (2, date(2026, 3, 6)),
        (3, date(2026, 4, 5)),
    ]
    assert rules.follow_up_dates(date(2026, 1, 5), [30, 60, 90], date(2026, 2, 20)) == [
        (1, date(2026, 3, 22)),
        (2, date(2026, 3, 22)),
        (3, date(2026, 4, 5)),
    ]
    assert rules.due_follow_up(date(2026, 1, 5), [30, 60, 90], None, date(2026, 3, 5)) == (
        1,
        date(2026, 2, 4),
    )
    # a scheduler down for weeks sends one reminder, the latest, not three
    assert rules.due_follow_up(date(2026, 1, 5), [30, 60, 90], None, date(2026, 5, 1)) == (
        3,
        date(2026, 4, 5),
    )


# ---- each kind fires once, at 08:00 local -----------------------------------------------


def test_schedule_reminder_fires_at_8am_new_york_time_after_the_march_change(app, smtp):
    with database(app):
        office = build_office()
        # requested Feb 25 + 14 days = Mar 11 (EDT since Mar 8): 08:00 EDT = 12:00 UTC
        cid = add_campaign(office, schedule_requested_on=date(2026, 2, 25))
        # requested Feb 20 + 14 = Mar 6 (still EST): 08:00 EST = 13:00 UTC
        early = add_campaign(
            office, contract_id=_second_contract(office), schedule_requested_on=date(2026, 2, 20)
        )
    assert scan(app, utc(2026, 3, 6, 12, 59)) == 0  # 07:59 in New York
    assert scan(app, utc(2026, 3, 6, 13, 0)) == 1
    assert scan(app, utc(2026, 3, 11, 11, 59)) == 0
    assert scan(app, utc(2026, 3, 11, 12, 0)) == 1
    assert scan(app, utc(2026, 3, 11, 12, 5)) == 0  # a rerun inserts nothing
    assert reminders(app) == [
        ("schedule", early, date(2026, 3, 6), utc(2026, 3, 6, 13), 0, "pending"),
        ("schedule", cid, date(2026, 3, 11), utc(2026, 3, 11, 12), 0, "pending"),
    ]
    # owner and manager (the limited manager sees only the other practice; viewers get none)
    assert deliver(app, utc(2026, 3, 11, 12, 1)) == {"claimed": 2, "woken": 0, "uncertain": 0,
                                                     "sent": 4}  # fmt: skip
    assert deliver(app, utc(2026, 3, 11, 12, 2)) == {}
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "manny@reminder.test",
        "manny@reminder.test",
        "olga@reminder.test",
        "olga@reminder.test",
    ]


def _second_contract(office) -> int:
    from campaigns.accounts.models import Practice
    from tests.factories import ContractFactory, NetworkFactory

    practice = db.session.get(Practice, office.practice_id)
    network = NetworkFactory(organization_id=office.org_id, name="Beta Leased")
    return ContractFactory(practice=practice, network=network, renewal_date=None).id


def test_first_follow_up_on_the_november_change_day_fires_at_8am_est(app, smtp):
    with database(app):
        office = build_office()
        cid = add_campaign(
            office, step=Step.RESPONSE, submitted_on=date(2026, 10, 2), sent_how="email"
        )
    # Oct 2 + 30 days = Nov 1, the day clocks go back: 08:00 EST = 13:00 UTC
    assert scan(app, utc(2026, 11, 1, 12, 59)) == 0
    assert scan(app, utc(2026, 11, 1, 13, 0)) == 1
    assert reminders(app) == [
        ("follow_up", cid, date(2026, 11, 1), utc(2026, 11, 1, 13), 1, "pending")
    ]
    deliver(app, utc(2026, 11, 1, 13, 0))
    (first, *_) = smtp.to("manny@reminder.test")
    assert first.message["Subject"] == "[Main Street Dental] Follow up: no response yet: Delta PPO"
    text = first.message.get_body(("plain",)).get_content()
    html = first.message.get_body(("html",)).get_content()
    link = f"https://fees.example.test/campaigns/{cid}"
    for body in (text, html):
        assert "Main Street Dental" in body
        assert "America/New_York" in body
        assert link in body
        assert "You receive this because you are manager for Main Street Dental" in body
        assert "https://fees.example.test/preferences/reminders" in body
    assert "Follow-up 1: the request was sent on Oct 2, 2026" in text


def test_follow_ups_move_after_a_logged_call_and_stop_with_the_response(app, smtp):
    with database(app) as s:
        office = build_office()
        cid = add_campaign(
            office, step=Step.RESPONSE, submitted_on=date(2026, 1, 5), sent_how="email"
        )
    assert scan(app, utc(2026, 2, 4, 13)) == 1  # Jan 5 + 30, 08:00 EST
    deliver(app, utc(2026, 2, 4, 13))
    with database(app) as s:
        manager = s.get(User, office.manager_id)
        campaign = s.get(Campaign, cid)
        campaign_services.add_activity(
            manager, campaign, kind=ActivityKind.CALL, happened_on=date(2026, 2, 20),
            person="Pat", summary="They are reviewing it", request_key=None,
            now=utc(2026, 2, 20, 15),
        )  # fmt: skip
    assert reminders(app)[0][-1] == "resolved"  # the call answered the first follow-up
    assert scan(app, utc(2026, 3, 6, 13)) == 0  # Mar 6 (60 days) is now before Mar 22
    assert scan(app, utc(2026, 3, 22, 11, 59)) == 0
    assert scan(app, utc(2026, 3, 22, 12)) == 1  # Feb 20 + 30, 08:00 EDT
    assert reminders(app)[1] == (
        "follow_up", cid, date(2026, 3, 22), utc(2026, 3, 22, 12), 2, "pending"
    )  # fmt: skip
    deliver(app, utc(2026, 3, 22, 12))
    with database(app) as s:
        manager = s.get(User, office.manager_id)
        campaign = s.get(Campaign, cid)
        campaign_services.save_response(
            manager, campaign, {}, responded_on=date(2026, 3, 25), version=campaign.version,
            now=utc(2026, 3, 25, 14),
        )  # fmt: skip
    assert [r[-1] for r in reminders(app)] == ["resolved", "resolved"]
    assert scan(app, utc(2026, 4, 5, 12)) == 0  # Apr 5 (90 days): answered, nothing
    with app.app_context():
        manager = db.session.get(User, office.manager_id)
        assert services.unread_count(manager, utc(2026, 4, 5, 12)) == 0
    assert len(smtp.to("manny@reminder.test")) == 2


def test_reply_by_reminder_fires_the_day_after_the_date(app, smtp):
    with database(app):
        office = build_office()
        cid = add_campaign(
            office,
            step=Step.RESPONSE,
            submitted_on=date(2026, 3, 20),
            sent_how="email",
            response_due_on=date(2026, 4, 10),
        )
    assert scan(app, utc(2026, 4, 11, 11, 59)) == 0
    assert scan(app, utc(2026, 4, 11, 12)) == 1  # 08:00 EDT on Apr 11
    assert reminders(app) == [("due", cid, date(2026, 4, 11), utc(2026, 4, 11, 12), 0, "pending")]


def test_review_renewal_and_notice_reminders_come_a_lead_time_before(app, smtp):
    with database(app) as s:
        office = build_office(renewal=date(2027, 1, 1))  # notice 90 days: Oct 3, 2026
        s.add(
            ReminderSettings(
                organization_id=office.org_id, practice_id=office.practice_id,
                review_lead_days=30, contract_lead_days=30, schedule_days=14, off_kinds=[],
            )
        )  # fmt: skip
        closed = add_campaign(
            office, contract_id=_second_contract(office), status=Status.CLOSED,
            outcome=Outcome.NO, closed_on=date(2026, 3, 15), next_review_on=date(2027, 3, 15),
        )  # fmt: skip
    # notice: Oct 3 - 30 = Sep 3, 08:00 EDT = 12:00 UTC
    assert scan(app, utc(2026, 9, 3, 11, 59)) == 0
    assert scan(app, utc(2026, 9, 3, 12)) == 1
    # renewal: Jan 1, 2027 - 30 = Dec 2, 08:00 EST = 13:00 UTC
    assert scan(app, utc(2026, 12, 2, 12, 59)) == 0
    assert scan(app, utc(2026, 12, 2, 13)) == 1
    # re-review: Mar 15, 2027 - 30 = Feb 13, 08:00 EST
    assert scan(app, utc(2027, 2, 13, 12, 59)) == 0
    assert scan(app, utc(2027, 2, 13, 13)) == 1
    assert reminders(app) == [
        ("notice", office.contract_id, date(2026, 9, 3), utc(2026, 9, 3, 12), 0, "pending"),
        ("renewal", office.contract_id, date(2026, 12, 2), utc(2026, 12, 2, 13), 0, "pending"),
        ("review", closed, date(2027, 2, 13), utc(2027, 2, 13, 13), 0, "pending"),
    ]
    # a new campaign on that contract resolves the re-review
    with database(app) as s:
        from campaigns.payers.models import Contract

        owner = s.get(User, office.owner_id)
        contract = s.get(Contract, s.get(Campaign, closed).contract_id)
        campaign_services.start_campaign(
            owner, contract, today=date(2027, 2, 14), now=utc(2027, 2, 14, 15),
            with_suggestions=False,
        )  # fmt: skip
    assert reminders(app)[2][-1] == "resolved"


def test_a_kind_switched_off_for_the_practice_never_fires(app, smtp):
    with database(app) as s:
        office = build_office()
        s.add(
            ReminderSettings(
                organization_id=office.org_id, practice_id=office.practice_id, schedule_days=7,
                review_lead_days=30, contract_lead_days=30, off_kinds=["schedule"],
            )
        )  # fmt: skip
        add_campaign(office, schedule_requested_on=date(2026, 2, 1))
    assert scan(app, utc(2026, 6, 1, 12)) == 0


def test_weekly_digest_for_owners_on_their_day_at_8am(app, smtp):
    with database(app) as s:
        office = build_office()
        s.add(ReminderPreference(organization_id=office.org_id, user_id=office.owner_id,
                                 email_off=[], digest_weekday=2))  # fmt: skip
        add_campaign(office, step=Step.RESPONSE, submitted_on=date(2026, 2, 1),
                     sent_how="email", response_due_on=date(2026, 3, 1))  # fmt: skip
        add_campaign(office, contract_id=_second_contract(office), status=Status.CLOSED,
                     outcome=Outcome.YES, closed_on=date(2026, 3, 3))  # fmt: skip
    with app.app_context():
        assert jobs.digest_task(utc(2026, 3, 10, 12)) == 0  # Tuesday
        assert jobs.digest_task(utc(2026, 3, 11, 11, 59)) == 0  # Wednesday 07:59 EDT
        assert jobs.digest_task(utc(2026, 3, 11, 12)) == 1
        assert jobs.digest_task(utc(2026, 3, 11, 13)) == 0  # hourly runs: once a week
    deliver(app, utc(2026, 3, 11, 12, 1))
    (digest,) = smtp.messages
    assert digest.rcpt_tos == ["olga@reminder.test"]
    assert digest.message["Subject"] == "Fee Campaigns weekly digest, Mar 11, 2026"
    text = digest.message.get_body(("plain",)).get_content()
    assert "Open campaigns: 1" in text
    assert "Overdue (reply-by date passed): 1" in text
    assert "reply was due Mar 1, 2026" in text
    assert "Won this month: 1" in text
    assert "https://fees.example.test/" in text


# ---- notifications: snooze, dismiss, preferences --------------------------------------------


def _one_due(app, office_kwargs=None) -> tuple:
    with database(app):
        office = build_office(**(office_kwargs or {}))
        cid = add_campaign(office, schedule_requested_on=date(2026, 5, 1))
    scan(app, utc(2026, 5, 15, 12))  # May 1 + 14, 08:00 EDT
    return office, cid


def test_snooze_hides_until_it_ends_then_nudges_again_once(app, smtp):
    office, _ = _one_due(app)
    deliver(app, utc(2026, 5, 15, 12))
    t0 = utc(2026, 5, 15, 14)
    with database(app):
        manager = db.session.get(User, office.manager_id)
        reminder = db.session.scalar(sa.select(Reminder))
        assert services.unread_count(manager, t0) == 1
        assert services.snooze(manager, reminder, "1d", until=None, now=t0) == t0 + timedelta(1)
    with app.app_context():
        manager = db.session.get(User, office.manager_id)
        assert services.unread_count(manager, t0 + timedelta(hours=23)) == 0
    deliver(app, t0 + timedelta(hours=23))
    assert len(smtp.to("manny@reminder.test")) == 1
    deliver(app, t0 + timedelta(days=1))
    deliver(app, t0 + timedelta(days=1, minutes=1))
    assert len(smtp.to("manny@reminder.test")) == 2  # one nudge when the snooze ended
    with database(app):
        manager = db.session.get(User, office.manager_id)
        assert services.unread_count(manager, t0 + timedelta(days=1)) == 1
        reminder = db.session.scalar(sa.select(Reminder))
        wake = services.snooze(manager, reminder, "date", until=date(2026, 6, 1), now=t0)
        assert wake == utc(2026, 6, 1, 12)  # 08:00 EDT on the date
        services.dismiss(manager, reminder, t0)
        assert services.unread_count(manager, utc(2026, 7, 1)) == 0
    deliver(app, utc(2026, 6, 2))
    assert len(smtp.to("manny@reminder.test")) == 2  # dismissed: no more nudges
    with app.app_context():  # the owner's own copy is untouched
        owner = db.session.get(User, office.owner_id)
        assert services.unread_count(owner, utc(2026, 7, 1)) == 1


def test_snooze_and_dismiss_from_the_notifications_page(app, client, smtp):
    office, cid = _one_due(app)
    deliver(app, utc(2026, 5, 15, 12))
    login(client, "manny@reminder.test")
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "Schedule not received" in html_text(page)
    assert f'href="/campaigns/{cid}"' in page.get_data(as_text=True)
    assert "Notifications 1" in html_text(client.get("/settings"))  # the menu's count
    with app.app_context():
        rid = db.session.scalar(sa.select(Reminder.id))
    assert client.post(f"/reminders/{rid}/snooze", data={"for": "1w"}).status_code == 303
    page = client.get("/notifications")
    assert "Nothing to follow up right now" in html_text(page)
    assert "Snoozed" in html_text(page)
    bad = client.post(f"/reminders/{rid}/snooze", data={"for": "date", "until": "2020-01-01"})
    assert bad.status_code == 422
    assert "Choose a date in the future" in html_text(bad)
    assert client.post(f"/reminders/{rid}/dismiss").status_code == 303
    assert "Snoozed" not in html_text(client.get("/notifications"))


def test_preferences_choose_email_kinds_and_practices(app, client, smtp):
    with database(app) as s:
        office = build_office()
        s.add(ReminderPreference(organization_id=office.org_id, user_id=office.manager_id,
                                 email_off=["schedule"], digest_weekday=0))  # fmt: skip
        s.add(ReminderPreference(organization_id=office.org_id, user_id=office.owner_id,
                                 email_off=[], digest_weekday=0,
                                 practice_ids=[office.other_practice_id]))  # fmt: skip
        add_campaign(office, owner_id=None, schedule_requested_on=date(2026, 5, 1))
    scan(app, utc(2026, 5, 15, 12))
    deliver(app, utc(2026, 5, 15, 12))
    assert smtp.messages == []  # manager: app only; owner: chose the other practice
    with app.app_context():
        who = sorted(db.session.scalars(sa.select(Notification.user_id)))
    assert who == [office.manager_id]
    login(client, "olga@reminder.test")
    page = html_text(client.get("/reminders/recipients"))
    for words in ("Manny", "app only", "Other Office"):
        assert words in page
    saved = client.post(
        "/preferences/reminders",
        data={"email": ["follow_up"], "digest_weekday": "4", "practices": "all"},
    )
    assert saved.status_code == 303
    with app.app_context():
        pref = db.session.scalar(
            sa.select(ReminderPreference).where(ReminderPreference.user_id == office.owner_id)
        )
        assert (pref.digest_weekday, pref.practice_ids) == (4, None)
        assert "follow_up" not in pref.email_off
        assert "schedule" in pref.email_off


def test_the_campaign_owner_chosen_practice_or_not_and_a_limited_manager_not(app, smtp):
    with database(app):
        office = build_office()
        add_campaign(office, owner_id=office.limited_id, schedule_requested_on=date(2026, 5, 1))
    scan(app, utc(2026, 5, 15, 12))
    deliver(app, utc(2026, 5, 15, 12))
    # Lim owns the campaign but may not see its practice: not reminded (no existence leak)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "manny@reminder.test",
        "olga@reminder.test",
    ]


# ---- acting resolves ------------------------------------------------------------------------


def test_receiving_the_schedule_resolves_and_cancels_the_unsent_email(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    office, cid = _one_due(app)
    deliver(app, utc(2026, 5, 15, 12))
    assert {s for _, s, _ in outbox(app)} == {"queued"}
    with database(app) as s:
        manager = s.get(User, office.manager_id)
        campaign = s.get(Campaign, cid)
        campaign_services.save_details(
            manager, campaign, {"schedule_received_on": date(2026, 5, 16)},
            version=campaign.version, now=utc(2026, 5, 16, 14),
        )  # fmt: skip
    assert reminders(app)[0][-1] == "resolved"
    assert {s for _, s, _ in outbox(app)} == {"cancelled"}
    with app.app_context():
        manager = db.session.get(User, office.manager_id)
        assert services.unread_count(manager, utc(2026, 5, 16, 15)) == 0


def test_withdrawing_the_campaign_resolves_every_pending_reminder(app, smtp):
    office, cid = _one_due(app)
    with database(app) as s:
        manager = s.get(User, office.manager_id)
        campaign = s.get(Campaign, cid)
        campaign_services.withdraw(
            manager, campaign, version=campaign.version, reason="merged",
            today=date(2026, 5, 15), now=utc(2026, 5, 15, 13),
        )  # fmt: skip
    deliver(app, utc(2026, 5, 15, 14))
    assert reminders(app)[0][-1] == "resolved"
    assert smtp.messages == []  # resolved before delivery: never sent


# ---- the outbox: down server, failures, uncertain, no settings ------------------------------


def test_smtp_down_is_retried_with_backoff_and_delivered_once_back(app, smtp):
    office, _ = _one_due(app)
    smtp.stop()
    t0 = utc(2026, 5, 15, 12)
    deliver(app, t0)
    assert outbox(app) == [
        ("olga@reminder.test", "queued", 1),  # tried: connection refused
        ("manny@reminder.test", "queued", 0),  # waits as long as the first
    ]
    with app.app_context():
        assert {m.next_attempt_at for m in db.session.scalars(sa.select(OutboxMessage))} == {
            t0 + timedelta(minutes=1)
        }
    assert deliver(app, t0 + timedelta(seconds=30)) == {}  # not yet due again
    deliver(app, t0 + timedelta(minutes=1))  # still down: 2 minutes now
    assert outbox(app)[0] == ("olga@reminder.test", "queued", 2)
    smtp.start()
    deliver(app, t0 + timedelta(minutes=2))  # not due until 1 + 2 = 3 minutes
    assert smtp.messages == []
    deliver(app, t0 + timedelta(minutes=3))
    deliver(app, t0 + timedelta(minutes=10))
    assert outbox(app) == [("olga@reminder.test", "sent", 2), ("manny@reminder.test", "sent", 0)]
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "manny@reminder.test",
        "olga@reminder.test",
    ]


def test_a_message_that_keeps_failing_is_marked_failed_and_shown(app, client, smtp):
    office, _ = _one_due(app)
    smtp.collector.refuse.add("manny@reminder.test")  # 550: refused for good
    smtp.stop()
    now = utc(2026, 5, 15, 12)
    for _ in range(mailer.MAX_ATTEMPTS):
        deliver(app, now)
        now += mailer.MAX_RETRY
    assert outbox(app)[0] == ("olga@reminder.test", "failed", mailer.MAX_ATTEMPTS)
    smtp.start()
    deliver(app, now)
    assert outbox(app)[1] == ("manny@reminder.test", "failed", 1)  # 550: at once
    assert smtp.messages == []
    login(client, "olga@reminder.test")
    page = html_text(client.get("/outbox"))
    assert page.count("email failed") == 2
    assert "550" in page


class Killed(BaseException):
    """Stands for the process dying (SIGKILL) right after the server accepted the message."""


def test_an_uncertain_message_is_shown_and_never_resent(app, client, smtp, monkeypatch):
    office, _ = _one_due(app)
    with app.app_context():  # only the owner's email, for a simple count
        db.session.add(
            ReminderPreference(
                organization_id=office.org_id, user_id=office.manager_id, email_off=["schedule"]
            )
        )
        db.session.commit()  # fmt: skip

    real_sent = mailer._sent

    def die(ids, now, **kwargs):
        if ids:  # the first moment the database would learn that the server accepted it
            raise Killed
        return real_sent(ids, now, **kwargs)

    monkeypatch.setattr(mailer, "_sent", die)
    t0 = utc(2026, 5, 15, 12)
    with pytest.raises(Killed):
        deliver(app, t0)
    monkeypatch.undo()
    assert len(smtp.messages) == 1  # the server has it; the database says "sending"
    assert outbox(app) == [("olga@reminder.test", "sending", 0)]
    deliver(app, t0 + timedelta(minutes=5))  # another run: it is claimed, not resent
    assert outbox(app) == [("olga@reminder.test", "sending", 0)]
    deliver(app, t0 + mailer.SENDING_TIMEOUT + timedelta(minutes=1))
    assert outbox(app) == [("olga@reminder.test", "uncertain", 0)]
    deliver(app, t0 + timedelta(days=1))
    assert len(smtp.messages) == 1
    login(client, "olga@reminder.test")
    assert "email uncertain" in html_text(client.get("/notifications"))
    assert "email uncertain" in html_text(client.get("/outbox"))


def test_without_smtp_settings_mail_waits_and_is_shown_as_not_sent(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    _one_due(app)
    deliver(app, utc(2026, 5, 15, 12))
    assert {s for _, s, _ in outbox(app)} == {"queued"}
    login(client, "olga@reminder.test")
    assert "not sent: no mail server is configured" in html_text(client.get("/notifications"))
    page = html_text(client.get("/outbox"))
    assert "No mail server is configured" in page
    assert "not sent" in page


def test_the_jobs_are_registered_with_the_scheduler():
    from campaigns.scheduler import TASK_MODULES, TASKS, _import_tasks

    _import_tasks()
    ids = {t.id: t for t in TASKS}
    assert "campaigns.reminders.jobs" in TASK_MODULES
    assert ids["reminders-scan"].trigger_args == {"minutes": 5}
    assert ids["reminders-deliver"].trigger_args == {"minutes": 1}
    assert ids["reminders-digest"].trigger_args == {"minutes": 60}


def test_reminder_states_are_what_delivery_reads():
    assert delivery.CLAIM_BATCH > 0
    assert ReminderStatus.PENDING.value == "pending"
    assert OutboxStatus.UNCERTAIN.value == "uncertain"
    assert Kind.DIGEST.label == "Weekly digest"
