"""Reminder rows (one per kind, subject and due date), per-user notification state, the
email outbox, practice reminder settings and user preferences (with the calendar token)."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..modelbase import OrgOwned, Timestamped, UTCDateTime, enum_column


class Kind(enum.StrEnum):
    """What a reminder is about. Campaign kinds name a campaign; renewal and notice a
    contract; digest a user."""

    SCHEDULE = "schedule"  # schedule requested, not received N days later
    FOLLOW_UP = "follow_up"  # submitted, no response after 30/60/90 days
    DUE = "due"  # the reply-by date has passed
    REVIEW = "review"  # re-review due (lead time before next_review_on)
    RENEWAL = "renewal"  # the contract's renewal date comes
    NOTICE = "notice"  # the contract's notice-window deadline comes
    DIGEST = "digest"  # the weekly digest for owners

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    Kind.SCHEDULE: "Schedule not received",
    Kind.FOLLOW_UP: "Follow up: no response yet",
    Kind.DUE: "Reply-by date passed",
    Kind.REVIEW: "Re-review due",
    Kind.RENEWAL: "Contract renewal coming",
    Kind.NOTICE: "Notice deadline coming",
    Kind.DIGEST: "Weekly digest",
}
CAMPAIGN_KINDS = (Kind.SCHEDULE, Kind.FOLLOW_UP, Kind.DUE, Kind.REVIEW)
CONTRACT_KINDS = (Kind.RENEWAL, Kind.NOTICE)


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"  # due; shown until acted on or dismissed
    RESOLVED = "resolved"  # the campaign was acted on (response, schedule, closing, ...)


class Reminder(OrgOwned, Timestamped, db.Model):
    """A reminder that is due: created once by the scan (the unique key makes a second scan
    insert nothing), delivered once by whoever claims it (`claimed_at IS NULL`)."""

    __tablename__ = "reminders"
    __table_args__ = (
        sa.UniqueConstraint("kind", "subject_id", "due_on", name="uq_reminders_key"),
        # the deliver job reads the unclaimed ones (a partial index on both engines)
        sa.Index(
            "ix_reminders_unclaimed",
            "fire_at",
            sqlite_where=sa.text("claimed_at IS NULL"),
            postgresql_where=sa.text("claimed_at IS NULL"),
        ),
        sa.Index("ix_reminders_campaign_status", "campaign_id", "status"),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[Kind] = mapped_column(enum_column(Kind, "reminder_kind"))
    #: the campaign, contract or user the reminder is about (by kind)
    subject_id: Mapped[int] = mapped_column()
    # (no index on practice_id and user_id: the scan inserts many rows, lookups go by
    # campaign, contract or id)
    practice_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practices.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    contract_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: the practice's date on which it fires (08:00 there), and the date it is about
    due_on: Mapped[date] = mapped_column()
    event_on: Mapped[date | None] = mapped_column()
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: which follow-up (1, 2, 3 ...) for follow_up reminders
    number: Mapped[int] = mapped_column(default=0)
    status: Mapped[ReminderStatus] = mapped_column(
        enum_column(ReminderStatus, "reminder_status"), default=ReminderStatus.PENDING
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(sa.String(120), default="")

    campaign = relationship("Campaign")
    contract = relationship("Contract")
    practice = relationship("Practice")


class Notification(OrgOwned, Timestamped, db.Model):
    """One user's copy of a reminder: read, snoozed or dismissed by that user."""

    __tablename__ = "notifications"
    __table_args__ = (sa.UniqueConstraint("reminder_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(sa.ForeignKey("reminders.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how many times it has been emailed (the first delivery, then once per ended snooze)
    emailed: Mapped[int] = mapped_column(default=0)

    reminder: Mapped[Reminder] = relationship()


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting (for its next attempt, or for SMTP settings)
    SENDING = "sending"  # claimed by a sender; the server may have accepted it
    SENT = "sent"
    FAILED = "failed"  # refused for good, or failed too many times
    UNCERTAIN = "uncertain"  # the sender died while sending: maybe sent, never resent
    CANCELLED = "cancelled"  # its reminder was resolved before it could be sent


class OutboxMessage(OrgOwned, Timestamped, db.Model):
    """An email to send: claimed with a conditional UPDATE, retried with backoff."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        sa.Index("ix_outbox_status_next", "status", "next_attempt_at", "id"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: makes a message at most once per cause (e.g. "n:<notification>:<emailed>")
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reminder_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("reminders.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    #: the whole message (RFC 5322, CRLF lines) built when queued, so sending only sends
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")


class ReminderSettings(OrgOwned, db.Model):
    """A practice's reminder settings (a row only when changed from the defaults).

    Follow-up intervals are the practice's `follow_up_days`; these are the others."""

    __tablename__ = "reminder_settings"
    __table_args__ = (
        sa.CheckConstraint("schedule_days BETWEEN 1 AND 365", name="schedule_days"),
        sa.CheckConstraint("review_lead_days BETWEEN 0 AND 365", name="review_lead_days"),
        sa.CheckConstraint("contract_lead_days BETWEEN 0 AND 365", name="contract_lead_days"),
    )
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practices.id", ondelete="CASCADE"), unique=True
    )
    schedule_days: Mapped[int] = mapped_column(default=14)
    review_lead_days: Mapped[int] = mapped_column(default=30)
    contract_lead_days: Mapped[int] = mapped_column(default=30)
    #: kinds switched off for this practice (none by default)
    off_kinds: Mapped[list] = mapped_column(sa.JSON, default=list)


class ReminderPreference(OrgOwned, db.Model):
    """A user's choices: which kinds come by email, the digest day, which practices, and
    the calendar feed's token (only its SHA-256 is kept)."""

    __tablename__ = "reminder_preferences"
    __table_args__ = (sa.CheckConstraint("digest_weekday BETWEEN 0 AND 6", name="digest_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    #: kinds not sent by email (they still show in the app)
    email_off: Mapped[list] = mapped_column(sa.JSON, default=list)
    digest_weekday: Mapped[int] = mapped_column(default=0)  # Monday
    #: the practices to be reminded about; None = every practice the user may see
    practice_ids: Mapped[list | None] = mapped_column(sa.JSON)
    feed_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    feed_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
