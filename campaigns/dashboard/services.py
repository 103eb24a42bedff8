"""Outcome figures for the dashboard, from the campaigns the user may see, in a fixed number
of queries: outcomes by year and network, asked and won per year, win rates, days to respond,
the open pipeline by step, what is overdue and what is due for review."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

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
COLOURS = {"yes": "#15803d", "partial": "#d97706", "no": "#b91c1c", "withdrawn": "#6b7280"}


@dataclass
class NetworkRow:
    """The closed campaigns of one network (or of all of them): outcome counts, $/yr asked
    and won (withdrawn campaigns count in neither), and the submitted -> responded pairs."""

    network: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    asked: Decimal = Decimal(0)
    won: Decimal = Decimal(0)
    responses: list[tuple[date, date]] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return self.counts["yes"] + self.counts["partial"] + self.counts["no"]

    @property
    def win_rate(self) -> Decimal | None:
        return rules.win_rate(o for o, n in self.counts.items() for _ in range(n))

    @property
    def median_days(self) -> Decimal | None:
        return rules.median_days(self.responses)


@dataclass(frozen=True)
class PipelineRow:
    step: Step | None  # None: the total of every step
    campaigns: int
    asked: Decimal  # $/yr asked over the target codes of the campaigns in the step


@dataclass(frozen=True)
class Due:
    """A contract to look at: its re-review date, its notice deadline or both are near (one
    entry per contract, its dates in order)."""

    contract_id: int
    network: str
    practice: str
    dates: tuple[tuple[str, date], ...]  # ("re-review" | "notice deadline", day), earliest first
    last_campaign_id: int | None  # the closed campaign whose review is due
    open_campaign_id: int | None  # an open campaign already working on the contract

    @property
    def what(self) -> str:
        return self.dates[0][0]

    @property
    def on(self) -> date:
        return self.dates[0][1]

    def overdue(self, today: date) -> bool:
        return self.on < today


@dataclass(frozen=True)
class Dashboard:
    today: date
    years: list[int]
    by_year: dict[int, dict[str, int]]
    year_win_rates: dict[int, Decimal | None]
    networks: list[NetworkRow]
    total: NetworkRow
    pipeline: list[PipelineRow]
    pipeline_total: PipelineRow | None
    overdue: list[Card]
    due: list[Due]
    open_count: int
    closed_count: int


def build_dashboard(
    user: User,
    *,
    practice_id: int | None,
    today: date,
    today_for: Callable[[Practice], date] | None = None,
) -> Dashboard:
    """The dashboard of the practices `user` may see (or of one of them), on `today`.

    `today_for` gives a practice's own date for the open campaigns' due dates (practices sit
    in different time zones); without it every practice is on `today`. Six queries, whatever
    the number of campaigns."""
    today_for = today_for or (lambda _practice: today)
    closed_stmt = (
        scoped(Campaign, user)
        .add_columns(Network.name)
        .join(Contract, Contract.id == Campaign.contract_id)
        .join(Network, Network.id == Contract.network_id)
        .where(Campaign.status == Status.CLOSED)
        .order_by(Network.name, Campaign.closed_on, Campaign.id)
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
        by_year.setdefault(campaign.closed_on.year, dict.fromkeys(OUTCOMES, 0))[outcome] += 1
        row = networks.setdefault(network, NetworkRow(network))
        for target in (row, total):
            target.counts[outcome] += 1
        if campaign.outcome == Outcome.WITHDRAWN:
            continue  # no answer: neither asked against won, nor days to respond
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
        PipelineRow(
            step,
            sum(1 for c in cards if c.step == step),
            sum((c.asked_value for c in cards if c.step == step), Decimal(0)),
        )
        for step in STEPS
    ]
    open_by_contract = {c.campaign.contract_id: c.campaign.id for c in cards}
    return Dashboard(
        today=today,
        years=sorted(by_year),
        by_year=by_year,
        year_win_rates={
            y: rules.win_rate(o for o, n in counts.items() for _ in range(n))
            for y, counts in by_year.items()
        },
        networks=sorted(networks.values(), key=lambda r: r.network.lower()),
        total=total,
        pipeline=pipeline,
        pipeline_total=PipelineRow(None, len(cards), sum((p.asked for p in pipeline), Decimal(0)))
        if cards
        else None,
        overdue=sorted((c for c in cards if c.overdue), key=lambda c: (c.due_on, c.network)),
        due=_due(user, practice_id, today, open_by_contract),
        open_count=len(cards),
        closed_count=len(closed),
    )


def _due(
    user: User, practice_id: int | None, today: date, open_by_contract: dict[int, int]
) -> list[Due]:
    """Contracts whose last closed campaign's re-review date is within DUE_WITHIN_DAYS days
    or past, unless a newer campaign is open on the contract; and contracts whose notice
    deadline falls within the next DUE_WITHIN_DAYS days (open campaign or not: the deadline
    holds either way). Two queries."""
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
    latest: dict[int, tuple[int, date | None]] = {}
    if contracts:
        last_closed = (
            scoped(Campaign, user)
            .with_only_columns(Campaign.contract_id, Campaign.id, Campaign.next_review_on)
            .where(
                Campaign.contract_id.in_([c.id for c, *_ in contracts]),
                Campaign.status == Status.CLOSED,
            )
            .order_by(Campaign.closed_on, Campaign.id)
        )
        for contract_id, campaign_id, review_on in db.session.execute(last_closed):
            latest[contract_id] = (campaign_id, review_on)  # the last one closed wins
    due = []
    for contract, network, practice in contracts:
        open_id = open_by_contract.get(contract.id)
        last_id, review_on = latest.get(contract.id, (None, None))
        dates = []
        if open_id is None and review_on is not None and review_on <= horizon:
            dates.append(("re-review", review_on))
        else:
            last_id = None
        deadline = contract.notice_deadline
        if deadline is not None and today <= deadline <= horizon:
            dates.append(("notice deadline", deadline))
        if dates:
            dates.sort(key=lambda d: d[1])
            due.append(Due(contract.id, network, practice, tuple(dates), last_id, open_id))
    return sorted(due, key=lambda d: (d.on, d.network.lower(), d.practice.lower()))


def dashboard_charts(d: Dashboard) -> dict[str, str]:
    """The data-chart specs (JSON) for static/js/app.js; the numbers only draw the bars, the
    figures stay in the tables beside them."""

    def outcome_series(values: Callable[[str], list[int]]) -> list[dict]:
        return [{"label": o, "values": values(o), "colour": COLOURS[o]} for o in OUTCOMES]

    by_year = {
        "type": "bar",
        "format": "count",
        "stacked": True,
        "labels": [str(y) for y in d.years],
        "series": outcome_series(lambda o: [d.by_year[y][o] for y in d.years]),
    }
    by_network = {
        "type": "bar",
        "format": "count",
        "stacked": True,
        "labels": [r.network for r in d.networks],
        "series": outcome_series(lambda o: [r.counts[o] for r in d.networks]),
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
    return {
        key: json.dumps(spec)
        for key, spec in (("by_year", by_year), ("by_network", by_network), ("money", money))
    }
