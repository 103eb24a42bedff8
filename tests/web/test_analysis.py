"""The analysis pages and exports, checked against figures worked out by hand.

Most tests use `elm`: one practice (Elm Street Dental) with an office schedule, three
contracts on three networks and five payers, two of them priced by one leased network and one
priced by no contract at all. Every expected figure below is computed in the comments.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import unescape
from html.parser import HTMLParser
from types import SimpleNamespace

import openpyxl
import pytest
import sqlalchemy as sa
from flask import url_for

from campaigns.accounts.models import AuditEvent, Practice, Role, User
from campaigns.benchmark import views as analysis_views
from campaigns.benchmark.engine import pareto
from campaigns.benchmark.service import load_analysis
from campaigns.codes import category
from campaigns.demo import DEMO_PASSWORD, demo_user, seed_demo
from campaigns.extensions import db
from campaigns.fees.models import CodeVolume, FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from campaigns.payers.models import NetworkKind
from tests.conftest import database, html_text, login
from tests.factories import (
    ContractFactory,
    FeeScheduleFactory,
    NetworkFactory,
    OrganizationFactory,
    PayerFactory,
    PracticeFactory,
    PricingRouteFactory,
    UserFactory,
)

ON = "2026-11-15"
# The default volume period for ON: the last 12 full calendar months, Nov 2025 - Oct 2026.
MONTHS = [date(2025 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(12)]


# ---- helpers --------------------------------------------------------------------------------


def month_end(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def add_schedule(practice, kind, lines: dict[str, str], contract=None, **kwargs):
    """A schedule version with `lines` as code -> dollars ('49.00')."""
    schedule = FeeScheduleFactory(
        practice=practice,
        kind=kind,
        contract_id=contract.id if contract else None,
        effective_from=kwargs.pop("effective_from", date(2025, 6, 1)),
        **kwargs,
    )
    schedule.lines = [
        FeeLine(code=code, amount_cents=int(Decimal(amount) * 100))
        for code, amount in lines.items()
    ]
    return schedule


def add_volume(practice, payer, code: str, per_month) -> None:
    """One CodeVolume row per month of MONTHS; `per_month` is a count or a list of 12 (a 0
    means no row: the month has no data)."""
    counts = per_month if isinstance(per_month, list) else [per_month] * 12
    for start, count in zip(MONTHS, counts, strict=True):
        if not count:
            continue
        db.session.add(
            CodeVolume(
                organization_id=practice.organization_id,
                practice_id=practice.id,
                payer_id=payer.id,
                code=code,
                period_start=start,
                period_end=month_end(start),
                count=count,
            )
        )


def describe(org, codes: dict[str, str]) -> None:
    """The organisation's own descriptions of the codes (as an import would store them)."""
    db.session.add_all(
        ProcedureCode(organization_id=org.id, code=c, description=d, category=category(c))
        for c, d in codes.items()
    )


class Tables(HTMLParser):
    """Every <table> of a page as rows of (tr attributes, [cell texts])."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[list[tuple[dict, list[str]]]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append((dict(attrs), []))
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join(self._cell)
            self.tables[-1][-1][1].append(re.sub(r"\s+", " ", text).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(response) -> list[list[tuple[dict, list[str]]]]:
    return Tables(response.get_data(as_text=True)).tables


def body_rows(table) -> list[list[str]]:
    """The cells of a table's rows after the header row (tfoot included)."""
    return [cells for _attrs, cells in table[1:]]


# ---- the Elm Street Dental data ---------------------------------------------------------------
#
# Office fees U:  T0120 $80.00   T1110 $120.00   T2391 $200.00
#
# Contracts (schedules effective 2025-06-01) and the payers they price:
#   Acme PPO (direct, Acme Dental)            T0120 $49.00  T1110 $70.00   T2391 $120.00
#   Bolt PPO (direct, Bolt Mutual)            T0120 $85.00  T1110 $90.00   T2391 $150.00
#   Crest Leased Network (Cobalt Benefits and Dune Health through pricing routes)
#                                             T0120 $40.55  T1110 $100.00  (no T2391)
#   Orphan Plan: no network, no route -> its volume is not counted.
#
# Volumes, Nov 2025 - Oct 2026 (12 whole months, annual factor 12/12 = 1, so V = the count):
#   Acme Dental -> Acme:   T0120 2/month x 11 + 3 = 25, T1110 3 x 12 = 36, T2391 1 x 12 = 12
#   Bolt Mutual -> Bolt:   T0120 12, T1110 24, T2391 12
#   Cobalt Benefits -> Crest: T0120 12, T1110 12;  Dune Health -> Crest: T0120 12, T1110 24
#     so Crest: T0120 12 + 12 = 24, T1110 12 + 24 = 36
#   Orphan Plan: T0120 5 x 12 = 60 (not counted)
#
# Effective allowed E = min(A, U):
#   Acme 49 / 70 / 120;  Bolt min(85, 80) = 80 (office fee below allowance) / 90 / 150;
#   Crest 40.55 / 100
# Peer reference M (median E of the other contracts listing the code; two -> their mean):
#   Acme  T0120 (80 + 40.55)/2 = 60.275  T1110 (90 + 100)/2 = 95   T2391 150 (Bolt only)
#   Bolt  T0120 (49 + 40.55)/2 = 44.775  T1110 (70 + 100)/2 = 85   T2391 120 (Acme only)
#   Crest T0120 (49 + 80)/2 = 64.5       T1110 (70 + 90)/2 = 80
# Opportunity O = V x max(0, M - E), rounded half-up to the cent:
#   Acme  T0120 25 x 11.275 = 281.875 -> $281.88; T1110 36 x 25 = $900.00; T2391 12 x 30 = $360.00
#         contract: 281.88 + 900.00 + 360.00 = $1,541.88
#   Bolt  every gap is 0 -> $0.00
#   Crest T0120 24 x (64.5 - 40.55 = 23.95) = $574.80; T1110 0 -> contract $574.80
# Annual allowed V x E and write-off V x (U - E):
#   Acme  25x49 = 1,225 + 36x70 = 2,520 + 12x120 = 1,440 -> $5,185.00
#         25x31 = 775 + 36x50 = 1,800 + 12x80 = 960     -> $3,535.00
#   Bolt  12x80 = 960 + 24x90 = 2,160 + 12x150 = 1,800  -> $4,920.00
#         12x0 = 0 + 24x30 = 720 + 12x50 = 600          -> $1,320.00
#   Crest 24x40.55 = 973.20 + 36x100 = 3,600            -> $4,573.20
#         24x39.45 = 946.80 + 36x20 = 720               -> $1,666.80
# Weighted % of office fees = sum V x E / sum V x U:
#   Acme  5,185 / (25x80 + 36x120 + 12x200 = 8,720)  = 0.59461 -> 59.5%
#   Bolt  4,920 / (12x80 + 24x120 + 12x200 = 6,240)  = 0.78846 -> 78.8%
#   Crest 4,573.20 / (24x80 + 36x120 = 6,240)        = 0.73288 -> 73.3%
# Totals: opportunity 1,541.88 + 0 + 574.80 = $2,116.68; allowed 5,185 + 4,920 + 4,573.20 =
#   $14,678.20; write-off 3,535 + 1,320 + 1,666.80 = $6,521.80;
#   % = 14,678.20 / (8,720 + 6,240 + 6,240 = 21,200) = 0.69237 -> 69.2%
# Ranking: Acme ($1,541.88), Crest ($574.80), Bolt ($0.00).

OFFICE = {"T0120": "80.00", "T1110": "120.00", "T2391": "200.00"}
DESCRIPTIONS = {
    "T0120": "Recall exam",
    "T1110": "Adult cleaning",
    "T2391": "Back filling, one surface",
}


