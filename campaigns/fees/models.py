"""Procedure codes (the organisation's descriptions), fee schedule versions, lines, volumes."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Practice, User
from ..extensions import db
from ..modelbase import OrgOwned, Timestamped, UTCDateTime, enum_column
from ..payers.models import Contract, Payer


class ProcedureCode(OrgOwned, db.Model):
    """A code as the organisation's own files describe it; the project ships none."""

    __tablename__ = "procedure_codes"
    __table_args__ = (sa.UniqueConstraint("organization_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    category: Mapped[str] = mapped_column(sa.String(40))


class ScheduleKind(enum.StrEnum):
    OFFICE = "office"
    CONTRACT = "contract"
    BENCHMARK = "benchmark"


class FeeSchedule(OrgOwned, Timestamped, db.Model):
    """One version of a schedule: the office's fees, a contract's allowances, or a benchmark."""

    __tablename__ = "fee_schedules"
    __table_args__ = (
        sa.CheckConstraint("(kind = 'contract') = (contract_id IS NOT NULL)", name="contract_kind"),
        sa.Index("ix_fee_schedules_lookup", "practice_id", "kind", "effective_from"),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"))
    kind: Mapped[ScheduleKind] = mapped_column(enum_column(ScheduleKind, "schedule_kind"))
    contract_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contracts.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    effective_from: Mapped[date] = mapped_column()
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    #: the import that wrote this version (undo removes it); None for demo or hand-made data
    import_batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id", ondelete="SET NULL"), index=True
    )

    practice: Mapped[Practice] = relationship()
    contract: Mapped[Contract | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    lines: Mapped[list[FeeLine]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", order_by="FeeLine.code"
    )


class FeeLine(db.Model):
    """One code's amount in one schedule version; reached only through its schedule."""

    __tablename__ = "fee_lines"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "code"),
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("fee_schedules.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(12))
    amount_cents: Mapped[int] = mapped_column()

    schedule: Mapped[FeeSchedule] = relationship(back_populates="lines")


class CodeVolume(OrgOwned, db.Model):
    """How often a code was billed to a payer in a period: aggregate counts, no patient data."""

    __tablename__ = "code_volumes"
    __table_args__ = (
        sa.UniqueConstraint("practice_id", "payer_id", "code", "period_start", "period_end"),
        sa.CheckConstraint("count >= 0", name="count_not_negative"),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"), index=True)
    payer_id: Mapped[int] = mapped_column(sa.ForeignKey("payers.id"))
    code: Mapped[str] = mapped_column(sa.String(12))
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    count: Mapped[int] = mapped_column()
    import_batch_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_batches.id", ondelete="SET NULL"), index=True
    )

    payer: Mapped[Payer] = relationship()


class ImportKind(enum.StrEnum):
    CONTRACT = "contract"  # a contract's fee schedule
    OFFICE = "office"  # the practice's own fees
    BENCHMARK = "benchmark"  # percentile columns, each a benchmark schedule
    VOLUMES = "volumes"  # code mix: counts per payer and period


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # waiting for the user to check the preview and confirm
    CONFIRMED = "confirmed"
    UNDONE = "undone"
    CANCELLED = "cancelled"


class ImportBatch(OrgOwned, Timestamped, db.Model):
    """One import from upload to confirm: the uploaded file (a capped blob, deleted on confirm,
    cancel or after a day), the user's choices, and what the confirm wrote (for undo)."""

    __tablename__ = "import_batches"
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"), index=True)
    kind: Mapped[ImportKind] = mapped_column(enum_column(ImportKind, "import_kind"))
    status: Mapped[ImportStatus] = mapped_column(
        enum_column(ImportStatus, "import_status"), default=ImportStatus.UPLOADED
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(default=0)
    #: the file while it waits for confirm; None once confirmed, cancelled or expired
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    #: the user's choices: mapping, sheet, prefix, duplicates, effective date, contract, payer
    options: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: what the confirm wrote: rows, codes, period; shown in the history
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practice: Mapped[Practice] = relationship()
    created_by: Mapped[User | None] = relationship()


class MappingProfile(OrgOwned, Timestamped, db.Model):
    """A confirmed column mapping, applied to the next file from the same source.

    `source` is 'contract:<id>' for a contract's schedules, or 'layout:<digest>' for a
    practice-management report recognised by its header cells."""

    __tablename__ = "mapping_profiles"
    __table_args__ = (sa.UniqueConstraint("organization_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(120))
    settings: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class CarrierAlias(OrgOwned, db.Model):
    """A carrier name as it appears in a PMS report, matched once to a payer by the user."""

    __tablename__ = "carrier_aliases"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))  # normalised: trimmed, lower-case
    payer_id: Mapped[int] = mapped_column(sa.ForeignKey("payers.id", ondelete="CASCADE"))

    payer: Mapped[Payer] = relationship()
