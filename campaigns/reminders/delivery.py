"""Delivery: due reminders are claimed one by one with a conditional UPDATE (`claimed_at IS
NULL`); the claim, the recipients' notifications and their outbox emails commit together, so
a reminder reaches each recipient once or, if the process dies first, not yet (never twice).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..accounts.models import Role, User, user_practices
from ..extensions import db
from . import mailer
from .models import (
    Kind,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Reminder,
    ReminderPreference,
    ReminderStatus,
)

CLAIM_BATCH = 200


def recipients(reminder: Reminder) -> list[User]:
    """Who is reminded: the digest's owner; otherwise the active owners and managers who may
    see the practice and chose it (all practices unless they picked some), and the
    campaign's owner."""
    if reminder.kind == Kind.DIGEST:
        user = db.session.get(User, reminder.user_id)
        return [user] if user is not None and user.active else []
    sees = sa.or_(
        User.role == Role.OWNER,
        User.all_practices.is_(True),
        sa.exists().where(
            user_practices.c.user_id == User.id,
            user_practices.c.practice_id == reminder.practice_id,
        ),
    )
    users = db.session.scalars(
        sa.select(User)
        .where(
            User.organization_id == reminder.organization_id,
            User.active.is_(True),
            User.role.in_([Role.OWNER, Role.MANAGER]),
            sees,
        )
        .order_by(User.id)
    ).all()
    prefs = preferences_of([u.id for u in users])
    owner_id = reminder.campaign.owner_id if reminder.campaign is not None else None
    chosen = []
    for user in users:
        picked = prefs[user.id].practice_ids if user.id in prefs else None
        if user.id == owner_id or picked is None or reminder.practice_id in picked:
            chosen.append(user)
    return chosen


def preferences_of(user_ids: list[int]) -> dict[int, ReminderPreference]:
    if not user_ids:
        return {}
    return {
        p.user_id: p
        for p in db.session.scalars(
            sa.select(ReminderPreference).where(ReminderPreference.user_id.in_(user_ids))
        )
    }


def wants_email(pref: ReminderPreference | None, kind: Kind) -> bool:
    return pref is None or kind.value not in (pref.email_off or [])


def claim(reminder_id: int, now: datetime, worker: str) -> bool:
    """The conditional UPDATE: True for exactly one claimant."""
    table = Reminder.__table__
    result = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == reminder_id,
            table.c.claimed_at.is_(None),
            table.c.status == ReminderStatus.PENDING.value,
        )
        .values(claimed_at=now, claimed_by=worker)
    )
    return result.rowcount == 1


def queue_email(
    notification: Notification, user: User, reminder: Reminder, now: datetime
) -> OutboxMessage | None:
    """The outbox message for one notification (at most one per notification and round)."""
    if not user.email:
        return None
    key = f"n:{notification.id}:{notification.emailed}"
    subject, text, html = mailer.compose(reminder, user, now)
    message = OutboxMessage(
        organization_id=reminder.organization_id,
        key=key,
        user_id=user.id,
        reminder_id=reminder.id,
        to_address=user.email,
        subject=subject,
        body_text=text,
        body_html=html,
        next_attempt_at=now,
        created_at=now,
    )
    message.raw = mailer.mime(message)
    db.session.add(message)
    return message


def notify(reminder: Reminder, now: datetime) -> int:
    """The claimed reminder's notifications and emails (in the claim's transaction)."""
    users = recipients(reminder)
    prefs = preferences_of([u.id for u in users])
    for user in users:
        notification = Notification(
            organization_id=reminder.organization_id,
            reminder_id=reminder.id,
            user_id=user.id,
            created_at=now,
            emailed=1,
        )
        db.session.add(notification)
        db.session.flush()
        if wants_email(prefs.get(user.id), reminder.kind):
            queue_email(notification, user, reminder, now)
    return len(users)


def dispatch(now: datetime, worker: str) -> int:
    """Claim every due, unclaimed reminder and notify its recipients; returns how many this
    process claimed. Each claim commits with its notifications and emails (in id order, so
    two processes never wait on each other in a circle)."""
    claimed = 0
    while True:
        ids = db.session.scalars(
            sa.select(Reminder.id)
            .where(
                Reminder.claimed_at.is_(None),
                Reminder.status == ReminderStatus.PENDING,
                Reminder.fire_at <= now,
            )
            .order_by(Reminder.id)
            .limit(CLAIM_BATCH)
        ).all()
        if not ids:
            return claimed
        for reminder_id in ids:
            if claim(reminder_id, now, worker):
                claimed += 1
                notify(db.session.get(Reminder, reminder_id), now)
            # one commit per reminder: a second process waits on one row at most, not a batch
            db.session.commit()
        if len(ids) < CLAIM_BATCH:
            return claimed


def wake_snoozed(now: datetime) -> int:
    """Snoozes that ended: the notification is unread again and, when the user wants email
    for its kind, emailed once more (the conditional UPDATE makes that happen once)."""
    table = Notification.__table__
    woken = 0
    rows = db.session.execute(
        sa.select(table.c.id, table.c.snoozed_until)
        .join(Reminder.__table__, Reminder.__table__.c.id == table.c.reminder_id)
        .where(
            table.c.snoozed_until <= now,
            table.c.dismissed_at.is_(None),
            Reminder.__table__.c.status == ReminderStatus.PENDING.value,
        )
        .order_by(table.c.id)
    ).all()
    for notification_id, until in rows:
        result = db.session.execute(
            sa.update(table)
            .where(table.c.id == notification_id, table.c.snoozed_until == until)
            .values(snoozed_until=None, read_at=None, emailed=table.c.emailed + 1)
        )
        if result.rowcount != 1:
            continue
        woken += 1
        notification = db.session.get(Notification, notification_id)
        db.session.refresh(notification)
        user = db.session.get(User, notification.user_id)
        pref = preferences_of([user.id]).get(user.id)
        if user.active and wants_email(pref, notification.reminder.kind):
            queue_email(notification, user, notification.reminder, now)
        db.session.commit()
    return woken


def cancel_unsent(reminder_ids: list[int], now: datetime) -> None:
    """Emails still waiting for reminders that were resolved are not sent (they would nudge
    about something already done)."""
    if not reminder_ids:
        return
    db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.reminder_id.in_(reminder_ids),
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.claimed_at.is_(None),
        )
        .values(status=OutboxStatus.CANCELLED, last_error="resolved before it was sent")
    )
