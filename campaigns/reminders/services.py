"""What users and the campaign services do with reminders: resolve them when the campaign
is acted on, read, snooze and dismiss them, set preferences, hold a calendar feed token."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ..accounts.models import Practice, Role, User
from ..accounts.scoping import scoped
from ..accounts.services import ServiceError
from ..extensions import db
from . import rules
from .delivery import cancel_unsent
from .models import (
    CAMPAIGN_KINDS,
    Kind,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Reminder,
    ReminderPreference,
    ReminderSettings,
    ReminderStatus,
)

SNOOZES = {"1d": timedelta(days=1), "1w": timedelta(weeks=1)}


# ---- resolving (called by the campaign services) ------------------------------------------


def resolve(
    *, campaign_id: int | None = None, contract_id: int | None = None,
    kinds: Iterable[Kind], why: str, now: datetime,
) -> int:  # fmt: skip
    """The campaign (or contract) was acted on: its pending reminders of `kinds` are done,
    whether delivered yet or not, and their unsent emails are cancelled."""
    where = [Reminder.status == ReminderStatus.PENDING, Reminder.kind.in_(list(kinds))]
    if campaign_id is not None:
        where.append(Reminder.campaign_id == campaign_id)
    if contract_id is not None:
        where.append(Reminder.contract_id == contract_id)
    ids = db.session.scalars(sa.select(Reminder.id).where(*where)).all()
    if not ids:
        return 0
    db.session.execute(
        sa.update(Reminder)
        .where(Reminder.id.in_(ids), Reminder.status == ReminderStatus.PENDING)
        .values(status=ReminderStatus.RESOLVED, resolved_at=now, resolution=why[:120])
    )
    cancel_unsent(ids, now)
    return len(ids)


def resolve_campaign(campaign_id: int, now: datetime, why: str = "campaign closed") -> int:
    return resolve(campaign_id=campaign_id, kinds=CAMPAIGN_KINDS, why=why, now=now)


# ---- the user's notifications -------------------------------------------------------------


def _visible(user: User, now: datetime):
    """The user's notifications shown now: pending reminders, not dismissed, not snoozed."""
    return (
        sa.select(Notification)
        .join(Reminder, Reminder.id == Notification.reminder_id)
        .where(
            Notification.user_id == user.id,
            Notification.organization_id == user.organization_id,
            Notification.dismissed_at.is_(None),
            sa.or_(Notification.snoozed_until.is_(None), Notification.snoozed_until <= now),
            Reminder.status == ReminderStatus.PENDING,
        )
    )


def unread_count(user: User, now: datetime) -> int:
    stmt = _visible(user, now).where(Notification.read_at.is_(None))
    return db.session.scalar(stmt.with_only_columns(sa.func.count(Notification.id)))


def inbox(user: User, now: datetime) -> tuple[list[Notification], list[Notification]]:
    """(shown now, snoozed), newest reminder first."""
    shown = db.session.scalars(
        _visible(user, now).order_by(Reminder.fire_at.desc(), Reminder.id.desc()).limit(200)
    ).all()
    snoozed = db.session.scalars(
        sa.select(Notification)
        .join(Reminder, Reminder.id == Notification.reminder_id)
        .where(
            Notification.user_id == user.id,
            Notification.dismissed_at.is_(None),
            Notification.snoozed_until > now,
            Reminder.status == ReminderStatus.PENDING,
        )
        .order_by(Notification.snoozed_until)
    ).all()
    return list(shown), list(snoozed)


def notification_for(user: User, reminder: Reminder) -> Notification:
    row = db.session.scalar(
        sa.select(Notification).where(
            Notification.reminder_id == reminder.id, Notification.user_id == user.id
        )
    )
    if row is None:
        raise ServiceError("This reminder is not in your notifications.")
    return row


def mark_all_read(user: User, now: datetime) -> int:
    ids = [
        n.id for n in db.session.scalars(_visible(user, now).where(Notification.read_at.is_(None)))
    ]
    if ids:
        db.session.execute(
            sa.update(Notification).where(Notification.id.in_(ids)).values(read_at=now)
        )
    return len(ids)


def snooze(
    user: User, reminder: Reminder, how: str, *, until: date | None, now: datetime
) -> datetime:
    """Hide the reminder for a day, a week or until 08:00 (the practice's time) on a date;
    it comes back unread then (and by email, when email is on for its kind)."""
    notification = notification_for(user, reminder)
    if how in SNOOZES:
        wake = now + SNOOZES[how]
    elif how == "date":
        tz = reminder.practice.time_zone if reminder.practice else rules.DEFAULT_TZ
        if until is None:
            raise ServiceError("Choose the date until which to snooze.", "until")
        wake = rules.fire_at(until, tz)
        if wake <= now:
            raise ServiceError("Choose a date in the future.", "until")
    else:
        raise ServiceError("Choose how long to snooze.", "for")
    notification.snoozed_until = wake
    notification.read_at = now
    return wake


def dismiss(user: User, reminder: Reminder, now: datetime) -> None:
    notification = notification_for(user, reminder)
    notification.dismissed_at = now
    notification.read_at = notification.read_at or now


# ---- preferences ---------------------------------------------------------------------------


