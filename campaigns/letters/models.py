"""Letter templates an organisation uploads (versioned, one default per kind) and the letters
generated for campaigns (versioned per campaign and kind), both stored as size-capped blobs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..extensions import db
from ..modelbase import OrgOwned, UTCDateTime, enum_column, utcnow
from .context import LetterKind


class LetterTemplate(OrgOwned, db.Model):
    """A .docx the organisation uploaded for a letter kind; validated before it is stored.
    Versions are kept; at most one per kind is the default (none: the built-in one)."""

    __tablename__ = "letter_templates"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "kind", "version"),
        sa.Index(
            "uq_letter_templates_one_default",
            "organization_id",
            "kind",
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[LetterKind] = mapped_column(enum_column(LetterKind, "letter_kind"))
    version: Mapped[int] = mapped_column()
    filename: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    #: the variables the template uses (shown in the list)
    variables: Mapped[list] = mapped_column(sa.JSON, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()

    @property
    def label(self) -> str:
        return f"{self.filename} (version {self.version})"


class Letter(OrgOwned, db.Model):
    """A generated letter of a campaign: which kind, version per campaign and kind, the
    template it came from (None: the built-in one), who and when."""

    __tablename__ = "letters"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "kind", "version"),)
    __practice_column__ = "practice_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(sa.ForeignKey("practices.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LetterKind] = mapped_column(enum_column(LetterKind, "letter_kind"))
    version: Mapped[int] = mapped_column()
    template_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("letter_templates.id", ondelete="SET NULL")
    )
    #: "built-in" or the template's label when generated, kept if the template goes
    template_label: Mapped[str] = mapped_column(sa.String(300))
    filename: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    #: the PDF made from it by LibreOffice, kept once made (None until asked for)
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    activity_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaign_activities.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship()
