"""The calendar (RFC 5545, with the icalendar library): a user's follow-up, reply-by,
schedule, renewal, notice and re-review dates as all-day events; one campaign's dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from icalendar import Calendar, Event
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..accounts.scoping import scoped
from ..extensions import db
from ..negotiations.models import Activity, Campaign, Status
from ..payers.models import Contract
from . import rules
from .models import Kind
from .scan import CONTACT_KINDS, PracticeRules, practice_rules

PRODID = "-//Fee Campaigns//Reminders//EN"


@dataclass(frozen=True)
class DateEvent:
    uid: str
    day: date
    summary: str
    description: str
    url: str


#: what an event's name reads (network and practice), loaded with the rows, not one by one
NAMES_OF_CONTRACT = (
    selectinload(Contract.network),
    selectinload(Contract.practice),
)
NAMES_OF_CAMPAIGN = (
    selectinload(Campaign.contract).selectinload(Contract.network),
    selectinload(Campaign.practice),
)


def _last_contacts(campaign_ids: list[int]) -> dict[int, date]:
    if not campaign_ids:
        return {}
    return dict(
        db.session.execute(
            sa.select(Activity.campaign_id, sa.func.max(Activity.happened_on))
            .where(Activity.campaign_id.in_(campaign_ids), Activity.kind.in_(CONTACT_KINDS))
            .group_by(Activity.campaign_id)
        ).all()
    )


def campaign_events(
    campaign: Campaign, p: PracticeRules, last_contact: date | None, url: str
) -> list[DateEvent]:
    """The dates of one campaign that a calendar should hold."""
    name = f"{campaign.contract.network.name} ({campaign.practice.name})"
    events = []

    def add(kind: Kind, day: date, summary: str, extra: str = "") -> None:
        events.append(
            DateEvent(
                f"{kind.value}-{campaign.id}-{day.isoformat()}@fee-campaigns",
                day,
                f"{summary}: {name}",
                extra or summary,
                url,
            )  # fmt: skip
        )

    if campaign.status == Status.OPEN:
        if campaign.schedule_requested_on and not campaign.schedule_received_on:
            add(Kind.SCHEDULE, campaign.schedule_requested_on + timedelta(days=p.schedule_days),
                "Chase the fee schedule")  # fmt: skip
        if campaign.submitted_on and not campaign.responded_on:
            contact = (
                last_contact if last_contact and last_contact >= campaign.submitted_on else None
            )
            for number, day in rules.follow_up_dates(
                campaign.submitted_on, p.follow_up_days, contact
            ):
                add(Kind.FOLLOW_UP, day, f"Follow-up {number}: no response yet")
            if campaign.response_due_on:
                add(Kind.DUE, campaign.response_due_on, "Reply-by date")
    elif campaign.next_review_on:
        add(Kind.REVIEW, campaign.next_review_on, "Re-review the fee schedule")
    return events


def contract_events(contract: Contract, url: str) -> list[DateEvent]:
    name = f"{contract.network.name} ({contract.practice.name})"
    events = []
    for kind, day, summary in (
        (Kind.RENEWAL, contract.renewal_date, "Contract renewal"),
        (Kind.NOTICE, contract.notice_deadline, "Last day to give notice"),
    ):
        if day is not None:
            uid = f"{kind.value}-{contract.id}-{day.isoformat()}@fee-campaigns"
            events.append(DateEvent(uid, day, f"{summary}: {name}", summary, url))
    return events


def user_events(user: User, url_for_campaign, url_for_contract) -> list[DateEvent]:
    """Every date of the campaigns and contracts the user may see: open campaigns, and the
    latest closed one per contract (its re-review date)."""
    rules_by_practice = practice_rules(user.organization_id)
    latest_closed = (
        sa.select(sa.func.max(Campaign.id))
        .where(Campaign.status == Status.CLOSED, Campaign.organization_id == user.organization_id)
        .group_by(Campaign.contract_id)
    )
    campaigns = db.session.scalars(
        scoped(Campaign, user)
        .where(sa.or_(Campaign.status == Status.OPEN, Campaign.id.in_(latest_closed)))
        .options(*NAMES_OF_CAMPAIGN)
    ).all()
    contacts = _last_contacts([c.id for c in campaigns])
    events = []
    for campaign in campaigns:
        p = rules_by_practice.get(campaign.practice_id)
        if p is not None:
            events += campaign_events(
                campaign, p, contacts.get(campaign.id), url_for_campaign(campaign.id)
            )
    for contract in db.session.scalars(
        scoped(Contract, user).where(Contract.archived_at.is_(None)).options(*NAMES_OF_CONTRACT)
    ):
        if contract.practice_id in rules_by_practice:
            events += contract_events(contract, url_for_contract(contract.id))
    return sorted(events, key=lambda e: (e.day, e.uid))


def to_ics(events: list[DateEvent], name: str, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now)
        event.add("dtstart", item.day)
        event.add("dtend", item.day + timedelta(days=1))
        event.add("summary", item.summary)
        event.add("description", f"{item.description}\n{item.url}")
        event.add("url", item.url)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()


def campaign_ics(campaign: Campaign, url: str, now: datetime) -> bytes:
    p = practice_rules(campaign.organization_id).get(campaign.practice_id)
    contacts = _last_contacts([campaign.id])
    events = campaign_events(campaign, p, contacts.get(campaign.id), url) if p else []
    events += contract_events(campaign.contract, url)
    return to_ics(sorted(events, key=lambda e: (e.day, e.uid)), "Fee campaign", now)
