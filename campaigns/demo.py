"""The demo organisation: fictional practices, payers, networks, contracts, fees and volumes.

Deterministic for a given `today` and idempotent. Codes are fictional T-codes with our own
labels (DOMAIN.md: no CDT content in the project).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from .accounts.models import Organization, Practice, Role, User
from .accounts.services import create_user
from .codes import category
from .extensions import db
from .fees.models import CodeVolume, FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from .payers.models import Contact, Contract, Network, NetworkKind, Payer, PricingRoute

DEMO_ORG = "Demo Dental Group"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - demo only, printed and documented
DEMO_USERS = (
    ("owner@demo.test", "Olivia Owens", Role.OWNER),
    ("manager@demo.test", "Marcus Mendez", Role.MANAGER),
    ("viewer@demo.test", "Valerie Vance", Role.VIEWER),
)

# code, our label, office fee low-high (dollars), procedures a month per practice (all payers)
CODES: tuple[tuple[str, str, int, int, float], ...] = (
    ("T0120", "Recall exam", 55, 95, 95),
    ("T0140", "Problem-focused exam", 70, 120, 22),
    ("T0150", "New-patient full exam", 85, 150, 18),
    ("T0180", "Gum-health full exam", 90, 160, 6),
    ("T0210", "Full x-ray set", 130, 220, 14),
    ("T0220", "Single root x-ray, first", 25, 45, 40),
    ("T0230", "Single root x-ray, each more", 20, 38, 30),
    ("T0274", "Four bite-wings", 65, 110, 60),
    ("T0330", "Panoramic x-ray", 110, 180, 10),
    ("T0431", "Oral cancer screening aid", 40, 75, 4),
    ("T1110", "Adult cleaning", 95, 160, 85),
    ("T1120", "Child cleaning", 65, 110, 30),
    ("T1206", "Fluoride varnish", 35, 65, 28),
    ("T1208", "Fluoride, other", 30, 55, 10),
    ("T1351", "Sealant, per tooth", 45, 80, 12),
    ("T1510", "Space maintainer", 280, 450, 1.5),
    ("T2140", "Silver filling, one surface", 120, 190, 4),
    ("T2330", "Front tooth-coloured filling, one surface", 150, 230, 12),
    ("T2331", "Front tooth-coloured filling, two surfaces", 180, 270, 8),
    ("T2391", "Back tooth-coloured filling, one surface", 170, 250, 22),
    ("T2392", "Back tooth-coloured filling, two surfaces", 190, 300, 20),
    ("T2393", "Back tooth-coloured filling, three surfaces", 240, 350, 9),
    ("T2740", "Ceramic crown", 1100, 1600, 14),
    ("T2750", "Metal-ceramic crown", 1050, 1500, 5),
    ("T2920", "Re-cement crown", 110, 180, 2),
    ("T2950", "Crown build-up", 220, 380, 11),
    ("T2954", "Post and core", 330, 480, 2),
    ("T3220", "Pulp removal, baby tooth", 180, 290, 1.5),
    ("T3310", "Front tooth root canal", 750, 1100, 1.5),
    ("T3320", "Premolar root canal", 880, 1300, 2),
    ("T3330", "Molar root canal", 1050, 1600, 3),
    ("T4341", "Deep cleaning, quadrant", 220, 350, 14),
    ("T4342", "Deep cleaning, small quadrant", 150, 250, 4),
    ("T4355", "Full-mouth debridement", 180, 290, 2),
    ("T4910", "Gum-maintenance cleaning", 130, 210, 26),
    ("T5110", "Full upper denture", 1700, 2500, 0.8),
    ("T5213", "Partial upper denture, metal frame", 1800, 2600, 0.8),
    ("T6010", "Implant post", 1800, 2800, 1.5),
    ("T6065", "Implant ceramic crown", 1500, 2300, 1.5),
    ("T6240", "Bridge unit, ceramic", 1050, 1500, 2),
    ("T7140", "Simple extraction", 150, 260, 10),
    ("T7210", "Surgical extraction", 250, 420, 6),
    ("T7240", "Wisdom tooth removal, bony", 420, 650, 2),
    ("T9110", "Emergency pain relief", 90, 160, 5),
    ("T9944", "Night guard", 450, 800, 2),
)

PAYERS = (
    ("Harborview Dental Plans", "HBV01"),
    ("Keystone Mutual Dental", "KMD22"),
    ("Pinecrest Benefits", "PCB35"),
    ("Redwood Family Dental", "RFD48"),
    ("Silverline Insurance", "SLI51"),
    ("Lakeshore Health Plans", "LHP64"),
    ("Meridian Workers Trust", "MWT77"),
    ("Northgate Assurance", "NGA80"),
)
# network name, kind, index of the owning payer (direct), payers it prices, allowed/office ratio
NETWORKS = (
    ("Harborview PPO", NetworkKind.DIRECT, 0, (0,), Decimal("0.62")),
    ("Keystone Dental PPO", NetworkKind.DIRECT, 1, (1,), Decimal("0.71")),
    ("Pinecrest Advantage", NetworkKind.DIRECT, 2, (2,), Decimal("0.58")),
    ("Redwood Select PPO", NetworkKind.DIRECT, 3, (3,), Decimal("0.76")),
    ("Atlas Leased Network", NetworkKind.LEASED, None, (4, 5), Decimal("0.55")),
    ("Beacon Umbrella Network", NetworkKind.UMBRELLA, None, (6, 7), Decimal("0.67")),
)
# share of each payer in a practice's insured procedures
PAYER_SHARE = (0.22, 0.18, 0.14, 0.10, 0.09, 0.08, 0.11, 0.08)
PRACTICES = (
    (
        "Maple Street Dental",
        "America/Chicago",
        "1200 Maple Street\nSpringfield, IL 62701",
        "(217) 555-0142",
        "37-1234567",
        "1234567893",
        1.0,
        Decimal("1.00"),
    ),
    (
        "Riverside Family Dentistry",
        "America/New_York",
        "48 River Road\nHartford, CT 06103",
        "(860) 555-0199",
        "06-7654321",
        "1987654325",
        0.7,
        Decimal("1.06"),
    ),
)


def _month_starts(today: date, months: int) -> list[date]:
    """The first days of the `months` full calendar months before today's month."""
    first = today.replace(day=1)
    starts = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        starts.append(first)
    return sorted(starts)


