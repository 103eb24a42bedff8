"""Campaigns: one negotiation of a practice with a network, its steps, codes, rounds, activity
log with attachments, and leverage facts."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Practice, User
from ..extensions import db
from ..fees.models import FeeSchedule
from ..modelbase import OrgOwned, Timestamped, UTCDateTime, enum_column
from ..payers.models import Contract


class Step(enum.StrEnum):
    """The five steps of DOMAIN.md, in order."""

    REQUEST = "request"
    BENCHMARK = "benchmark"
    BUILD = "build"
    SUBMIT = "submit"
    RESPONSE = "response"

    @property
    def label(self) -> str:
        return STEP_LABELS[self]

    @property
    def index(self) -> int:
        return STEPS.index(self)


STEPS = list(Step)
STEP_LABELS = {
    Step.REQUEST: "Request schedule",
    Step.BENCHMARK: "Benchmark",
    Step.BUILD: "Build case",
    Step.SUBMIT: "Submit",
    Step.RESPONSE: "Record response",
}


class Status(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Outcome(enum.StrEnum):
    """The campaign outcome words of DOMAIN.md (one enum, used everywhere)."""

    YES = "yes"
    PARTIAL = "partial"
    NO = "no"
    WITHDRAWN = "withdrawn"


class CodeResponse(enum.StrEnum):
    """The per-code response words of DOMAIN.md."""

    GRANTED = "granted"
    PARTIAL = "partial"
    DECLINED = "declined"
    REDUCED = "reduced"


class Campaign(OrgOwned, Timestamped, db.Model):
    """One negotiation of one practice with one network (its contract)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        # at most one open campaign per contract (a partial unique index on both engines)
        sa.Index(
            "uq_campaigns_one_open_per_contract",
            "contract_id",
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        ),
        sa.CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL)", name="closed_has_outcome"
        ),
        sa.Index("ix_campaigns_practice_status", "practice_id", "status"),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"))
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    step: Mapped[Step] = mapped_column(enum_column(Step, "campaign_step"), default=Step.REQUEST)
    status: Mapped[Status] = mapped_column(
        enum_column(Status, "campaign_status"), default=Status.OPEN
    )
    step_entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_on: Mapped[date] = mapped_column()
    schedule_requested_on: Mapped[date | None] = mapped_column()
    schedule_received_on: Mapped[date | None] = mapped_column()
    submitted_on: Mapped[date | None] = mapped_column()
    sent_how: Mapped[str] = mapped_column(sa.String(40), default="")
    sent_to: Mapped[str] = mapped_column(sa.String(300), default="")
    response_due_on: Mapped[date | None] = mapped_column()
    responded_on: Mapped[date | None] = mapped_column()
    closed_on: Mapped[date | None] = mapped_column()
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "campaign_outcome"))
    #: set when the user overrode the derived outcome; the reason is kept
    override_reason: Mapped[str] = mapped_column(sa.Text, default="")
    next_review_on: Mapped[date | None] = mapped_column()
    #: the contract's schedule version the case is built on (kept: undo of its import refuses)
    baseline_schedule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fee_schedules.id"), index=True
    )
    #: the version the response created (a full copy of the baseline with the granted amounts)
    result_schedule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fee_schedules.id"), index=True
    )
    new_fees_effective_on: Mapped[date | None] = mapped_column()
    #: the volume period of the code figures; V = count x its annual factor (exact)
    period_start: Mapped[date | None] = mapped_column()
    period_end: Mapped[date | None] = mapped_column()
    #: when the code figures were taken from the analysis; frozen at submission
    figures_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    #: the key of the form that started it, so a double click starts one campaign
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: optimistic locking: every save compares and bumps it
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration

    practice: Mapped[Practice] = relationship()
    contract: Mapped[Contract] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    baseline: Mapped[FeeSchedule | None] = relationship(foreign_keys=[baseline_schedule_id])
    result_schedule: Mapped[FeeSchedule | None] = relationship(foreign_keys=[result_schedule_id])
    codes: Mapped[list[CampaignCode]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignCode.code"
    )
    steps_done: Mapped[list[StepRecord]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="StepRecord.id"
    )
    facts: Mapped[list[LeverageFact]] = relationship(
        cascade="all, delete-orphan", order_by="LeverageFact.id"
    )
    rounds: Mapped[list[Round]] = relationship(
        cascade="all, delete-orphan", order_by="(Round.offered_on, Round.id)"
    )
    activities: Mapped[list[Activity]] = relationship(
        cascade="all, delete-orphan", order_by="(Activity.happened_on.desc(), Activity.id.desc())"
    )

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class StepRecord(OrgOwned, db.Model):
    """A step completed: who and when, with the evidence noted."""

    __tablename__ = "campaign_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[Step] = mapped_column(enum_column(Step, "campaign_step"))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    evidence: Mapped[str] = mapped_column(sa.String(300), default="")

    campaign: Mapped[Campaign] = relationship(back_populates="steps_done")
    completed_by: Mapped[User | None] = relationship()