def build_elm() -> SimpleNamespace:
    org = OrganizationFactory(name="Elm Group")
    practice = PracticeFactory(org=org, name="Elm Street Dental")
    PracticeFactory(org=org, name="Oak Lane Dental")  # a second practice to choose from
    owner = UserFactory(org=org, email="owner@elm.test", role=Role.OWNER)
    manager = UserFactory(org=org, email="manager@elm.test", role=Role.MANAGER)
    viewer = UserFactory(org=org, email="viewer@elm.test", role=Role.VIEWER)
    describe(org, DESCRIPTIONS)
    add_schedule(practice, ScheduleKind.OFFICE, OFFICE, label="Office fees")

    acme_payer = PayerFactory(org=org, name="Acme Dental")
    bolt_payer = PayerFactory(org=org, name="Bolt Mutual")
    cobalt = PayerFactory(org=org, name="Cobalt Benefits")
    dune = PayerFactory(org=org, name="Dune Health")
    orphan = PayerFactory(org=org, name="Orphan Plan")
    acme_net = NetworkFactory(
        org=org, name="Acme PPO", kind=NetworkKind.DIRECT, owner_payer_id=acme_payer.id
    )
    bolt_net = NetworkFactory(
        org=org, name="Bolt PPO", kind=NetworkKind.DIRECT, owner_payer_id=bolt_payer.id
    )
    crest_net = NetworkFactory(org=org, name="Crest Leased Network", kind=NetworkKind.LEASED)
    acme = ContractFactory(practice=practice, network=acme_net, renewal_date=date(2027, 3, 1))
    bolt = ContractFactory(practice=practice, network=bolt_net)
    crest = ContractFactory(practice=practice, network=crest_net)
    # Acme and Bolt price their own payers by default (their direct network); the leased
    # network prices two payers only through explicit routes.
    PricingRouteFactory(practice=practice, payer=cobalt, network=crest_net)
    PricingRouteFactory(practice=practice, payer=dune, network=crest_net)
    db.session.flush()
    add_schedule(
        practice,
        ScheduleKind.CONTRACT,
        {"T0120": "49.00", "T1110": "70.00", "T2391": "120.00"},
        contract=acme,
        label="Acme schedule",
    )
    add_schedule(
        practice,
        ScheduleKind.CONTRACT,
        {"T0120": "85.00", "T1110": "90.00", "T2391": "150.00"},
        contract=bolt,
        label="Bolt schedule",
    )
    add_schedule(
        practice,
        ScheduleKind.CONTRACT,
        {"T0120": "40.55", "T1110": "100.00"},
        contract=crest,
        label="Crest schedule",
    )
    add_volume(practice, acme_payer, "T0120", [2] * 11 + [3])
    add_volume(practice, acme_payer, "T1110", 3)
    add_volume(practice, acme_payer, "T2391", 1)
    add_volume(practice, bolt_payer, "T0120", 1)
    add_volume(practice, bolt_payer, "T1110", 2)
    add_volume(practice, bolt_payer, "T2391", 1)
    add_volume(practice, cobalt, "T0120", 1)
    add_volume(practice, cobalt, "T1110", 1)
    add_volume(practice, dune, "T0120", 1)
    add_volume(practice, dune, "T1110", 2)
    add_volume(practice, orphan, "T0120", 5)
    db.session.flush()
    return SimpleNamespace(
        org_id=org.id,
        practice_id=practice.id,
        acme=acme.id,
        bolt=bolt.id,
        crest=crest.id,
        owner=owner.email,
        manager=manager.email,
        viewer=viewer.email,
    )


@pytest.fixture
def elm(app):
    with database(app):
        return build_elm()


@pytest.fixture
def elm_manager(client, elm):
    login(client, elm.manager)
    return client


def q(elm, **extra) -> str:
    """The query string for Elm Street Dental on ON, plus `extra`."""
    args = {"practice": elm.practice_id, "on": ON} | extra
    return "&".join(f"{k}={v}" for k, v in args.items())


def row_of(rows: list[list[str]], code: str) -> list[str]:
    return next(r for r in rows if len(r) > 1 and r[1] == code)


def whatif_total(response) -> str:
    match = re.search(
        r'id="whatif-total">Gain: <strong>([^<]+)</strong> per year over (\d+) code',
        response.get_data(as_text=True),
    )
    assert match, response.get_data(as_text=True)[:2000]
    return f"{match.group(1)} over {match.group(2)}"


# ---- scorecard ------------------------------------------------------------------------------


def test_scorecard_ranks_contracts_by_opportunity_with_hand_computed_figures(elm_manager, elm):
    response = elm_manager.get(f"/analysis/?{q(elm)}")

    assert response.status_code == 200
    rows = body_rows(tables(response)[0])
    assert [r[:6] for r in rows] == [
        ["1", "Acme PPO", "59.5%", "$5,185.00", "$3,535.00", "$1,541.88"],
        ["2", "Crest Leased Network", "73.3%", "$4,573.20", "$1,666.80", "$574.80"],
        ["3", "Bolt PPO", "78.8%", "$4,920.00", "$1,320.00", "$0.00"],
        ["", "Total", "69.2%", "$14,678.20", "$6,521.80", "$2,116.68"],
    ]
    # Schedule age: Jun 1, 2025 -> Nov 15, 2026 is 532 days / 30.44 = 17.48 -> 17 months (as
    # the page rounds); Acme renews Mar 1, 2027 with 90 days' notice: notice by Dec 1, 2026.
    assert rows[0][6:9] == ["17 months since Jun 1, 2025", "Mar 1, 2027", "Dec 1, 2026"]
    text = html_text(response)
    assert "$2,116.68 opportunity per year" in text
    assert "69.2% weighted % of office fees" in text
    assert "$6,521.80 write-off per year" in text
    assert "$14,678.20 allowed per year" in text
    assert "Volumes Nov 1, 2025 to Oct 31, 2026, schedules effective on Nov 15, 2026" in text


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("rank", ["Acme PPO", "Crest Leased Network", "Bolt PPO"]),
        ("-opportunity", ["Acme PPO", "Crest Leased Network", "Bolt PPO"]),
        ("opportunity", ["Bolt PPO", "Crest Leased Network", "Acme PPO"]),
        ("name", ["Acme PPO", "Bolt PPO", "Crest Leased Network"]),
        ("-name", ["Crest Leased Network", "Bolt PPO", "Acme PPO"]),
        # 59.5% < 73.3% < 78.8%
        ("pct", ["Acme PPO", "Crest Leased Network", "Bolt PPO"]),
        # write-off 1,320.00 < 1,666.80 < 3,535.00
        ("writeoff", ["Bolt PPO", "Crest Leased Network", "Acme PPO"]),
    ],
)
def test_scorecard_sorts_rows_and_keeps_each_contracts_rank(elm_manager, elm, sort, order):
    response = elm_manager.get(f"/analysis/?{q(elm, sort=sort)}")

    rows = body_rows(tables(response)[0])[:-1]  # without the totals row
    assert [r[1] for r in rows] == order
    ranks = {"Acme PPO": "1", "Crest Leased Network": "2", "Bolt PPO": "3"}
    assert [r[0] for r in rows] == [ranks[name] for name in order]


