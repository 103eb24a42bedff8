"""Two delivery processes started at once against PostgreSQL, the reminders already due: the
SMTP server receives every email exactly once; a restarted scheduler sends nothing again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns.extensions import db
from campaigns.modelbase import utcnow
from campaigns.reminders.models import OutboxMessage, OutboxStatus, Reminder, ReminderPreference
from tests.conftest import database
from tests.web.reminders_helpers import SmtpServer, add_campaign, build_office, free_port
from tests.web.test_scheduler import random_key

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = 40  # 40 reminders x 2 recipients (owner and manager) = 80 emails


@pytest.fixture
def smtp_server():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


def _env(database_url: str, server: SmtpServer) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_TLS": "none",
        "SMTP_FROM": "reminders@fee.test",
        "SCHEDULER_LOCK_KEY": str(random_key()),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_two_processes_deliver_every_reminder_exactly_once(
    app, database_url, smtp_server, tmp_path
):
    today = utcnow().date()
    with database(app) as s:
        office = build_office()
        s.add(ReminderPreference(organization_id=office.org_id, user_id=office.owner_id,
                                 email_off=["digest"]))  # fmt: skip
        from campaigns.accounts.models import Practice
        from tests.factories import ContractFactory, NetworkFactory

        practice = s.get(Practice, office.practice_id)
        for n in range(CAMPAIGNS):
            network = NetworkFactory(organization_id=office.org_id, name=f"Network {n:02d}")
            contract = ContractFactory(practice=practice, network=network, renewal_date=None)
            add_campaign(office, contract_id=contract.id,
                         schedule_requested_on=today - timedelta(days=20 + n % 5))  # fmt: skip
    now = utcnow()
    with app.app_context():
        from campaigns.reminders import jobs

        assert jobs.scan(now) == CAMPAIGNS  # already due before the processes start

    go = tmp_path / "go"
    env = _env(database_url, smtp_server)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.web.reminder_worker", str(go), now.isoformat(), name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for name in ("first", "second")
    ]
    go.touch()
    outputs = [w.communicate(timeout=90)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    received = Counter(
        (m.rcpt_tos[0], m.message["X-Fee-Campaigns-Outbox"]) for m in smtp_server.messages
    )
    assert len(received) == CAMPAIGNS * 2
    assert set(received.values()) == {1}, "an email was sent twice"
    with app.app_context():
        statuses = Counter(db.session.scalars(sa.select(OutboxMessage.status)))
        claimed_by = Counter(db.session.scalars(sa.select(Reminder.claimed_by)))
        sent_by = Counter(db.session.scalars(sa.select(OutboxMessage.claimed_by)))
    assert statuses == {OutboxStatus.SENT: CAMPAIGNS * 2}
    assert sum(claimed_by.values()) == CAMPAIGNS
    assert set(claimed_by) <= {"first", "second"}
    print("claims per process:", dict(claimed_by), "emails sent per process:", dict(sent_by))

    # A restart: the real scheduler runs every task once; everything is sent already.
    again = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "scheduler", "--once"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert len(smtp_server.messages) == CAMPAIGNS * 2
