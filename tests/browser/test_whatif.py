"""A billing manager changes the what-if on a contract's analysis and sees the new total."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from campaigns.accounts.models import Role
from campaigns.fees.models import CodeVolume, FeeLine, FeeSchedule, ScheduleKind
from campaigns.payers.models import NetworkKind
from tests.conftest import database
from tests.factories import (
    PASSWORD,
    ContractFactory,
    NetworkFactory,
    OrganizationFactory,
    PayerFactory,
    PracticeFactory,
    PricingRouteFactory,
    UserFactory,
)

ON = "2026-11-15"


def _schedule(practice, kind, label, amounts, contract=None):
    schedule = FeeSchedule(
        organization_id=practice.organization_id,
        practice_id=practice.id,
        kind=kind,
        contract_id=contract.id if contract else None,
        label=label,
        effective_from=date(2026, 1, 1),
    )
    schedule.lines = [FeeLine(code=c, amount_cents=cents) for c, cents in amounts.items()]
    return schedule


def build(app):
    """Office fees T0120 $80, T1110 $120; Acme allows $49 / $70, Bolt $60 / $100.
    Acme's payer bills 2 x T0120 and 3 x T1110 a month for 12 months: V = 24 and 36."""
    with database(app) as s:
        org = OrganizationFactory(name="Maple Group")
        practice = PracticeFactory(org=org, name="Maple Dental")
        UserFactory(org=org, email="billing@maple.example", role=Role.MANAGER)
        acme_payer = PayerFactory(org=org, name="Acme Insurance")
        bolt_payer = PayerFactory(org=org, name="Bolt Insurance")
        acme_net = NetworkFactory(
            org=org, name="Acme PPO", kind=NetworkKind.DIRECT, owner_payer_id=acme_payer.id
        )
        bolt_net = NetworkFactory(
            org=org, name="Bolt PPO", kind=NetworkKind.DIRECT, owner_payer_id=bolt_payer.id
        )
        acme = ContractFactory(practice=practice, network=acme_net)
        bolt = ContractFactory(practice=practice, network=bolt_net)
        PricingRouteFactory(practice=practice, payer=acme_payer, network=acme_net)
        PricingRouteFactory(practice=practice, payer=bolt_payer, network=bolt_net)
        s.add_all(
            [
                _schedule(practice, ScheduleKind.OFFICE, "Office", {"T0120": 8000, "T1110": 12000}),
                _schedule(
                    practice, ScheduleKind.CONTRACT, "Acme", {"T0120": 4900, "T1110": 7000}, acme
                ),
                _schedule(
                    practice, ScheduleKind.CONTRACT, "Bolt", {"T0120": 6000, "T1110": 10000}, bolt
                ),
            ]
        )
        for month in range(1, 13):  # Nov 2025 .. Oct 2026
            year, m = (2025, 10 + month) if month <= 2 else (2026, month - 2)
            start = date(year, m, 1)
            end = date(year + (m == 12), m % 12 + 1, 1).toordinal() - 1
            for code, count in (("T0120", 2), ("T1110", 3)):
                s.add(
                    CodeVolume(
                        organization_id=org.id,
                        practice_id=practice.id,
                        payer_id=acme_payer.id,
                        code=code,
                        period_start=start,
                        period_end=date.fromordinal(end),
                        count=count,
                    )
                )
        s.flush()
        return acme.id


def test_what_if_total_follows_the_raise_the_codes_and_the_targets(app, live_server, watched):
    acme = build(app)
    page = watched.page
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("billing@maple.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.goto(f"{live_server}/analysis/contracts/{acme}?on={ON}")
    # Opportunity: T1110 36 x (100 - 70) = 1,080.00; T0120 24 x (60 - 49) = 264.00.
    # 80% of 1,344.00 = 1,075.20 is reached by T1110 alone, so only T1110 is chosen first.
    expect(page.get_by_text("$1,344.00")).to_be_visible()
    total = page.locator("#whatif-total")
    # +10% on T1110: A' = 77.00, gain 36 x 7.00 = 252.00
    expect(total).to_contain_text("$252.00 per year over 1 code(s)")
    watched.shot("default")

    page.evaluate("window.__samePage = true")
    raise_box = page.get_by_label("Raise the chosen codes' allowed amounts by (%)")
    raise_box.fill("25")
    raise_box.press("Tab")
    # +25%: A' = 87.50, gain 36 x 17.50 = 630.00
    expect(total).to_contain_text("$630.00 per year over 1 code(s)")
    watched.shot("raise-25")

    page.get_by_text("Other codes of this contract (1)").click()
    page.get_by_role("checkbox", name="T0120").check()
    # T0120 +25%: A' = 61.25, gain 24 x 12.25 = 294.00; total 630.00 + 294.00 = 924.00
    expect(total).to_contain_text("$924.00 per year over 2 code(s)")
    watched.shot("two-codes")

    target = page.get_by_label("Target allowed for T1110")
    target.fill("130")
    target.press("Tab")
    # T1110 target 130 pays min(130, office 120) = 120: 36 x 50.00 = 1,800.00; + 294.00
    expect(total).to_contain_text("$2,094.00 per year over 2 code(s)")
    watched.shot("target")

    assert page.evaluate("window.__samePage === true"), "the page reloaded"
    assert watched.errors == [], "\n".join(watched.errors)
    assert watched.failed == []
