"""The board's cards and the closed-campaign list, each in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..accounts.models import Practice, User
from ..accounts.scoping import scoped
from ..extensions import db
from ..payers.models import Contract, Network
from . import rules
from .models import COUNTED_CODES, Campaign, CampaignCode, Outcome, Status, Step
from .services import figures

CLOSED_PER_PAGE = 25


@dataclass(frozen=True)
class Card:
    campaign: Campaign
    network: str
    practice: str
    owner: str
    step: Step
    asked_value: Decimal
    days_in_step: int
    due_on: date | None
    overdue: bool


def due_date(campaign: Campaign, practice: Practice) -> date | None:
    """When something is due from the network: the schedule (first follow-up after the
    request) while it has not arrived, the answer (the reply-by date) once submitted."""
    if (
        campaign.step == Step.REQUEST
        and campaign.schedule_requested_on
        and campaign.schedule_received_on is None
    ):
        days = (practice.follow_up_list or [30])[0]
        return campaign.schedule_requested_on + timedelta(days=days)
    if campaign.step == Step.RESPONSE and campaign.responded_on is None:
        return campaign.response_due_on
    return None


def _filtered(stmt, practice_id, owner_id, network_id):
    if practice_id is not None:
        stmt = stmt.where(Campaign.practice_id == practice_id)
    if owner_id is not None:
        stmt = stmt.where(Campaign.owner_id == owner_id)
    if network_id is not None:
        stmt = stmt.where(Contract.network_id == network_id)
    return stmt


def campaign_code_rows(campaign_ids: list[int]) -> dict[int, list[sa.Row]]:
    """The rows the money figures read (targets and answered codes), per campaign, in one query
    on their partial index; as plain rows with the columns `figures` reads (no ORM objects:
    a board has hundreds)."""
    rows: dict[int, list[sa.Row]] = {cid: [] for cid in campaign_ids}
    if campaign_ids:
        for row in db.session.execute(
            sa.select(
                CampaignCode.campaign_id,
                CampaignCode.code,
                CampaignCode.count,
                CampaignCode.allowed_cents,
                CampaignCode.office_cents,
                CampaignCode.asked_cents,
                CampaignCode.granted_cents,
                CampaignCode.is_target,
            ).where(CampaignCode.campaign_id.in_(campaign_ids), COUNTED_CODES)
        ):
            rows[row.campaign_id].append(row)
    return rows


def board_cards(
    user: User,
    *,
    practice_id: int | None,
    owner_id: int | None,
    network_id: int | None,
    today_for: Callable[[Practice], date],
) -> list[Card]:
    """One card per open campaign the user may see, oldest in its step first."""
    stmt = _filtered(
        scoped(Campaign, user)
        .add_columns(Network.name, Practice, User.name)
        .join(Contract, Contract.id == Campaign.contract_id)
        .join(Network, Network.id == Contract.network_id)
        .join(Practice, Practice.id == Campaign.practice_id)
        .outerjoin(User, User.id == Campaign.owner_id)
        .where(Campaign.status == Status.OPEN)
        .order_by(Campaign.step_entered_at, Campaign.id),
        practice_id,
        owner_id,
        network_id,
    )
    found = db.session.execute(stmt).all()
    rows = campaign_code_rows([c.id for c, *_ in found])
    cards = []
    for campaign, network, practice, owner in found:
        today = today_for(practice)
        entered = campaign.step_entered_at.date() if campaign.step_entered_at else today
        due = due_date(campaign, practice)
        cards.append(
            Card(
                campaign=campaign,
                network=network,
                practice=practice.name,
                owner=owner or "nobody",
                step=campaign.step,
                asked_value=rules.asked_value(figures(campaign, rows[campaign.id])),
                days_in_step=max((today - entered).days, 0),
                due_on=due,
                overdue=due is not None and due < today,
            )
        )
    return cards


@dataclass(frozen=True)
class ClosedRow:
    campaign: Campaign
    network: str
    practice: str
    asked_value: Decimal
    realised_gain: Decimal


@dataclass(frozen=True)
class ClosedPage:
    rows: list[ClosedRow]
    page: int
    pages: int
    total: int
    sort: str


CLOSED_SORTS = {
    "closed": Campaign.closed_on,
    "network": sa.func.lower(Network.name),
    "practice": sa.func.lower(Practice.name),
    "outcome": Campaign.outcome,
}


def closed_page(
    user: User,
    *,
    practice_id: int | None,
    owner_id: int | None,
    network_id: int | None,
    page: int,
    sort: str,
) -> ClosedPage:
    """Closed campaigns, newest first by default, a page at a time."""
    key = sort.removeprefix("-")
    if key not in CLOSED_SORTS:
        sort, key = "-closed", "closed"
    column = CLOSED_SORTS[key]
    base = _filtered(
        scoped(Campaign, user)
        .join(Contract, Contract.id == Campaign.contract_id)
        .join(Network, Network.id == Contract.network_id)
        .join(Practice, Practice.id == Campaign.practice_id)
        .where(Campaign.status == Status.CLOSED),
        practice_id,
        owner_id,
        network_id,
    )
    total = db.session.scalar(base.with_only_columns(sa.func.count(Campaign.id)))
    pages = max((total + CLOSED_PER_PAGE - 1) // CLOSED_PER_PAGE, 1)
    page = min(page, pages)
    found = db.session.execute(
        base.add_columns(Network.name, Practice.name)
        .order_by(column.desc() if sort.startswith("-") else column.asc(), Campaign.id.desc())
        .limit(CLOSED_PER_PAGE)
        .offset((page - 1) * CLOSED_PER_PAGE)
    ).all()
    rows = campaign_code_rows([c.id for c, *_ in found])
    result = []
    for campaign, network, practice in found:
        figs = figures(campaign, rows[campaign.id])
        result.append(
            ClosedRow(
                campaign,
                network,
                practice,
                rules.asked_value(figs),
                rules.realised_gain(figs) if campaign.outcome != Outcome.WITHDRAWN else Decimal(0),
            )
        )
    return ClosedPage(result, page, pages, total, sort)
