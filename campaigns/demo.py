"""The demo organisation: fictional practices, payers, networks, contracts, fees and volumes.

Deterministic for a given `today` and idempotent. Codes are fictional T-codes with our own
labels (DOMAIN.md: no CDT content in the project).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from .accounts.models import AuditEvent, Organization, Practice, Role, User
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


# (practice index, network index, outcome or the open step, months ago it closed, days the
# network took to answer). Open campaigns are placed by `_timeline` relative to today.
CAMPAIGNS = (
    (0, 0, "yes", 30, 41),
    (1, 0, "withdrawn", 24, 0),
    (0, 1, "partial", 18, 63),
    (1, 3, "yes", 14, 29),
    (0, 2, "no", 12, 88),
    (1, 1, "partial", 8, 52),
    (0, 0, "request", 0, 0),
    (0, 1, "benchmark", 0, 0),
    (0, 3, "build", 0, 0),
    (1, 2, "submit", 0, 0),
    (1, 4, "response", 0, 0),
    (0, 5, "response", 0, 0),
)


@dataclass(frozen=True)
class Timeline:
    """The days a demo campaign did each thing (None: not yet)."""

    opened: date
    received: date | None = None
    benchmarked: date | None = None
    built: date | None = None
    to_submit: date | None = None
    submitted: date | None = None
    responded: date | None = None
    closed: date | None = None


def _timeline(what: str, months_ago: int, answer_days: int, today: date) -> Timeline:
    """Plausible days for each step: the schedule arrives within two weeks or so, the case is
    built in a week or two, and the network answers after `answer_days`."""
    if what in ("yes", "partial", "no"):
        closed = _months_before(today, months_ago)
        responded = closed - timedelta(days=2)
        submitted = responded - timedelta(days=answer_days)
        received = submitted - timedelta(days=16)
        return Timeline(
            opened=received - timedelta(days=11 + months_ago % 5),
            received=received,
            benchmarked=received + timedelta(days=1),
            built=received + timedelta(days=6),
            to_submit=submitted - timedelta(days=2),
            submitted=submitted,
            responded=responded,
            closed=closed,
        )
    if what == "withdrawn":  # the network merged while the case was being built
        closed = _months_before(today, months_ago)
        received = closed - timedelta(days=20)
        return Timeline(
            opened=received - timedelta(days=15),
            received=received,
            benchmarked=received + timedelta(days=2),
            built=received + timedelta(days=8),
            closed=closed,
        )
    day = lambda n: today - timedelta(days=n)  # noqa: E731 - a short local helper
    return {
        # requested 40 days ago and nothing yet: past the first 30-day follow-up, overdue
        "request": Timeline(opened=day(40)),
        "benchmark": Timeline(opened=day(24), received=day(9), benchmarked=day(8)),
        "build": Timeline(opened=day(36), received=day(22), benchmarked=day(21), built=day(15)),
        "submit": Timeline(
            opened=day(47), received=day(33), benchmarked=day(32), built=day(25), to_submit=day(3)
        ),
        "response": Timeline(
            opened=day(49 + answer_days),
            received=day(37 + answer_days),
            benchmarked=day(36 + answer_days),
            built=day(30 + answer_days),
            to_submit=day(24 + answer_days),
            submitted=day(answer_days),
        ),
    }[what]


def _at(day: date) -> datetime:
    """A working-hours instant on `day` (15:00 UTC: morning in the demo's US time zones)."""
    return datetime.combine(day, time(15, 0), tzinfo=UTC)


def _stamp(when: datetime) -> None:
    """Date what the last service call added (its audit event, its activity) at `when`, so
    the demo's history reads as it happened rather than at the seeding time."""
    for obj in db.session.new:
        if isinstance(obj, AuditEvent):
            obj.at = when
        elif hasattr(obj, "created_at"):
            obj.created_at = when


def seed_campaigns(org: Organization, today: date) -> None:
    """Campaigns in every step and closed ones with each outcome over the last three years,
    run through the real services on dated steps (deterministic). The figures are today's
    analysis for all of them: the demo's schedules and volumes only cover the last year."""
    from .negotiations import services
    from .negotiations.models import ActivityKind, Campaign, Direction, LeverageKind, Step

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
    for number, (p_index, n_index, what, months_ago, answer_days) in enumerate(CAMPAIGNS):
        contract = contracts[(p_index, n_index)]
        plan = _timeline(what, months_ago, answer_days or 20 + 50 * (n_index == 4), today)
        pr = contract.pr_email or "provider relations"
        campaign = services.start_campaign(manager, contract, today=today, now=_at(plan.opened))
        campaign.opened_on = campaign.schedule_requested_on = plan.opened
        _stamp(_at(plan.opened))
        if not any(r.is_target for r in campaign.codes):
            # a network that pays as well as its peers: ask 7% more on its busiest codes
            busiest = sorted(campaign.codes, key=lambda r: (-r.count, r.code))[:5]
            for r in busiest:
                if r.allowed_cents and r.office_cents and r.office_cents > r.allowed_cents:
                    r.is_target = True
                    r.asked_cents = min(r.office_cents, round(r.allowed_cents * 1.07 / 100) * 100)
        targets = [r for r in campaign.codes if r.is_target]

        def log(kind, day: date, summary: str, campaign: Campaign = campaign) -> None:
            services.add_activity(
                manager,
                campaign,
                kind=kind,
                happened_on=day,
                person="Provider relations",
                summary=summary,
                request_key=None,
                now=_at(day),
            )
            _stamp(_at(day))

        def go(to: Step, day: date, campaign: Campaign = campaign) -> None:
            when = _at(day)
            services.move(manager, campaign, to, version=campaign.version, today=today, now=when)
            _stamp(_at(day))
            db.session.flush()

        log(ActivityKind.EMAIL, plan.opened, f"Asked {pr} in writing for the current schedule.")
        if plan.received is None:
            continue
        campaign.schedule_received_on = plan.received
        log(ActivityKind.EMAIL, plan.received, "The current fee schedule arrived as a PDF.")
        go(Step.BENCHMARK, plan.benchmarked)
        if plan.built is None:
            continue
        go(Step.BUILD, plan.built)
        if number % 3 == 0:
            services.add_fact(
                manager,
                campaign,
                kind=LeverageKind.ADEQUACY,
                statement=(
                    "Only two other general dentists within 10 miles take this network's "
                    "patients, and neither offers evening hours."
                ),
                source="The network's online provider directory",
                value=2,
                now=_at(plan.built),
            )
            _stamp(_at(plan.built))
        if what == "withdrawn":
            services.withdraw(
                manager,
                campaign,
                version=campaign.version,
                reason="Network merged with another; asked again later.",
                today=plan.closed,
                now=_at(plan.closed),
            )
            _stamp(_at(plan.closed))
            continue
        if plan.to_submit is None:
            continue
        go(Step.SUBMIT, plan.to_submit)
        if plan.submitted is None:
            continue
        campaign.submitted_on, campaign.sent_how = plan.submitted, "email"
        campaign.sent_to = contract.pr_email
        go(Step.RESPONSE, plan.submitted)
        log(ActivityKind.LETTER, plan.submitted, "Sent the fee increase request with the table.")
        answered = plan.responded or today
        if (answered - plan.submitted).days > 30:  # silence past the first follow-up: a call
            log(
                ActivityKind.CALL,
                plan.submitted + timedelta(days=31),
                "Followed up by phone: the request is with the fee committee.",
            )
        if what == "response" and n_index == 5:  # a counteroffer halfway to the asks
            services.add_round(
                manager,
                campaign,
                direction=Direction.THEY_OFFERED,
                offered_on=today - timedelta(days=10),
                amounts={r.code: _halfway(r.allowed_cents, r.asked_cents) for r in targets[:5]},
                note="Provider relations offered part of the ask by phone.",
                request_key=None,
                now=_at(today - timedelta(days=10)),
            )
            _stamp(_at(today - timedelta(days=10)))
        if plan.responded is None:
            continue
        granted = {}
        for i, r in enumerate(targets):
            if what == "yes" or (what == "partial" and i % 2 == 0):
                granted[r.code] = _dollars(r.asked_cents)
            elif what == "partial":
                granted[r.code] = _halfway(r.allowed_cents, r.asked_cents)
            else:
                granted[r.code] = _dollars(r.allowed_cents)
        log(ActivityKind.EMAIL, plan.responded, "The network's answer arrived by email.")
        services.save_response(
            manager,
            campaign,
            granted,
            responded_on=plan.responded,
            version=campaign.version,
            now=_at(plan.responded),
        )
        _stamp(_at(plan.responded))
        db.session.flush()
        services.close_campaign(
            manager,
            campaign,
            version=campaign.version,
            today=plan.closed,
            now=_at(plan.closed),
            effective_on=_month_start_after(plan.closed),
        )
        _stamp(_at(plan.closed))
    db.session.flush()


def _dollars(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def _halfway(low: int | None, high: int | None) -> Decimal:
    """Halfway from the allowed amount to the ask, to the dollar."""
    return Decimal((low + high) // 200)


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, 28))


def _month_start_after(day: date) -> date:
    """The first of the month after next: when a network usually starts paying new fees."""
    year, month = divmod(day.year * 12 + day.month + 1, 12)
    return date(year, month + 1, 1)


def demo_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))
