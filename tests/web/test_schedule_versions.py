"""Schedule versions, the version in effect, the one-row-per-schedule list and the diff of two
versions, checked against figures worked out by hand in the comments.

Today is frozen at Nov 15, 2026, so the default volume period is Nov 2025 - Oct 2026: twelve
whole months, annual factor 1, and a yearly volume equals the sum of the monthly counts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from html import unescape
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
import time_machine

from campaigns.accounts.models import Role
from campaigns.codes import category
from campaigns.extensions import db
from campaigns.fees.models import CodeVolume, FeeLine, ProcedureCode, ScheduleKind
from campaigns.fees.versions import diff_versions
from campaigns.payers.models import NetworkKind
from tests.conftest import database, html_text, login
from tests.factories import (
    ContractFactory,
    FeeScheduleFactory,
    NetworkFactory,
    OrganizationFactory,
    PayerFactory,
    PracticeFactory,
    UserFactory,
)

TODAY = datetime(2026, 11, 15, 15, 0, tzinfo=UTC)
MONTHS = [date(2025 + (10 + i) // 12, (10 + i) % 12 + 1, 1) for i in range(12)]


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(TODAY):
        yield


# ---- helpers --------------------------------------------------------------------------------


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def add_schedule(practice, kind, lines: dict[str, str], *, contract=None, **kwargs):
    """A version with `lines` as code -> dollars ('49.00')."""
    schedule = FeeScheduleFactory(
        practice=practice, kind=kind, contract_id=contract.id if contract else None, **kwargs
    )
    schedule.lines = [
        FeeLine(code=code, amount_cents=int(Decimal(amount) * 100))
        for code, amount in lines.items()
    ]
    return schedule


def add_volume(practice, payer, code: str, per_month: int) -> None:
    """`per_month` procedures in each month of Nov 2025 - Oct 2026 (12 x per_month a year)."""
    for start in MONTHS:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        db.session.add(
            CodeVolume(
                organization_id=practice.organization_id,
                practice_id=practice.id,
                payer_id=payer.id,
                code=code,
                period_start=start,
                period_end=end,
                count=per_month,
            )
        )


class Tables(HTMLParser):
    """The tables of a page by id: {id: [[cell texts] per row]} (header row included)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: str | None = None
        self._cell: list[str] | None = None
        self._count = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._count += 1
            self._current = attrs.get("id") or f"table{self._count}"
            self.tables[self._current] = []
        elif tag == "tr" and self._current:
            self.tables[self._current].append([])
        elif tag in ("td", "th") and self._current:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = re.sub(r"\s+", " ", " ".join(self._cell)).strip()
            self.tables[self._current][-1].append(text)
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(response) -> dict[str, list[list[str]]]:
    assert response.status_code == 200, response.status_code
    return Tables(response.get_data(as_text=True)).tables