def test_scorecard_pages_the_sorted_contracts_and_charts_the_largest(elm_manager, elm, monkeypatch):
    monkeypatch.setattr(analysis_views, "SCORECARD_PER_PAGE", 2)
    monkeypatch.setattr(analysis_views, "CHART_BARS", 2)

    first = elm_manager.get(f"/analysis/?{q(elm, sort='name')}")
    second = elm_manager.get(f"/analysis/?{q(elm, sort='name')}&page=2")

    # by name across the pages; the totals row is the whole group's on both
    assert [r[:2] for r in body_rows(tables(first)[0])] == [
        ["1", "Acme PPO"], ["3", "Bolt PPO"], ["", "Total"]
    ]  # fmt: skip
    assert [r[:2] for r in body_rows(tables(second)[0])] == [
        ["2", "Crest Leased Network"], ["", "Total"]
    ]  # fmt: skip
    assert body_rows(tables(second)[0])[-1][5] == "$2,116.68"
    assert "Page 2 of 2 (3–3 of 3 contracts)" in html_text(second)
    # the charts: the 2 largest opportunities, whatever the sort
    chart = re.search(r'data-chart="([^"]+)"', first.get_data(as_text=True))[1]
    assert unescape(chart).count('"Acme PPO"') == 1
    assert "Bolt PPO" not in unescape(chart)
    assert "Opportunity per year by contract: the 2 largest" in html_text(first)


# ---- contract detail ----------------------------------------------------------------------


def test_contract_detail_ranks_codes_marks_eighty_percent_and_shows_formulas(elm_manager, elm):
    response = elm_manager.get(f"/analysis/contracts/{elm.acme}?on={ON}")

    assert response.status_code == 200
    text = html_text(response)
    assert "$1,541.88 opportunity per year (rank 1)" in text
    assert "59.5% weighted % of office fees" in text
    assert "$3,535.00 write-off per year" in text
    # 80% of 1,541.88 = 1,233.504: T1110 900.00 falls short, + T2391 360.00 = 1,260.00 reaches
    # it, so the mark covers the first two codes.
    assert "2 codes carry 80% of the opportunity" in text
    codes = tables(response)[-1]
    assert [(attrs.get("class"), cells[:8]) for attrs, cells in codes[1:]] == [
        (
            "in-80",
            ["1", "T1110", "Adult cleaning", "36", "$120.00", "$70.00", "$70.00", "$95.00"],
        ),
        (
            "in-80",
            ["2", "T2391", "Back filling, one surface", "12", "$200.00", "$120.00"]
            + ["$120.00", "$150.00"],
        ),
        # M = 60.275 is shown rounded in the column
        (None, ["3", "T0120", "Recall exam", "25", "$80.00", "$49.00", "$49.00", "$60.28"]),
    ]
    rows = body_rows(codes)
    # Suggested ask = min(U, max(E x 1.05, M)), rounded half-up:
    #   T1110 min(120, max(73.50, 95)) = 95.00; T2391 min(200, max(126.00, 150)) = 150.00;
    #   T0120 min(80, max(51.45, 60.275)) = 60.275 -> 60.28
    assert [(r[1], r[9], r[10]) for r in rows] == [
        ("T1110", "$95.00", "✔"),
        ("T2391", "$150.00", "✔"),
        ("T0120", "$60.28", ""),
    ]
    assert "opportunity = 36 x max(0, $95.00 - $70.00) = $900.00" in rows[0][8]
    assert "opportunity = 12 x max(0, $150.00 - $120.00) = $360.00" in rows[1][8]
    # The half-cent median is shown exactly so the formula checks by hand:
    # 25 x (60.275 - 49.00) = 25 x 11.275 = 281.875 -> $281.88
    assert "opportunity = 25 x max(0, $60.275 - $49.00) = $281.88" in rows[2][8]
    assert "effective allowed = min(allowed $49.00, office fee $80.00) = $49.00" in rows[2][8]
    # The what-if starts with the 80% codes raised by 10%:
    #   T1110 36 x (77.00 - 70.00) = 252.00; T2391 12 x (132.00 - 120.00) = 144.00 -> 396.00
    assert whatif_total(response) == "$396.00 over 2"
    assert 'value="10"' in response.get_data(as_text=True)


def test_contract_detail_pages_its_codes_in_ranked_order(elm_manager, elm, monkeypatch):
    from campaigns.benchmark import views

    monkeypatch.setattr(views, "CONTRACT_CODES_PER_PAGE", 2)
    first = elm_manager.get(f"/analysis/contracts/{elm.acme}?on={ON}")
    assert [r[1] for r in body_rows(tables(first)[-1])] == ["T1110", "T2391"]
    text = html_text(first)
    assert "3 codes, 2 a page in the order of their opportunity." in text
    assert "Page 1 of 2" in text
    # The figures above the table and the what-if still cover every code.
    assert "$1,541.88 opportunity per year (rank 1)" in text
    assert whatif_total(first) == "$396.00 over 2"

    second = elm_manager.get(f"/analysis/contracts/{elm.acme}?on={ON}&page=2")
    assert [r[1] for r in body_rows(tables(second)[-1])] == ["T0120"]
    assert "Page 2 of 2" in html_text(second)
    beyond = elm_manager.get(f"/analysis/contracts/{elm.acme}?on={ON}&page=9")
    assert [r[1] for r in body_rows(tables(beyond)[-1])] == ["T0120"]  # the last page


def test_contract_detail_flags_office_fee_below_allowance(elm_manager, elm):
    response = elm_manager.get(f"/analysis/contracts/{elm.bolt}?on={ON}")

    rows = body_rows(tables(response)[-1])
    t0120 = row_of(rows, "T0120")
    # A $85.00 > U $80.00: the payer pays the office fee, E = $80.00; M = (49 + 40.55)/2 =
    # 44.775 < 80 -> no gap; ask min(80, max(84.00, 44.775)) = 80 is not above E -> no ask.
    assert t0120[5] == "$85.00 office fee below allowance"
    assert t0120[6] == "$80.00"
    assert t0120[9] == "-"
    # T1110: ask = min(120, max(90 x 1.05 = 94.50, M 85)) = 94.50; T2391: max(157.50, 120)
    assert row_of(rows, "T1110")[9] == "$94.50"
    assert row_of(rows, "T2391")[9] == "$157.50"
    assert {r[8].split()[0] for r in rows} == {"$0.00"}
    text = html_text(response)
    assert "$0.00 opportunity per year (rank 3)" in text
    assert "0 codes carry 80% of the opportunity" in text
    assert "78.8% weighted % of office fees" in text


def test_leased_network_adds_up_the_volume_of_the_two_payers_it_prices(elm_manager, elm):
    response = elm_manager.get(f"/analysis/contracts/{elm.crest}?on={ON}")

    rows = body_rows(tables(response)[-1])
    # Cobalt 12 + Dune 12 = 24 of T0120; Cobalt 12 + Dune 24 = 36 of T1110
    assert [(r[1], r[3]) for r in rows] == [("T0120", "24"), ("T1110", "36")]
    assert "opportunity = 24 x max(0, $64.50 - $40.55) = $574.80" in rows[0][8]
    assert "opportunity = 36 x max(0, $80.00 - $100.00) = $0.00" in rows[1][8]
    # asks: T0120 min(80, max(42.5775, 64.50)) = 64.50; T1110 min(120, max(105, 80)) = 105
    assert [r[9] for r in rows] == ["$64.50", "$105.00"]
    assert "$1,666.80 write-off per year" in html_text(response)


# ---- what-if --------------------------------------------------------------------------------


def whatif(client, contract_id, **data):
    return client.post(f"/analysis/contracts/{contract_id}/what-if?on={ON}", data=data, htmx=True)


def test_what_if_raise_returns_only_the_partial_with_the_gain_in_cents(elm_manager, elm):
    response = whatif(elm_manager, elm.acme, code=["T0120", "T1110"], raise_pct="10")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="whatif"')
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    # T0120: 49.00 x 1.10 = 53.90 -> 25 x 4.90 = 122.50; T1110: 77.00 -> 36 x 7 = 252.00
    assert whatif_total(response) == "$374.50 over 2"
    assert "T0120: 25 × (min($53.90, office fee $80.00) − $49.00) = $122.50" in html_text(response)


