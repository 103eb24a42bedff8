"""Payers, networks (direct, leased, umbrella), contracts and terms, pricing routes, contacts."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Practice
from ..extensions import db
from ..modelbase import OrgOwned, Timestamped, UTCDateTime, enum_column


class Payer(OrgOwned, Timestamped, db.Model):
    __tablename__ = "payers"
    __table_args__ = (sa.UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    payer_id: Mapped[str] = mapped_column(sa.String(40), default="")  # electronic payer id
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NetworkKind(enum.StrEnum):
    DIRECT = "direct"
    LEASED = "leased"
    UMBRELLA = "umbrella"


class Network(OrgOwned, Timestamped, db.Model):
    __tablename__ = "networks"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "name"),
        sa.CheckConstraint(
            "(kind = 'direct' AND owner_payer_id IS NOT NULL)"
            " OR (kind <> 'direct' AND owner_payer_id IS NULL)",
            name="direct_has_owner",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[NetworkKind] = mapped_column(enum_column(NetworkKind, "network_kind"))
    owner_payer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payers.id"))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner_payer: Mapped[Payer | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="network", order_by="Contact.name", cascade="all, delete-orphan"
    )


class Contract(OrgOwned, Timestamped, db.Model):
    """A practice's participation in one network, with the terms that matter for negotiating."""

    __tablename__ = "contracts"
    __table_args__ = (
        sa.UniqueConstraint("practice_id", "network_id"),
        sa.CheckConstraint("notice_days IS NULL OR notice_days >= 0", name="notice_days"),
        sa.CheckConstraint(
            "min_months_between_changes IS NULL OR min_months_between_changes >= 0",
            name="min_months",
        ),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"), index=True)
    network_id: Mapped[int] = mapped_column(sa.ForeignKey("networks.id"), index=True)
    pr_address: Mapped[str] = mapped_column(sa.Text, default="")
    pr_email: Mapped[str] = mapped_column(sa.String(254), default="")
    pr_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    portal_url: Mapped[str] = mapped_column(sa.String(500), default="")
    effective_date: Mapped[date | None] = mapped_column()
    renewal_date: Mapped[date | None] = mapped_column()
    notice_days: Mapped[int | None] = mapped_column()
    auto_renew: Mapped[bool] = mapped_column(default=True)
    min_months_between_changes: Mapped[int | None] = mapped_column()
    mfn_clause: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practice: Mapped[Practice] = relationship()
    network: Mapped[Network] = relationship()

    @property
    def notice_deadline(self) -> date | None:
        """The last day to give notice before renewal, when both dates are known."""
        if self.renewal_date is None or self.notice_days is None:
            return None
        from datetime import timedelta

        return self.renewal_date - timedelta(days=self.notice_days)


class PricingRoute(OrgOwned, db.Model):
    """For one practice: which network prices one payer's claims (default its direct network)."""

    __tablename__ = "pricing_routes"
    __table_args__ = (sa.UniqueConstraint("practice_id", "payer_id"),)
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"), index=True)
    payer_id: Mapped[int] = mapped_column(sa.ForeignKey("payers.id"))
    network_id: Mapped[int] = mapped_column(sa.ForeignKey("networks.id"))

    practice: Mapped[Practice] = relationship()
    payer: Mapped[Payer] = relationship()
    network: Mapped[Network] = relationship()


class Contact(OrgOwned, Timestamped, db.Model):
    """A person at a network (provider relations, a representative)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(
        sa.ForeignKey("networks.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(120), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    network: Mapped[Network] = relationship(back_populates="contacts")