class CampaignCode(OrgOwned, db.Model):
    """One code of the campaign's baseline: its figures (frozen at submission), and for a
    target code the ask, and once answered the granted amount.

    V = count x the campaign period's annual factor; E = min(A, U) where U exists, else A.
    """

    __tablename__ = "campaign_codes"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "code"),
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
        sa.CheckConstraint("allowed_cents IS NULL OR allowed_cents >= 0", name="allowed"),
        sa.CheckConstraint("office_cents IS NULL OR office_cents >= 0", name="office"),
        sa.CheckConstraint("asked_cents IS NULL OR asked_cents >= 0", name="asked"),
        sa.CheckConstraint("granted_cents IS NULL OR granted_cents >= 0", name="granted"),
        sa.CheckConstraint("suggested_cents IS NULL OR suggested_cents >= 0", name="suggested"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(sa.String(12))
    count: Mapped[int] = mapped_column(default=0)  # procedures in the campaign's period
    allowed_cents: Mapped[int | None] = mapped_column()  # A in the baseline
    office_cents: Mapped[int | None] = mapped_column()  # U
    peer_cents: Mapped[int | None] = mapped_column()  # M, for the case (rounded)
    suggested_cents: Mapped[int | None] = mapped_column()
    is_target: Mapped[bool] = mapped_column(default=False)
    asked_cents: Mapped[int | None] = mapped_column()
    granted_cents: Mapped[int | None] = mapped_column()  # the new amount the network gave

    campaign: Mapped[Campaign] = relationship(back_populates="codes")


#: the rows every money figure reads: the targets and the codes with an answer (a campaign has
#: a row for every code of its baseline, hundreds, most of which count for nothing)
COUNTED_CODES = sa.or_(CampaignCode.is_target.is_(True), CampaignCode.granted_cents.is_not(None))
# a partial index of those rows, so the board and the closed list read a few rows a campaign
sa.Index(
    "ix_campaign_codes_counted",
    CampaignCode.campaign_id,
    sqlite_where=COUNTED_CODES,
    postgresql_where=COUNTED_CODES,
)


class Direction(enum.StrEnum):
    WE_ASKED = "we_asked"
    THEY_OFFERED = "they_offered"


class Round(OrgOwned, Timestamped, db.Model):
    """The ask or a counteroffer, with its amounts per code."""

    __tablename__ = "campaign_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    offered_on: Mapped[date] = mapped_column()
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, "round_direction"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    amounts: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # code -> cents
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    created_by: Mapped[User | None] = relationship()


class ActivityKind(enum.StrEnum):
    CALL = "call"
    EMAIL = "email"
    LETTER = "letter"
    PORTAL = "portal"
    NOTE = "note"


class Activity(OrgOwned, Timestamped, db.Model):
    """A call, email, letter, portal message or note in the campaign's log."""

    __tablename__ = "campaign_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ActivityKind] = mapped_column(enum_column(ActivityKind, "activity_kind"))
    happened_on: Mapped[date] = mapped_column()
    person: Mapped[str] = mapped_column(sa.String(200), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    request_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    created_by: Mapped[User | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="Attachment.id"
    )


class Attachment(OrgOwned, Timestamped, db.Model):
    """A file of an activity, stored in the database as a size-capped blob (DESIGN.md)."""

    __tablename__ = "campaign_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaign_activities.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)

    activity: Mapped[Activity] = relationship(back_populates="attachments")


class LeverageKind(enum.StrEnum):
    VOLUME = "volume"
    SERVICE_MIX = "service_mix"
    ADEQUACY = "adequacy"
    ACCESS_ROUTE = "access_route"
    OTHER = "other"


class LeverageFact(OrgOwned, Timestamped, db.Model):
    """Why the network should agree: a statement with its source, and for the four rated
    kinds the figure the rating reads (share in basis points, procedures a year, providers
    nearby, or 1 when a better-paying access route exists)."""

    __tablename__ = "leverage_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LeverageKind] = mapped_column(enum_column(LeverageKind, "leverage_kind"))
    statement: Mapped[str] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    value: Mapped[int | None] = mapped_column()
    in_letter: Mapped[bool] = mapped_column(default=True)