def test_what_if_rounds_the_raised_allowance_to_the_cent(elm_manager, elm):
    # 40.55 x 1.10 = 44.605 -> $44.61 (half-up); 24 x (44.61 - 40.55 = 4.06) = $97.44.
    # T2391 is not a code of this contract: ignored.
    response = whatif(elm_manager, elm.crest, code=["T0120", "T2391"], raise_pct="10%")

    assert response.status_code == 200
    assert whatif_total(response) == "$97.44 over 1"


def test_what_if_targets_win_over_the_raise_and_stop_at_the_office_fee(elm_manager, elm):
    response = whatif(
        elm_manager,
        elm.acme,
        code=["T0120", "T1110", "T2391"],
        raise_pct="10",
        **{"target-T0120": "$60.28", "target-T2391": "250"},
    )

    assert response.status_code == 200
    # T0120 target: 25 x (60.28 - 49.00) = 282.00
    # T1110 +10%:   36 x (77.00 - 70.00) = 252.00
    # T2391 target 250 > U 200, so E' = 200: 12 x (200 - 120) = 960.00
    # total 282.00 + 252.00 + 960.00 = 1,494.00
    assert whatif_total(response) == "$1,494.00 over 3"
    assert "T2391: 12 × (min($250.00, office fee $200.00) − $120.00) = $960.00" in html_text(
        response
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"raise_pct": "abc"},
            "Enter the raise as a percentage between -100 and 1000, e.g. 8.5.",
        ),
        ({"raise_pct": "5000"}, "Enter the raise as a percentage between -100 and 1000"),
        ({"raise_pct": "10", "target-T1110": "lots"}, "The target for T1110 is not an amount."),
    ],
)
def test_what_if_rejects_a_bad_raise_or_target_with_a_message(elm_manager, elm, data, message):
    response = whatif(elm_manager, elm.acme, code=["T1110"], **data)

    assert response.status_code == 422
    assert '<section id="whatif"' in response.get_data(as_text=True)
    assert message in html_text(response)


# ---- code matrix --------------------------------------------------------------------------


def test_code_matrix_cells_show_allowed_and_percent_of_office_fee(elm_manager, elm):
    response = elm_manager.get(f"/analysis/matrix?{q(elm)}")

    assert response.status_code == 200
    table = tables(response)[0]
    assert table[0][1] == [
        "Code",
        "Description",
        "Volume / yr",
        "Office fee",
        "Acme PPO",
        "Bolt PPO",
        "Crest Leased Network",
    ]
    # Codes by annual volume over the contracts (Orphan Plan's 60 are not counted):
    #   T1110 36 + 24 + 36 = 96; T0120 25 + 12 + 24 = 61; T2391 12 + 12 = 24.
    # Cells: allowed, then E / U with one decimal (half-up):
    #   T1110 70/120 = 58.33%, 90/120 = 75%, 100/120 = 83.33%
    #   T0120 49/80 = 61.25% -> 61.3%; Bolt E = min(85, 80) = 80 -> 100%; 40.55/80 = 50.69%
    #   T2391 120/200 = 60%, 150/200 = 75%, not in Crest's schedule
    assert body_rows(table) == [
        ["T1110", "Adult cleaning", "96", "$120.00", "$70.00 58.3%", "$90.00 75.0%"]
        + ["$100.00 83.3%"],
        ["T0120", "Recall exam", "61", "$80.00", "$49.00 61.3%", "$85.00 100.0%"]
        + ["$40.55 50.7%"],
        ["T2391", "Back filling, one surface", "24", "$200.00", "$120.00 60.0%"]
        + ["$150.00 75.0%", "not listed"],
    ]
    html = response.get_data(as_text=True)
    # Coloured low to high: 50.7% is heat-2, 100% is heat-9.
    assert re.search(r'class="num heat-2"[^>]*>\$40\.55', html)
    assert re.search(r'class="num heat-9"[^>]*>\$85\.00', html)
    assert "3 codes by annual volume, 3 shown" in html_text(response)


def test_code_matrix_pages_its_contract_columns_and_keeps_the_code_page(
    elm_manager, elm, monkeypatch
):
    monkeypatch.setattr(analysis_views, "MATRIX_COLUMNS_PER_PAGE", 2)
    monkeypatch.setattr(analysis_views, "MATRIX_PER_PAGE", 2)

    first = elm_manager.get(f"/analysis/matrix?{q(elm)}")
    # 3 contracts by name, 2 a page; 3 codes by volume, 2 a page
    assert tables(first)[0][0][1][4:] == ["Acme PPO", "Bolt PPO"]
    assert [r[0] for r in body_rows(tables(first)[0])] == ["T1110", "T0120"]
    assert "Page 1 of 2 (1–2 of 3 contracts)" in html_text(first)
    assert "contracts 1–2 of 3, by practice" in html_text(first)

    both = elm_manager.get(f"/analysis/matrix?{q(elm)}&page=2&cols=2")
    table = tables(both)[0]
    assert table[0][1][4:] == ["Crest Leased Network"]
    # the row page and the column page are independent: T2391 is not in Crest's schedule
    assert body_rows(table) == [["T2391", "Back filling, one surface", "24", "$200.00"]
                                + ["not listed"]]  # fmt: skip
    assert "Page 2 of 2 (3–3 of 3 contracts)" in html_text(both)
    # the links keep the other page and the selection
    html = both.get_data(as_text=True)
    previous_columns = re.search(r'aria-label="Pages of contracts">\s*<a href="([^"]+)"', html)
    assert "cols=1" in previous_columns[1]
    assert "page=2" in previous_columns[1]
    assert f"practice={elm.practice_id}" in previous_columns[1]


@pytest.mark.parametrize(
    ("category", "codes"),
    [("Restorative", ["T2391"]), ("Diagnostic", ["T0120"]), ("", ["T1110", "T0120", "T2391"])],
)
def test_code_matrix_filters_by_category(elm_manager, elm, category, codes):
    response = elm_manager.get(f"/analysis/matrix?{q(elm, category=category)}")

    assert [r[0] for r in body_rows(tables(response)[0])] == codes


def build_many_codes() -> SimpleNamespace:
    """55 codes on two contracts; code T20nn is billed 56 - nn times a year."""
    org = OrganizationFactory(name="Many Group")
    practice = PracticeFactory(org=org, name="Many Codes Dental")
    manager = UserFactory(org=org, email="manager@many.test", role=Role.MANAGER)
    payer = PayerFactory(org=org, name="Main Payer")
    direct = NetworkFactory(
        org=org, name="Main PPO", kind=NetworkKind.DIRECT, owner_payer_id=payer.id
    )
    other = NetworkFactory(org=org, name="Other Network")
    codes = [f"T20{n:02d}" for n in range(1, 56)]
    add_schedule(practice, ScheduleKind.OFFICE, dict.fromkeys(codes, "100.00"))
    for network, amount in ((direct, "60.00"), (other, "70.00")):
        contract = ContractFactory(practice=practice, network=network)
        db.session.flush()
        add_schedule(practice, ScheduleKind.CONTRACT, dict.fromkeys(codes, amount), contract)
    for n, code in enumerate(codes, start=1):
        # one row for the whole year: a 12-month period is annualised x 12 / 12
        db.session.add(
            CodeVolume(
                organization_id=org.id,
                practice_id=practice.id,
                payer_id=payer.id,
                code=code,
                period_start=MONTHS[0],
                period_end=month_end(MONTHS[-1]),
                count=56 - n,
            )
        )
    db.session.flush()
    return SimpleNamespace(practice_id=practice.id, manager=manager.email, codes=codes)