def text_of(response, element_id: str) -> str:
    """The text of the element with this id (a <p>), tags removed."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<p id="{element_id}"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no #{element_id}"
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip())


# ---- the data -------------------------------------------------------------------------------
#
# Elm Street Dental, one organisation; today Nov 15, 2026.
#
# Acme PPO contract, four versions (created_at decides the tie on Jan 1, 2026; the later-created
# one is inserted FIRST, so its id is the smaller: the id must not decide):
#   acme_2025   effective Jan 1, 2025  created Jan 5, 2025    superseded
#   acme_2026b  effective Jan 1, 2026  created Dec 15, 2025   IN EFFECT (tie: latest created)
#   acme_2026a  effective Jan 1, 2026  created Dec 1, 2025    superseded
#   acme_2027   effective Jan 1, 2027  created Nov 1, 2026    future
# Bolt PPO contract: one version, effective Mar 1, 2027 -> nothing in effect yet.
# Office fees: two versions (2025, 2026). Benchmarks "P50" and "P80": one family per label.
#
# The diff acme_2026b -> acme_2027:
#   code   before    after     change   % change
#   T0120   49.00     52.00    +3.00    3/49 = 6.1224% -> +6.1%
#   T1110   70.00     70.00    unchanged
#   T2391  120.00    118.50    -1.50    -1.5/120 = -1.25% -> -1.3% (half-up, away from zero)
#   T0140    0.00     10.00   +10.00    old amount 0 -> n/a
#   T4910   80.00        -    removed
#   T2740       -    900.00   added
# Volumes routed to Acme (Acme Dental payer, direct network), per year:
#   T0120 10 x 12 = 120, T1110 5 x 12 = 60, T2391 2 x 12 = 24, T0140 1 x 12 = 12,
#   T4910 3 x 12 = 36 (removed: not in the overall change)
# Bolt Mutual's T0120 100 x 12 = 1,200 goes to the Bolt contract, not to Acme.
# Weighted overall change over the codes in both versions (T0120, T1110, T2391, T0140):
#   sum V x after  = 120 x 52 + 60 x 70 + 24 x 118.50 + 12 x 10 = 6,240 + 4,200 + 2,844 + 120
#                  = 13,404
#   sum V x before = 120 x 49 + 60 x 70 + 24 x 120 + 12 x 0 = 5,880 + 4,200 + 2,880 = 12,960
#   13,404 / 12,960 - 1 = 444 / 12,960 = 3.4259% -> +3.4%
#   per year: 120 x 3 + 24 x (-1.50) + 12 x 10 = 360 - 36 + 120 = +$444.00
# Without volumes (unweighted): (52 + 70 + 118.50 + 10) / (49 + 70 + 120 + 0) - 1
#   = 250.50 / 239 - 1 = 11.50 / 239 = 4.8117% -> +4.8%
# Office 2025 -> 2026: T0120 80 -> 84 (+5.0%), T1110 120 -> 120.
#   Weighted by the practice's volume across contracts: T0120 120 (Acme) + 1,200 (Bolt) = 1,320,
#   T1110 60: (1,320 x 84 + 60 x 120) / (1,320 x 80 + 60 x 120) - 1 = 118,080 / 112,800 - 1
#   = 5,280 / 112,800 = 4.6809% -> +4.7%; per year 1,320 x 4 = +$5,280.00
#   (unweighted it would be 204 / 200 - 1 = +2.0%; Acme's volume alone would give
#   (120 x 84 + 7,200) / (120 x 80 + 7,200) - 1 = 480 / 16,800 = +2.9%)

ACME_2026 = {"T0120": "49.00", "T1110": "70.00", "T2391": "120.00", "T0140": "0.00"}
ACME_2026 |= {"T4910": "80.00"}
ACME_2027 = {"T0120": "52.00", "T1110": "70.00", "T2391": "118.50", "T0140": "10.00"}
ACME_2027 |= {"T2740": "900.00"}


def build_elm(volumes: bool = True, name: str = "Elm") -> SimpleNamespace:
    org = OrganizationFactory(name=f"{name} Group")
    practice = PracticeFactory(org=org, name=f"{name} Street Dental")
    other_practice = PracticeFactory(org=org, name="Oak Lane Dental")
    slug = name.lower()
    manager = UserFactory(org=org, email=f"manager@{slug}.test", role=Role.MANAGER, name="Mona")
    viewer = UserFactory(org=org, email=f"viewer@{slug}.test", role=Role.VIEWER)
    db.session.add_all(
        ProcedureCode(organization_id=org.id, code=c, description=d, category=category(c))
        for c, d in {"T0120": "Recall exam", "T2740": "Ceramic crown"}.items()
    )
    acme_payer = PayerFactory(org=org, name="Acme Dental")
    bolt_payer = PayerFactory(org=org, name="Bolt Mutual")
    acme_net = NetworkFactory(
        org=org, name="Acme PPO", kind=NetworkKind.DIRECT, owner_payer_id=acme_payer.id
    )
    bolt_net = NetworkFactory(
        org=org, name="Bolt PPO", kind=NetworkKind.DIRECT, owner_payer_id=bolt_payer.id
    )
    acme = ContractFactory(practice=practice, network=acme_net)
    bolt = ContractFactory(practice=practice, network=bolt_net)
    oak_acme = ContractFactory(practice=other_practice, network=acme_net)
    db.session.flush()

    s = SimpleNamespace(org_id=org.id, manager=manager.email, viewer=viewer.email)
    # the later-created Jan 1, 2026 version first, so that its id is the smaller one
    s.acme_2026b = add_schedule(
        practice, ScheduleKind.CONTRACT, ACME_2026, contract=acme, label="Acme 2026 (corrected)",
        effective_from=date(2026, 1, 1), created_at=at(2025, 12, 15), created_by_id=manager.id,
        source="acme-2026-corrected.pdf",
    )  # fmt: skip
    s.acme_2026a = add_schedule(
        practice, ScheduleKind.CONTRACT, {"T0120": "48.00", "T1110": "70.00"}, contract=acme,
        label="Acme 2026", effective_from=date(2026, 1, 1), created_at=at(2025, 12, 1),
        source="acme-2026.pdf",
    )  # fmt: skip
    s.acme_2025 = add_schedule(
        practice, ScheduleKind.CONTRACT, {"T0120": "47.00", "T1110": "68.00"}, contract=acme,
        label="Acme 2025", effective_from=date(2025, 1, 1), created_at=at(2025, 1, 5),
    )  # fmt: skip
    s.acme_2027 = add_schedule(
        practice, ScheduleKind.CONTRACT, ACME_2027, contract=acme, label="Acme 2027",
        effective_from=date(2027, 1, 1), created_at=at(2026, 11, 1),
    )  # fmt: skip
    s.bolt_2027 = add_schedule(
        practice, ScheduleKind.CONTRACT, {"T0120": "60.00"}, contract=bolt, label="Bolt 2027",
        effective_from=date(2027, 3, 1), created_at=at(2026, 10, 1),
    )  # fmt: skip
    s.office_2025 = add_schedule(
        practice, ScheduleKind.OFFICE, {"T0120": "80.00", "T1110": "120.00"},
        label="Office fees 2025", effective_from=date(2025, 1, 1), created_at=at(2025, 1, 2),
    )  # fmt: skip
    s.office_2026 = add_schedule(
        practice, ScheduleKind.OFFICE, {"T0120": "84.00", "T1110": "120.00"},
        label="Office fees 2026", effective_from=date(2026, 1, 1), created_at=at(2026, 1, 2),
    )  # fmt: skip
    s.p50 = add_schedule(
        practice, ScheduleKind.BENCHMARK, {"T0120": "70.00"}, label="P50",
        effective_from=date(2026, 1, 1), created_at=at(2026, 2, 1),
    )  # fmt: skip
    s.p80 = add_schedule(
        practice, ScheduleKind.BENCHMARK, {"T0120": "90.00"}, label="P80",
        effective_from=date(2026, 1, 1), created_at=at(2026, 2, 1),
    )  # fmt: skip
    s.oak = add_schedule(
        other_practice, ScheduleKind.CONTRACT, {"T0120": "50.00"}, contract=oak_acme,
        label="Acme at Oak Lane", effective_from=date(2026, 1, 1), created_at=at(2026, 1, 1),
    )  # fmt: skip
    if volumes:
        acme_counts = {"T0120": 10, "T1110": 5, "T2391": 2, "T0140": 1, "T4910": 3}
        for code, per_month in acme_counts.items():
            add_volume(practice, acme_payer, code, per_month)
        add_volume(practice, bolt_payer, "T0120", 100)
    db.session.flush()
    for name, value in list(vars(s).items()):
        if hasattr(value, "id"):
            setattr(s, name, value.id)
    s.practice_id, s.other_practice_id = practice.id, other_practice.id
    return s


@pytest.fixture
def elm(app):
    with database(app):
        return build_elm()


@pytest.fixture
def manager(client, elm):
    login(client, elm.manager)
    return client


# ---- versions and the version in effect -----------------------------------------------------


def test_schedule_page_lists_every_version_and_marks_the_one_in_effect(manager, elm):
    response = manager.get(f"/fees/{elm.acme_2025}")

    rows = tables(response)["versions"]
    assert rows[0] == ["Effective from", "Version", "Source", "Created", "Codes", "Status"]
    shown = [[r[0], r[1], r[2], r[4], r[5]] for r in rows[1:]]
    assert shown == [
        ["Jan 1, 2027", "Acme 2027", "", "5", "from Jan 1, 2027"],
        ["Jan 1, 2026", "Acme 2026 (corrected)", "acme-2026-corrected.pdf", "5", "in effect today"],
        ["Jan 1, 2026", "Acme 2026", "acme-2026.pdf", "2", "superseded"],
        ["Jan 1, 2025", "Acme 2025 (this page)", "", "2", "superseded"],
    ]
    # created at and by (Dec 15, 2025 12:00 UTC is 6:00 AM in Chicago)
    assert rows[2][3] == "Dec 15, 2025 6:00 AM CST by Mona"
    text = html_text(response)
    assert "superseded" in text.split("Versions")[0]  # the page's own status, in its heading
    for version in (elm.acme_2027, elm.acme_2026b, elm.acme_2026a):
        assert f'href="/fees/{version}"' in response.get_data(as_text=True)


def test_a_version_starting_later_is_not_yet_in_effect(manager, elm):
    future = manager.get(f"/fees/{elm.acme_2027}")
    assert "not yet in effect" in html_text(future)

    lone = manager.get(f"/fees/{elm.bolt_2027}")
    rows = tables(lone)["versions"]
    assert [r[5] for r in rows[1:]] == ["from Mar 1, 2027"]
    assert "nothing to compare yet" in html_text(lone)


def test_the_list_shows_one_row_per_schedule_linking_the_version_in_effect(manager, elm):
    response = manager.get("/fees/")

    rows = tables(response)["families-table"]
    # sorted by practice by default
    assert rows[0] == [
        "Practice ▲", "Kind", "Schedule", "In effect today", "Versions", "Codes", "Source",
    ]  # fmt: skip
    assert rows[1:] == [
        ["Elm Street Dental", "office", "Office fees Office fees 2026", "from Jan 1, 2026"]
        + ["2", "2", ""],
        ["Elm Street Dental", "contract", "Acme PPO Acme 2026 (corrected)"]
        + ["from Jan 1, 2026 next: Jan 1, 2027", "4", "5", "acme-2026-corrected.pdf"],
        ["Elm Street Dental", "contract", "Bolt PPO Bolt 2027"]
        + ["none yet next: Mar 1, 2027", "1", "1", ""],
        ["Elm Street Dental", "benchmark", "P50", "from Jan 1, 2026", "1", "1", ""],
        ["Elm Street Dental", "benchmark", "P80", "from Jan 1, 2026", "1", "1", ""],
        ["Oak Lane Dental", "contract", "Acme PPO Acme at Oak Lane", "from Jan 1, 2026"]
        + ["1", "1", ""],
    ]
    html = response.get_data(as_text=True)
    assert f'href="/fees/{elm.acme_2026b}">Acme PPO</a>' in html
    assert f'href="/fees/{elm.bolt_2027}">Bolt PPO</a>' in html


@pytest.mark.parametrize(
    ("query", "schedules"),
    [
        ("kind=benchmark", ["P50", "P80"]),
        (
            "kind=contract&sort=-versions",  # 4, then 1 and 1 by name (reversed)
            ["Acme PPO Acme 2026 (corrected)", "Bolt PPO Bolt 2027", "Acme PPO Acme at Oak Lane"],
        ),
        (
            "sort=codes",  # 1, 1, 1, 1 (by name), 2, 5
            ["Acme PPO Acme at Oak Lane", "Bolt PPO Bolt 2027", "P50", "P80"]
            + ["Office fees Office fees 2026", "Acme PPO Acme 2026 (corrected)"],
        ),
        (
            "kind=nonsense&sort=nonsense",  # ignored: everything, by practice, kind, name
            ["Office fees Office fees 2026", "Acme PPO Acme 2026 (corrected)"]
            + ["Bolt PPO Bolt 2027", "P50", "P80", "Acme PPO Acme at Oak Lane"],
        ),
    ],
)
def test_the_list_filters_by_kind_and_sorts(manager, elm, query, schedules):
    rows = tables(manager.get(f"/fees/?{query}"))["families-table"][1:]
    assert [r[2] for r in rows] == schedules


def test_the_list_filters_by_practice_and_htmx_gets_only_the_table(manager, elm):
    response = manager.get(f"/fees/?practice={elm.other_practice_id}", htmx=True)

    html = response.get_data(as_text=True)
    assert html.startswith('<section id="families">')
    assert "<h1>" not in html
    assert [r[0] for r in tables(response)["families-table"][1:]] == ["Oak Lane Dental"]
    assert "HX-Request" in response.headers["Vary"]
    empty = manager.get(f"/fees/?practice={elm.other_practice_id}&kind=office")
    assert "No fee schedules match these filters" in html_text(empty)


def test_the_empty_list_says_so_and_links_the_import_only_when_it_exists(app, client):
    with database(app):
        org = OrganizationFactory()
        PracticeFactory(org=org)
        UserFactory(org=org, email="new@empty.test", role=Role.MANAGER)
    login(client, "new@empty.test")

    text = html_text(client.get("/fees/"))

    assert "No fee schedules yet" in text
    if "fees.import_new" in app.view_functions:
        assert "Import a schedule" in text
    else:
        assert "Importing schedules is not available yet" in text


# ---- the diff ------------------------------------------------------------------------------


def test_diff_lists_added_removed_and_changed_codes_with_the_weighted_overall_change(manager, elm):
    response = manager.get(f"/fees/{elm.acme_2027}/diff?against={elm.acme_2026b}")

    found = tables(response)
    assert found["diff-changed"] == [
        ["Code", "Description", "Before", "After", "Change", "% change", "Volume / yr"]
        + ["Effect / yr"],
        ["T0120", "Recall exam", "$49.00", "$52.00", "+$3.00", "+6.1%", "120", "+$360.00"],
        ["T0140", "", "$0.00", "$10.00", "+$10.00", "n/a", "12", "+$120.00"],
        ["T2391", "", "$120.00", "$118.50", "-$1.50", "-1.3%", "24", "-$36.00"],
    ]
    assert found["diff-added"] == [
        ["Code", "Description", "Amount"],
        ["T2740", "Ceramic crown", "$900.00"],
    ]
    assert found["diff-removed"] == [["Code", "Description", "Amount"], ["T4910", "", "$80.00"]]
    assert text_of(response, "diff-summary") == (
        "From Acme 2026 (corrected) (Jan 1, 2026) to Acme 2027 (Jan 1, 2027): "
        "3 changed, 1 added, 1 removed, 1 unchanged."
    )
    assert text_of(response, "diff-overall") == (
        "Overall change: +3.4% weighted by the annual volume routed to this contract "
        "(Nov 2025 to Oct 2026); per year +$444.00 at that volume."
    )


def test_diff_without_volumes_is_labelled_unweighted(app, client):
    with database(app):
        elm = build_elm(volumes=False)
    login(client, elm.manager)

    response = client.get(f"/fees/{elm.acme_2027}/diff?against={elm.acme_2026b}")

    overall = text_of(response, "diff-overall")
    assert overall.startswith("Overall change: +4.8% unweighted")
    assert tables(response)["diff-changed"][1] == [
        "T0120", "Recall exam", "$49.00", "$52.00", "+$3.00", "+6.1%",
    ]  # fmt: skip


def test_office_diff_is_weighted_by_the_practices_volume_across_contracts(manager, elm):
    response = manager.get(f"/fees/{elm.office_2026}/diff?against={elm.office_2025}")

    assert text_of(response, "diff-overall").startswith(
        "Overall change: +4.7% weighted by the practice's annual volume across its contracts"
    )
    assert "+$5,280.00" in text_of(response, "diff-overall")
    assert tables(response)["diff-changed"][1] == [
        "T0120", "Recall exam", "$80.00", "$84.00", "+$4.00", "+5.0%", "1,320", "+$5,280.00",
    ]  # fmt: skip


def test_diff_figures_from_the_pure_function_are_exact_decimals():
    diff = diff_versions(
        {"T0120": 4900, "T1110": 7000, "T2391": 12000, "T0140": 0, "T4910": 8000},
        {"T0120": 5200, "T1110": 7000, "T2391": 11850, "T0140": 1000, "T2740": 90000},
        {"T0120": Decimal(120), "T1110": Decimal(60), "T2391": Decimal(24), "T0140": Decimal(12)},
    )

    assert [(c.code, c.change, c.pct) for c in diff.changed] == [
        ("T0120", Decimal("3.00"), Decimal("3.00") / Decimal("49.00")),
        ("T0140", Decimal("10.00"), None),
        ("T2391", Decimal("-1.50"), Decimal("-0.0125")),
    ]
    assert diff.overall == Decimal(444) / Decimal(12960)  # 13,404 / 12,960 - 1, exact
    assert diff.annual_change == Decimal("444.00")
    assert diff.unchanged == 1
    assert [(a.code, a.amount) for a in diff.added] == [("T2740", Decimal("900.00"))]
    assert [(r.code, r.amount) for r in diff.removed] == [("T4910", Decimal("80.00"))]
    # an annualised volume with no decimal end (365/3 a year) stays exact: 365/3 x $3 = $365
    exact = diff_versions({"T0120": 4900}, {"T0120": 5200}, {"T0120": Fraction(365, 3)})
    assert exact.changed[0].annual == Decimal("365.00")
    assert exact.overall == Decimal(3) / Decimal(49)
    # all old amounts 0: no overall figure ("n/a"), never a division by zero
    assert diff_versions({"T0140": 0}, {"T0140": 500}).overall is None


def test_schedule_page_compares_with_the_previous_version_and_selects_swap_the_diff(manager, elm):
    page = manager.get(f"/fees/{elm.acme_2027}")
    html = page.get_data(as_text=True)

    # the page opens on this version against the one before it (the version in effect)
    assert "3 changed, 1 added, 1 removed, 1 unchanged" in text_of(page, "diff-summary")
    assert re.search(rf'<option value="{elm.acme_2026b}" selected>', html)
    assert 'hx-target="#diff"' in html
    assert 'hx-trigger="change"' in html
    # the selects' htmx request returns the diff section alone
    partial = manager.get(
        f"/fees/{elm.acme_2027}/diff?against={elm.acme_2025}&version={elm.acme_2026a}", htmx=True
    )
    body = partial.get_data(as_text=True)
    assert body.startswith('<section id="diff"')
    assert "<h1>" not in body
    # Acme 2025 -> Acme 2026: T0120 47 -> 48 (+1/47 = 2.13% -> +2.1%), T1110 68 -> 70 (+2.9%)
    assert tables(partial)["diff-changed"][1:] == [
        ["T0120", "Recall exam", "$47.00", "$48.00", "+$1.00", "+2.1%", "120", "+$120.00"],
        ["T1110", "", "$68.00", "$70.00", "+$2.00", "+2.9%", "60", "+$120.00"],
    ]
    # without htmx the same URL is a whole page
    assert "<h1>Changes in Acme 2027</h1>" in manager.get(
        f"/fees/{elm.acme_2027}/diff?against={elm.acme_2025}"
    ).get_data(as_text=True)


def test_the_oldest_version_is_compared_with_the_next_and_one_version_with_itself(manager, elm):
    oldest = manager.get(f"/fees/{elm.acme_2025}")
    assert text_of(oldest, "diff-summary").startswith("From Acme 2025 (Jan 1, 2025) to Acme 2026")

    same = manager.get(f"/fees/{elm.acme_2027}/diff?against={elm.acme_2027}")
    assert "Choose two different versions" in html_text(same)


@pytest.mark.parametrize("other", ["bolt_2027", "office_2026", "p80", "oak"])
def test_diff_with_a_version_of_another_schedule_is_not_found(manager, elm, other):
    """Another contract, the office fees, another benchmark label, another practice."""
    first = elm.p50 if other == "p80" else elm.acme_2027
    other_id = getattr(elm, other)

    assert manager.get(f"/fees/{first}/diff?against={other_id}").status_code == 404
    assert manager.get(f"/fees/{first}/diff?version={other_id}").status_code == 404


def test_diff_with_another_organisations_version_or_a_bad_id_is_not_found(app, client, elm):
    with database(app):
        theirs = build_elm(name="Fir")  # a second organisation with the same shape
    login(client, elm.manager)

    assert client.get(f"/fees/{elm.acme_2027}/diff?against={theirs.acme_2026b}").status_code == 404
    assert client.get(f"/fees/{theirs.acme_2027}").status_code == 404
    assert client.get(f"/fees/{theirs.acme_2027}/diff").status_code == 404
    assert client.get(f"/fees/{elm.acme_2027}/diff?against=abc").status_code == 404
    assert len(tables(client.get("/fees/"))["families-table"]) == 7  # only their own six schedules


def test_a_manager_limited_to_one_practice_sees_only_its_schedules(client, world):
    login(client, world.a.manager1)
    north, south = world.a.schedule_ids

    rows = tables(client.get("/fees/"))["families-table"][1:]
    assert [r[0] for r in rows] == ["North Office"]
    assert client.get(f"/fees/{north}").status_code == 200
    assert client.get(f"/fees/{south}").status_code == 404
    assert client.get(f"/fees/{south}/diff").status_code == 404
    assert client.get(f"/fees/{north}/diff?against={south}").status_code == 404
    assert client.get(f"/fees/?practice={world.a.practice_ids[1]}").status_code == 404


def test_a_viewer_reads_versions_and_diffs(client, elm):
    login(client, elm.viewer)

    assert client.get(f"/fees/{elm.acme_2027}").status_code == 200
    assert client.get(f"/fees/{elm.acme_2027}/diff?against={elm.acme_2025}").status_code == 200
    assert client.get("/fees/").status_code == 200
