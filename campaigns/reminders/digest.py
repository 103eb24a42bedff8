"""The weekly digest for owners: what it says (open, overdue, won this month, due soon) and
which digests are due (each owner's chosen weekday, 08:00 in their first practice's zone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ..accounts.models import Practice, Role, User
from ..accounts.scoping import scoped
from ..extensions import db
from ..negotiations.models import Campaign, Outcome, Status
from ..payers.models import Contract
from . import rules
from .models import Kind, ReminderPreference

DUE_SOON_DAYS = 14
#: a scheduler that was down on the digest day still sends it the day after, not later
CATCH_UP_DAYS = 1


@dataclass
class DigestFigures:
    time_zone: str
    open: int = 0
    overdue: list[Campaign] = field(default_factory=list)
    won: list[Campaign] = field(default_factory=list)
    due_soon: list[tuple[date, str, Campaign | None, Contract | None]] = field(default_factory=list)


def _practice_ids(user: User) -> list[int] | None:
    pref = db.session.scalar(
        sa.select(ReminderPreference).where(ReminderPreference.user_id == user.id)
    )
    return pref.practice_ids if pref is not None else None


def digest_figures(user: User, today: date) -> DigestFigures:
    """The digest's figures for the practices the owner sees (and chose), as of `today`."""
    picked = _practice_ids(user)
    campaigns = scoped(Campaign, user)
    contracts = scoped(Contract, user).where(Contract.archived_at.is_(None))
    if picked is not None:
        campaigns = campaigns.where(Campaign.practice_id.in_(picked))
        contracts = contracts.where(Contract.practice_id.in_(picked))
    first = db.session.scalar(scoped(Practice, user).order_by(Practice.name).limit(1))
    figures = DigestFigures(first.time_zone if first else rules.DEFAULT_TZ)
    open_ = list(db.session.scalars(campaigns.where(Campaign.status == Status.OPEN)))
    figures.open = len(open_)
    soon = today + timedelta(days=DUE_SOON_DAYS)
    for c in open_:
        if c.response_due_on is not None and c.responded_on is None:
            if c.response_due_on < today:
                figures.overdue.append(c)
            elif c.response_due_on <= soon:
                figures.due_soon.append((c.response_due_on, "reply-by date", c, None))
    month_start = today.replace(day=1)
    figures.won = list(
        db.session.scalars(
            campaigns.where(
                Campaign.status == Status.CLOSED,
                Campaign.outcome.in_([Outcome.YES, Outcome.PARTIAL]),
                Campaign.closed_on >= month_start,
                Campaign.closed_on <= today,
            ).order_by(Campaign.closed_on)
        )
    )
    for k in db.session.scalars(contracts.where(Contract.renewal_date.is_not(None))):
        for what, day in (("renewal", k.renewal_date), ("notice deadline", k.notice_deadline)):
            if day is not None and today <= day <= soon:
                figures.due_soon.append((day, what, None, k))
    for c in db.session.scalars(
        campaigns.where(
            Campaign.status == Status.CLOSED,
            Campaign.next_review_on.is_not(None),
            Campaign.next_review_on <= soon,
            Campaign.next_review_on >= today,
        )
    ):
        figures.due_soon.append((c.next_review_on, "re-review", c, None))
    figures.overdue.sort(key=lambda c: (c.response_due_on, c.id))
    figures.due_soon.sort(key=lambda row: (row[0], row[1]))
    return figures


def due_digests(now: datetime) -> list[dict]:
    """A digest row for every active owner whose digest weekday has come (the latest such
    date whose 08:00 has passed, in the zone of the owner's first practice by name; at most
    CATCH_UP_DAYS ago)."""
    zones = dict(
        db.session.execute(
            sa.select(Practice.organization_id, Practice.time_zone)
            .where(Practice.archived_at.is_(None))
            .order_by(Practice.organization_id, Practice.name.desc())
        ).all()
    )  # the last row per organisation wins: its first practice by name
    weekdays = dict(
        db.session.execute(
            sa.select(ReminderPreference.user_id, ReminderPreference.digest_weekday)
        ).all()
    )
    rows = []
    for uid, org in db.session.execute(
        sa.select(User.id, User.organization_id).where(
            User.role == Role.OWNER, User.active.is_(True)
        )
    ):
        tz = zones.get(org, rules.DEFAULT_TZ)
        cutoff = rules.last_firing_date(now, tz)
        day = cutoff - timedelta(days=(cutoff.weekday() - weekdays.get(uid, 0)) % 7)
        if (cutoff - day).days > CATCH_UP_DAYS:
            continue  # a digest days late would be stale news: wait for next week's
        rows.append(
            {
                "kind": Kind.DIGEST.value,
                "subject_id": uid,
                "organization_id": org,
                "practice_id": None,
                "user_id": uid,
                "due_on": day,
                "fire_at": rules.fire_at(day, tz),
                "campaign_id": None,
                "contract_id": None,
                "event_on": None,
                "number": 0,
            }
        )
    return rows