def test_code_matrix_pages_fifty_codes_and_shows_all_on_request(app, client):
    with database(app):
        many = build_many_codes()
    login(client, many.manager)
    base = f"/analysis/matrix?practice={many.practice_id}&on={ON}"

    first = client.get(base)
    second = client.get(f"{base}&page=2")
    everything = client.get(f"{base}&all=1")

    # by volume, largest first: T2001 (55 a year) ... T2055 (1 a year); 55 / 50 -> 2 pages
    assert [r[0] for r in body_rows(tables(first)[0])] == many.codes[:50]
    assert "55 codes by annual volume, 50 shown" in html_text(first)
    assert "Codes page 1 of 2" in html_text(first)
    assert [r[0] for r in body_rows(tables(second)[0])] == many.codes[50:]
    assert "Codes page 2 of 2" in html_text(second)
    assert [r[0] for r in body_rows(tables(everything)[0])] == many.codes
    assert "Page 1 of" not in html_text(everything)
    assert body_rows(tables(first)[0])[0][2:] == ["55", "$100.00", "$60.00 60.0%"] + [
        "$70.00 70.0%"
    ]


# ---- target list --------------------------------------------------------------------------


def test_target_list_orders_contracts_and_shows_the_pareto_running_share(elm_manager, elm):
    response = elm_manager.get(f"/analysis/targets?{q(elm)}")

    assert response.status_code == 200
    contracts, codes = tables(response)
    # shares of 2,116.68: 1,541.88 -> 72.84%; 574.80 -> 27.16%; 0
    assert body_rows(contracts) == [
        ["1", "Acme PPO", "$1,541.88", "2", "72.8%"],
        ["2", "Crest Leased Network", "$574.80", "1", "27.2%"],
        ["3", "Bolt PPO", "$0.00", "0", "0.0%"],
    ]
    # running totals: 900.00 (42.52%), 1,474.80 (69.68%), 1,834.80 (86.68%), 2,116.68 (100%)
    assert body_rows(codes) == [
        ["1", "Acme PPO", "T1110", "Adult cleaning", "$900.00", "42.5%"],
        ["2", "Crest Leased Network", "T0120", "Recall exam", "$574.80", "69.7%"],
        ["3", "Acme PPO", "T2391", "Back filling, one surface", "$360.00", "86.7%"],
        ["4", "Acme PPO", "T0120", "Recall exam", "$281.88", "100.0%"],
    ]


# ---- exports ------------------------------------------------------------------------------


def open_xlsx(response):
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return openpyxl.load_workbook(io.BytesIO(response.data)).active


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def values(sheet) -> list[list]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


SCORECARD_HEADERS = [
    "Rank",
    "Network",
    "Practice",
    "Weighted % of office fees",
    "Annual allowed",
    "Annual write-off",
    "Opportunity per year",
    "Schedule effective",
    "Renewal",
    "Notice by",
]


def test_scorecard_xlsx_has_numbers_formatted_as_money_and_percent(elm_manager, elm):
    response = elm_manager.get(f"/analysis/scorecard.xlsx?{q(elm)}")

    sheet = open_xlsx(response)
    assert 'filename="scorecard-2026-11-15.xlsx"' in response.headers["Content-Disposition"]
    rows = values(sheet)
    assert rows[0] == SCORECARD_HEADERS
    # the exact ratios (see the comment above build_elm), numbers rather than text
    assert rows[1:] == [
        [1, "Acme PPO", "Elm Street Dental", pytest.approx(5185 / 8720), 5185, 3535, 1541.88]
        + [datetime(2025, 6, 1), datetime(2027, 3, 1), datetime(2026, 12, 1)],
        [2, "Crest Leased Network", "Elm Street Dental", pytest.approx(4573.20 / 6240), 4573.2]
        + [1666.8, 574.8, datetime(2025, 6, 1), datetime(2027, 1, 1), datetime(2026, 10, 3)],
        [3, "Bolt PPO", "Elm Street Dental", pytest.approx(4920 / 6240), 4920, 1320, 0]
        + [datetime(2025, 6, 1), datetime(2027, 1, 1), datetime(2026, 10, 3)],
    ]
    for row in sheet.iter_rows(min_row=2):
        assert row[3].number_format == "0.0%"
        for money in row[4:7]:
            assert "$" in money.number_format
            assert money.data_type == "n"


def test_scorecard_csv_has_the_same_figures_as_text(elm_manager, elm):
    response = elm_manager.get(f"/analysis/scorecard.csv?{q(elm)}")

    assert 'filename="scorecard-2026-11-15.csv"' in response.headers["Content-Disposition"]
    assert read_csv(response) == [
        SCORECARD_HEADERS,
        ["1", "Acme PPO", "Elm Street Dental", "59.5%", "5185.00", "3535.00", "1541.88"]
        + ["2025-06-01", "2027-03-01", "2026-12-01"],
        ["2", "Crest Leased Network", "Elm Street Dental", "73.3%", "4573.20", "1666.80"]
        + ["574.80", "2025-06-01", "2027-01-01", "2026-10-03"],
        ["3", "Bolt PPO", "Elm Street Dental", "78.8%", "4920.00", "1320.00", "0.00"]
        + ["2025-06-01", "2027-01-01", "2026-10-03"],
    ]


def test_matrix_xlsx_and_csv_have_allowed_and_percent_per_contract(elm_manager, elm):
    sheet = open_xlsx(elm_manager.get(f"/analysis/matrix.xlsx?{q(elm)}"))
    text = read_csv(elm_manager.get(f"/analysis/matrix.csv?{q(elm)}"))

    headers = ["Code", "Description", "Annual volume", "Office fee"]
    for network in ("Acme PPO", "Bolt PPO", "Crest Leased Network"):
        headers += [
            f"{network} (Elm Street Dental) allowed",
            f"{network} (Elm Street Dental) % of office",
        ]
    rows = values(sheet)
    assert rows[0] == headers
    approx = pytest.approx
    assert rows[1:] == [
        [
            "T1110",
            "Adult cleaning",
            96,
            120,
            70,
            approx(70 / 120),
            90,
            0.75,
            100,
            approx(100 / 120),
        ],
        ["T0120", "Recall exam", 61, 80, 49, 0.6125, 85, 1, 40.55, approx(40.55 / 80)],
        ["T2391", "Back filling, one surface", 24, 200, 120, 0.6, 150, 0.75, None, None],
    ]
    for row in sheet.iter_rows(min_row=2):
        assert row[2].number_format == "#,##0.##"
        for money, percent in ((row[3], None), *zip(row[4::2], row[5::2], strict=True)):
            if money.value is not None:
                assert "$" in money.number_format
            if percent is not None and percent.value is not None:
                assert percent.number_format == "0.0%"
    assert text[0] == headers
    # 49 / 80 = 61.25% rounds half-up to 61.3%, as on the page
    assert text[1:] == [
        ["T1110", "Adult cleaning", "96", "120.00", "70.00", "58.3%", "90.00", "75.0%"]
        + ["100.00", "83.3%"],
        ["T0120", "Recall exam", "61", "80.00", "49.00", "61.3%", "85.00", "100.0%"]
        + ["40.55", "50.7%"],
        ["T2391", "Back filling, one surface", "24", "200.00", "120.00", "60.0%", "150.00"]
        + ["75.0%", "", ""],
    ]


def test_matrix_export_follows_the_category_filter(elm_manager, elm):
    text = read_csv(elm_manager.get(f"/analysis/matrix.csv?{q(elm, category='Restorative')}"))

    assert [row[0] for row in text[1:]] == ["T2391"]


