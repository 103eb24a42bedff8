"""The scheduler's reminder tasks (listed in campaigns.scheduler.TASK_MODULES): scan every few
minutes, deliver every minute, digest hourly. Each takes `now` and commits its own work."""

from __future__ import annotations

from datetime import datetime

from ..extensions import db
from ..scheduler import task, worker_id
from . import delivery, digest, mailer
from . import scan as scanning


@task("reminders-scan", minutes=5)
def scan(now: datetime) -> int:
    """Create the reminders that have become due (idempotent)."""
    created = scanning.scan(now)
    db.session.commit()
    return created


@task("reminders-deliver", minutes=1)
def deliver(now: datetime, worker: str | None = None) -> dict[str, int]:
    """Claim due reminders (notifications + outbox), wake ended snoozes, mark dead senders'
    messages uncertain, then send the outbox."""
    worker = worker or worker_id()
    result = {
        "claimed": delivery.dispatch(now, worker),
        "woken": delivery.wake_snoozed(now),
        "uncertain": mailer.mark_uncertain(now),
        "sent": mailer.send_outbox(now, worker),
    }
    return result if any(result.values()) else {}


@task("reminders-digest", minutes=60)
def digest_task(now: datetime) -> int:
    """Each owner's weekly digest, on their weekday from 08:00 in their practices' zone. It
    runs hourly (a weekly trigger would be 08:00 in one zone only); the row's key makes it
    once a week."""
    created = scanning.insert_if_absent(digest.due_digests(now), now)
    db.session.commit()
    return created
