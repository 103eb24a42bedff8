"""The outcomes dashboard, checked against figures worked out by hand, on the real database.

`known` builds organisation Alpha with two practices (North, South) and three networks (Acme,
Bolt, Cove). Every campaign's frozen period is a whole year (V = count), except C6's, which
is six whole months (V = 2 x count). Amounts in dollars; E = A (every ask is below U).

Closed (closed on, submitted -> responded):
  C1 North Acme  yes        2025-03-10  2025-01-10 -> 2025-02-24 (45 days)
     T1110 100 x A 80, asked 90, granted 90         asked 1,000.00  won 1,000.00
  C2 North Bolt  partial    2025-06-15  2025-04-01 -> 2025-05-31 (60 days)
     T1110 60 x A 70, asked 84, granted 77          asked   840.00  won   420.00
     T2740 10 x A 900, asked 990, granted 900       asked   900.00  won     0.00
  C3 North Acme  no         2026-04-20  2026-01-05 -> 2026-03-06 (60 days)
     T1110 100 x A 90, asked 100, granted 90        asked 1,000.00  won     0.00
     T0120 50 x A 50, not a target, cut to 48       -               won  -100.00
  C4 North Bolt  withdrawn  2026-02-01  2025-12-01 -> no answer (asked 180.00: not counted)
  C5 South Acme  yes        2026-05-10  2026-03-02 -> 2026-04-01 (30 days)
     T1110 40 x A 75, asked 85, granted 86          asked   400.00  won   440.00
     T0120 30 x A 50, not a target, raised to 55    -               won   150.00
  C6 South Bolt  no         2025-09-30  2025-07-01 -> 2025-08-20 (50 days)
     T1110 10 (V 20) x A 70, asked 80, granted 70   asked   200.00  won     0.00

Open on TODAY = 2026-11-20 (asked = V x (ask - A)):
  O1 North Cove   request    requested 2026-10-01, nothing received: first follow-up (30 days)
                              2026-10-31 is past -> overdue; T1110 100 x (88 - 80) = 800.00
  O2 North Acme   benchmark  T1110 50 x (99 - 90)                            =  450.00
  O3 South Acme   build      T1110 40 x (95 - 86) + T0120 30 x (60 - 55)    =  510.00
  O4 South Cove   submit     T1110 10 x (100 - 80)                           =  200.00
  O5 South Bolt   response   reply due 2026-12-01 (not overdue); T1110 20 x (90 - 70) = 400.00

Due for review: North Bolt has no open campaign; its last closed campaign is C4 (review
2026-12-15, within 60 days; C2's older review 2026-06-15 does not count). South Bolt's C6 review
(2026-09-30, past) is hidden by the open O5. South Cove's renewal 2027-03-01 less 90 days'
notice: deadline 2026-12-01, shown with its open campaign O4. The other contracts renew
2027-01-01: deadline 2026-10-03, past, not shown.

Organisation Beta has a large yes campaign and an overdue one on "Zeta PPO": never shown to Alpha.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import time_machine

from campaigns.accounts.models import Role, User
from campaigns.dashboard.services import build_dashboard
from campaigns.extensions import db
from campaigns.modelbase import utcnow
from campaigns.negotiations.models import Campaign, CampaignCode, Outcome, Status, Step
from campaigns.payers.models import NetworkKind
from tests.conftest import database, html_text, login
from tests.factories import (
    ContractFactory,
    NetworkFactory,
    OrganizationFactory,
    PracticeFactory,
    UserFactory,
)

TODAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # Nov 20 in Chicago too
YEAR = (date(2025, 1, 1), date(2025, 12, 31))
HALF = (date(2025, 1, 1), date(2025, 6, 30))


def _cents(dollars: float | int | None) -> int | None:
    return None if dollars is None else round(dollars * 100)


def _campaign(contract, *, codes, period=YEAR, **fields) -> Campaign:
    """A campaign row with its code rows: (code, count, A, U, target, ask, granted) dollars."""
    now = utcnow()
    campaign = Campaign(
        organization_id=contract.organization_id,
        practice_id=contract.practice_id,
        contract_id=contract.id,
        opened_on=fields.pop("opened_on", date(2024, 12, 1)),
        step=fields.pop("step", Step.RESPONSE),
        status=Status.CLOSED if "outcome" in fields else Status.OPEN,
        step_entered_at=now,
        period_start=period[0],
        period_end=period[1],
        figures_taken_at=now,
        updated_at=now,
        **fields,
    )
    campaign.codes = [
        CampaignCode(
            organization_id=contract.organization_id,
            code=code,
            count=count,
            allowed_cents=_cents(allowed),
            office_cents=_cents(office),
            is_target=target,
            asked_cents=_cents(ask),
            granted_cents=_cents(granted),
        )
        for code, count, allowed, office, target, ask, granted in codes
    ]
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _closed(contract, outcome, closed_on, submitted_on, responded_on, review_on, codes, **kw):
    return _campaign(
        contract,
        codes=codes,
        outcome=outcome,
        closed_on=closed_on,
        submitted_on=submitted_on,
        responded_on=responded_on,
        next_review_on=review_on,
        frozen_at=utcnow(),
        **kw,
    )


def build_known(app) -> SimpleNamespace:
    with database(app):
        org = OrganizationFactory(name="Alpha Dental")
        north = PracticeFactory(org=org, name="North Office")
        south = PracticeFactory(org=org, name="South Office")
        UserFactory(org=org, email="owner@alpha.test", role=Role.OWNER)
        viewer = UserFactory(
            org=org, email="viewer1@alpha.test", role=Role.VIEWER, all_practices=False
        )
        viewer.practices = [north]
        acme, bolt, cove = (
            NetworkFactory(org=org, name=n, kind=NetworkKind.LEASED)
            for n in ("Acme PPO", "Bolt PPO", "Cove PPO")
        )
        k = {
            (p.name.split()[0], n.name.split()[0]): ContractFactory(practice=p, network=n)
            for p in (north, south)
            for n in (acme, bolt, cove)
        }
        k["South", "Cove"].renewal_date = date(2027, 3, 1)  # notice deadline 2026-12-01

        c = {}
        c[1] = _closed(
            k["North", "Acme"], Outcome.YES, date(2025, 3, 10), date(2025, 1, 10),
            date(2025, 2, 24), date(2026, 3, 10),
            [("T1110", 100, 80, 120, True, 90, 90), ("T0120", 50, 50, None, False, None, None)],
        )  # fmt: skip
        c[2] = _closed(
            k["North", "Bolt"], Outcome.PARTIAL, date(2025, 6, 15), date(2025, 4, 1),
            date(2025, 5, 31), date(2026, 6, 15),
            [("T1110", 60, 70, 120, True, 84, 77), ("T2740", 10, 900, 1300, True, 990, 900)],
        )  # fmt: skip
        c[3] = _closed(
            k["North", "Acme"], Outcome.NO, date(2026, 4, 20), date(2026, 1, 5),
            date(2026, 3, 6), date(2027, 4, 20),
            [("T1110", 100, 90, 120, True, 100, 90), ("T0120", 50, 50, None, False, None, 48)],
        )  # fmt: skip
        c[4] = _closed(
            k["North", "Bolt"], Outcome.WITHDRAWN, date(2026, 2, 1), date(2025, 12, 1),
            None, date(2026, 12, 15),
            [("T1110", 60, 77, 120, True, 80, None)],
        )  # fmt: skip
        c[5] = _closed(
            k["South", "Acme"], Outcome.YES, date(2026, 5, 10), date(2026, 3, 2),
            date(2026, 4, 1), date(2027, 5, 10),
            [("T1110", 40, 75, 110, True, 85, 86), ("T0120", 30, 50, None, False, None, 55)],
        )  # fmt: skip
        c[6] = _closed(
            k["South", "Bolt"], Outcome.NO, date(2025, 9, 30), date(2025, 7, 1),
            date(2025, 8, 20), date(2026, 9, 30),
            [("T1110", 10, 70, 120, True, 80, 70)],
            period=HALF,
        )  # fmt: skip

        o = {}
        o[1] = _campaign(
            k["North", "Cove"],
            step=Step.REQUEST,
            schedule_requested_on=date(2026, 10, 1),
            codes=[("T1110", 100, 80, 120, True, 88, None)],
        )
        o[2] = _campaign(
            k["North", "Acme"],
            step=Step.BENCHMARK,
            codes=[
                ("T1110", 50, 90, 120, True, 99, None),
                ("T0120", 9, 50, None, False, None, None),
            ],
        )
        o[3] = _campaign(
            k["South", "Acme"],
            step=Step.BUILD,
            codes=[("T1110", 40, 86, 110, True, 95, None), ("T0120", 30, 55, None, True, 60, None)],
        )
        o[4] = _campaign(
            k["South", "Cove"], step=Step.SUBMIT, codes=[("T1110", 10, 80, 120, True, 100, None)]
        )
        o[5] = _campaign(
            k["South", "Bolt"],
            step=Step.RESPONSE,
            submitted_on=date(2026, 10, 1),
            response_due_on=date(2026, 12, 1),
            frozen_at=utcnow(),
            codes=[("T1110", 20, 70, 120, True, 90, None)],
        )

        # Another organisation: big figures that must never show in Alpha's dashboard.
        beta = OrganizationFactory(name="Beta Dental")
        east = PracticeFactory(org=beta, name="East Office")
        zeta = NetworkFactory(org=beta, name="Zeta PPO")
        zeta2 = NetworkFactory(org=beta, name="Zeta Two PPO")
        UserFactory(org=beta, email="owner@beta.test", role=Role.OWNER)
        _closed(
            ContractFactory(practice=east, network=zeta), Outcome.YES, date(2026, 1, 5),
            date(2025, 11, 1), date(2025, 12, 1), date(2026, 12, 1),
            [("T1110", 1000, 10, 120, True, 20, 20)],
        )  # fmt: skip
        _campaign(
            ContractFactory(practice=east, network=zeta2),
            step=Step.REQUEST,
            schedule_requested_on=date(2026, 1, 1),
            codes=[("T1110", 1000, 10, 120, True, 20, None)],
        )
        return SimpleNamespace(
            north=north.id,
            south=south.id,
            east=east.id,
            c={i: x.id for i, x in c.items()},
            o={i: x.id for i, x in o.items()},
            north_bolt=k["North", "Bolt"].id,
            south_cove=k["South", "Cove"].id,
        )


def _dashboard(app, email, practice_id=None):
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        return build_dashboard(user, practice_id=practice_id, today=TODAY)


def _by_network(d) -> dict[str, tuple]:
    return {
        r.network: (
            tuple(r.counts.values()),
            r.asked,
            r.won,
            r.win_rate and round(r.win_rate, 3),
            r.median_days,
        )
        for r in [*d.networks, d.total]
    }


def _pipeline(d) -> list[tuple[str, int, Decimal]]:
    return [(p.step.value, p.campaigns, p.asked) for p in d.pipeline]


# ---- the figures, from the service -----------------------------------------------------------


def test_owner_figures_match_the_hand_computed_outcomes(app):
    build_known(app)
    d = _dashboard(app, "owner@alpha.test")
    assert d.closed_count == 6
    assert d.open_count == 5
    # counts are (yes, partial, no, withdrawn)
    assert d.years == [2025, 2026]
    assert d.by_year == {
        2025: {"yes": 1, "partial": 1, "no": 1, "withdrawn": 0},  # C1, C2, C6
        2026: {"yes": 1, "partial": 0, "no": 1, "withdrawn": 1},  # C5, C3, C4
    }
    assert d.year_win_rates == {2025: Decimal(2) / 3, 2026: Decimal("0.5")}
    assert _by_network(d) == {
        # C1 + C3 + C5: asked 1,000 + 1,000 + 400; won 1,000 - 100 + 590; 2 of 3; 30/45/60 days
        "Acme PPO": ((2, 0, 1, 0), Decimal("2400.00"), Decimal("1490.00"), Decimal("0.667"), 45),
        # C2 + C6 (C4 withdrawn): asked 1,740 + 200; won 420 + 0; 1 of 2; 50/60 days
        "Bolt PPO": ((0, 1, 1, 1), Decimal("1940.00"), Decimal("420.00"), Decimal("0.5"), 55),
        # all: 3 of 5; days 30, 45, 50, 60, 60
        "All networks": (
            (2, 1, 2, 1),
            Decimal("4340.00"),
            Decimal("1910.00"),
            Decimal("0.6"),
            50,
        ),
    }
    assert _pipeline(d) == [
        ("request", 1, Decimal("800.00")),
        ("benchmark", 1, Decimal("450.00")),
        ("build", 1, Decimal("510.00")),
        ("submit", 1, Decimal("200.00")),
        ("response", 1, Decimal("400.00")),
    ]
    assert (d.pipeline_total.campaigns, d.pipeline_total.asked) == (5, Decimal("2360.00"))
    assert [(c.network, c.practice, c.due_on) for c in d.overdue] == [
        ("Cove PPO", "North Office", date(2026, 10, 31))
    ]
    assert [(x.network, x.practice, x.what, x.on) for x in d.due] == [
        ("Cove PPO", "South Office", "notice deadline", date(2026, 12, 1)),
        ("Bolt PPO", "North Office", "re-review", date(2026, 12, 15)),
    ]


def test_a_viewer_limited_to_one_practice_sees_only_its_figures(app):
    known = build_known(app)
    d = _dashboard(app, "viewer1@alpha.test")
    assert d.closed_count == 4  # C1 - C4
    assert d.by_year == {
        2025: {"yes": 1, "partial": 1, "no": 0, "withdrawn": 0},
        2026: {"yes": 0, "partial": 0, "no": 1, "withdrawn": 1},
    }
    assert _by_network(d) == {
        # C1 + C3: asked 2,000; won 1,000 - 100; 1 of 2; (45 + 60) / 2 days
        "Acme PPO": (
            (1, 0, 1, 0),
            Decimal("2000.00"),
            Decimal("900.00"),
            Decimal("0.5"),
            Decimal("52.5"),
        ),
        "Bolt PPO": ((0, 1, 0, 1), Decimal("1740.00"), Decimal("420.00"), Decimal(1), 60),
        "All networks": (
            (1, 1, 1, 1),
            Decimal("3740.00"),
            Decimal("1320.00"),
            Decimal("0.667"),
            60,
        ),
    }
    assert _pipeline(d) == [
        ("request", 1, Decimal("800.00")),
        ("benchmark", 1, Decimal("450.00")),
        ("build", 0, Decimal(0)),
        ("submit", 0, Decimal(0)),
        ("response", 0, Decimal(0)),
    ]
    assert [c.campaign.id for c in d.overdue] == [known.o[1]]
    assert [(x.what, x.on, x.last_campaign_id) for x in d.due] == [
        ("re-review", date(2026, 12, 15), known.c[4])
    ]
    # The owner filtered to South: C5 and C6 only.
    south = _dashboard(app, "owner@alpha.test", known.south)
    assert _by_network(south)["All networks"] == (
        (1, 0, 1, 0),
        Decimal("600.00"),
        Decimal("590.00"),
        Decimal("0.5"),
        40,
    )
    assert [(x.what, x.open_campaign_id) for x in south.due] == [("notice deadline", known.o[4])]


def test_a_contract_with_a_re_review_and_a_notice_deadline_is_listed_once(app):
    known = build_known(app)
    with database(app):
        bolt = db.session.get(Campaign, known.c[4]).contract
        bolt.renewal_date, bolt.notice_days = date(2027, 3, 10), 90  # notice by 2026-12-10
    d = _dashboard(app, "viewer1@alpha.test")
    # North Bolt: the notice deadline 2026-12-10 comes before C4's re-review 2026-12-15.
    assert [(x.network, x.dates, x.last_campaign_id) for x in d.due] == [
        (
            "Bolt PPO",
            (("notice deadline", date(2026, 12, 10)), ("re-review", date(2026, 12, 15))),
            known.c[4],
        )
    ]


# ---- the page --------------------------------------------------------------------------------


class Tables(HTMLParser):
    """The cell texts of each <table id=...> of a page, row by row."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(re.sub(r"\s+", " ", " ".join(self._cell)).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture
