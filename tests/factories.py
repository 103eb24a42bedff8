"""factory-boy factories over the real models, and `build_world` for the tenancy tests."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import factory
from factory.alchemy import SQLAlchemyModelFactory

from campaigns.accounts.models import Organization, Practice, Role, User
from campaigns.extensions import db
from campaigns.fees.imports import ImportOptions
from campaigns.fees.models import (
    FeeLine,
    FeeSchedule,
    ImportBatch,
    ImportKind,
    ImportStatus,
    ScheduleKind,
)
from campaigns.jobs.models import Job, JobStatus
from campaigns.modelbase import utcnow
from campaigns.negotiations.models import (
    Activity,
    ActivityKind,
    Attachment,
    Campaign,
    CampaignCode,
    LeverageFact,
    LeverageKind,
    Status,
    Step,
)
from campaigns.payers.models import Contact, Contract, Network, NetworkKind, Payer, PricingRoute
from campaigns.reminders.models import Kind, Notification, Reminder
from campaigns.reminders.rules import fire_at

PASSWORD = "correct-horse-battery"
OFFICE_CSV = b"Code,Fee\nT0120,52.00\n"
VOLUMES_CSV = b"Code,Carrier,Count\nT0120,Alpha Payer,3\n"


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class OrganizationFactory(Base):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")


class PracticeFactory(Base):
    class Meta:
        model = Practice

    organization = None
    organization_id = factory.LazyAttribute(lambda o: o.org.id)
    name = factory.Sequence(lambda n: f"Practice {n}")
    time_zone = "America/Chicago"

    class Params:
        org = factory.SubFactory(OrganizationFactory)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs.pop("organization", None)
        return kwargs


class UserFactory(Base):
    class Meta:
        model = User
        exclude = ("org",)

    org = factory.SubFactory(OrganizationFactory)
    organization_id = factory.LazyAttribute(lambda o: o.org.id)
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    role = Role.MANAGER
    active = True
    all_practices = True
    session_version = 0
    password_hash = ""

    @factory.post_generation
    def password(obj, create, value, **kwargs):  # noqa: N805 - factory-boy hook
        obj.set_password(value or PASSWORD)


class PayerFactory(Base):
    class Meta:
        model = Payer
        exclude = ("org",)

    org = factory.SubFactory(OrganizationFactory)
    organization_id = factory.LazyAttribute(lambda o: o.org.id)
    name = factory.Sequence(lambda n: f"Payer {n}")
    payer_id = factory.Sequence(lambda n: f"P{n:04d}")


class NetworkFactory(Base):
    class Meta:
        model = Network
        exclude = ("org",)

    org = factory.SubFactory(OrganizationFactory)
    organization_id = factory.LazyAttribute(lambda o: o.org.id)
    name = factory.Sequence(lambda n: f"Network {n}")
    kind = NetworkKind.LEASED
    owner_payer_id = None


class ContractFactory(Base):
    class Meta:
        model = Contract

    practice = factory.SubFactory(PracticeFactory)
    network = None
    organization_id = factory.LazyAttribute(lambda o: o.practice.organization_id)
    effective_date = date(2024, 1, 1)
    renewal_date = date(2027, 1, 1)
    notice_days = 90


class ContactFactory(Base):
    class Meta:
        model = Contact

    network = None
    organization_id = factory.LazyAttribute(lambda o: o.network.organization_id)
    name = factory.Sequence(lambda n: f"Contact {n}")
    role = "Provider relations"


class PricingRouteFactory(Base):
    class Meta:
        model = PricingRoute

    practice = None
    payer = None
    network = None
    organization_id = factory.LazyAttribute(lambda o: o.practice.organization_id)


class FeeScheduleFactory(Base):
    class Meta:
        model = FeeSchedule

    practice = None
    organization_id = factory.LazyAttribute(lambda o: o.practice.organization_id)
    kind = ScheduleKind.CONTRACT
    label = factory.Sequence(lambda n: f"Schedule {n}")
    effective_from = date(2026, 1, 1)


def _tenant(name: str, practice_names: tuple[str, ...]) -> SimpleNamespace:
    org = OrganizationFactory(name=name)
    practices = [PracticeFactory(org=org, name=p) for p in practice_names]
    slug = name.split()[0].lower()
    owner = UserFactory(org=org, email=f"owner@{slug}.test", role=Role.OWNER, name="Olga Owner")
    manager = UserFactory(
        org=org, email=f"manager@{slug}.test", role=Role.MANAGER, name="Manny Manager"
    )
    viewer = UserFactory(org=org, email=f"viewer@{slug}.test", role=Role.VIEWER, name="Vera Viewer")
    # A manager and a viewer limited to the first practice.
    manager1 = UserFactory(
        org=org,
        email=f"manager1@{slug}.test",
        role=Role.MANAGER,
        all_practices=False,
        name="Mia Limited",
    )
    viewer1 = UserFactory(
        org=org,
        email=f"viewer1@{slug}.test",
        role=Role.VIEWER,
        all_practices=False,
        name="Vic Limited",
    )
    manager1.practices = [practices[0]]
    viewer1.practices = [practices[0]]
    payer = PayerFactory(org=org, name=f"{name} Payer")
    network = NetworkFactory(
        org=org, name=f"{name} PPO", kind=NetworkKind.DIRECT, owner_payer_id=payer.id
    )
    leased = NetworkFactory(org=org, name=f"{name} Leased")
    contracts = [ContractFactory(practice=p, network=network) for p in practices]
    contact = ContactFactory(network=network, name=f"{name} Rep")
    routes = [PricingRouteFactory(practice=p, payer=payer, network=network) for p in practices]
    schedules = []
    for contract in contracts:
        schedule = FeeScheduleFactory(
            practice=contract.practice,
            contract_id=contract.id,
            label=f"{contract.network.name} {contract.practice.name}",
        )
        schedule.lines = [
            FeeLine(code="T0120", amount_cents=5200),
            FeeLine(code="T1110", amount_cents=8150),
        ]
        schedules.append(schedule)
    # Per practice, an upload waiting for its preview to be confirmed, and a code-mix upload
    # whose counting job waits for the background worker: the import routes' objects.
    batches, volume_batches, jobs = [], [], []
    for practice in practices:
        batches.append(
            ImportBatch(
                organization_id=org.id,
                practice_id=practice.id,
                kind=ImportKind.OFFICE,
                status=ImportStatus.UPLOADED,
                filename="office.csv",
                size=len(OFFICE_CSV),
                data=OFFICE_CSV,
                options=ImportOptions().to_json(),
                summary={},
                created_by_id=manager.id,
            )
        )
        volumes = ImportBatch(
            organization_id=org.id,
            practice_id=practice.id,
            kind=ImportKind.VOLUMES,
            status=ImportStatus.UPLOADED,
            filename="volumes.csv",
            size=len(VOLUMES_CSV),
            data=VOLUMES_CSV,
            options=ImportOptions().to_json(),
            created_by_id=manager.id,
        )
        db.session.add_all([batches[-1], volumes])
        db.session.flush()
        job = Job(
            organization_id=org.id,
            kind="aggregate_volumes",
            status=JobStatus.QUEUED,
            payload={"batch_id": volumes.id},
            result={},
            created_by_id=manager.id,
        )
        db.session.add(job)
        db.session.flush()
        volumes.summary = {"job_id": job.id}
        volume_batches.append(volumes)
        jobs.append(job)
    db.session.flush()
    campaigns = [open_campaign(c, s, manager) for c, s in zip(contracts, schedules, strict=True)]
    db.session.flush()
    template, letters, letter_job = letter_objects(org.id, campaigns, manager)
    # Per campaign, a delivered reminder in the notifications of everyone who may see it.
    reminders = []
    for campaign in campaigns:
        reminder = Reminder(
            organization_id=org.id,
            kind=Kind.SCHEDULE,
            subject_id=campaign.id,
            practice_id=campaign.practice_id,
            campaign_id=campaign.id,
            due_on=date(2026, 10, 15),
            event_on=date(2026, 10, 1),
            fire_at=fire_at(date(2026, 10, 15), campaign.practice.time_zone),
            claimed_at=utcnow(),
            claimed_by="factory",
        )
        db.session.add(reminder)
        db.session.flush()
        for user in (owner, manager, viewer, manager1, viewer1):
            if user.all_practices or campaign.practice in user.practices:
                db.session.add(
                    Notification(organization_id=org.id, reminder_id=reminder.id, user_id=user.id)
                )
        reminders.append(reminder)
    db.session.flush()
    return SimpleNamespace(
        org_id=org.id,
        practice_ids=[p.id for p in practices],
        practice_names=[p.name for p in practices],
        owner=owner.email,
        manager=manager.email,
        viewer=viewer.email,
        manager1=manager1.email,
        viewer1=viewer1.email,
        user_ids={u.email: u.id for u in (owner, manager, viewer, manager1, viewer1)},
        payer_id=payer.id,
        payer_name=payer.name,
        network_id=network.id,
        leased_id=leased.id,
        network_name=network.name,
        contract_ids=[c.id for c in contracts],
        contact_id=contact.id,
        route_ids=[r.id for r in routes],
        schedule_ids=[s.id for s in schedules],
        batch_ids=[b.id for b in batches],
        volume_batch_ids=[b.id for b in volume_batches],
        job_ids=[j.id for j in jobs],
        campaign_ids=[c.id for c in campaigns],
        fact_ids=[c.facts[0].id for c in campaigns],
        attachment_ids=[c.activities[0].attachments[0].id for c in campaigns],
        letter_template_id=template.id,
        letter_ids=[letter.id for letter in letters],
        letter_job_id=letter_job.id,
        reminder_ids=[r.id for r in reminders],
    )


def letter_objects(org_id: int, campaigns: list[Campaign], user: User):
    """A stored template (the built-in schedule request, not the default), one letter per
    campaign (with a stand-in PDF, so downloads need no LibreOffice) and a finished batch."""
    from campaigns.letters.context import LetterKind
    from campaigns.letters.models import Letter, LetterTemplate
    from campaigns.letters.services import builtin_template

    data = builtin_template(LetterKind.SCHEDULE_REQUEST)
    template = LetterTemplate(
        organization_id=org_id,
        kind=LetterKind.SCHEDULE_REQUEST,
        version=1,
        filename="our-request.docx",
        size=len(data),
        data=data,
        variables=[],
        uploaded_by_id=user.id,
    )
    db.session.add(template)
    letters = [
        Letter(
            organization_id=org_id,
            practice_id=c.practice_id,
            campaign_id=c.id,
            kind=LetterKind.SCHEDULE_REQUEST,
            version=1,
            template_label="built-in",
            filename=f"letter-{c.id}.docx",
            size=len(data),
            data=data,
            pdf=b"%PDF-1.4 stand-in",
            created_by_id=user.id,
        )
        for c in campaigns
    ]
    db.session.add_all(letters)
    db.session.flush()
    job = Job(
        organization_id=org_id,
        kind="batch_letters",
        status=JobStatus.DONE,
        payload={"campaign_ids": [c.id for c in campaigns], "kind": "schedule_request"},
        result={"letter_ids": [letter.id for letter in letters], "skipped": []},
        created_by_id=user.id,
    )
    db.session.add(job)
    db.session.flush()
    return template, letters, job


def open_campaign(
    contract: Contract, baseline: FeeSchedule, owner: User, step: Step = Step.REQUEST
) -> Campaign:
    """An open campaign on the contract with the baseline's codes (T1110 a target asked at
    $90.00), a leverage fact and a logged note with one attachment."""
    now = utcnow()
    campaign = Campaign(
        organization_id=contract.organization_id,
        practice_id=contract.practice_id,
        contract_id=contract.id,
        owner_id=owner.id,
        step=step,
        status=Status.OPEN,
        opened_on=date(2026, 10, 1),
        step_entered_at=now,
        baseline_schedule_id=baseline.id,
        period_start=date(2025, 10, 1),
        period_end=date(2026, 9, 30),
        figures_taken_at=now,
        updated_at=now,
        updated_by_id=owner.id,
    )
    org = contract.organization_id
    campaign.codes = [
        CampaignCode(organization_id=org, code="T0120", count=40, allowed_cents=5200),
        CampaignCode(
            organization_id=org,
            code="T1110",
            count=120,
            allowed_cents=8150,
            office_cents=12000,
            is_target=True,
            asked_cents=9000,
        ),
    ]
    campaign.facts = [
        LeverageFact(
            organization_id=org, kind=LeverageKind.ADEQUACY, statement="Few providers", value=2
        )
    ]
    note = Activity(
        organization_id=org, kind=ActivityKind.NOTE, happened_on=date(2026, 10, 2), summary="x"
    )
    campaign.activities = [note]
    db.session.add(campaign)
    db.session.flush()
    note.attachments = [
        Attachment(
            organization_id=org,
            campaign_id=campaign.id,
            filename="notes.txt",
            content_type="text/plain",
            size=5,
            data=b"notes",
        )
    ]
    db.session.flush()
    return campaign


def build_world() -> SimpleNamespace:
    """Organisation A (two practices) and organisation B (one practice), fully populated."""
    a = _tenant("Alpha Dental", ("North Office", "South Office"))
    b = _tenant("Beta Dental", ("East Office",))
    return SimpleNamespace(a=a, b=b, password=PASSWORD)