def test_contract_target_list_xlsx_and_csv_in_ranked_order(elm_manager, elm):
    url = f"/analysis/contracts/{elm.acme}/targets"
    response = elm_manager.get(f"{url}.xlsx?on={ON}")
    sheet = open_xlsx(response)
    text = read_csv(elm_manager.get(f"{url}.csv?on={ON}"))

    assert (
        'filename="targets-acme-ppo-2026-11-15.xlsx"' in (response.headers["Content-Disposition"])
    )
    headers = [
        "Rank",
        "Code",
        "Description",
        "Annual volume",
        "Office fee",
        "Allowed",
        "Effective allowed",
        "Peer median",
        "Gap",
        "Opportunity per year",
        "Suggested ask",
        "Within 80% mark",
    ]
    rows = values(sheet)
    assert rows[0] == headers
    assert [r[:11] for r in rows[1:]] == [
        [1, "T1110", "Adult cleaning", 36, 120, 70, 70, 95, 25, 900, 95],
        [2, "T2391", "Back filling, one surface", 12, 200, 120, 120, 150, 30, 360, 150],
        # the exact median and gap stay in the cell; the money format shows them to the cent
        [3, "T0120", "Recall exam", 25, 80, 49, 49, 60.275, 11.275, 281.88, 60.28],
    ]
    assert [r[11] or "" for r in rows[1:]] == ["yes", "yes", ""]
    for row in sheet.iter_rows(min_row=2):
        assert all("$" in cell.number_format for cell in row[4:11])
    assert text[0] == headers
    assert text[1:] == [
        ["1", "T1110", "Adult cleaning", "36", "120.00", "70.00", "70.00", "95.00", "25.00"]
        + ["900.00", "95.00", "yes"],
        ["2", "T2391", "Back filling, one surface", "12", "200.00", "120.00", "120.00"]
        + ["150.00", "30.00", "360.00", "150.00", "yes"],
        ["3", "T0120", "Recall exam", "25", "80.00", "49.00", "49.00", "60.28", "11.28"]
        + ["281.88", "60.28", ""],
    ]


def build_injection() -> SimpleNamespace:
    """Names and descriptions a spreadsheet would run as formulas."""
    org = OrganizationFactory(name="Injection Group")
    practice = PracticeFactory(org=org, name="+Plus Dental")
    manager = UserFactory(org=org, email="manager@injection.test", role=Role.MANAGER)
    payer = PayerFactory(org=org, name='=HYPERLINK("x")')
    evil = NetworkFactory(
        org=org, name='=HYPERLINK("x")', kind=NetworkKind.DIRECT, owner_payer_id=payer.id
    )
    plain = NetworkFactory(org=org, name="Plain Network")
    describe(org, {"T0120": "=1+2", "T1110": "@SUM(A1)"})
    add_schedule(practice, ScheduleKind.OFFICE, {"T0120": "80.00", "T1110": "120.00"})
    evil_contract = ContractFactory(practice=practice, network=evil)
    plain_contract = ContractFactory(practice=practice, network=plain)
    db.session.flush()
    add_schedule(
        practice, ScheduleKind.CONTRACT, {"T0120": "50.00", "T1110": "70.00"}, evil_contract
    )
    add_schedule(
        practice, ScheduleKind.CONTRACT, {"T0120": "60.00", "T1110": "80.00"}, plain_contract
    )
    add_volume(practice, payer, "T0120", 1)
    add_volume(practice, payer, "T1110", 1)
    db.session.flush()
    return SimpleNamespace(
        practice_id=practice.id, contract_id=evil_contract.id, manager=manager.email
    )


def test_exports_neutralise_text_that_a_spreadsheet_would_run(app, client):
    with database(app):
        data = build_injection()
    login(client, data.manager)
    query = f"practice={data.practice_id}&on={ON}"
    urls = [
        f"/analysis/scorecard.{{}}?{query}",
        f"/analysis/matrix.{{}}?{query}",
        f"/analysis/contracts/{data.contract_id}/targets.{{}}?on={ON}",
    ]
    dangerous = ("=", "+", "-", "@")

    texts = []
    for url in urls:
        sheet = open_xlsx(client.get(url.format("xlsx")))
        cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        assert all(c.data_type == "s" for c in cells)
        assert not [c.value for c in cells if c.value.startswith(dangerous)]
        xlsx_texts = {c.value for c in cells}
        csv_texts = {v for row in read_csv(client.get(url.format("csv"))) for v in row}
        assert not [v for v in csv_texts if v.startswith(dangerous)]
        texts.append(xlsx_texts | csv_texts)

    scorecard, matrix, targets = texts
    assert {'\'=HYPERLINK("x")', "'+Plus Dental"} <= scorecard
    assert {"'=1+2", "'@SUM(A1)", '\'=HYPERLINK("x") (+Plus Dental) allowed'} <= matrix
    assert {"'=1+2", "'@SUM(A1)"} <= targets
    # the page shows the names as they are
    assert '=HYPERLINK("x")' in html_text(client.get(f"/analysis/?{query}")).replace("&#34;", '"')


# ---- empty and partial data ---------------------------------------------------------------


def build_partial() -> SimpleNamespace:
    """Three practices that each lack something the analysis needs.

    Birch: office fees and two contracts with schedules, but no volumes yet.
    Cedar: one contract only; six months of volumes; a code with volume but no office fee.
    Fir:   no office fee schedule; one contract whose only schedule starts after ON.
    """
    org = OrganizationFactory(name="Partial Group")
    manager = UserFactory(org=org, email="manager@partial.test", role=Role.MANAGER)
    payer = PayerFactory(org=org, name="Gamma Plan")
    gamma = NetworkFactory(
        org=org, name="Gamma PPO", kind=NetworkKind.DIRECT, owner_payer_id=payer.id
    )
    other = NetworkFactory(org=org, name="Future Network")

    birch = PracticeFactory(org=org, name="Birch Dental")
    add_schedule(birch, ScheduleKind.OFFICE, {"T0120": "80.00"})
    for network, amount in ((gamma, "50.00"), (other, "60.00")):
        contract = ContractFactory(practice=birch, network=network)
        db.session.flush()
        add_schedule(birch, ScheduleKind.CONTRACT, {"T0120": amount}, contract)

    cedar = PracticeFactory(org=org, name="Cedar Dental")
    add_schedule(cedar, ScheduleKind.OFFICE, {"T0120": "80.00"})
    cedar_contract = ContractFactory(practice=cedar, network=gamma)
    db.session.flush()
    add_schedule(
        cedar, ScheduleKind.CONTRACT, {"T0120": "60.00", "T9110": "100.00"}, cedar_contract
    )
    add_volume(cedar, payer, "T0120", [0] * 6 + [2] * 6)
    add_volume(cedar, payer, "T9110", [0] * 6 + [1] * 6)

    fir = PracticeFactory(org=org, name="Fir Dental")
    fir_gamma = ContractFactory(practice=fir, network=gamma)
    fir_future = ContractFactory(practice=fir, network=other)
    db.session.flush()
    add_schedule(fir, ScheduleKind.CONTRACT, {"T0120": "50.00"}, fir_gamma)
    add_schedule(
        fir,
        ScheduleKind.CONTRACT,
        {"T0120": "70.00"},
        fir_future,
        effective_from=date(2027, 1, 1),
    )
    add_volume(fir, payer, "T0120", 1)
    db.session.flush()
    return SimpleNamespace(
        manager=manager.email,
        birch=birch.id,
        cedar=cedar.id,
        cedar_contract=cedar_contract.id,
        fir=fir.id,
        fir_gamma=fir_gamma.id,
        fir_future=fir_future.id,
    )


@pytest.fixture
def partial(app, client):
    with database(app):
        data = build_partial()
    login(client, data.manager)
    return data