def at_today():
    with time_machine.travel(NOON, tick=False):
        yield


def _page(client, email, **query):
    login(client, email)
    response = client.get("/", query_string=query)
    assert response.status_code == 200
    return response


def test_the_owner_page_shows_the_figures_formatted_and_links_the_overdue_campaign(
    app, client, at_today
):
    known = build_known(app)
    response = _page(client, "owner@alpha.test")
    html = response.get_data(as_text=True)
    tables = Tables(html).tables
    assert tables["by-network"][1:] == [
        ["Acme PPO", "2", "0", "1", "0", "$2,400.00", "$1,490.00", "66.7%", "45"],
        ["Bolt PPO", "0", "1", "1", "1", "$1,940.00", "$420.00", "50.0%", "55"],
        ["All networks", "2", "1", "2", "1", "$4,340.00", "$1,910.00", "60.0%", "50"],
    ]
    assert tables["by-year"][1:] == [
        ["2025", "1", "1", "1", "0", "66.7%"],
        ["2026", "1", "0", "1", "1", "50.0%"],
    ]
    assert tables["pipeline"][1:] == [
        ["1. Request schedule", "1", "$800.00"],
        ["2. Benchmark", "1", "$450.00"],
        ["3. Build case", "1", "$510.00"],
        ["4. Submit", "1", "$200.00"],
        ["5. Record response", "1", "$400.00"],
        ["All open", "5", "$2,360.00"],
    ]
    text = html_text(response)
    assert "$1,910.00 won per year" in text
    assert "$4,340.00 asked per year (5 answered campaigns)" in text
    assert "60.0% win rate" in text
    assert "50 median days" in text
    assert "2 practices, 0 payers, 3 networks, 6 contracts" in text
    assert f'href="/campaigns/{known.o[1]}">Cove PPO · North Office</a>' in html
    assert "the schedule was due Oct 31, 2026 (20 days ago)" in text
    assert "Bolt PPO · North Office: re-review on Dec 15, 2026" in text
    assert f'href="/campaigns/{known.c[4]}">last campaign' in html
    assert f'href="/campaigns/new?contract={known.north_bolt}">start a campaign' in html
    assert "Cove PPO · South Office: notice deadline on Dec 1, 2026" in text
    assert f'href="/campaigns/{known.o[4]}">open campaign' in html
    # three charts, drawn by app.js from data-chart (no inline script)
    assert html.count("data-chart=") == 3
    assert "<script>" not in html
    # the other organisation's networks and figures never appear
    assert "Zeta" not in html
    assert "10,000.00" not in html