def _month_end(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def seed_demo(today: date) -> bool:
    """Create the demo organisation if it is missing; True when created. The caller commits."""
    if db.session.scalar(sa.select(Organization.id).where(Organization.name == DEMO_ORG)):
        return False
    org = Organization(name=DEMO_ORG)
    db.session.add(org)
    db.session.flush()
    for email, name, role in DEMO_USERS:
        create_user(
            None, org, email=email, name=name, role=role, password=DEMO_PASSWORD, must_change=False
        )
    db.session.add_all(
        ProcedureCode(organization_id=org.id, code=code, description=label, category=category(code))
        for code, label, *_ in CODES
    )
    payers = [
        Payer(
            organization_id=org.id, name=name, payer_id=pid, notes="Fictional payer for the demo."
        )
        for name, pid in PAYERS
    ]
    db.session.add_all(payers)
    db.session.flush()
    networks = []
    for name, kind, owner, _priced, _ratio in NETWORKS:
        network = Network(
            organization_id=org.id,
            name=name,
            kind=kind,
            owner_payer_id=payers[owner].id if owner is not None else None,
        )
        network.contacts.append(
            Contact(
                organization_id=org.id,
                name=f"{name.split()[0]} Provider Relations",
                role="Provider relations",
                email=f"providers@{name.split()[0].lower()}.example",
                phone="(800) 555-0100",
            )
        )
        networks.append(network)
    db.session.add_all(networks)
    db.session.flush()

    months = _month_starts(today, 12)
    fee_start = date(today.year - 1, 1, 1)
    for p_index, (name, tz, address, phone, tin, npi, size, price_level) in enumerate(PRACTICES):
        practice = Practice(
            organization_id=org.id,
            name=name,
            time_zone=tz,
            address=address,
            phone=phone,
            tin=tin,
            npi=npi,
        )
        db.session.add(practice)
        db.session.flush()
        office = FeeSchedule(
            organization_id=org.id,
            practice_id=practice.id,
            kind=ScheduleKind.OFFICE,
            label="Office fees",
            effective_from=fee_start,
            source="Demo data",
        )
        office_fee: dict[str, int] = {}
        for code, _label, low, high, _freq in CODES:
            rng = random.Random(f"office-{p_index}-{code}")
            dollars = Decimal(rng.randint(low, high)) * price_level
            office_fee[code] = int(dollars.quantize(Decimal(1))) * 100
            office.lines.append(FeeLine(code=code, amount_cents=office_fee[code]))
        db.session.add(office)
        for n_index, (net_name, _kind, _owner, priced, ratio) in enumerate(NETWORKS):
            network = networks[n_index]
            contract = Contract(
                organization_id=org.id,
                practice_id=practice.id,
                network_id=network.id,
                pr_address=f"{net_name} Provider Relations\nPO Box {4100 + n_index * 7}",
                pr_email=f"providers@{net_name.split()[0].lower()}.example",
                pr_phone="(800) 555-0100",
                portal_url=f"https://portal.{net_name.split()[0].lower()}.example",
                effective_date=date(today.year - 3 + n_index % 2, 1 + n_index, 1),
                renewal_date=date(today.year + 1, 1 + (n_index * 2) % 12, 1),
                notice_days=90,
                auto_renew=True,
                min_months_between_changes=12,
                mfn_clause=n_index == 1,
            )
            db.session.add(contract)
            db.session.flush()
            schedule = FeeSchedule(
                organization_id=org.id,
                practice_id=practice.id,
                kind=ScheduleKind.CONTRACT,
                contract_id=contract.id,
                label=f"{net_name} fee schedule",
                effective_from=date(today.year - 1, 1 + n_index, 1),
                source="Demo data",
            )
            for code, *_ in CODES:
                rng = random.Random(f"allowed-{p_index}-{n_index}-{code}")
                jitter = Decimal(rng.randint(-60, 60)) / 1000
                amount = Decimal(office_fee[code]) * (ratio + jitter) / 100
                schedule.lines.append(
                    FeeLine(code=code, amount_cents=int(amount.quantize(Decimal(1))) * 100)
                )
            db.session.add(schedule)
            for payer_index in priced:
                db.session.add(
                    PricingRoute(
                        organization_id=org.id,
                        practice_id=practice.id,
                        payer_id=payers[payer_index].id,
                        network_id=network.id,
                    )
                )
        rows = []
        for payer_index, payer in enumerate(payers):
            for code, _label, _low, _high, freq in CODES:
                rng = random.Random(f"volume-{p_index}-{payer_index}-{code}")
                mean = freq * size * PAYER_SHARE[payer_index]
                for start in months:
                    count = max(0, round(mean * rng.uniform(0.6, 1.4)))
                    if count:
                        rows.append(
                            {
                                "organization_id": org.id,
                                "practice_id": practice.id,
                                "payer_id": payer.id,
                                "code": code,
                                "period_start": start,
                                "period_end": _month_end(start),
                                "count": count,
                            }
                        )
        db.session.execute(sa.insert(CodeVolume), rows)
    seed_campaigns(org, today)
    return True


# (practice index, network index, outcome or the open step, months ago it closed or opened)
CAMPAIGNS = (
    (0, 0, "yes", 30),
    (1, 0, "withdrawn", 24),
    (0, 1, "partial", 18),
    (1, 3, "yes", 14),
    (0, 2, "no", 12),
    (1, 1, "partial", 8),
    (0, 0, "request", 0),
    (0, 1, "benchmark", 0),
    (0, 3, "build", 0),
    (1, 2, "submit", 0),
    (1, 4, "response", 0),
    (0, 5, "response", 0),
)


def seed_campaigns(org: Organization, today: date) -> None:
    """Campaigns in every step and closed ones with each outcome over the last three years,
    run through the real services on today's figures, then dated back (deterministic)."""
    from .modelbase import utcnow
    from .negotiations import services
    from .negotiations.models import Campaign, Direction, Step

    manager = db.session.scalar(sa.select(User).where(User.email == DEMO_USERS[1][0]))
    practices = db.session.scalars(
        sa.select(Practice).where(Practice.organization_id == org.id).order_by(Practice.id)
    ).all()
    contracts = {
        (p_index, n_index): contract
        for p_index, practice in enumerate(practices)
        for n_index, contract in enumerate(
            db.session.scalars(
                sa.select(Contract).where(Contract.practice_id == practice.id).order_by(Contract.id)
            )
        )
    }
    now = utcnow()
    order = list(Step)
    for p_index, n_index, what, months_ago in CAMPAIGNS:
        contract = contracts[(p_index, n_index)]
        campaign = services.start_campaign(manager, contract, today=today, now=now)
        if not any(r.is_target for r in campaign.codes):
            # a network that pays as well as its peers: ask 7% more on its busiest codes
            busiest = sorted(campaign.codes, key=lambda r: (-r.count, r.code))[:5]
            for r in busiest:
                if r.allowed_cents and r.office_cents and r.office_cents > r.allowed_cents:
                    r.is_target = True
                    r.asked_cents = min(r.office_cents, round(r.allowed_cents * 1.07 / 100) * 100)
        targets = [r for r in campaign.codes if r.is_target]

        def go(to: Step, campaign: Campaign = campaign) -> None:
            services.move(manager, campaign, to, version=campaign.version, today=today, now=now)
            db.session.flush()

        if what in Step.__members__.values():
            step = Step(what)
        else:  # closed: answered after submission, or withdrawn while building the case
            step = Step.BUILD if what == "withdrawn" else Step.RESPONSE
        if step.index >= Step.BENCHMARK.index:
            campaign.schedule_requested_on = today - timedelta(days=45)
            campaign.schedule_received_on = today - timedelta(days=38)
        if step.index >= Step.RESPONSE.index:
            campaign.submitted_on, campaign.sent_how = today, "email"
            campaign.sent_to = contract.pr_email
        for to in order[1 : step.index + 1]:
            go(to)
        if what == "request":  # asked 40 days ago, nothing yet: overdue
            campaign.schedule_requested_on = today - timedelta(days=40)
        if what == "response" and n_index == 5:  # a counteroffer halfway to the asks
            services.add_round(
                manager,
                campaign,
                direction=Direction.THEY_OFFERED,
                offered_on=today - timedelta(days=10),
                amounts={r.code: _halfway(r.allowed_cents, r.asked_cents) for r in targets[:5]},
                note="Provider relations offered part of the ask by phone.",
                request_key=None,
                now=now,
            )
        if step == Step.RESPONSE and what != "response" or what == "withdrawn":
            if what == "withdrawn":
                services.withdraw(
                    manager,
                    campaign,
                    version=campaign.version,
                    reason="Network merged with another; asked again later.",
                    today=today,
                    now=now,
                )
            else:
                granted = {}
                for i, r in enumerate(targets):
                    if what == "yes" or (what == "partial" and i % 2 == 0):
                        granted[r.code] = _dollars(r.asked_cents)
                    elif what == "partial":
                        granted[r.code] = _halfway(r.allowed_cents, r.asked_cents)
                    else:
                        granted[r.code] = _dollars(r.allowed_cents)
                services.save_response(
                    manager,
                    campaign,
                    granted,
                    responded_on=today,
                    version=campaign.version,
                    now=now,
                )
                db.session.flush()
                closed_on = _months_before(today, months_ago)
                services.close_campaign(
                    manager,
                    campaign,
                    version=campaign.version,
                    today=today,
                    now=now,
                    effective_on=closed_on + timedelta(days=30),
                )
            _date_back(campaign, _months_before(today, months_ago))
        elif what == "response":
            campaign.submitted_on = today - timedelta(days=70 if n_index == 4 else 20)
            campaign.response_due_on = campaign.submitted_on + timedelta(days=30)
            campaign.opened_on = campaign.submitted_on - timedelta(days=40)
        db.session.flush()


def _dollars(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def _halfway(low: int | None, high: int | None) -> Decimal:
    """Halfway from the allowed amount to the ask, to the dollar."""
    return Decimal((low + high) // 200)


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, 28))


def _date_back(campaign, closed_on: date) -> None:
    """Move a closed campaign's dates to its place in the demo's history."""
    from .negotiations.services import next_review

    submitted = closed_on - timedelta(days=65)
    campaign.opened_on = submitted - timedelta(days=50)
    campaign.schedule_requested_on = campaign.opened_on
    campaign.schedule_received_on = campaign.opened_on + timedelta(days=12)
    campaign.submitted_on = submitted if campaign.frozen_at else None
    campaign.response_due_on = submitted + timedelta(days=30) if campaign.frozen_at else None
    campaign.responded_on = closed_on if campaign.frozen_at else None
    campaign.closed_on = closed_on
    campaign.next_review_on = next_review(
        closed_on,
        campaign.practice.re_review_months,
        campaign.contract.renewal_date,
        campaign.contract.notice_deadline,
    )


def demo_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))