def preference(user: User) -> ReminderPreference:
    pref = db.session.scalar(
        sa.select(ReminderPreference).where(ReminderPreference.user_id == user.id)
    )
    if pref is None:
        pref = ReminderPreference(
            organization_id=user.organization_id, user_id=user.id, email_off=[], digest_weekday=0
        )
        db.session.add(pref)
    return pref


def save_preferences(
    user: User, *, email_kinds: Iterable[str], digest_weekday: int, practice_ids: list[int] | None
) -> ReminderPreference:
    """Which kinds come by email, the digest's day, which practices (None: all visible)."""
    kinds = {Kind(k) for k in email_kinds if k in Kind.__members__.values()}
    if not 0 <= digest_weekday <= 6:
        raise ServiceError("Choose a weekday for the digest.", "digest_weekday")
    if practice_ids is not None:
        visible = {p.id for p in db.session.scalars(scoped(Practice, user))}
        if not set(practice_ids) <= visible:
            raise ServiceError("Choose among your practices.", "practices")
        if not practice_ids:
            raise ServiceError("Choose at least one practice, or all of them.", "practices")
        practice_ids = sorted(practice_ids)
    pref = preference(user)
    pref.email_off = sorted(k.value for k in Kind if k not in kinds)
    pref.digest_weekday = digest_weekday
    pref.practice_ids = practice_ids
    return pref


def save_practice_settings(
    practice: Practice, *, schedule_days: int, review_lead_days: int,
    contract_lead_days: int, kinds_on: Iterable[str],
) -> ReminderSettings:  # fmt: skip
    for name, value, low in (
        ("schedule_days", schedule_days, 1),
        ("review_lead_days", review_lead_days, 0),
        ("contract_lead_days", contract_lead_days, 0),
    ):
        if not low <= value <= 365:
            raise ServiceError(f"Enter a number of days from {low} to 365.", name)
    row = db.session.scalar(
        sa.select(ReminderSettings).where(ReminderSettings.practice_id == practice.id)
    )
    if row is None:
        row = ReminderSettings(organization_id=practice.organization_id, practice_id=practice.id)
        db.session.add(row)
    on = set(kinds_on)
    row.schedule_days = schedule_days
    row.review_lead_days = review_lead_days
    row.contract_lead_days = contract_lead_days
    row.off_kinds = sorted(k.value for k in Kind if k != Kind.DIGEST and k.value not in on)
    return row


def practice_settings(practice: Practice) -> ReminderSettings:
    row = db.session.scalar(
        sa.select(ReminderSettings).where(ReminderSettings.practice_id == practice.id)
    )
    return row or ReminderSettings(
        schedule_days=14, review_lead_days=30, contract_lead_days=30, off_kinds=[]
    )


def who_receives(owner: User) -> list[dict]:
    """For owners: every active user, what they get by email and for which practices."""
    users = db.session.scalars(
        scoped(User, owner).where(User.active.is_(True)).order_by(User.name)
    ).all()
    prefs = {
        p.user_id: p
        for p in db.session.scalars(
            sa.select(ReminderPreference).where(
                ReminderPreference.organization_id == owner.organization_id
            )
        )
    }
    names = {p.id: p.name for p in db.session.scalars(scoped(Practice, owner))}
    rows = []
    for user in users:
        pref = prefs.get(user.id)
        off = set(pref.email_off or []) if pref else set()
        reminded = user.role != Role.VIEWER
        if user.sees_all_practices:
            practices = "all practices"
        else:
            practices = ", ".join(sorted(p.name for p in user.practices))
        if pref is not None and pref.practice_ids is not None:
            practices = ", ".join(sorted(names.get(i, "?") for i in pref.practice_ids))
        kinds = [k for k in Kind if k != Kind.DIGEST or user.role == Role.OWNER]
        rows.append(
            {
                "user": user,
                "reminded": reminded,
                "practices": practices,
                "email": {k: reminded and k.value not in off for k in kinds},
                "digest_day": pref.digest_weekday if pref else 0,
                "feed": bool(pref and pref.feed_token_hash),
            }
        )
    return rows


def outbox_for(owner: User, limit: int = 100) -> list[OutboxMessage]:
    """The organisation's emails that are not (or not surely) sent, then the latest sent."""
    stmt = sa.select(OutboxMessage).where(OutboxMessage.organization_id == owner.organization_id)
    problems = db.session.scalars(
        stmt.where(OutboxMessage.status != OutboxStatus.SENT)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    sent = db.session.scalars(
        stmt.where(OutboxMessage.status == OutboxStatus.SENT)
        .order_by(OutboxMessage.id.desc())
        .limit(20)
    ).all()
    return list(problems) + list(sent)


# ---- the calendar feed's token ---------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_feed_token(user: User, now: datetime) -> str:
    """A new secret for the user's feed (the old URL stops working); only its hash is kept,
    so the URL is shown once."""
    token = secrets.token_urlsafe(32)
    pref = preference(user)
    pref.feed_token_hash = token_hash(token)
    pref.feed_created_at = now
    return token


def revoke_feed_token(user: User) -> None:
    pref = preference(user)
    pref.feed_token_hash = None
    pref.feed_created_at = None


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 100:
        return None
    user = db.session.scalar(
        sa.select(User)
        .join(ReminderPreference, ReminderPreference.user_id == User.id)
        .where(ReminderPreference.feed_token_hash == token_hash(token))
    )
    return user if user is not None and user.active else None