def test_a_limited_viewer_sees_one_practice_read_only_and_no_other_practice(app, client, at_today):
    known = build_known(app)
    response = _page(client, "viewer1@alpha.test")
    html = response.get_data(as_text=True)
    tables = Tables(html).tables
    assert tables["by-network"][-1] == [
        "All networks", "1", "1", "1", "1", "$3,740.00", "$1,320.00", "66.7%", "60",
    ]  # fmt: skip
    assert tables["pipeline"][-1] == ["All open", "2", "$1,250.00"]
    assert "South Office" not in html
    assert "start a campaign" not in html  # read-only: viewers start nothing
    assert "All my practices" in html
    # the other practice and the other organisation's practice answer 404
    assert client.get("/", query_string={"practice": known.south}).status_code == 404
    assert client.get("/", query_string={"practice": known.east}).status_code == 404


def test_the_practice_filter_narrows_every_figure(app, client, at_today):
    known = build_known(app)
    response = _page(client, "owner@alpha.test", practice=known.south)
    tables = Tables(response.get_data(as_text=True)).tables
    # C5 (asked 400, won 590, 30 days) and C6 (asked 200, won 0, 50 days)
    assert tables["by-network"][1:] == [
        ["Acme PPO", "1", "0", "0", "0", "$400.00", "$590.00", "100.0%", "30"],
        ["Bolt PPO", "0", "0", "1", "0", "$200.00", "$0.00", "0.0%", "50"],
        ["All networks", "1", "0", "1", "0", "$600.00", "$590.00", "50.0%", "40"],
    ]
    assert tables["pipeline"][-1] == ["All open", "3", "$1,110.00"]
    assert "showing South Office" in html_text(response)


