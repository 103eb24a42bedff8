"""Organisations, practices, users and their practice access, login attempts, the audit trail."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..modelbase import OrgOwned, Timestamped, UTCDateTime, enum_column, utcnow


class Organization(Timestamped, db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)


class Practice(OrgOwned, Timestamped, db.Model):
    __tablename__ = "practices"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "name"),
        sa.CheckConstraint("re_review_months BETWEEN 1 AND 60", name="re_review_months"),
        sa.CheckConstraint("min_raise_bp BETWEEN 0 AND 10000", name="min_raise_bp"),
        sa.CheckConstraint("analysis_period_months BETWEEN 1 AND 36", name="analysis_period"),
    )
    #: the scoping helper limits managers and viewers to their practices through this column
    __practice_column__ = "id"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str] = mapped_column(sa.Text, default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="America/New_York")
    tin: Mapped[str] = mapped_column(sa.String(20), default="")
    npi: Mapped[str] = mapped_column(sa.String(20), default="")
    # Settings (DOMAIN.md): re-review, follow-ups, minimum raise, analysis period, leverage.
    re_review_months: Mapped[int] = mapped_column(default=12)
    follow_up_days: Mapped[str] = mapped_column(sa.String(60), default="30,60,90")
    min_raise_bp: Mapped[int] = mapped_column(default=500)
    analysis_period_months: Mapped[int] = mapped_column(default=12)
    leverage_share_bp: Mapped[int] = mapped_column(default=1500)
    leverage_scarce_count: Mapped[int] = mapped_column(default=50)
    leverage_max_providers: Mapped[int] = mapped_column(default=3)
    leverage_radius_miles: Mapped[int] = mapped_column(default=10)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def follow_up_list(self) -> list[int]:
        return [int(x) for x in self.follow_up_days.split(",") if x.strip()]


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    VIEWER = "viewer"


user_practices = sa.Table(
    "user_practices",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("practice_id", sa.ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, OrgOwned, Timestamped, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    #: owners always see every practice; others see all or only `practices`
    all_practices: Mapped[bool] = mapped_column(default=True)
    #: bumped on password change and deactivation so other open sessions end
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    practices: Mapped[list[Practice]] = relationship(secondary=user_practices)

    def set_password(self, password: str) -> None:
        method = (
            current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
            if has_app_context()
            else "scrypt"
        )
        self.password_hash = generate_password_hash(password, method=method)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated user cannot stay logged in
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def sees_all_practices(self) -> bool:
        return self.role == Role.OWNER or self.all_practices


class LoginAttempt(db.Model):
    """One login try; recent failures throttle by account and by address in every worker.

    It has no organisation: an attempt precedes knowing who is asking.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_email_at", "email", "at"),
        sa.Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    address: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(default=False)


class AuditEvent(OrgOwned, db.Model):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column()
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)

    user: Mapped[User | None] = relationship()
