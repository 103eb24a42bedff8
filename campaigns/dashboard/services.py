"""Outcome figures for the dashboard, from the campaigns the user may see, in a fixed number
of queries: outcomes by year and network, asked and won per year, win rates, days to respond,
the open pipeline by step, what is overdue and what is due for review."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..accounts.models import Practice, User
from ..accounts.scoping import scoped
from ..extensions import db
from ..negotiations import rules
from ..negotiations.board import Card, board_cards, campaign_code_rows
from ..negotiations.models import STEPS, Campaign, Outcome, Status, Step
from ..negotiations.services import figures
from ..payers.models import Contract, Network

OUTCOMES = [o.value for o in Outcome]
DUE_WITHIN_DAYS = 60


@dataclass
class NetworkRow:
    network: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    asked: Decimal = Decimal(0)  # $/yr asked, campaigns answered (withdrawn ones left out)
    won: Decimal = Decimal(0)  # realised gain $/yr
    responses: list[tuple[date, date]] = field(default_factory=list)

    @property
    def win_rate(self) -> Decimal | None:
        return rules.win_rate(o for o, n in self.counts.items() for _ in range(n))

    @property
    def median_days(self) -> Decimal | None:
        return rules.median_days(self.responses)


@dataclass(frozen=True)
class Due:
    contract_id: int
    network: str
    practice: str
    what: str  # "re-review" or "notice deadline"
    on: date
    campaign_id: int | None


@dataclass(frozen=True)
class Dashboard:
    years: list[int]
    by_year: dict[int, dict[str, int]]
    networks: list[NetworkRow]
    total: NetworkRow
    pipeline: list[tuple[Step, int, Decimal]]  # step, campaigns, $/yr asked
    overdue: list[Card]
    due: list[Due]
    open_count: int
    closed_count: int


def build_dashboard(
    user: User,
    *,
    practice_id: int | None,
    today: date,
    today_for: Callable[[Practice], date],
) -> Dashboard:
    closed_stmt = (
        scoped(Campaign, user)
        .add_columns(Network.name)
        .join(Contract, Contract.id == Campaign.contract_id)
        .join(Network, Network.id == Contract.network_id)
        .where(Campaign.status == Status.CLOSED)
        .order_by(Network.name, Campaign.closed_on)
    )
    if practice_id is not None:
        closed_stmt = closed_stmt.where(Campaign.practice_id == practice_id)
    closed = db.session.execute(closed_stmt).all()
    rows = campaign_code_rows([c.id for c, _ in closed])

    by_year: dict[int, dict[str, int]] = {}
    networks: dict[str, NetworkRow] = {}
    total = NetworkRow("All networks")
    for campaign, network in closed:
        outcome = campaign.outcome.value
        year = campaign.closed_on.year
        by_year.setdefault(year, dict.fromkeys(OUTCOMES, 0))[outcome] += 1
        row = networks.setdefault(network, NetworkRow(network))
        for target in (row, total):
            target.counts[outcome] += 1
        if campaign.outcome == Outcome.WITHDRAWN:
            continue
        figs = figures(campaign, rows[campaign.id])
        asked, won = rules.asked_value(figs), rules.realised_gain(figs)
        for target in (row, total):
            target.asked += asked
            target.won += won
            if campaign.submitted_on and campaign.responded_on:
                target.responses.append((campaign.submitted_on, campaign.responded_on))

    cards = board_cards(
        user, practice_id=practice_id, owner_id=None, network_id=None, today_for=today_for
    )
    pipeline = [
        (
            step,
            sum(1 for c in cards if c.step == step),
            sum((c.asked_value for c in cards if c.step == step), Decimal(0)),
        )
        for step in STEPS
    ]
    return Dashboard(
        years=sorted(by_year),
        by_year=by_year,
        networks=sorted(networks.values(), key=lambda r: r.network.lower()),
        total=total,
        pipeline=pipeline,
        overdue=[c for c in cards if c.overdue],
        due=_due(user, practice_id, today, {c.campaign.contract_id for c in cards}),
        open_count=len(cards),
        closed_count=len(closed),
    )


def _due(user: User, practice_id: int | None, today: date, open_contracts: set[int]) -> list[Due]:
    """Contracts whose last campaign's review date, or whose notice deadline, falls within
    the next DUE_WITHIN_DAYS days (or has passed, for a review), without an open campaign."""
    horizon = today + timedelta(days=DUE_WITHIN_DAYS)
    stmt = (
        scoped(Contract, user)
        .add_columns(Network.name, Practice.name)
        .join(Network, Network.id == Contract.network_id)
        .join(Practice, Practice.id == Contract.practice_id)
        .where(Contract.archived_at.is_(None), Practice.archived_at.is_(None))
    )
    if practice_id is not None:
        stmt = stmt.where(Contract.practice_id == practice_id)
    contracts = db.session.execute(stmt).all()
    ids = [c.id for c, *_ in contracts]
    latest: dict[int, Campaign] = {}
    if ids:
        for campaign in db.session.scalars(
            sa.select(Campaign)
            .where(Campaign.contract_id.in_(ids), Campaign.status == Status.CLOSED)
            .order_by(Campaign.closed_on, Campaign.id)
        ):
            latest[campaign.contract_id] = campaign
    due = []
    for contract, network, practice in contracts:
        if contract.id in open_contracts:
            continue
        last = latest.get(contract.id)
        if last and last.next_review_on and last.next_review_on <= horizon:
            due.append(
                Due(contract.id, network, practice, "re-review", last.next_review_on, last.id)
            )
        deadline = contract.notice_deadline
        if deadline and today <= deadline <= horizon:
            due.append(Due(contract.id, network, practice, "notice deadline", deadline, None))
    return sorted(due, key=lambda d: (d.on, d.network))


def dashboard_charts(d: Dashboard) -> dict[str, str]:
    """The data-chart specs (JSON) of the dashboard's charts; the numbers only draw the bars."""
    import json

    colours = {"yes": "#15803d", "partial": "#d97706", "no": "#b91c1c", "withdrawn": "#6b7280"}
    outcomes = {
        "type": "bar",
        "stacked": True,
        "labels": [str(y) for y in d.years],
        "series": [
            {"label": o, "values": [d.by_year[y][o] for y in d.years], "colour": colours[o]}
            for o in OUTCOMES
        ],
    }
    money = {
        "type": "bar",
        "format": "money",
        "labels": [r.network for r in d.networks],
        "series": [
            {
                "label": "asked / yr",
                "values": [float(r.asked) for r in d.networks],
                "colour": "#0172ad",
            },
            {
                "label": "won / yr",
                "values": [float(r.won) for r in d.networks],
                "colour": "#15803d",
            },
        ],
    }
    return {"outcomes": json.dumps(outcomes), "money": json.dumps(money)}