def test_without_volumes_every_page_says_the_yearly_figures_mean_nothing_yet(app, client, partial):
    with app.test_request_context():
        import_link = f'href="{url_for("fees.schedules")}"'
    pages = ["/analysis/", "/analysis/matrix", "/analysis/targets"]
    warning = (
        "Birch Dental: no code volumes before Nov 15, 2026, so every per-year figure is $0.00 "
        "and means nothing yet. Import the practice's code mix"
    )
    for page in pages:
        response = client.get(f"{page}?practice={partial.birch}&on={ON}")
        assert response.status_code == 200
        assert warning in html_text(response)
        assert import_link in response.get_data(as_text=True)

    rows = body_rows(tables(client.get(f"/analysis/?practice={partial.birch}&on={ON}"))[0])
    # No volume: the % of office fees has an empty denominator -> n/a, never 0%
    assert [r[2] for r in rows] == ["n/a", "n/a", "n/a"]
    # and the matrix has no code to rank by volume (the listed codes have none)
    matrix = client.get(f"/analysis/matrix?practice={partial.birch}&on={ON}")
    assert [r[2] for r in body_rows(tables(matrix)[0])] == ["0"]


def test_single_contract_says_there_is_nothing_to_compare_with(client, partial):
    response = client.get(f"/analysis/?practice={partial.cedar}&on={ON}")

    text = html_text(response)
    assert (
        "Cedar Dental: only one contract, so there is no other contract to compare with and "
        "the opportunity is $0.00."
    ) in text
    # Six whole months (May - Oct 2026) are annualised x 12 / 6 = 2:
    #   T0120 2 x 6 = 12 counted -> 24 a year; T9110 6 -> 12 a year
    assert (
        "volumes cover only May 1, 2026 to Oct 31, 2026; they are annualised "
        "(annual factor = 12 / 6 months)"
    ) in text
    assert "1 code(s) have volume but no office fee: T9110" in text
    # allowed 24 x 60 + 12 x 100 (no office fee: E = A) = 1,440 + 1,200 = 2,640.00;
    # write-off only where U exists: 24 x 20 = 480.00; % = 1,440 / (24 x 80 = 1,920) = 75.0%
    assert body_rows(tables(response)[0])[0][:6] == [
        "1",
        "Gamma PPO",
        "75.0%",
        "$2,640.00",
        "$480.00",
        "$0.00",
    ]
    detail = client.get(f"/analysis/contracts/{partial.cedar_contract}?on={ON}")
    rows = body_rows(tables(detail)[-1])
    # asks still use the minimum raise: min(80, 60 x 1.05) = 63.00; none without an office fee
    assert [(r[1], r[3], r[9]) for r in rows] == [
        ("T0120", "24", "$63.00"),
        ("T9110", "12", "-"),
    ]
    assert "opportunity = $0.00 (no other contract lists this code)" in rows[0][8]


def test_missing_office_fees_and_schedules_are_flagged_and_percent_is_na(client, partial):
    response = client.get(f"/analysis/?practice={partial.fir}&on={ON}")

    text = html_text(response)
    assert (
        "Fir Dental: no office fee schedule effective on Nov 15, 2026, so % of office fees, "
        "write-offs and asks are n/a."
    ) in text
    # the schedule from Jan 1, 2027 is not in force on ON
    assert "Future Network (Fir Dental) has no fee schedule effective on Nov 15, 2026." in text
    rows = {r[1]: r for r in body_rows(tables(response)[0])}
    # % of office fees and write-off need office fees: n/a, not 0% or $0.00;
    # allowed 12 x 50.00 = 600.00 (E = A without an office fee)
    assert rows["Gamma PPO"][2:5] == ["n/a", "$600.00", "n/a"]
    assert rows["Future Network"][6] == "no schedule"
    assert rows["Total"][2:5] == ["n/a", "$600.00", "n/a"]
    assert "n/a write-off per year" in text
    export = read_csv(client.get(f"/analysis/scorecard.csv?practice={partial.fir}&on={ON}"))
    assert [row[5] for row in export[1:]] == ["", ""]

    matrix = client.get(f"/analysis/matrix?practice={partial.fir}&on={ON}")
    assert body_rows(tables(matrix)[0]) == [["T0120", "", "12", "n/a", "not listed", "$50.00 n/a"]]
    detail = client.get(f"/analysis/contracts/{partial.fir_future}?on={ON}")
    assert "This contract has no fee schedule effective on Nov 15, 2026 and no volume." in (
        html_text(detail)
    )
    gamma = client.get(f"/analysis/contracts/{partial.fir_gamma}?on={ON}")
    assert body_rows(tables(gamma)[-1])[0][9] == "-"  # no ask without an office fee
    assert "n/a write-off per year" in html_text(gamma)


def test_payer_without_a_contract_route_is_reported_as_not_counted(app, elm_manager, elm):
    response = elm_manager.get(f"/analysis/?{q(elm)}")

    assert (
        "Elm Street Dental: volume of Orphan Plan is not counted: no contract prices these "
        "payers. Check the pricing routes"
    ) in html_text(response)
    with app.test_request_context():
        routes = url_for("payers.routes", practice_id=elm.practice_id)
    assert f'href="{routes}">Check the pricing routes' in response.get_data(as_text=True)


# ---- the demo: every page shows the engine's figures ----------------------------------------