def test_another_organisation_sees_none_of_alpha(app, client, at_today):
    build_known(app)
    response = _page(client, "owner@beta.test")
    html = response.get_data(as_text=True)
    tables = Tables(html).tables
    # Beta's one yes: asked and won 1,000 x (20 - 10) = 10,000.00, 30 days
    assert tables["by-network"][1:] == [
        ["Zeta PPO", "1", "0", "0", "0", "$10,000.00", "$10,000.00", "100.0%", "30"],
        ["All networks", "1", "0", "0", "0", "$10,000.00", "$10,000.00", "100.0%", "30"],
    ]
    for alpha in ("Acme", "Bolt", "Cove", "North Office", "South Office"):
        assert alpha not in html


def test_without_campaigns_the_page_says_what_will_appear_instead_of_zeros(app, client):
    with database(app):
        org = OrganizationFactory(name="Fresh Dental")
        PracticeFactory(org=org, name="Only Office")
        UserFactory(org=org, email="owner@fresh.test", role=Role.OWNER)
    response = _page(client, "owner@fresh.test")
    html = response.get_data(as_text=True)
    text = html_text(response)
    assert "No campaign is closed yet." in text
    assert "No campaign is open." in text
    assert "will be listed here" in text
    assert "$0.00" not in html
    assert "n/a" not in html
    assert 'id="won-total"' not in html
    assert "data-chart" not in html
    assert html.count('href="/campaigns/"') >= 2  # both empty states link to the board


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_campaigns(app, client, at_today):
    build_known(app)
    login(client, "owner@alpha.test")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries() -> int:
        statements.clear()
        with app.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", count)
            try:
                assert client.get("/").status_code == 200
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    before = queries()
    with database(app):
        org_id = db.session.scalar(
            sa.select(User.organization_id).where(User.email == "owner@alpha.test")
        )
        practice = PracticeFactory(org=None, organization_id=org_id, name="West Office")
        for i in range(4):
            network = NetworkFactory(org=None, organization_id=org_id, name=f"Extra {i}")
            contract = ContractFactory(practice=practice, network=network)
            _closed(
                contract, Outcome.YES, date(2026, 6, 1), date(2026, 1, 1), date(2026, 2, 1),
                date(2027, 6, 1), [("T1110", 5, 10, 20, True, 12, 12)],
            )  # fmt: skip
            _campaign(contract, step=Step.BUILD, codes=[("T1110", 5, 12, 20, True, 14, None)])
    assert queries() == before
    assert before <= 20