def dollars(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def pct(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def test_demo_pages_show_the_figures_the_engine_computes(app, client):
    on = date(2026, 11, 15)
    with database(app):
        seed_demo(on)
    with app.app_context():
        user = demo_user("manager@demo.test")
        maple = db.session.scalar(
            sa.select(Practice.id).where(Practice.name == "Maple Street Dental")
        )
        analysis = load_analysis(user, [maple], on)
        everything = load_analysis(user, None, on).group
    result = analysis.practice(maple)
    name = {cid: info.network_name for cid, info in analysis.contracts.items()}
    assert len(result.contracts) == 6
    assert result.opportunity > 0
    login(client, "manager@demo.test", DEMO_PASSWORD)
    query = f"practice={maple}&on=2026-11-15"

    scorecard = body_rows(tables(client.get(f"/analysis/?{query}"))[0])
    assert [r[:6] for r in scorecard] == [
        [str(c.rank), name[c.contract_id], pct(c.weighted_pct_of_ucr)]
        + [dollars(c.annual_allowed), dollars(c.annual_write_off), dollars(c.opportunity)]
        for c in result.contracts
    ] + [
        ["", "Total", pct(result.weighted_pct_of_ucr), dollars(result.annual_allowed)]
        + [dollars(result.annual_write_off), dollars(result.opportunity)]
    ]
    # a total is the sum of its rounded rows
    assert result.opportunity == sum(c.opportunity for c in result.contracts)

    top = result.contracts[0]
    detail = client.get(f"/analysis/contracts/{top.contract_id}?on=2026-11-15")
    rows = body_rows(tables(detail)[-1])
    assert [(r[1], r[8].split()[0], r[9]) for r in rows] == [
        (c.code, dollars(c.opportunity), dollars(c.suggested_ask) if c.suggested_ask else "-")
        for c in top.codes
    ]
    assert [r[10] == "✔" for r in rows] == [c.in_80 for c in top.codes]
    for row, code in zip(rows[:10], top.codes, strict=False):
        assert code.formula("opportunity") in row[8]

    matrix = body_rows(tables(client.get(f"/analysis/matrix?{query}"))[0])
    columns = sorted(result.contracts, key=lambda c: name[c.contract_id])
    by_code = {(r.code, c.contract_id): r for c in result.contracts for r in c.codes}
    for row in matrix[:10]:
        cells = [by_code[(row[0], c.contract_id)] for c in columns]
        assert row[4:] == [f"{dollars(x.allowed)} {pct(x.effective / x.office)}" for x in cells]

    targets = body_rows(tables(client.get(f"/analysis/targets?{query}"))[1])
    points = pareto(result.contracts)[:10]
    assert [r[1:3] + r[4:] for r in targets[:10]] == [
        [name[p.contract_id], p.code, dollars(p.opportunity), pct(p.cumulative_share)]
        for p in points
    ]

    # all practices: the per-practice figures added up; % from the summed parts
    totals = body_rows(tables(client.get("/analysis/?on=2026-11-15"))[0])[-1]
    assert everything.opportunity == sum(p.opportunity for p in everything.practices)
    assert totals[2:6] == [
        pct(everything.weighted_pct_of_ucr),
        dollars(everything.annual_allowed),
        dollars(everything.annual_write_off),
        dollars(everything.opportunity),
    ]


# ---- the service's query count ------------------------------------------------------------


def build_sized(org, payers, networks, name: str, contracts: int, codes: int) -> int:
    """A practice with `contracts` contracts x `codes` codes, office fees, a benchmark set,
    a year of volumes for every payer and code, and one explicit pricing route."""
    practice = PracticeFactory(org=org, name=name)
    codes_ = [f"T3{n:03d}" for n in range(codes)]
    add_schedule(practice, ScheduleKind.OFFICE, dict.fromkeys(codes_, "200.00"))
    add_schedule(practice, ScheduleKind.BENCHMARK, dict.fromkeys(codes_, "180.00"), label="P80")
    for i in range(contracts):
        contract = ContractFactory(practice=practice, network=networks[i])
        db.session.flush()
        add_schedule(
            practice, ScheduleKind.CONTRACT, dict.fromkeys(codes_, f"{100 + i}.00"), contract
        )
        for code in codes_:
            db.session.add(
                CodeVolume(
                    organization_id=org.id,
                    practice_id=practice.id,
                    payer_id=payers[i].id,
                    code=code,
                    period_start=MONTHS[0],
                    period_end=month_end(MONTHS[-1]),
                    count=10 + i,
                )
            )
    PricingRouteFactory(practice=practice, payer=payers[-1], network=networks[0])
    db.session.flush()
    return practice.id


def load_counting_queries(app, user_id: int, practice_id: int):
    """load_analysis in a fresh session, with every SQL statement it sends."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        user = db.session.get(User, user_id)
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            analysis = load_analysis(user, [practice_id], date(2026, 11, 15), benchmark_label="P80")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
    return statements, analysis


def test_service_query_count_does_not_grow_with_codes_or_contracts(app):
    with database(app):
        org = OrganizationFactory(name="Sized Group")
        user_id = UserFactory(org=org, email="manager@sized.test").id
        payers = [PayerFactory(org=org, name=f"Sized Payer {i}") for i in range(7)]
        networks = [
            NetworkFactory(
                org=org, name=f"Sized PPO {i}", kind=NetworkKind.DIRECT, owner_payer_id=p.id
            )
            for i, p in enumerate(payers)
        ]
        small = build_sized(org, payers, networks, "Small Dental", contracts=2, codes=3)
        large = build_sized(org, payers, networks, "Large Dental", contracts=6, codes=40)

    small_queries, small_result = load_counting_queries(app, user_id, small)
    large_queries, large_result = load_counting_queries(app, user_id, large)

    assert [len(c.codes) for c in small_result.practice(small).contracts] == [3] * 2
    assert [len(c.codes) for c in large_result.practice(large).contracts] == [40] * 6
    assert len(small_queries) == len(large_queries), "\n".join(large_queries)
    assert len(large_queries) <= 12


# ---- who sees what ------------------------------------------------------------------------


def test_another_organisations_contract_is_not_found(client, world):
    login(client, world.a.manager)
    theirs = world.b.contract_ids[0]

    assert client.get(f"/analysis/contracts/{theirs}?on={ON}").status_code == 404
    assert (
        client.post(
            f"/analysis/contracts/{theirs}/what-if?on={ON}",
            data={"code": ["T0120"], "raise_pct": "10"},
            htmx=True,
        ).status_code
        == 404
    )
    assert client.get(f"/analysis/contracts/{theirs}/targets.xlsx?on={ON}").status_code == 404
    assert client.get(f"/analysis/contracts/{theirs}/targets.csv?on={ON}").status_code == 404
    other_practice = world.b.practice_ids[0]
    assert client.get(f"/analysis/?practice={other_practice}&on={ON}").status_code == 404
    assert client.get(f"/analysis/scorecard.csv?practice={other_practice}").status_code == 404
    # "all my practices" lists only organisation A's contracts
    names = [r[1] for r in body_rows(tables(client.get(f"/analysis/?on={ON}"))[0])[:-1]]
    assert names == ["Alpha Dental PPO North Office", "Alpha Dental PPO South Office"]


def test_manager_limited_to_one_practice_sees_only_its_contracts(client, world):
    login(client, world.a.manager1)
    south_contract = world.a.contract_ids[1]
    south = world.a.practice_ids[1]

    scorecard = client.get(f"/analysis/?on={ON}")
    assert [r[1] for r in body_rows(tables(scorecard)[0])[:-1]] == ["Alpha Dental PPO North Office"]
    assert "South Office" not in html_text(scorecard)
    assert "South Office" not in read_csv(client.get(f"/analysis/scorecard.csv?on={ON}"))[-1]
    assert client.get(f"/analysis/contracts/{south_contract}?on={ON}").status_code == 404
    assert (
        client.post(
            f"/analysis/contracts/{south_contract}/what-if?on={ON}", data={"raise_pct": "10"}
        ).status_code
        == 404
    )
    assert client.get(f"/analysis/contracts/{south_contract}/targets.csv").status_code == 404
    assert client.get(f"/analysis/matrix?practice={south}&on={ON}").status_code == 404
    assert client.get(f"/analysis/contracts/{world.a.contract_ids[0]}").status_code == 200


def database_state(app) -> list:
    """Every schedule line, volume and audit event, to prove a request changed nothing."""
    with database(app) as s:
        return [
            s.execute(sa.select(FeeLine.id, FeeLine.code, FeeLine.amount_cents)).all(),
            s.execute(sa.select(FeeSchedule.id, FeeSchedule.effective_from)).all(),
            s.execute(sa.select(CodeVolume.id, CodeVolume.count)).all(),
            s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
        ]


def test_viewer_reads_every_analysis_page_and_uses_the_what_if_without_changing_data(
    app, client, elm
):
    login(client, elm.viewer)
    before = database_state(app)
    pages = [
        f"/analysis/?{q(elm)}",
        f"/analysis/matrix?{q(elm)}",
        f"/analysis/targets?{q(elm)}",
        f"/analysis/contracts/{elm.acme}?on={ON}",
        f"/analysis/scorecard.xlsx?{q(elm)}",
        f"/analysis/scorecard.csv?{q(elm)}",
        f"/analysis/matrix.xlsx?{q(elm)}",
        f"/analysis/matrix.csv?{q(elm)}",
        f"/analysis/contracts/{elm.acme}/targets.xlsx?on={ON}",
        f"/analysis/contracts/{elm.acme}/targets.csv?on={ON}",
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page

    response = whatif(client, elm.acme, code=["T0120", "T1110"], raise_pct="10")

    assert response.status_code == 200
    assert whatif_total(response) == "$374.50 over 2"
    assert database_state(app) == before
    # still the same schedule: the detail shows the allowed amounts as before
    detail = client.get(f"/analysis/contracts/{elm.acme}?on={ON}")
    assert [r[5] for r in body_rows(tables(detail)[-1])] == ["$70.00", "$120.00", "$49.00"]


def test_what_if_needs_the_csrf_token(elm_manager, elm):
    response = elm_manager.post(
        f"/analysis/contracts/{elm.acme}/what-if?on={ON}",
        data={"code": ["T1110"], "raise_pct": "10"},
        csrf=False,
    )

    assert response.status_code == 400
